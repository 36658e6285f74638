"""Shared test setup: never touch a model hub, keep threads low on the 2-core CI machine."""

import os
import time
from pathlib import Path

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


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """The whole demo DAG, run once per test session in a folder holding only config.yaml (so it
    also shows the workflow runs from anywhere); (its folder, wall seconds). Tests read it, and
    write only into copies or new files of their own."""
    from helpers.workflow import demo_workdir, failure_report, snakemake

    workdir = demo_workdir(tmp_path_factory.mktemp("demo"))
    started = time.monotonic()
    result = snakemake(workdir, "--cores", "2")
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        pytest.fail(failure_report("demo", workdir, result))
    return workdir, elapsed
