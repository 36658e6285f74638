"""Training loop: the cosine schedule, an end-to-end run on a synthetic manifest, and reloading."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from helpers.manifests import DRCT_FOLDERS, write_manifest
from safetensors.torch import load_file

from drct.training import checkpoint as ckpt
from drct.training.checkpoint import load_model, save_checkpoint
from drct.training.model import build_model
from drct.training.settings import TrainSettings
from drct.training.train_run import build_optimizer, build_scheduler, train

torch.set_num_threads(2)

# lr used during epochs 0..16 for lr 1e-4, T_max 5, stepped once per epoch. Between restarts it is
# 1e-4 * (1 + cos(pi * t / 5)) / 2 with t = epoch mod 10 read as a triangle wave (torch's recursive
# form climbs back after T_max instead of restarting):
#   cos(pi/5) = 0.809017 -> 9.045085e-5;  cos(2pi/5) = 0.309017 -> 6.545085e-5
#   cos(3pi/5) = -0.309017 -> 3.454915e-5; cos(4pi/5) = -0.809017 -> 9.549150e-6; cos(pi) = -1 -> 0
EXPECTED_LR = [
    1e-4, 9.045085e-5, 6.545085e-5, 3.454915e-5, 9.549150e-6, 0.0,
    9.549150e-6, 3.454915e-5, 6.545085e-5, 9.045085e-5, 1e-4,
    9.045085e-5, 6.545085e-5, 3.454915e-5, 9.549150e-6, 0.0, 9.549150e-6,
]

SETTINGS = TrainSettings(
    family="open_clip", model_name="ViT-Tiny-16-quickgelu", pretrained="", freeze_backbone=True,
    real=["real"], fake=["sdv14"], real_rec=["real-rec"], fake_rec=["fake-rec"],
    batch_size=4, epochs=2, device="cpu",
)


def test_cosine_schedule_over_17_epochs() -> None:
    model = torch.nn.Linear(2, 2)
    settings = SETTINGS.replace(epochs=17)
    optimizer = build_optimizer(model, settings)
    scheduler = build_scheduler(optimizer, settings)
    seen = []
    for _ in range(settings.epochs):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen == pytest.approx(EXPECTED_LR, abs=1e-10)


def _read_history(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("train")
    manifest = write_manifest(root, DRCT_FOLDERS)
    out = root / "run"
    summary = train(manifest, out, SETTINGS, provenance={"config_sha256": "abc"})
    return manifest, out, summary


def test_train_writes_checkpoints_sidecars_and_history(trained: tuple[Path, Path, dict]) -> None:
    manifest, out, summary = trained
    for name in ("best.safetensors", "best.json", "last.safetensors", "last.json", "history.csv"):
        assert (out / name).is_file(), name
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary files left behind"
    history = _read_history(out / "history.csv")
    assert [row["epoch"] for row in history] == ["0", "1"]
    assert [float(row["lr"]) for row in history] == pytest.approx([1e-4, 9.045085e-5], abs=1e-10)
    assert summary["n_train"] == 12 and summary["n_val"] == 4

    last = json.loads((out / "last.json").read_text())
    assert last["epoch"] == 1 and last["seed"] == 0
    assert last["settings"] == SETTINGS.to_dict()
    assert last["weights"] == "full"  # frozen but randomly initialised: the backbone must be stored
    assert last["provenance"] == {"config_sha256": "abc"}
    assert len(last["manifest_sha256"]) == 64
    assert {"torch", "timm", "open_clip_torch", "albumentations", "pytorch-metric-learning", "diffusers"} <= set(
        last["package_versions"]
    )
    assert 0.0 <= last["val_acc"] <= 1.0 and float(history[-1]["val_acc"]) == last["val_acc"]
    best = json.loads((out / "best.json").read_text())
    assert best["epoch"] == summary["best_epoch"] and best["val_acc"] == summary["best_val_acc"]


def test_training_is_reproducible(trained: tuple[Path, Path, dict], tmp_path: Path) -> None:
    manifest, out, _ = trained
    train(manifest, tmp_path, SETTINGS.replace(epochs=1))
    first = load_file(str(tmp_path / "last.safetensors"))
    again = tmp_path / "again"
    train(manifest, again, SETTINGS.replace(epochs=1))
    second = load_file(str(again / "last.safetensors"))
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_load_model_reproduces_outputs(trained: tuple[Path, Path, dict]) -> None:
    _, out, _ = trained
    model, sidecar = load_model(out / "last.safetensors")
    assert not model.training and sidecar["epoch"] == 1
    state = load_file(str(out / "last.safetensors"))
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    # the same weights give the same outputs as a second, independent reload
    x = torch.randn(2, 3, 224, 224)
    again, _ = load_model(out / "last.safetensors")
    with torch.no_grad():
        assert torch.equal(model(x)[1], again(x)[1])


def test_head_only_checkpoint_round_trip_and_digest_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pretend the tiny ViT's random init were named pretrained weights: seed 0 before building
    # reproduces them, which is what a download by tag does for real backbones.
    def seeded_build(settings: TrainSettings, load_pretrained: bool = True):
        torch.manual_seed(0)
        return build_model(settings, load_pretrained)

    monkeypatch.setattr(ckpt, "weights_kind", lambda settings: "head")
    model = seeded_build(SETTINGS)
    torch.nn.init.normal_(model.classifier.weight)  # a "trained" head
    path = tmp_path / "best.safetensors"
    save_checkpoint(model, path, SETTINGS, {"epoch": 0, "val_acc": 0.5})
    assert set(load_file(str(path))) == {"embedding.weight", "embedding.bias", "classifier.weight", "classifier.bias"}
    assert json.loads(path.with_suffix(".json").read_text())["weights"] == "head"

    monkeypatch.setattr(ckpt, "build_model", seeded_build)
    loaded, _ = load_model(path)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(loaded(x)[1], model.eval()(x)[1])

    # a backbone that differs from the one trained on is refused
    def other_build(settings: TrainSettings, load_pretrained: bool = True):
        torch.manual_seed(1)
        return build_model(settings, load_pretrained)

    monkeypatch.setattr(ckpt, "build_model", other_build)
    with pytest.raises(ValueError, match="pretrained weights changed"):
        load_model(path)


def test_timm_demo_trains_one_step(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, DRCT_FOLDERS)
    settings = SETTINGS.replace(
        family="timm", model_name="convnext_atto", pretrained=False, freeze_backbone=False,
        epochs=1, max_steps_per_epoch=1, augment=False, image_size=64,  # ConvNeXt takes any size
    )
    summary = train(manifest, tmp_path / "run", settings)
    assert summary["weights"] == "full" and len(summary["history"]) == 1
    model, _ = load_model(tmp_path / "run" / "best.safetensors")
    assert model.feature_dim == 320


def test_identical_trainings_write_byte_identical_checkpoints(trained: tuple[Path, Path, dict], tmp_path: Path) -> None:
    """DVC compares file hashes: the safetensors header used to list its metadata in a random order."""
    import hashlib

    manifest, _, _ = trained
    digests = []
    for name in ("one", "two"):
        train(manifest, tmp_path / name, SETTINGS.replace(epochs=1))
        digests.append({f: hashlib.sha256((tmp_path / name / f).read_bytes()).hexdigest()
                        for f in ("best.safetensors", "last.safetensors")})
    assert digests[0] == digests[1]
