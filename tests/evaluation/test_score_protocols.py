"""`drct score` / `drct metrics` / `drct perturbed-metrics` over every protocol of one run.

The workflow runs one job per run (issue 14): the files each writes must be byte for byte those
that :func:`score`, :func:`score_perturbed` and a one-protocol metrics call write alone, whatever
the number of protocols in the job.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers.manifests import write_rows_manifest
from PIL import Image

from drct.cli import main
from drct.evaluation.perturb import parse_perturbation
from drct.evaluation.score import ProtocolTask, score, score_perturbed
from drct.training.checkpoint import save_checkpoint
from drct.training.model import build_model
from drct.training.settings import TrainSettings

PERTURBATIONS = ["jpeg:60", "scale:0.5", "png"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    settings = TrainSettings(family="timm", model_name="convnext_atto", pretrained=False, freeze_backbone=False,
                             embedding_dim=8, real=("real",), fake=("A",), batch_size=2, image_size=32)
    path = tmp_path_factory.mktemp("run") / "best.safetensors"
    save_checkpoint(build_model(settings, load_pretrained=False).eval(), path, settings, {"epoch": 0, "val_acc": 0.5})
    return path


def _manifest(root: Path, generators: list[tuple[str, int]], seed: int) -> Path:
    rows = []
    for i, (generator, label) in enumerate(generators * 3):
        rel = f"imgs/{generator}_{i}.png"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        pixels = np.random.default_rng(seed + i).integers(0, 256, size=(40 + i, 36, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / rel)
        rows.append({"dataset": root.name, "generator": generator, "split": "test", "label": label, "path": rel,
                     "status": "ok"})
    return write_rows_manifest(root, rows)


@pytest.fixture(scope="module")
def protocols(tmp_path_factory) -> list[dict]:
    """Two protocols on two manifests: a shared real set (with a study), and per-generator reals."""
    shared = _manifest(tmp_path_factory.mktemp("shared"), [("real", 0), ("A", 1), ("B", 1)], seed=0)
    own = _manifest(tmp_path_factory.mktemp("own"), [("x", 0), ("x", 1), ("y", 0), ("y", 1)], seed=50)
    return [
        {"config": {"name": "intra", "real_source": "shared", "real_generator": "real",
                    "columns": [{"generator": "A", "label": "A"}, {"generator": "B", "label": "B"}]},
         "manifest": shared, "generators": ["A", "B", "real"], "perturbations": PERTURBATIONS},
        {"config": {"name": "cross", "real_source": "per_generator",
                    "columns": [{"generator": "x", "label": "X"}, {"generator": "y", "label": "Y"}]},
         "manifest": own, "generators": ["x", "y"], "perturbations": []},
    ]


def test_one_job_per_run_writes_the_files_of_one_job_per_protocol(tmp_path, checkpoint, protocols):
    alone, together = tmp_path / "alone", tmp_path / "together"
    entries = []
    for p in protocols:
        name = p["config"]["name"]
        score(checkpoint, p["manifest"], alone / name / "predictions.csv", generators=p["generators"],
              batch_size=2, device="cpu")
        entry = {"name": name, "manifest": str(p["manifest"]), "generators": p["generators"],
                 "out": str(together / name / "predictions.csv")}
        if p["perturbations"]:
            score_perturbed(checkpoint, p["manifest"], alone / name / "perturbed.csv",
                            [parse_perturbation(s) for s in p["perturbations"]], generators=p["generators"],
                            batch_size=2, device="cpu")
            entry.update(perturbations=p["perturbations"], perturbed_out=str(together / name / "perturbed.csv"))
        entries.append(entry)
    assert main(["score", "--checkpoint", str(checkpoint), "--protocols", json.dumps(entries),
                 "--batch-size", "2", "--device", "cpu", "--threads", "1"]) == 0
    written = sorted(p.relative_to(together) for p in together.rglob("*.csv"))
    assert [str(p) for p in written] == ["cross/predictions.csv", "intra/perturbed.csv", "intra/predictions.csv"]
    for rel in written:
        assert (together / rel).read_bytes() == (alone / rel).read_bytes(), rel

    # metrics: every protocol of the run in one call == one call per protocol
    bootstrap = json.dumps({"replicates": 50, "level": 0.95, "seed": 0})
    metric_entries = [{"protocol": p["config"], "predictions": str(together / p["config"]["name"] / "predictions.csv"),
                       "out": str(together / p["config"]["name"] / "metrics.json"),
                       "roc": str(together / p["config"]["name"] / "roc.csv"),
                       "pr": str(together / p["config"]["name"] / "pr.csv")} for p in protocols]
    assert main(["metrics", "--protocols", json.dumps(metric_entries), "--run", "r", "--bootstrap", bootstrap]) == 0
    for entry in metric_entries:
        one = dict(entry, out=entry["out"] + ".alone", roc=entry["roc"] + ".alone", pr=entry["pr"] + ".alone")
        assert main(["metrics", "--protocols", json.dumps([one]), "--run", "r", "--bootstrap", bootstrap]) == 0
        for key in ("out", "roc", "pr"):
            assert Path(one[key]).read_bytes() == Path(entry[key]).read_bytes()
    assert json.loads(Path(metric_entries[1]["out"]).read_text())["protocol"] == "cross"

    perturbed = [{"protocol": protocols[0]["config"], "predictions": str(together / "intra" / "perturbed.csv"),
                  "out": str(together / "intra" / "perturbed_metrics.csv")}]
    assert main(["perturbed-metrics", "--protocols", json.dumps(perturbed), "--run", "r"]) == 0
    table = pd.read_csv(together / "intra" / "perturbed_metrics.csv")
    assert set(table["perturbation"]) == {"jpeg-60", "scale-0.5", "png"} and set(table["run"]) == {"r"}


def test_a_bad_protocol_fails_before_the_model_is_loaded(tmp_path, checkpoint, protocols, monkeypatch):
    import drct.evaluation.score as scoring

    def no_load(*args, **kwargs):
        raise AssertionError("the model was loaded before the protocols were checked")

    monkeypatch.setattr(scoring, "load_scorer", no_load)
    good = ProtocolTask("intra", protocols[0]["manifest"], tmp_path / "a.csv", generators=["A", "real"])
    bad = ProtocolTask("cross", protocols[1]["manifest"], tmp_path / "b.csv", generators=["nope"])
    with pytest.raises(ValueError, match="nope"):
        scoring.score_protocols(checkpoint, [good, bad], device="cpu")
    with pytest.raises(ValueError, match="same file"):
        scoring.score_protocols(checkpoint, [good, ProtocolTask("x", good.manifest, good.out)], device="cpu")
    with pytest.raises(ValueError, match="both"):
        ProtocolTask("x", good.manifest, good.out, perturbations=(parse_perturbation("png"),))
    assert main(["score", "--checkpoint", str(checkpoint), "--protocols", '[{"name": "x"}]']) == 1
