"""De-fake from the DAG on the demo data: BLIP captions (tiny random-weight captioner), training, scoring.

The demo config plus a De-fake backbone (the demo's tiny CLIP, random weights, one epoch) and a
``captioning: {build_demo: true}`` block, run on top of the session's demo run (its results copied
in and marked current with `snakemake --touch`): only the captioning jobs and De-fake's own run are
computed. Each command runs restricted to its rule's conda env (tests/helpers/import_blocker.py), so
the caption rules' env (transformers) and the training env (open_clip's tokenizer) are checked too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from helpers.workflow import run_on_top_of_demo

RUN = "baseline-defake-sdv1-seed0"
DEFAKE = {"name": "defake", "detector": "defake", "model_name": "ViT-Tiny-16-quickgelu", "pretrained": "",
          "batch_size": 16, "settings": {"epochs": 1}}
CAPTIONING = {"build_demo": True, "num_beams": 1, "max_length": 20, "device": "cpu", "batch_size": 8}


def with_defake(config: dict) -> None:
    config["training"]["backbones"].append(DEFAKE)
    config["captioning"] = CAPTIONING


@pytest.fixture(scope="module")
def defake_run(demo_run, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    workdir = tmp_path_factory.mktemp("defake") / "run"
    targets = [f"results/demo/eval/{p}/{RUN}/metrics.json" for p in ("intra", "cross")]
    jobs, _ = run_on_top_of_demo(demo_run.workdir, workdir, with_defake, *targets)
    return workdir, jobs


@pytest.mark.slow
def test_captions_are_a_step_of_their_own_and_only_defake_runs(defake_run) -> None:
    _, jobs = defake_run
    # the demo captioner, one shard and one merge for each of the 2 datasets De-fake reads
    # (demo-drct2m: trained and scored under intra; demo-genimage: scored under cross); one run
    assert jobs == {"build_demo_captioner": 1, "caption_shard": 2, "merge_captions": 2, "train_run": 1,
                    "score": 1, "metrics": 1, "total": 8}


@pytest.mark.slow
def test_defake_trains_on_captioned_images_and_is_scored(defake_run) -> None:
    workdir, _ = defake_run
    out = workdir / "results" / "demo"
    captions = pd.read_csv(out / "captions" / "demo-drct2m.csv", dtype=str, keep_default_na=False)
    manifest = pd.read_csv(out / "data" / "demo-drct2m.csv")
    assert set(captions["path"]) <= set(manifest["path"]) and len(captions) > 0.9 * len(manifest)
    sidecar = json.loads((out / "train" / "defake" / RUN / "best.json").read_text())
    assert sidecar["settings"]["family"] == "defake" and not sidecar["settings"]["augment"]
    assert sidecar["provenance"]["captioner"]["model"] == "results/demo/models/captioner"
    assert sidecar["captions"] == "results/demo/captions/demo-drct2m.csv" and "captions_dropped" in sidecar
    for protocol in ("intra", "cross"):
        predictions = pd.read_csv(out / "eval" / protocol / RUN / "predictions.csv")
        assert len(predictions) > 0 and predictions["score"].between(0, 1).all()
        assert (out / "eval" / protocol / RUN / "metrics.json").exists()
