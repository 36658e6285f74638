"""Every preset's full DAG builds with no data present, with the job counts worked out by hand."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
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


# Evaluation (issue 14): one `score` job per run scores every protocol of the run and, where a
#   protocol has a robustness or format study, every perturbation too, loading the model once;
#   `metrics` and `perturbed_metrics` compute every protocol of a run in one process. Before, each
#   of them was one job per protocol x run (and `score_perturbed` a second model load per run):
#   every job is a new process paying seconds of imports, and scoring paid the model load again,
#   while the parallelism that matters (one GPU job per checkpoint) is kept. So below each count
#   is per run: score = metrics = runs, perturbed_metrics = runs with a perturbed protocol.

# The demo: 1 archive, 2 datasets (each: prepare, validate, data_report = test manifest + format
#   report); 3 reconstruction jobs (real train, FLUX train, real test) x 2 shards;
#   runs = (drct + baseline) x 2 backbones = 4, each scored under 2 protocols in one job.
DEMO = {
    "build_demo_model": 1, "acquire": 1, "prepare": 2, "validate": 2,
    "data_report": 2, "combine": 2, "reconstruct_shard": 6, "merge_reconstructions": 3,
    "train_run": 4, "score": 4, "metrics": 4, "tables": 2, "all": 1, "total": 34,
}
# Paper outputs (issue 6), by hand from config.yaml: robustness and the format control both on
#   [intra], scored in each run's score job -> 4 perturbed_metrics, one robustness and one
#   format_bias report; the one train set (sdv1) has real_rec and fake_rec -> 1 samples,
#   1 sample_grid. 34 + 4 + 1 + 1 + 1 + 1 = 42.
DEMO = {
    **DEMO, "perturbed_metrics": 4, "robustness": 1, "format_bias": 1,
    "samples": 1, "sample_grid": 1, "total": 42,
}
# Worked out from the presets, not from the code under test:
# drct2m_intra: 2 COCO + 16 subsets + 2 fake_rec archives = 20 fetches (pretrained.zip is optional);
#   one dataset: 1 prepare, 1 validate, 1 data_report (never one job per image);
#   runs = (sdv1: drct + baseline, sdv2: drct) x 2 backbones x 1 seed = 6; one protocol.
DRCT2M_INTRA = {
    "acquire": 20, "prepare": 1, "validate": 1, "data_report": 1,
    "combine": 1, "train_run": 6, "score": 6, "metrics": 6, "tables": 1, "all": 1,
    "total": 44,
}
# + robustness [intra] and format control [intra], in each run's score job: 6 perturbed_metrics,
#   1 robustness, 1 format_bias; train sets sdv1 and sdv2 both have real_rec and fake_rec
#   -> 2 samples, 2 sample grids. 44 + 6 + 1 + 1 + 2 + 2 = 56.
DRCT2M_INTRA = {
    **DRCT2M_INTRA, "perturbed_metrics": 6, "robustness": 1,
    "format_bias": 1, "samples": 2, "sample_grid": 2, "total": 56,
}
# genimage_intra: 8 subset archives; 2 reconstruction jobs x 64 shards; runs = 2 methods x 2 backbones.
GENIMAGE_INTRA = {
    "acquire": 8, "prepare": 1, "validate": 1, "data_report": 1,
    "reconstruct_shard": 128, "merge_reconstructions": 2, "combine": 1, "train_run": 4,
    "score": 4, "metrics": 4, "tables": 1, "all": 1, "total": 156,
}
# + robustness and format control on [intra], in each run's score job -> 4 perturbed_metrics,
#   2 reports; one train set with reconstructions -> 1 samples, 1 grid. 156 + 4 + 1 + 1 + 1 + 1 = 164.
GENIMAGE_INTRA = {
    **GENIMAGE_INTRA, "perturbed_metrics": 4, "robustness": 1,
    "format_bias": 1, "samples": 1, "sample_grid": 1, "total": 164,
}
# drct2m_to_genimage: 20 + 8 archives, 2 datasets (each: prepare, validate, data_report);
#   the 6 DRCT-2M runs, each scored under intra and cross in one job.
DRCT2M_TO_GENIMAGE = {
    "acquire": 28, "prepare": 2, "validate": 2, "data_report": 2,
    "combine": 2, "train_run": 6, "score": 6, "metrics": 6, "tables": 2, "all": 1,
    "total": 57,
}
# + robustness on [intra] and format control on [intra, cross], in each run's score job: one
#   perturbed_metrics job per run for both protocols -> 6, 1 robustness, 2 format_bias;
#   sdv1, sdv2 -> 2 samples, 2 grids. 57 + 6 + 1 + 2 + 2 + 2 = 70.
DRCT2M_TO_GENIMAGE = {
    **DRCT2M_TO_GENIMAGE, "perturbed_metrics": 6, "robustness": 1,
    "format_bias": 2, "samples": 2, "sample_grid": 2, "total": 70,
}
# drct2m_intra with recompute: 7 jobs (sdv1 real train/test + sd1.4 fake-rec, sdv2 the same, sdxl real test)
# x 64 shards = 448 shards, 7 merges; everything else as published.
DRCT2M_INTRA_RECOMPUTE = {
    **DRCT2M_INTRA, "reconstruct_shard": 448, "merge_reconstructions": 7, "total": 56 + 448 + 7,
}


# DVC views (issue 5, rules/dvc.smk, part of `all`): one `dvc_views` job per experiment writes each
#   run's metrics and per-generator accuracy where DVC reads them, whatever the number of runs:
#   +1 job in the demo and in every preset.
for _expected in (DEMO, DRCT2M_INTRA, GENIMAGE_INTRA, DRCT2M_TO_GENIMAGE, DRCT2M_INTRA_RECOMPUTE):
    _expected["dvc_views"] = 1
    _expected["total"] += 1

# The paper's other detectors (issue 13): the three table presets add CNNSpot, F3Net, CLIP/RN50 and
#   GramNet as backbones trained by the baseline method only (src/drct/detectors/), so on the one
#   train set whose methods include baseline: 4 runs, each with its train_run, score, metrics and
#   (every run is evaluated by the intra protocol, which has the studies) perturbed_metrics job;
#   no reconstruction, samples or grid (those follow the train sets): +16.
for _expected in (DRCT2M_INTRA, GENIMAGE_INTRA, DRCT2M_TO_GENIMAGE, DRCT2M_INTRA_RECOMPUTE):
    for _rule in ("train_run", "score", "metrics", "perturbed_metrics"):
        _expected[_rule] += 4
    _expected["total"] += 16

# The paper's ablations (issue 13), in drct2m_to_genimage only: Conv-B on sdv1 under cross.
#   components: ce-real-rec, ce-real-rec-fake, ce-all + drct (already a table run) -> 3 new runs;
#   lambdas [0.1, 0.3, 0.5, 0.7, 0.9]: 0.3 is the drct run itself -> 4 new runs. The 7 runs are
#   scored under cross only and not perturbed: their own group of evaluation rules (score_2,
#   metrics_2: 7 each; no perturbed_metrics); one table job per ablation. +7 x 3 + 2 = +23.
DRCT2M_TO_GENIMAGE.update(score_2=7, metrics_2=7, ablation_components=1, ablation_lambda=1)
DRCT2M_TO_GENIMAGE["train_run"] += 7
DRCT2M_TO_GENIMAGE["total"] += 23
# DIRE (issue 13), in drct2m_intra and drct2m_to_genimage (genimage_intra below): the `dire` backbone names its train sets
#   (sdv1, sdv2; sdv2's methods are [drct] only) and is trained by the baseline method on each -> 2 runs,
#   +2 train_run. A DIRE run reads each test image with its reconstruction by its train set's dr_model
#   (sdv1, sdv2): one test-split reconstruction job per DR model and generator a protocol scores, in
#   published and recompute mode alike (nothing published reconstructs the test fakes): intra's 16 columns
#   + its shared real set = 17 generators; cross's 8 GenImage subsets = 8 more; 64 shards and 1 merge each.
#   DIRE runs are kept out of the perturbation studies (those would need the reconstruction of every
#   perturbed image), so the 2 runs are their own evaluation group: score_2 and metrics_2, 2 each, no
#   perturbed_metrics; in drct2m_to_genimage that group comes before the ablations' (table runs are
#   planned first), which become score_3 / metrics_3.
#   drct2m_intra (either mode): 2 x 17 = 34 jobs: 2 + 34 x 64 + 34 + 2 + 2 = +2216;
#   drct2m_to_genimage: 2 x 25 = 50 jobs: 2 + 50 x 64 + 50 + 2 + 2 = +3256.
DRCT2M_TO_GENIMAGE.update(score_3=DRCT2M_TO_GENIMAGE.pop("score_2"), metrics_3=DRCT2M_TO_GENIMAGE.pop("metrics_2"))
for _expected, _jobs in ((DRCT2M_INTRA, 34), (DRCT2M_INTRA_RECOMPUTE, 34), (DRCT2M_TO_GENIMAGE, 50)):
    _expected["train_run"] += 2
    _expected["reconstruct_shard"] = _expected.get("reconstruct_shard", 0) + _jobs * 64
    _expected["merge_reconstructions"] = _expected.get("merge_reconstructions", 0) + _jobs
    _expected.update(score_2=2, metrics_2=2)
    _expected["total"] += 2 + _jobs * 64 + _jobs + 2 + 2
# genimage_intra: DIRE on its one train set (sdv14, dr_model sdv1) -> 1 run; its protocol scores the
#   8 GenImage subsets (each subset's generator holds its real and fake test images, real_source
#   per_generator) -> 8 test reconstruction jobs x 64 shards + 8 merges; its own evaluation group:
#   1 + 8 x 64 + 8 + 1 + 1 = +523.
GENIMAGE_INTRA["train_run"] += 1
GENIMAGE_INTRA["reconstruct_shard"] += 8 * 64
GENIMAGE_INTRA["merge_reconstructions"] += 8
GENIMAGE_INTRA.update(score_2=1, metrics_2=1)
GENIMAGE_INTRA["total"] += 1 + 8 * 64 + 8 + 1 + 1

# De-fake (issue 13), in the three table presets: one more detector trained by baseline only ->
#   +1 run with its train_run, score, metrics and perturbed_metrics (+4). Its BLIP captions are a
#   step of their own, for the datasets De-fake trains on or is scored on, captioning.shards = 8
#   jobs each plus one merge_captions: drct2m_intra and genimage_intra caption their one dataset
#   (+9: +13 in all); drct2m_to_genimage trains on DRCT-2M and is scored under intra (DRCT-2M) and
#   cross (GenImage): 2 datasets, +18 (+22 in all). No build_demo_captioner (hub captioner).
for _expected, _datasets in ((DRCT2M_INTRA, 1), (GENIMAGE_INTRA, 1), (DRCT2M_TO_GENIMAGE, 2),
                             (DRCT2M_INTRA_RECOMPUTE, 1)):
    for _rule in ("train_run", "score", "metrics", "perturbed_metrics"):
        _expected[_rule] += 1
    _expected["caption_shard"] = 8 * _datasets
    _expected["merge_captions"] = _datasets
    _expected["total"] += 4 + 9 * _datasets

# eval_released (issue 7, released checkpoints, nothing trained), by hand from the preset:
#   fetches: COCO val2017 + 16 DRCT-2M subsets + pretrained.zip + 8 GenImage subsets = 26;
#   2 datasets (drct2m-test, genimage): prepare, validate, data_report, combine each;
#   runs = 3 train sets (sdv1, sdv2, genimage-sdv14; drct only) x 2 backbones = 6 import_released;
#   the protocols evaluate different runs, so two groups of runs get their own evaluation rules
#   (rules/common.smk: eval_groups): intra + cross for the 4 sdv1/sdv2 runs (score, metrics: 4
#   each), genimage_intra for the 2 genimage-sdv14 runs (score_2, metrics_2: 2 each);
#   3 tables; no reconstruction (the GenImage jobs are training-only, left out), no studies or samples;
#   26 + 8 + 6 + 6 + 6 + 3 + dvc_views 1 + all 1 = 57.
EVAL_RELEASED = {
    "acquire": 26, "prepare": 2, "validate": 2, "data_report": 2, "combine": 2,
    "import_released": 6, "score": 4, "score_2": 2, "metrics": 4, "metrics_2": 2, "tables": 3,
    "dvc_views": 1, "all": 1, "total": 57,
}


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("drct2m_intra", DRCT2M_INTRA),
        ("genimage_intra", GENIMAGE_INTRA),
        ("drct2m_to_genimage", DRCT2M_TO_GENIMAGE),
        ("eval_released", EVAL_RELEASED),
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


# Published-reconstruction check (issue 7, rules/published_check.smk; not part of `all`, so the counts
#   above are unchanged): drct2m_intra's `published_check` needs the drct2m dataset's valid manifest
#   (20 fetches, prepare, validate), then one sample, one reconstruction (GPU) and one comparison job.
PUBLISHED_CHECK = {
    "acquire": 20, "prepare": 1, "validate": 1, "published_check_sample": 1,
    "published_check_reconstruct": 1, "published_check_compare": 1, "published_check": 1, "total": 26,
}


def test_published_check_dag_job_counts() -> None:
    # `--configfile=`: the option takes several files, and the target must not be read as one
    assert job_counts("--configfile=presets/drct2m_intra.yaml", "published_check") == PUBLISHED_CHECK


def test_published_check_without_its_config_block_says_how_to_turn_it_on(tmp_path: Path) -> None:
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    listed = subprocess.run(
        [SNAKEMAKE, "--list-rules", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path)],
        cwd=tmp_path, env=_env(), capture_output=True, text=True,
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "reconstruct_shard" in listed.stdout and "published_check_reconstruct" not in listed.stdout
    asked = subprocess.run(
        [SNAKEMAKE, "-n", "published_check", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path)],
        cwd=tmp_path, env=_env(), capture_output=True, text=True,
    )
    assert asked.returncode != 0
    assert "published-reconstruction check is not configured" in asked.stdout + asked.stderr


def test_snakemake_lint_is_clean_with_the_published_check() -> None:
    """The default lint reads the demo config, which has no published check: lint a preset that has one."""
    result = subprocess.run(
        [SNAKEMAKE, "--lint", "--configfile", "presets/drct2m_intra.yaml"], cwd=ROOT, env=_env(),
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "published_check" in (ROOT / "Snakefile").read_text()
