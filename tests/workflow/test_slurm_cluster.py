"""The demo DAG through a real Slurm cluster: every kind of rule as an sbatch job, the same outputs.

scripts/slurm/cluster.sh starts a single-node cluster from Debian's slurm-wlm and munge (installed
with apt-get when missing): munged, slurmctld and slurmd, no accounting, no cgroups. The demo runs
with the shipped profile (`--executor slurm --workflow-profile workflow/profiles/slurm`), the node's
CPUs as --max-threads, while the same config runs locally in another folder as the reference; the
tables, metrics, predictions and figures of both must be byte-identical. Slurm's own log must show
every submitted job finished with exit status 0, so nothing ran outside the scheduler.

Needs root (the daemons run as root) and a Debian-like system; skipped with the reason otherwise.
Set DRCT_REQUIRE_SLURM=1 to make an unavailable cluster a failure instead (CI on a machine that
has it). Takes about as long as the local demo plus Slurm's status-check delays (the plugin
checks job states every 5 s after a job finished, up to every 180 s while none finishes).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.workflow import (
    demo_workdir,
    failure_report,
    snakemake_command,
    snakemake_env,
)

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CLUSTER = ROOT / "scripts" / "slurm" / "cluster.sh"
# every kind of rule the demo DAG runs (fetch_weights, import_released and published_check_* are
# not part of it)
DEMO_RULES = {
    "acquire", "prepare", "validate", "data_report", "build_demo_model", "reconstruct_shard",
    "merge_reconstructions", "combine", "train_run", "score", "metrics",
    "perturbed_metrics", "samples", "tables", "robustness", "format_bias", "sample_grid", "dvc_views",
}
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")
# ports other than Slurm's defaults, so a cluster started by hand (cluster.sh start) is not in the way
PORTS = {"DRCT_SLURMCTLD_PORT": "16817", "DRCT_SLURMD_PORT": "16818"}

pytestmark = pytest.mark.slow


def _unavailable(reason: str) -> None:
    if os.environ.get("DRCT_REQUIRE_SLURM") == "1":
        pytest.fail(f"DRCT_REQUIRE_SLURM=1 but {reason}")
    pytest.skip(reason)


def _load_compare():
    """scripts/compare_outputs.py's compare(): the same check a user runs between two runs."""
    spec = importlib.util.spec_from_file_location("compare_outputs", ROOT / "scripts" / "compare_outputs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.compare


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A running single-node cluster; its run folder (config, logs) while the module's tests run."""
    if sys.platform != "linux":
        _unavailable("a Slurm cluster from Debian packages needs Linux")
    if os.geteuid() != 0:
        _unavailable("starting munged, slurmctld and slurmd (scripts/slurm/cluster.sh) needs root")
    if not shutil.which("slurmctld") and not shutil.which("apt-get"):
        _unavailable("Slurm is not installed and there is no apt-get to install slurm-wlm and munge")
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        _unavailable("snakemake-executor-plugin-slurm is not installed")
    run_dir = tmp_path_factory.mktemp("slurm")
    env = dict(os.environ, DRCT_SLURM_DIR=str(run_dir), **PORTS)
    try:
        started = subprocess.run(["bash", str(CLUSTER), "start"], env=env, capture_output=True, text=True, timeout=900)
        if started.returncode != 0:
            _unavailable(f"the single-node Slurm cluster did not start:\n{started.stderr[-3000:]}")
        yield run_dir
    finally:
        subprocess.run(["bash", str(CLUSTER), "stop"], env=env, capture_output=True, text=True, timeout=120)


def test_demo_dag_through_slurm_matches_the_local_run(
    slurm_cluster: Path, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The session's local demo run (tests/conftest.py, --cores 2) is the reference; it is asked for
    only after the cluster run, so under xdist both runs go on at once."""
    run_dir = slurm_cluster
    cluster = demo_workdir(tmp_path / "slurm")
    env = snakemake_env(SLURM_CONF=str(run_dir / "slurm.conf"))
    started = time.monotonic()
    try:
        result = subprocess.run(
            snakemake_command(
                cluster,
                "--executor", "slurm",
                "--workflow-profile", str(ROOT / "workflow" / "profiles" / "slurm"),
                # the demo's reconstruction asks for 4 threads: a job asking for more CPUs than the node
                # has would stay pending forever; 2, as the reference run's --cores 2, so every job
                # runs with the same threads in both runs
                "--max-threads", "2",
                # a failure here is a bug, not a pre-emption: no retries; and quick status checks
                # (the plugin's default waits 40 s before the first one)
                "--retries", "0",
                "--slurm-init-seconds-before-status-checks", "5",
            ),
            cwd=cluster, env=env, capture_output=True, text=True, timeout=1800,
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(failure_report("Slurm", cluster, None, str(error.stderr or "")))
    print(f"Slurm run {time.monotonic() - started:.0f} s")
    log = result.stdout + result.stderr
    assert result.returncode == 0, failure_report("Slurm", cluster, result, log)

    # every job went through sbatch, every kind of rule was among them
    submitted = {int(job): Path(path) for job, path in SUBMITTED.findall(log)}
    rules = {next(p for p in path.parts if p.startswith("rule_")).removeprefix("rule_") for path in submitted.values()}
    assert DEMO_RULES <= rules, f"rules not submitted to Slurm: {sorted(DEMO_RULES - rules)}"
    assert len(submitted) > len(DEMO_RULES)
    # ... and slurmctld saw each of them finish with exit status 0
    controller = (run_dir / "log" / "slurmctld.log").read_text()
    finished = {int(job) for job in re.findall(r"JobId=(\d+) WEXITSTATUS 0\b", controller)}
    assert set(submitted) <= finished, f"jobs not finished in Slurm: {sorted(set(submitted) - finished)}"

    # same tables, metrics, predictions and figures as the local run
    compare = _load_compare()
    local = request.getfixturevalue("demo_run").workdir
    assert compare(local / "results" / "demo", cluster / "results" / "demo") == []
    assert any((cluster / "results" / "demo" / "paper").rglob("table.md"))
