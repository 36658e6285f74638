"""Model: the paper's head on both backbone families; a frozen backbone really stays frozen."""

from __future__ import annotations

import pytest
import torch

from drct.training.loss import DRCTLoss
from drct.training.model import (
    DEMO_OPEN_CLIP_MODEL,
    DEMO_TIMM_MODEL,
    DRCTModel,
    build_model,
)
from drct.training.settings import TrainSettings
from drct.training.train_run import build_optimizer

torch.set_num_threads(2)

CLIP = TrainSettings(
    family="open_clip", model_name=DEMO_OPEN_CLIP_MODEL, pretrained="", freeze_backbone=True,
    real=["real"], fake=["fake"], batch_size=4,
)
CONVNEXT = TrainSettings(
    family="timm", model_name=DEMO_TIMM_MODEL, pretrained=False, freeze_backbone=False,
    real=["real"], fake=["fake"], batch_size=4,
)


def _one_step(model: DRCTModel, settings: TrainSettings, size: int = 224) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    optimizer = build_optimizer(model, settings)
    model.train()
    embedding, logits = model(torch.randn(4, 3, size, size))
    DRCTLoss.from_settings(settings)(embedding, logits, torch.tensor([0, 0, 1, 1])).backward()
    optimizer.step()
    return before


def test_head_shapes_and_no_activation_between() -> None:
    torch.manual_seed(0)
    model = build_model(CLIP)
    assert isinstance(model.embedding, torch.nn.Linear) and isinstance(model.classifier, torch.nn.Linear)
    assert (model.embedding.in_features, model.embedding.out_features) == (64, 1024)  # tiny ViT output dim 64
    assert (model.classifier.in_features, model.classifier.out_features) == (1024, 2)
    x = torch.randn(2, 3, 224, 224)
    embedding, logits = model.eval()(x)
    assert embedding.shape == (2, 1024) and logits.shape == (2, 2)
    assert torch.allclose(logits, model.classifier(embedding), atol=1e-6)


def test_open_clip_backbone_is_encode_image() -> None:
    from drct.training.model import open_clip_module

    torch.manual_seed(0)
    clip = open_clip_module().create_model(DEMO_OPEN_CLIP_MODEL, pretrained=None).eval()
    torch.manual_seed(0)
    model = build_model(CLIP).eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(model.backbone(x), clip.encode_image(x), atol=1e-6)


def test_frozen_open_clip_step_changes_only_the_head() -> None:
    model = build_model(CLIP)
    before = _one_step(model, CLIP)
    assert not model.backbone.training, "a frozen backbone must stay in eval mode while training"
    assert all(not p.requires_grad for p in model.backbone.parameters())
    after = model.state_dict()
    for key, value in before.items():
        changed = not torch.equal(value, after[key])
        if key.startswith("backbone."):
            assert not changed, f"frozen {key} changed"
    for key in ("embedding.weight", "embedding.bias", "classifier.weight", "classifier.bias"):
        assert not torch.equal(before[key], after[key]), f"{key} did not train"


def test_timm_step_trains_everything() -> None:
    torch.manual_seed(0)
    model = build_model(CONVNEXT)
    assert model.feature_dim == 320  # convnext_atto pooled + normed features
    before = _one_step(model, CONVNEXT, size=64)  # a ConvNeXt takes any size; 64 keeps CPU time low
    after = model.state_dict()
    weights = [k for k in before if k.endswith("weight")]
    unchanged = [k for k in weights if torch.equal(before[k], after[k])]
    assert not unchanged, f"weights that did not train: {unchanged}"
    assert "backbone.stem.0.weight" in weights and "embedding.weight" in weights


def test_embedding_dim_zero_puts_classifier_on_features() -> None:
    torch.manual_seed(0)
    model = build_model(CLIP.replace(embedding_dim=0)).eval()
    embedding, logits = model(torch.randn(1, 3, 224, 224))
    assert isinstance(model.embedding, torch.nn.Identity)
    assert embedding.shape == (1, 64) and logits.shape == (1, 2)


@pytest.mark.parametrize("settings", [CLIP, CONVNEXT], ids=["open_clip", "timm"])
def test_optimizer_gets_trainable_parameters_only(settings: TrainSettings) -> None:
    model = build_model(settings)
    optimizer = build_optimizer(model, settings)
    n_opt = sum(p.numel() for g in optimizer.param_groups for p in g["params"])
    assert n_opt == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert optimizer.defaults["lr"] == 1e-4 and optimizer.defaults["weight_decay"] == 4e-5
