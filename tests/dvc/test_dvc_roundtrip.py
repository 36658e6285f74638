"""The DVC round trip on the demo, from fresh clones.

1. a fresh clone: `dvc repro` runs every phase; a second `dvc repro` runs nothing; `dvc status`
   is clean; `snakemake -n` has nothing to do; git sees no result file;
2. `dvc push` to a local-folder remote; a second fresh clone: `dvc pull`, then `snakemake --touch`
   (the documented command), and both tools agree that nothing needs to run;
3. in that clone, `dvc exp run -S` on a value only the paper outputs read reruns the paper stage
   alone, and Snakemake inside it runs only paper rules.

The clones are made from the project as it is on disk (tracked files and new files git does not
ignore), and their own src/ is the code that runs. The first clone starts from the outputs of the
session's demo run (see `first`), so no second demo DAG runs here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def run(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command in a clone with the project's tools, that clone's code, and no model hub."""
    env = dict(
        os.environ,
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONPATH=str(cwd / "src"),
        HF_HUB_OFFLINE="1",
        GIT_AUTHOR_NAME="test", GIT_AUTHOR_EMAIL="test@localhost",
        GIT_COMMITTER_NAME="test", GIT_COMMITTER_EMAIL="test@localhost",
    )
    result = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        logs = "\n".join(f"--- {p}\n{p.read_text()[-2000:]}" for p in sorted((cwd / "logs").rglob("*.log"))[-5:])
        pytest.fail(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}\n{logs}")
    return result


def output(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


def stage_names(clone: Path) -> list[str]:
    return [line.split()[0] for line in run(clone, "dvc", "stage", "list").stdout.splitlines() if line.strip()]


def lock(clone: Path) -> dict:
    return yaml.safe_load((clone / "dvc.lock").read_text())["stages"]


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare repository holding the project as it is on disk: what `git clone` of it would give."""
    source = tmp_path_factory.mktemp("source")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    run(source, "git", "init", "-q")
    run(source, "git", "add", "-A")
    run(source, "git", "commit", "-qm", "project")
    bare = tmp_path_factory.mktemp("origin") / "project.git"
    run(source, "git", "clone", "-q", "--bare", str(source), str(bare))
    return bare


@pytest.fixture(scope="module")
def first(origin: Path, demo_run, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A fresh clone after `dvc repro`, with its dvc.lock committed.

    The clone starts from the session's demo run (tests/conftest.py), its results/ and Snakemake's
    records copied in and marked current with `snakemake --touch` (what docs/dvc.md has a user do
    after `dvc pull`): every stage then runs its Snakemake target, which finds its jobs done, and DVC
    records the phase. What those jobs compute is checked on the demo run itself
    (tests/workflow/test_demo_pipeline.py); here the DVC side is under test, without a second demo.
    """
    clone = tmp_path_factory.mktemp("first") / "project"
    run(origin.parent, "git", "clone", "-q", str(origin), str(clone))
    assert not (clone / "results" / "demo").exists()
    for folder in ("results", ".snakemake"):
        shutil.copytree(demo_run.workdir / folder, clone / folder, symlinks=True, dirs_exist_ok=True)
    shutil.rmtree(clone / ".snakemake" / "locks", ignore_errors=True)
    run(clone, "snakemake", "--touch", "--cores", "1")
    assert "Nothing to be done" in output(run(clone, "snakemake", "-n"))
    repro = output(run(clone, "dvc", "repro"))
    run(clone, "git", "add", "dvc.lock")
    run(clone, "git", "commit", "-qm", "demo results")
    return clone, repro


def test_repro_in_a_fresh_clone_runs_every_phase_in_order(first: tuple[Path, str]) -> None:
    clone, repro = first
    stages = stage_names(clone)
    assert stages[0] == "download" and stages[-1] == "paper" and {"train@0", "train@1"} <= set(stages)
    started = [line.split("'")[1] for line in repro.splitlines() if line.startswith("Running stage '")]
    assert sorted(started) == sorted(stages)
    order = {name: i for i, name in enumerate(started)}
    assert order["download"] < order["reconstruct"] < min(order["train@0"], order["train@1"])
    assert max(order["train@0"], order["train@1"]) < order["evaluate"] < order["paper"]
    assert (clone / "results" / "demo" / "paper" / "intra" / "table.md").is_file()


def test_second_repro_runs_nothing_and_both_tools_agree(first: tuple[Path, str]) -> None:
    clone, _ = first
    again = output(run(clone, "dvc", "repro"))
    assert "Running stage" not in again
    assert "Data and pipelines are up to date." in output(run(clone, "dvc", "status"))
    assert "Nothing to be done" in output(run(clone, "snakemake", "-n"))
    # DVC's outputs stay out of git: no result file, and no .gitignore DVC added, is left to commit
    assert run(clone, "git", "status", "--porcelain").stdout == ""


def test_metrics_show_a_row_per_run_and_plots_every_generator(first: tuple[Path, str]) -> None:
    from drct.config import load_yaml, validate_config
    from drct.dvc.views import SUMMARY_KEYS
    from drct.planning.runs import runs_for_protocol

    clone, _ = first
    config = validate_config(load_yaml(clone / "config.yaml"))
    shown = json.loads(run(clone, "dvc", "metrics", "show", "--json").stdout)
    files = next(iter(shown.values()))["data"]
    charts = 0
    for protocol in config["evaluation"]["protocols"]:
        expected = {f"results/demo/metrics/{protocol['name']}/{r.id}.json" for r in runs_for_protocol(config, protocol)}
        runs = {p: v["data"] for p, v in files.items() if f"/metrics/{protocol['name']}/" in p}
        assert set(runs) == expected
        for values in runs.values():  # one short row per run: the Avg numbers, per-generator detail in the plots
            assert set(values) <= set(SUMMARY_KEYS) and {"acc", "real_acc", "fake_acc"} <= set(values)
            assert all(0 <= values[k] <= 100 for k in ("acc", "real_acc", "fake_acc"))
        charts += len(expected)
    table = run(clone, "dvc", "metrics", "show").stdout.splitlines()
    assert len(table) == 1 + len(files) and max(map(len, table)) <= 150, "\n".join(table)
    plots = json.loads(run(clone, "dvc", "plots", "show", "--json").stdout)
    assert not plots.get("errors"), plots.get("errors")
    assert len(plots["data"]) == 2 * charts  # an accuracy chart and a ROC chart per run and protocol
    roc = [p for p in plots["data"] if "/plots/roc/" in p]
    assert len(roc) == charts
    points = plots["data"][roc[0]][0]["content"]["data"]["values"]
    assert {"fpr", "tpr", "label", "point"} <= set(points[0])
    assert "Data and pipelines are up to date." in output(run(clone, "dvc", "status"))
    # the HTML of `dvc plots show` lands in dvc_plots/, which git ignores
    run(clone, "dvc", "plots", "show")
    assert (clone / "dvc_plots" / "index.html").is_file()
    assert run(clone, "git", "status", "--porcelain").stdout == ""


@pytest.fixture(scope="module")
def pulled(first: tuple[Path, str], origin: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another fresh clone, after `dvc push` from the first one: `dvc pull`, then `snakemake --touch`."""
    clone, _ = first
    remote = tmp_path_factory.mktemp("remote")
    run(clone, "dvc", "remote", "add", "-d", "shared", str(remote))
    run(clone, "git", "commit", "-qam", "DVC remote")
    run(clone, "dvc", "push")
    run(clone, "git", "push", "-q", "origin", "HEAD")
    second = tmp_path_factory.mktemp("second") / "project"
    run(origin.parent, "git", "clone", "-q", str(origin), str(second))
    assert not (second / "results" / "demo").exists()
    run(second, "dvc", "pull")
    run(second, "snakemake", "--touch", "--cores", "1")
    return second


def test_pull_then_touch_leaves_nothing_to_run(pulled: Path) -> None:
    assert "Nothing to be done" in output(run(pulled, "snakemake", "-n"))
    assert "Data and pipelines are up to date." in output(run(pulled, "dvc", "status"))
    assert "Running stage" not in output(run(pulled, "dvc", "repro"))


def test_exp_run_on_a_paper_value_reruns_only_the_paper(pulled: Path) -> None:
    """`demo` only labels the paper outputs: DVC reruns the paper stage and Snakemake only paper rules."""
    before = lock(pulled)
    rules_by_file = {
        line.split("\t")[0]: line.split("\t")[2]
        for line in run(pulled, "snakemake", "--summary").stdout.splitlines()[1:] if "\t" in line
    }
    paper_rules = {rule for path, rule in rules_by_file.items() if path.startswith("results/demo/paper/")}
    result = output(run(pulled, "dvc", "exp", "run", "-S", "config.yaml:demo=false"))
    started = [line.split("'")[1] for line in result.splitlines() if line.startswith("Running stage '")]
    assert started == ["paper"], result[-3000:]
    job_stats = result[result.index("Job stats:"):].split("\n\n")[0].splitlines()[3:]
    ran = {line.split()[0] for line in job_stats if line.split() and line.split()[0] != "total"}
    assert ran and ran <= paper_rules | {"paper"}, ran
    after = lock(pulled)
    for name, entry in before.items():
        if name != "paper":
            assert after[name]["outs"] == entry["outs"], name
    assert after["paper"]["outs"] != before["paper"]["outs"]
    assert after["paper"]["params"]["config.yaml"]["demo"] is False
    assert "Data and pipelines are up to date." in output(run(pulled, "dvc", "status"))
    assert json.loads(run(pulled, "dvc", "metrics", "diff", "--json").stdout) == {}
