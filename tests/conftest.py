"""Shared test setup: never touch a model hub, keep threads low on the 2-core CI machine.

The suite runs on pytest-xdist workers (`make test`: ``-n auto --dist loadfile --no-loadscope-reorder``,
files handed out in the order below instead of largest first): a file's tests
share one worker, so a module-scoped fixture (a workflow run) is built once; the one demo run of
the session is shared by every worker through a file lock; and the slow end-to-end tests are
collected first, so they start while the fast ones fill the other worker.
"""

import json
import os
import time
from pathlib import Path
from typing import NamedTuple

import pytest
from filelock import FileLock
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


#: the longest test files, started first (`make test` keeps this order: --no-loadscope-reorder). A
#: worker is handed the next file when it has two tests left, so a file of one or two long tests
#: (the Slurm test) takes the file after it along. The session's demo run starts on one worker while
#: the other checks the presets' DAGs and trains and reconstructs in-process, which need no run; then
#: the Slurm test (its cluster starts while the demo finishes; then it mostly waits on status checks)
#: with the DAG checks after it, so that the other worker, done with the demo, takes DIRE's DAG test
#: (the most CPU) beside it; then the other files that build on the demo run
FIRST = ("tests/workflow/test_env_imports.py", "tests/dvc/test_dvc_dag.py",
         "tests/training/test_detectors.py", "tests/reconstruction/test_reconstruction.py",
         "tests/workflow/test_slurm_cluster.py", "tests/workflow/test_workflow_dag.py",
         "tests/workflow/test_dire_workflow.py", "tests/workflow/test_ablations_workflow.py",
         "tests/dvc/test_dvc_roundtrip.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest files first, then the other slow end-to-end tests, then the fast ones (stable
    otherwise): under xdist the long ones start while the fast ones fill the gaps."""

    def rank(item: pytest.Item) -> tuple[int, int]:
        path = item.nodeid.split("::")[0]
        return (FIRST.index(path) if path in FIRST else len(FIRST), item.get_closest_marker("slow") is None)

    items.sort(key=rank)


def _run_demo(base: Path) -> dict:
    """Run the demo DAG under ``base``; the record of a failed run holds its report."""
    from helpers.env_imports import blocked_environ, missing_env_packages
    from helpers.workflow import demo_workdir, failure_report, snakemake

    workdir = demo_workdir(base / "demo")
    env = blocked_environ(base / "envs")
    started = time.monotonic()
    result = snakemake(workdir, "--cores", "2", PYTHONPATH=env["PYTHONPATH"], DRCT_IMPORT_BLOCKS=env["DRCT_IMPORT_BLOCKS"])
    record = {"workdir": str(workdir), "elapsed": time.monotonic() - started, "log": result.stdout + result.stderr,
              "blocks": env["DRCT_IMPORT_BLOCKS"], "failure": None}
    if result.returncode != 0:
        record["failure"] = missing_env_packages(workdir) + failure_report("demo", workdir, result)
    return record


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The whole demo DAG, run once per test session, that every workflow-level test reads.

    It runs in a folder holding only config.yaml (so it also shows that the workflow runs from
    anywhere), and with every `drct` command restricted to the packages of its rule's conda env
    (tests/helpers/import_blocker.py: a missing env package fails that step as `--use-conda` would).
    Under xdist the first worker to ask runs it and the others wait for it and read its record
    (the folder above a worker's basetemp belongs to this session alone). Tests write only into
    copies or new files of their own.
    """
    if "PYTEST_XDIST_WORKER" not in os.environ:  # no xdist (or -p no:xdist)
        record = _run_demo(tmp_path_factory.mktemp("demo-run"))
    else:
        shared = tmp_path_factory.getbasetemp().parent
        with FileLock(shared / "demo-run.lock"):
            saved = shared / "demo-run.json"
            if not saved.exists():
                saved.write_text(json.dumps(_run_demo(shared / "demo-run")), encoding="utf-8")
            record = json.loads(saved.read_text(encoding="utf-8"))
    if record["failure"]:
        pytest.fail(record["failure"])
    return DemoRun(Path(record["workdir"]), record["elapsed"], record["log"], Path(record["blocks"]))
