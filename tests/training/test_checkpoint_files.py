"""Checkpoint files: stable bytes for identical weights, and clear errors for files that are not ours."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from drct.errors import DrctError
from drct.training.checkpoint import CheckpointError, load_model, save_checkpoint
from drct.training.model import build_model
from drct.training.settings import TrainSettings

SETTINGS = TrainSettings(
    family="timm", model_name="convnext_atto", pretrained=False, freeze_backbone=False,
    real=["real"], fake=["sdv14"], batch_size=2, image_size=32,
)


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(SETTINGS, load_pretrained=False)


def test_saving_the_same_weights_gives_the_same_bytes(model, tmp_path: Path) -> None:
    """The metadata order came from a hash map and changed between saves (about every other one)."""
    digests = set()
    for i in range(12):
        path = tmp_path / f"c{i}.safetensors"
        save_checkpoint(model, path, SETTINGS, {"epoch": 0, "val_acc": 0.5})
        digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
    assert len(digests) == 1
    size = int.from_bytes(path.read_bytes()[:8], "little")
    header = json.loads(path.read_bytes()[8 : 8 + size])
    assert list(header["__metadata__"]) == ["format", "weights"]
    state = load_file(str(path))
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert load_model(path)[1]["weights"] == "full"


def test_a_file_that_is_not_ours_is_named_with_what_to_do(model, tmp_path: Path) -> None:
    ours = tmp_path / "best.safetensors"
    save_checkpoint(model, ours, SETTINGS, {"epoch": 0, "val_acc": 0.5})
    pth = tmp_path / "sdv14_ConvB_13_acc0.9664.pth"
    torch.save(model.state_dict(), pth)
    pth.with_suffix(".json").write_text(ours.with_suffix(".json").read_text())
    with pytest.raises(CheckpointError, match=r"\.pth is not one of our checkpoints \(a PyTorch zip.*drct import-released"):
        load_model(pth)
    pickled = tmp_path / "old.pth"
    torch.save(model.state_dict(), pickled, _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError, match=r"old.pth is not one of our checkpoints \(a Python pickle"):
        load_model(pickled)
    with pytest.raises(CheckpointError, match="nowhere.safetensors: no such checkpoint"):
        load_model(tmp_path / "nowhere.safetensors")
    ours.with_suffix(".json").unlink()
    with pytest.raises(DrctError, match=r"best.safetensors has no sidecar .*best.json"):
        load_model(ours)
