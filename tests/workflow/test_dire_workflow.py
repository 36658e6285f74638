"""DIRE from the DAG on the demo data: its test reconstructions, training, scoring, its table rows.

The demo config plus a DIRE entry (random weights, one short epoch; the train set names its DR
model, demo-sd), run on top of the session's demo run (its results copied in and marked current
with `snakemake --touch`): only DIRE's jobs run, among them the reconstruction of every test image
it is scored on, and nothing of the demo is retrained or rescored (a first version of this test
found that every run was: DIRE's reconstructions were merged into the manifest all runs read).
Each command runs restricted to its rule's conda env (tests/helpers/import_blocker.py).

The image detectors (CNNSpot, F3Net, CLIP/RN50, GramNet) go through the same rules as the demo's
Conv-B and UnivFD (a backbone entry, the baseline method); they train and score in-process on a few
demo images (tests/training/test_detectors.py), as scoring the demo's test set and perturbation
study with them took minutes of the 2 CPUs (F3Net at 299 px: 6 min) that the suite cannot spend.
De-fake has its own file (tests/workflow/test_defake_workflow.py): it adds the captioning step.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from helpers.workflow import run_on_top_of_demo

DIRE = {"name": "dire", "detector": "dire", "pretrained": False, "batch_size": 4,
        "settings": {"epochs": 1, "max_steps_per_epoch": 2}}
RUN = "baseline-dire-sdv1-seed0"


def with_dire(config: dict) -> None:
    config["training"]["backbones"].append(DIRE)
    config["training"]["train_sets"][0]["dr_model"] = "demo-sd"  # DIRE: its reconstructions' DR model


@pytest.fixture(scope="module")
def dire_run(demo_run, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    workdir = tmp_path_factory.mktemp("dire") / "run"
    jobs, _ = run_on_top_of_demo(demo_run.workdir, workdir, with_dire)
    return workdir, jobs


@pytest.mark.slow
def test_only_dire_and_its_test_reconstructions_run(dire_run) -> None:
    _, jobs = dire_run
    # nothing of the demo is retrained or rescored (DIRE's test reconstructions are read from their own
    # manifests, not combined into the dataset's): demo-sd reconstructs intra's 4 columns and its shared
    # real set and cross's 3 columns (their real images inside), 2 shards each; DIRE is scored by a group
    # of its own (score_2), outside the perturbation studies; the tables gain its rows
    assert jobs == {"reconstruct_shard": 16, "merge_reconstructions": 8, "train_run": 1, "score_2": 1,
                    "metrics_2": 1, "tables": 2, "dvc_views": 1, "all": 1, "total": 31}


@pytest.mark.slow
def test_dire_has_an_ours_row_in_every_table_format(dire_run) -> None:
    workdir, _ = dire_run
    out = workdir / "results" / "demo"
    for protocol in ("intra", "cross"):
        predictions = pd.read_csv(out / "eval" / protocol / RUN / "predictions.csv")
        assert len(predictions) > 0 and predictions["score"].between(0, 1).all(), protocol
        assert (out / "eval" / protocol / RUN / "metrics.json").exists()
        paper = out / "paper" / protocol
        table = pd.read_csv(paper / "table.csv", dtype=str, keep_default_na=False)
        ours = table[table["source"].str.startswith("ours")]
        assert ("DIRE", "SDv1") in set(zip(ours["method"], ours["DR"])), f"{protocol}: no DIRE (SDv1) row"
        comparison = pd.read_csv(paper / "comparison.csv", dtype=str, keep_default_na=False)
        # beside the paper's row of the same method and DR
        assert "DIRE" in set(comparison.loc[comparison["kind"] == "ours - paper", "method"]), protocol
        for name in ("table.md", "table.tex", "table.html", "comparison.md", "comparison.tex"):
            assert "DIRE" in (paper / name).read_text(), f"{protocol}: DIRE missing from {name}"


@pytest.mark.slow
def test_dire_is_scored_on_the_demo_dr_reconstructions_of_its_test_images(dire_run) -> None:
    workdir, _ = dire_run
    out = workdir / "results" / "demo"
    sidecar = json.loads((out / "train" / "dire" / RUN / "best.json").read_text())
    assert sidecar["settings"]["input"] == "dire"
    combined = pd.read_csv(out / "data" / "demo-drct2m.csv")
    assert not combined["generator"].str.startswith("dire-").any(), "DIRE's test reconstructions stay out of it"
    for generator in ("flux", "stable-diffusion", "qwen-image", "demo-sd-dr", "real"):
        tested = combined[(combined["generator"] == generator) & (combined["split"] == "test")]
        folder = out / "reconstruction" / "demo-drct2m" / f"dire-demo-sd--{generator}" / "test"
        rebuilt = pd.read_csv(folder / "manifest.csv")
        assert len(rebuilt) == len(tested) > 0 and (rebuilt["status"] == "ok").all(), generator
    scored = pd.read_csv(out / "eval" / "intra" / RUN / "predictions.csv")
    assert not scored["generator"].str.startswith("dire-").any(), "reconstructions are inputs, not scored rows"
