"""The paper's other detectors from the DAG on the demo data: trained, scored and in every table.

The demo config plus CNNSpot, GramNet and DIRE entries (random weights, one short epoch), run on top
of the session's demo run (its results copied in and marked current with `snakemake --touch`): only
the new detectors' jobs run, among them DIRE's test reconstructions by the demo DR model, and
nothing of the demo is retrained or rescored. Each command runs restricted to its rule's conda env
(tests/helpers/import_blocker.py). De-fake has its own file (tests/workflow/test_defake_workflow.py):
it adds the captioning step. F3Net and CLIP/RN50 go through the same rules (a backbone entry, the
baseline method) but their networks fix their input size (299 and 224 px): scoring the demo's test
images and the demo's perturbation study took 6 and 1.5 minutes of the 2 CPUs, too much for the
suite, so they train and score in-process on a few demo images (tests/training/test_detectors.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from helpers.workflow import run_on_top_of_demo

SHORT = {"epochs": 1, "max_steps_per_epoch": 2}
ENTRIES = [
    {"name": "cnnspot", "detector": "cnnspot", "pretrained": False, "batch_size": 8, "settings": {**SHORT, "image_size": 64}},
    {"name": "gramnet", "detector": "gramnet", "batch_size": 8, "settings": {**SHORT, "image_size": 64}},
    {"name": "dire", "detector": "dire", "pretrained": False, "batch_size": 4, "settings": SHORT},
]
RUNS = {e["name"]: f"baseline-{e['name']}-sdv1-seed0" for e in ENTRIES}
#: the tables' row label of each detector (the paper's)
LABELS = {"cnnspot": "CNNSpot", "gramnet": "GramNet", "dire": "DIRE"}


def with_detectors(config: dict) -> None:
    config["training"]["backbones"].extend(ENTRIES)
    config["training"]["train_sets"][0]["dr_model"] = "demo-sd"  # DIRE: its reconstructions' DR model


@pytest.fixture(scope="module")
def methods_run(demo_run, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    workdir = tmp_path_factory.mktemp("methods") / "run"
    jobs, _ = run_on_top_of_demo(demo_run.workdir, workdir, with_detectors)
    return workdir, jobs


@pytest.mark.slow
def test_only_the_new_detectors_and_what_they_need_run(methods_run) -> None:
    _, jobs = methods_run
    # one run per detector, nothing of the demo's retrained or rescored (DIRE's test reconstructions
    # are read from their own manifests, not combined into the dataset's): DIRE's reconstructions by
    # demo-sd of intra's 4 columns and its shared real set and of cross's 3 columns (their real images
    # inside), 2 shards each; the image detectors join the demo's perturbation studies (their score
    # jobs cover them), DIRE is scored by a group of its own without them (score_2)
    assert jobs == {"reconstruct_shard": 16, "merge_reconstructions": 8, "train_run": 3,
                    "score": 2, "metrics": 2, "perturbed_metrics": 2, "score_2": 1, "metrics_2": 1,
                    "tables": 2, "robustness": 1, "format_bias": 1, "dvc_views": 1, "all": 1, "total": 41}


@pytest.mark.slow
def test_every_detector_has_an_ours_row_in_every_table_format(methods_run) -> None:
    workdir, _ = methods_run
    out = workdir / "results" / "demo"
    for protocol in ("intra", "cross"):
        for name, run in RUNS.items():
            predictions = pd.read_csv(out / "eval" / protocol / run / "predictions.csv")
            assert len(predictions) > 0 and predictions["score"].between(0, 1).all(), (protocol, name)
            assert (out / "eval" / protocol / run / "metrics.json").exists()
        paper = out / "paper" / protocol
        table = pd.read_csv(paper / "table.csv", dtype=str, keep_default_na=False)
        ours = table[table["source"].str.startswith("ours")]
        rows = set(zip(ours["method"], ours["DR"]))
        for name, label in LABELS.items():
            assert (label, "SDv1" if name == "dire" else "-") in rows, f"{protocol}: no row for {label} in {sorted(rows)}"
        comparison = pd.read_csv(paper / "comparison.csv", dtype=str, keep_default_na=False)
        differences = set(comparison.loc[comparison["kind"] == "ours - paper", "method"])
        for label in LABELS.values():  # each beside the paper's row of the same method (and DR)
            assert label in differences, f"{protocol}: no ours - paper row for {label}"
        for name in ("table.md", "table.tex", "table.html", "comparison.md", "comparison.tex"):
            text = (paper / name).read_text()
            for label in LABELS.values():
                assert label in text, f"{protocol}: {label} missing from {name}"


@pytest.mark.slow
def test_dire_is_scored_on_the_demo_dr_reconstructions_of_its_test_images(methods_run) -> None:
    workdir, _ = methods_run
    out = workdir / "results" / "demo"
    sidecar = json.loads((out / "train" / "dire" / RUNS["dire"] / "best.json").read_text())
    assert sidecar["settings"]["input"] == "dire"
    combined = pd.read_csv(out / "data" / "demo-drct2m.csv")
    assert not combined["generator"].str.startswith("dire-").any(), "DIRE's test reconstructions stay out of it"
    for generator in ("flux", "stable-diffusion", "qwen-image", "demo-sd-dr", "real"):
        tested = combined[(combined["generator"] == generator) & (combined["split"] == "test")]
        folder = out / "reconstruction" / "demo-drct2m" / f"dire-demo-sd--{generator}" / "test"
        rebuilt = pd.read_csv(folder / "manifest.csv")
        assert len(rebuilt) == len(tested) > 0 and (rebuilt["status"] == "ok").all(), generator
    scored = pd.read_csv(out / "eval" / "intra" / RUNS["dire"] / "predictions.csv")
    assert not scored["generator"].str.startswith("dire-").any(), "reconstructions are inputs, not scored rows"
