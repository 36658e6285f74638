"""Shared test setup: never touch a model hub, keep threads low on the 2-core CI machine."""

import os
import time
from pathlib import Path
from typing import NamedTuple

import pytest
from helpers.data_server import serve

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def server(monkeypatch):
    """The loopback HTTP server of tests/data_server.py, with proxies bypassed for 127.0.0.1."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with serve() as srv:
        yield srv


class DemoRun(NamedTuple):
    workdir: Path  # the run folder: config.yaml, results/, logs/
    elapsed: float  # wall seconds of the DAG
    log: str  # Snakemake's output
    blocks: Path  # the import blocker's table; <blocks>.seen lists the commands that ran restricted


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The whole demo DAG, run once per test session, that every workflow-level test reads.

    It runs in a folder holding only config.yaml (so it also shows that the workflow runs from
    anywhere), and with every `drct` command restricted to the packages of its rule's conda env
    (tests/helpers/import_blocker.py: a missing env package fails that step as `--use-conda` would).
    Tests write only into copies or new files of their own.
    """
    from helpers.env_imports import blocked_environ, missing_env_packages
    from helpers.workflow import demo_workdir, failure_report, snakemake

    workdir = demo_workdir(tmp_path_factory.mktemp("demo"))
    env = blocked_environ(tmp_path_factory.mktemp("envs"))
    started = time.monotonic()
    result = snakemake(workdir, "--cores", "2", PYTHONPATH=env["PYTHONPATH"], DRCT_IMPORT_BLOCKS=env["DRCT_IMPORT_BLOCKS"])
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        pytest.fail(missing_env_packages(workdir) + failure_report("demo", workdir, result))
    return DemoRun(workdir, elapsed, result.stdout + result.stderr, Path(env["DRCT_IMPORT_BLOCKS"]))
