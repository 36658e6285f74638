"""The demo's rules through a real Slurm cluster: every kind of rule as an sbatch job, the same outputs.

scripts/slurm/cluster.sh starts a single-node cluster from Debian's slurm-wlm and munge (installed
with apt-get when missing): munged, slurmctld and slurmd, no accounting, no cgroups. On a copy of
the session's local demo run, one output of each kind of rule is deleted (on one dataset, one
reconstruction job and one run, so most of the remade jobs read another's output) and made again, in
three rounds (ROUNDS), with the shipped profile (`--executor slurm --workflow-profile
workflow/profiles/slurm`), the node's CPUs as --max-threads. Every file a round writes must be the
local run's, byte for byte (a JSON record: but for its VOLATILE keys), and Slurm's own log must show
every submitted job finished with exit status 0, so nothing ran outside the scheduler.

Needs root (the daemons run as root) and a Debian-like system; skipped with the reason otherwise.
Set DRCT_REQUIRE_SLURM=1 to make an unavailable cluster a failure instead (CI on a machine that
has it). The plugin checks job states 1 s (the test's setting) after a submission or a check that
saw a job finish, then 10 s later each time than the last while none finishes (up to 180 s), so a
chain of short jobs spends much of its time waiting for status checks.
"""

from __future__ import annotations

import csv
import importlib.util
import json
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
    copy_finished_run,
    demo_workdir,
    failure_report,
    job_stats,
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


OUT = "results/demo"
RUN = "baseline-convb-sdv1-seed0"
#: One output of each kind of rule of the demo, remade through Slurm in three rounds. A job that runs
#: makes every job between it and a target run too, so the picks of a round lie on thin paths: the
#: roots (everything descends from the download) alone; then one dataset (demo-genimage, which nothing
#: reconstructs), one reconstruction job and one run (their path adds only combine of demo-genimage,
#: which the run's score reads); then the rules that gather every run, alone.
ROUNDS = (
    {"acquire": "results/downloads/demo/drct-demo-v1.tar.gz",
     "build_demo_model": f"{OUT}/models/demo-sd/model_index.json"},
    {"prepare": "results/data/demo-genimage/counts.csv",
     "validate": "results/data/demo-genimage/manifest.valid.csv",
     "data_report": "results/data/demo-genimage/format_report.csv",
     "reconstruct_shard": f"{OUT}/reconstruction/demo-drct2m/demo-sd-dr/test/shards/0-of-2.csv",
     "merge_reconstructions": f"{OUT}/reconstruction/demo-drct2m/demo-sd-dr/test/manifest.csv",
     "combine": f"{OUT}/data/demo-drct2m.csv",
     "train_run": f"{OUT}/train/convb/{RUN}/best.safetensors",
     "score": f"{OUT}/eval/intra/{RUN}/predictions.csv",
     "metrics": f"{OUT}/eval/cross/{RUN}/metrics.json",
     "perturbed_metrics": f"{OUT}/perturbed/intra/{RUN}/metrics.csv",
     "samples": f"{OUT}/eval/samples/sdv1",
     "sample_grid": f"{OUT}/paper/samples/sdv1.pdf"},
    {"tables": f"{OUT}/paper/cross/comparison.csv",
     "robustness": f"{OUT}/paper/intra/robustness.csv",
     "format_bias": f"{OUT}/paper/intra/format_bias.csv",
     "dvc_views": f"{OUT}/metrics/cross/{RUN}.json"},
)
#: the jobs each round runs: its picks, and in the second round combine of demo-genimage as well
#: (between validate of demo-genimage and the run's score)
EXPECTED_JOBS = tuple({**dict.fromkeys(picks, 1), **({"combine": 2} if "combine" in picks else {})} for picks in ROUNDS)


#: keys of a job's JSON record that differ between two runs of the same job, and why
VOLATILE = {
    "elapsed_s": "the job's wall time",
    "package_versions": "the local run hides what a rule's env lacks (tests/helpers/import_blocker.py), "
                        "so it records those packages as absent",
}


def comparable(path: Path) -> object:
    """A JSON file's content without the VOLATILE keys."""
    content = json.loads(path.read_text())
    return {k: v for k, v in content.items() if k not in VOLATILE} if isinstance(content, dict) else content


def shard_images(shard_csv: Path) -> list[Path]:
    """The reconstructions a shard's CSV lists (paths relative to the CSV's folder). A shard keeps
    the images it finds (resume), so they go too, or the remade shard would compute nothing."""
    with shard_csv.open(newline="") as handle:
        return [Path(os.path.normpath(shard_csv.parent / row["path"])) for row in csv.DictReader(handle)]


def file_times(cluster: Path) -> dict[str, tuple[int, int]]:
    """(atime, mtime) in ns of everything under ``cluster/results``, by path relative to ``cluster``."""
    return {str(p.relative_to(cluster)): (p.lstat().st_atime_ns, p.lstat().st_mtime_ns)
            for p in (cluster / "results").rglob("*")}


def check_and_restore_remade_files(cluster: Path, local: Path, before: dict[str, tuple[int, int]]) -> set[str]:
    """Every file under ``cluster/results`` new or modified since ``before``: it must equal the local run's
    file byte for byte (a link: the same target; a JSON record: but for its VOLATILE keys), and then
    gets back the times it had before the round. Snakemake reruns a job whose input is newer than its
    output, so with new times the next round would remake everything downstream of this one. Returns
    the remade files, relative to ``cluster``."""
    remade = set()
    for path in sorted((cluster / "results").rglob("*"), reverse=True):  # a folder after its files
        name = str(path.relative_to(cluster))
        if name in before and path.lstat().st_mtime_ns == before[name][1]:
            continue
        twin = local / name
        assert name in before and (twin.exists() or twin.is_symlink()), f"{name}: not in the local run"
        if path.is_symlink():
            assert os.readlink(path) == os.readlink(twin), f"{name}: links elsewhere than the local run's"
        elif path.suffix == ".json":
            assert comparable(path) == comparable(twin), f"{name} differs from the local run's"
        elif path.is_file():
            assert path.read_bytes() == twin.read_bytes(), f"{name} differs from the local run's"
        os.utime(path, ns=before[name], follow_symlinks=False)
        remade.add(name)
    return remade


def test_rounds_cover_every_kind_of_rule_once() -> None:
    picked = [rule for picks in ROUNDS for rule in picks]
    assert sorted(picked) == sorted(DEMO_RULES)


def slurm_round(cluster: Path, run_dir: Path, targets: list[str]) -> str:
    """Make ``targets`` in ``cluster`` through the Slurm cluster; Snakemake's output."""
    env = snakemake_env(SLURM_CONF=str(run_dir / "slurm.conf"))
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
                # (the plugin's default waits 40 s before the first one, and 10 s longer at each check
                # that sees nothing finished: from 1 s, a 25 s job is seen at 33 s instead of 45 s)
                "--retries", "0",
                "--slurm-init-seconds-before-status-checks", "1",
                *targets,
            ),
            cwd=cluster, env=env, capture_output=True, text=True, timeout=900,
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(failure_report("Slurm", cluster, None, str(error.stderr or "")))
    log = result.stdout + result.stderr
    assert result.returncode == 0, failure_report("Slurm", cluster, result, log)
    return log


def test_every_kind_of_rule_through_slurm_makes_the_local_runs_files(
    slurm_cluster: Path, demo_run, tmp_path: Path
) -> None:
    """On a copy of the session's local demo run (tests/conftest.py, --cores 2), one output of each
    kind of rule is deleted and made again through Slurm (ROUNDS); each must come back as it was.

    One job per rule instead of the whole demo: every rule's resources, threads, env and command go
    through sbatch and run on the demo's real inputs, in dependency order within a round, for a
    fraction of the CPU (the whole demo through Slurm took 821 s of the suite's 28 minutes)."""
    run_dir, local = slurm_cluster, demo_run.workdir
    cluster = demo_workdir(tmp_path / "slurm")
    copy_finished_run(local, cluster)
    submitted: dict[int, str] = {}
    started = time.monotonic()
    for picks, expected in zip(ROUNDS, EXPECTED_JOBS):
        before = file_times(cluster)
        if "reconstruct_shard" in picks:
            images = shard_images(cluster / picks["reconstruct_shard"])
            assert images, "the picked shard lists no image"
            for image in images:
                image.unlink()
        for path in picks.values():
            target = cluster / path
            assert target.exists() or target.is_symlink(), f"the local run has no {path}"
            shutil.rmtree(target) if target.is_dir() and not target.is_symlink() else target.unlink()
        log = slurm_round(cluster, run_dir, list(picks.values()))
        # exactly these jobs ran, each submitted through sbatch
        assert job_stats(log) == {**expected, "total": sum(expected.values())}, log[-3000:]
        jobs = {int(job): next(p for p in Path(path).parts if p.startswith("rule_")).removeprefix("rule_")
                for job, path in SUBMITTED.findall(log)}
        assert sorted(jobs.values()) == sorted(r for r, n in expected.items() for _ in range(n))
        submitted |= jobs
        # what they wrote is the local run's, byte for byte, every picked output among it
        remade = check_and_restore_remade_files(cluster, local, before)
        for rule, path in picks.items():
            assert path in remade, f"{rule}: {path} was not remade"
        if "reconstruct_shard" in picks:
            assert {str(i.relative_to(cluster)) for i in images} <= remade, "the shard did not reconstruct its images"
    print(f"Slurm rounds {time.monotonic() - started:.0f} s, {len(submitted)} jobs")

    # slurmctld saw each job finish with exit status 0
    controller = (run_dir / "log" / "slurmctld.log").read_text()
    finished = {int(job) for job in re.findall(r"JobId=(\d+) WEXITSTATUS 0\b", controller)}
    assert set(submitted) <= finished, f"jobs not finished in Slurm: {sorted(set(submitted) - finished)}"
    # and nothing under results/demo differs (scripts/compare_outputs.py, as a user compares two runs)
    compare = _load_compare()
    assert compare(local / "results" / "demo", cluster / "results" / "demo") == []
