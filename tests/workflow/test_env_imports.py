"""Every rule's command runs with only its conda env's packages importable (issue 15, item 1).

Conda cannot run here, so each env is imitated: the whole demo DAG runs once with every ``drct``
command restricted to the packages of its rule's env (tests/helpers/env_imports.py, tests/helpers/import_blocker.py).
A package a step imports but its env lacks fails that step with ModuleNotFoundError, as it would
under ``snakemake --use-conda``. Running the DAG itself (instead of re-running one job per rule after
an unrestricted run) checks every job on real demo inputs for the price of one demo run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.env_imports import (
    blocked_environ,
    blocks,
    closure,
    env_requirements,
    rule_envs,
)
from helpers.import_blocker import _subcommand

BIN = Path(sys.executable).parent
#: rules with an env that the demo DAG does not run, and why (any other rule must be covered)
NOT_IN_DEMO = {
    "fetch_weights": "downloads hub weights: needs the internet",
    "import_released": "runs restricted to its env in tests/workflow/test_import_workflow.py (released checkpoints)",
    "ablation_components": "runs restricted to its env in tests/workflow/test_ablations_workflow.py",
    "ablation_lambda": "runs restricted to its env in tests/workflow/test_ablations_workflow.py",
    "build_demo_captioner": "De-fake only: runs restricted to its env in tests/workflow/test_defake_workflow.py",
    "caption_shard": "De-fake only: runs restricted to its env in tests/workflow/test_defake_workflow.py",
    "merge_captions": "De-fake only: runs restricted to its env in tests/workflow/test_defake_workflow.py",
    "published_check_sample": "optional target, needs a dataset holding published reconstructions",
    "published_check_reconstruct": "optional target, needs a dataset holding published reconstructions",
    "published_check_compare": "optional target, needs a dataset holding published reconstructions",
}


def test_every_env_rule_has_a_drct_command() -> None:
    envs = rule_envs()
    assert {"acquire", "reconstruct_shard", "train_run", "tables", "samples", "robustness"} <= envs.keys()
    assert set(NOT_IN_DEMO) <= envs.keys()
    assert envs["samples"] == ("paper", "samples")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["/venv/bin/python", "/venv/bin/drct", "tables", "--spec", "x"], "tables"),
        (["/venv/bin/python", "/venv/bin/drct", "--debug", "format-bias"], "format-bias"),
        (["python", "-m", "drct.cli", "samples", "-n", "2"], "samples"),
        (["/venv/bin/python", "/venv/bin/snakemake", "--cores", "2"], None),
        (["python", "-c", "import drct"], None),
    ],
)
def test_the_blocker_finds_the_drct_subcommand(argv: list[str], expected: str | None) -> None:
    assert _subcommand(argv) == expected


def test_env_closures_follow_package_metadata() -> None:
    data = closure(env_requirements("data"))
    assert {"pandas", "numpy", "python-dateutil", "tqdm"} <= data  # dateutil comes with pandas
    assert "torch" not in data
    assert "torch" in closure(env_requirements("train"))


def test_a_blocked_package_is_missing_as_if_not_installed(tmp_path: Path) -> None:
    """torch is hidden from a paper-env command: import fails, find_spec and metadata see nothing."""
    env = blocked_environ(tmp_path)
    table = blocks()
    assert table["envs"]["tables"] == "paper" and "torch" in table["modules"]["tables"]
    assert "pandas" not in table["modules"]["tables"]
    env["DRCT_IMPORT_BLOCKS_SUBCOMMAND"] = "tables"  # as if started as `drct tables`
    probe = (
        "import importlib.util, importlib.metadata as md, subprocess, sys\n"
        "import pandas\n"
        "assert importlib.util.find_spec('torch') is None\n"
        "try:\n    import torch\nexcept ModuleNotFoundError as e:\n    print('blocked', e.name)\n"
        "try:\n    md.version('torch')\nexcept md.PackageNotFoundError:\n    print('no metadata')\n"
        "assert not [d for d in md.distributions() if d.metadata['Name'].lower() == 'torch'], 'listed'\n"
        "assert [d for d in md.distributions() if d.metadata['Name'].lower() == 'pandas'], 'pandas hidden'\n"
        "sys.exit(subprocess.run([sys.executable, '-c', 'import torch']).returncode)\n"  # children too
    )
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert "blocked torch" in result.stdout and "no metadata" in result.stdout, result.stderr
    assert result.returncode == 1 and "No module named 'torch'" in result.stderr
    unrestricted = subprocess.run([sys.executable, "-c", "import torch"], env={**env, "DRCT_IMPORT_BLOCKS_SUBCOMMAND": ""})
    assert unrestricted.returncode == 0  # not a drct command: nothing hidden


@pytest.mark.slow
def test_demo_dag_runs_with_only_each_rules_env_importable(demo_run) -> None:
    """The session's demo run (tests/conftest.py) ran every command restricted to its rule's env;
    it fails there, naming each step and the package its env lacks, when an env is incomplete."""
    with_env = rule_envs()
    ran = set(re.findall(r"^\s*(?:local)?rule (\w+):", demo_run.log, flags=re.M))
    assert with_env.keys() - ran == set(NOT_IN_DEMO), "every rule with an env runs in the demo (or is listed)"
    seen = {line.split("\t")[0] for line in Path(str(demo_run.blocks) + ".seen").read_text().splitlines()}
    assert seen == {with_env[rule][1] for rule in ran & with_env.keys()}, "every command ran restricted"
