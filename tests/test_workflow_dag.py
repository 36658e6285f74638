"""Every preset's full DAG builds with no data present, with the job counts worked out by hand."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or "snakemake"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def job_counts(*args: str, directory: Path = ROOT) -> dict[str, int]:
    """Run a dry run and parse Snakemake's 'Job stats' table into {rule: count}."""
    result = subprocess.run(
        [SNAKEMAKE, "-n", "--quiet", "rules", *args],
        cwd=directory,
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    if "Nothing to be done" in result.stdout + result.stderr:
        return {}
    start = lines.index("Job stats:") + 3
    counts: dict[str, int] = {}
    for line in lines[start:]:
        if not line.strip():
            break
        rule, count = line.split()
        counts[rule] = int(count)
    return counts


# The demo: 1 archive, 2 datasets; 3 reconstruction jobs (real train, FLUX train, real test) x 2 shards;
#   runs = (drct + baseline) x 2 backbones = 4, each scored under 2 protocols.
DEMO = {
    "build_demo_model": 1, "fetch_archive": 1, "prepare_dataset": 2, "validate_dataset": 2,
    "combine_manifest": 2, "reconstruct_shard": 6, "merge_reconstructions": 3, "train_run": 4,
    "predict": 8, "metrics": 8, "tables": 2, "all": 1, "total": 40,
}
# Worked out from the presets, not from the code under test:
# drct2m_intra: 2 COCO + 16 subsets + 2 fake_rec archives = 20 fetches (pretrained.zip is optional);
#   runs = (sdv1: drct + baseline, sdv2: drct) x 2 backbones x 1 seed = 6; one protocol.
DRCT2M_INTRA = {
    "fetch_archive": 20, "prepare_dataset": 1, "validate_dataset": 1, "combine_manifest": 1,
    "train_run": 6, "predict": 6, "metrics": 6, "tables": 1, "all": 1, "total": 43,
}
# genimage_intra: 8 subset archives; 2 reconstruction jobs x 64 shards; runs = 2 methods x 2 backbones.
GENIMAGE_INTRA = {
    "fetch_archive": 8, "prepare_dataset": 1, "validate_dataset": 1, "reconstruct_shard": 128,
    "merge_reconstructions": 2, "combine_manifest": 1, "train_run": 4, "predict": 4, "metrics": 4,
    "tables": 1, "all": 1, "total": 155,
}
# drct2m_to_genimage: 20 + 8 archives, 2 datasets; the 6 DRCT-2M runs scored under intra and cross.
DRCT2M_TO_GENIMAGE = {
    "fetch_archive": 28, "prepare_dataset": 2, "validate_dataset": 2, "combine_manifest": 2,
    "train_run": 6, "predict": 12, "metrics": 12, "tables": 2, "all": 1, "total": 67,
}
# drct2m_intra with recompute: 7 jobs (sdv1 real train/test + sd1.4 fake-rec, sdv2 the same, sdxl real test)
# x 64 shards = 448 shards, 7 merges; everything else as published.
DRCT2M_INTRA_RECOMPUTE = {
    **DRCT2M_INTRA, "reconstruct_shard": 448, "merge_reconstructions": 7, "total": 43 + 448 + 7,
}


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("drct2m_intra", DRCT2M_INTRA),
        ("genimage_intra", GENIMAGE_INTRA),
        ("drct2m_to_genimage", DRCT2M_TO_GENIMAGE),
    ],
)
def test_preset_dag_job_counts(preset: str, expected: dict[str, int]) -> None:
    assert job_counts("--configfile", f"presets/{preset}.yaml") == expected


def test_demo_dag_job_counts(tmp_path: Path) -> None:
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    assert job_counts("--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path)) == DEMO


def test_recompute_mode_adds_the_reconstruction_shards(tmp_path: Path) -> None:
    preset = yaml.safe_load((ROOT / "presets" / "drct2m_intra.yaml").read_text())
    preset["reconstruction"]["mode"] = "recompute"
    path = tmp_path / "recompute.yaml"
    path.write_text(yaml.safe_dump(preset))
    assert job_counts("--configfile", str(path)) == DRCT2M_INTRA_RECOMPUTE


def test_presets_write_under_their_own_experiment_folder() -> None:
    experiments = [yaml.safe_load(p.read_text())["experiment"] for p in sorted((ROOT / "presets").glob("*.yaml"))]
    experiments.append(yaml.safe_load((ROOT / "config.yaml").read_text())["experiment"])
    assert len(set(experiments)) == len(experiments)


def test_a_preset_does_not_inherit_demo_keys(tmp_path: Path) -> None:
    """A preset replaces config.yaml: a demo-only setting must not leak into a paper run.

    Snakemake merges --configfile over the workflow's configfile recursively, so a key that only
    the demo sets (here a marker in training.settings) would otherwise reach the paper's jobs.
    """
    demo = yaml.safe_load((ROOT / "config.yaml").read_text())
    demo["training"]["settings"]["max_steps_per_epoch"] = 7
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(demo))
    result = subprocess.run(
        [SNAKEMAKE, "-n", "-p", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
         "--configfile", str(ROOT / "presets" / "drct2m_intra.yaml")],
        cwd=tmp_path, env=_env(), capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "drct train" in result.stdout
    assert "max_steps_per_epoch" not in result.stdout
    assert "convnext_base.fb_in22k" in result.stdout


def test_snakemake_lint_is_clean() -> None:
    result = subprocess.run([SNAKEMAKE, "--lint"], cwd=ROOT, env=_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakefiles_are_formatted() -> None:
    snakefmt = shutil.which("snakefmt", path=str(Path(sys.executable).parent))
    if snakefmt is None:
        pytest.skip("snakefmt is not installed (it comes with the test extra)")
    result = subprocess.run([snakefmt, "--check", "Snakefile", "rules"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
