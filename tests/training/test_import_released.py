"""The authors' released checkpoints: state dicts laid out as their ContrastiveModels saves them, built here.

The "authors' model" below is rebuilt from their network/models.py structure (not from ours): a timm
ConvNeXt whose head.fc became Linear(feat, 1024), or OpenAI-style CLIP (image and text tower) held as
``model.model`` with ``model.fc``, and ``fc`` = Linear(1024, 2) on top. Importing must give a model
whose logits equal the authors' forward pass.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import torch
from helpers.authors_models import AuthorsClip, AuthorsTimm
from torch import nn

from drct.training.checkpoint import load_model
from drct.training.import_released import (
    convert_authors_state_dict,
    import_released,
    load_authors_checkpoint,
    parse_released_name,
    read_state_dict,
)
from drct.training.model import DEMO_OPEN_CLIP_MODEL, DEMO_TIMM_MODEL
from drct.training.settings import TrainSettings

torch.set_num_threads(2)

GROUPS = dict(real=["real"], fake=["sdv14"], real_rec=["real-rec"], fake_rec=["fake-rec"], batch_size=4)
CONVB = TrainSettings(family="timm", model_name=DEMO_TIMM_MODEL, pretrained=False, freeze_backbone=False,
                      image_size=64, **GROUPS)
UNIVFD = TrainSettings(family="open_clip", model_name=DEMO_OPEN_CLIP_MODEL, pretrained="", freeze_backbone=True,
                       **GROUPS)


def _authors(family: str) -> tuple[nn.Module, TrainSettings, int]:
    torch.manual_seed(7)
    if family == "timm":
        return AuthorsTimm().eval(), CONVB, 64
    return AuthorsClip().eval(), UNIVFD, 224


@pytest.mark.parametrize("family", ["timm", "open_clip"])
@pytest.mark.parametrize("data_parallel", [False, True])
def test_imported_model_computes_the_authors_logits(family: str, data_parallel: bool, tmp_path: Path) -> None:
    theirs, settings, size = _authors(family)
    state = theirs.state_dict()
    if family == "open_clip":
        assert any(k.startswith("model.model.transformer.") for k in state), "the text tower is in their file"
    if data_parallel:
        state = {f"module.{k}": v for k, v in state.items()}
    path = tmp_path / "14_acc0.9996.pth"
    torch.save(state, path)
    ours = load_authors_checkpoint(path, settings)
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(ours(x)[1], theirs(x), rtol=0, atol=0)


def test_text_tower_is_dropped_and_everything_else_is_placed() -> None:
    theirs, _, _ = _authors("open_clip")
    converted = convert_authors_state_dict(theirs.state_dict())
    assert not [k for k in converted if "transformer.resblocks" in k and not k.startswith("backbone.")]
    assert {k.split(".")[0] for k in converted} == {"backbone", "embedding", "classifier"}
    assert converted["embedding.weight"].shape == (1024, theirs.model.model.visual.output_dim)


def test_unknown_keys_and_wrong_shapes_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unexpected key.*'head.weight'"):
        convert_authors_state_dict({"head.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="unexpected key.*model.model.mystery"):
        convert_authors_state_dict({"model.model.mystery": torch.zeros(1)})
    theirs, settings, _ = _authors("timm")
    path = tmp_path / "last_acc0.9.pth"
    torch.save(theirs.state_dict(), path)
    with pytest.raises(ValueError, match="shape mismatches.*embedding.weight"):
        load_authors_checkpoint(path, settings.replace(embedding_dim=512))


class _NotATensor:
    pass


def test_only_weights_are_unpickled(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"fc.weight": torch.zeros(2, 2), "payload": _NotATensor()}, path)
    with pytest.raises(ValueError, match="weights_only=True"):
        read_state_dict(path)
    nested = tmp_path / "wrapped.pth"
    torch.save({"state_dict": {"fc.weight": torch.ones(1)}}, nested)
    assert set(read_state_dict(nested)) == {"fc.weight"}


def test_released_names() -> None:
    assert parse_released_name("14_acc0.9996.pth") == {"epoch": 14, "val_acc": 0.9996}
    assert parse_released_name("last_acc0.9112.pth") == {"epoch": "last", "val_acc": 0.9112}
    assert parse_released_name("model.pth") == {}


def test_import_from_a_zip_member_writes_one_of_our_checkpoints(tmp_path: Path) -> None:
    theirs, settings, size = _authors("open_clip")
    member = "pretrained/DRCT-2M/sdv14/clip-ViT-L-14_224_drct_amp_crop/13_acc0.9664.pth"
    weights = tmp_path / "w.pth"
    torch.save(theirs.state_dict(), weights)
    archive = tmp_path / "pretrained.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(weights, member)
        zf.writestr("pretrained/README.txt", "not a checkpoint")

    out = tmp_path / "released" / "best.safetensors"
    record = import_released(archive, out, settings, member="sdv14/clip-ViT-L-14_224_drct_amp_crop/13_acc0.9664.pth")
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["weights"] == "full" and sidecar["epoch"] == 13 and sidecar["val_acc"] == 0.9664
    assert sidecar["imported_from"]["member"].endswith("13_acc0.9664.pth")
    assert len(sidecar["imported_from"]["sha256"]) == 64 == len(record["imported_from"]["archive_sha256"])
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")], "temporary files left behind"

    model, _ = load_model(out)
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[1], theirs(x), rtol=0, atol=0)

    with pytest.raises(FileNotFoundError, match="checkpoint files in it.*13_acc0.9664.pth"):
        import_released(archive, tmp_path / "x.safetensors", settings, member="sdv2/last_acc0.9112.pth")
