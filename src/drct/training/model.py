"""The DRCT detector: a pretrained backbone, a linear embedding layer and a linear classifier.

The authors' ``ContrastiveModels`` replaces the backbone's classifier with ``Linear(feat, 1024)``
(the embedding the contrastive loss acts on) and puts ``Linear(1024, 2)`` after it, with nothing
in between. Both layers keep PyTorch's default ``nn.Linear`` initialisation, as in the original.

- timm (Conv-B): ``timm.create_model(name, pretrained=..., num_classes=0)`` returns the pooled,
  head-normalised features that the original ``head.fc`` received, so ``Linear(feat, 1024)`` on
  top of it is the same network as the authors' ``head.fc = nn.Linear(feat, 1024)``.
- open_clip (UnivFD): ``open_clip.create_model(name, pretrained=tag)``; only the image tower is
  kept, and ``visual(x)`` is exactly ``encode_image(x)`` (unnormalised, projected: 768 for
  ViT-L/14), which is what the authors' ``clip.load("ViT-L/14")`` model fed to its ``fc``.

timm and open_clip are imported by the function that builds that family's backbone, not by this
module: every training, import and evaluation job imports this module, and open_clip (13 s here,
and it brings transformers) is dead weight for a timm run, as timm (10 s) is for anything that only
needs :class:`DRCTModel`. Building an open_clip model registers the demo config
``ViT-Tiny-16-quickgelu`` first (:func:`open_clip_module`).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Union

import torch
from torch import nn

from drct.training.settings import TrainSettings

#: what a model is fed: an image batch, or ``(images, captions)`` where the network reads text too (De-fake)
ModelInput = Union[torch.Tensor, tuple[torch.Tensor, list[str]]]

MODEL_CONFIG_DIR = Path(__file__).resolve().parent / "model_configs"
DEMO_OPEN_CLIP_MODEL = "ViT-Tiny-16-quickgelu"
DEMO_TIMM_MODEL = "convnext_atto"


def open_clip_module() -> ModuleType:
    """open_clip, imported on first use, with this project's model configs (the demo's) registered."""
    import open_clip

    if DEMO_OPEN_CLIP_MODEL not in open_clip.list_models():
        open_clip.add_model_config(MODEL_CONFIG_DIR)
    return open_clip


class DRCTModel(nn.Module):
    """Backbone features -> ``embedding`` (Linear) -> ``classifier`` (Linear).

    ``forward`` returns ``(embedding, logits)``. With ``freeze_backbone`` the backbone's
    parameters never receive gradients and the backbone stays in eval mode even while the model
    trains, so frozen features do not move through dropout or normalisation statistics.
    ``embedding_dim == 0`` replaces the embedding layer by the identity (classifier on the raw
    backbone features).
    """

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        embedding_dim: int = 1024,
        num_classes: int = 2,
        freeze_backbone: bool = False,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.feature_dim = feature_dim
        self.freeze_backbone = freeze_backbone
        if embedding_dim > 0:
            self.embedding: nn.Module = nn.Linear(feature_dim, embedding_dim)
            classifier_in = embedding_dim
        else:
            self.embedding = nn.Identity()
            classifier_in = feature_dim
        self.classifier = nn.Linear(classifier_in, num_classes)
        if freeze_backbone:
            for param in self.backbone.parameters():
                param.requires_grad_(False)
            self.backbone.eval()

    def forward(self, x: ModelInput) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_head(self.backbone_features(x))

    def backbone_features(self, x: ModelInput) -> torch.Tensor:
        """Backbone features of a batch: images, or ``(images, captions)`` for a captioned family (De-fake)."""
        if isinstance(x, (tuple, list)):
            return self.backbone(*x)
        return self.backbone(x)

    def forward_head(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Embedding and logits from backbone features (what training on cached features runs)."""
        embedding = self.embedding(features)
        logits = self.classifier(embedding)
        return embedding, logits

    def train(self, mode: bool = True) -> DRCTModel:
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    def head_state_dict(self) -> dict[str, torch.Tensor]:
        """The trainable head only (``embedding.*``, ``classifier.*``): what a frozen-backbone checkpoint stores."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("backbone.")}


def _timm_backbone(settings: TrainSettings, pretrained: bool) -> tuple[nn.Module, int]:
    import timm

    backbone = timm.create_model(settings.model_name, pretrained=pretrained, num_classes=0)
    feature_dim = int(getattr(backbone, "head_hidden_size", None) or backbone.num_features)
    return backbone, feature_dim


def _open_clip_backbone(settings: TrainSettings, pretrained: str) -> tuple[nn.Module, int]:
    clip = open_clip_module().create_model(settings.model_name, pretrained=pretrained or None)
    visual = clip.visual  # encode_image(x) == visual(x) when normalize=False
    feature_dim = int(visual.output_dim)
    del clip  # drop the text tower: DRCT never uses it
    return visual, feature_dim


def _own_backbone(settings: TrainSettings, pretrained: bool) -> tuple[nn.Module, int]:
    """GramNet and F3Net: networks of the authors' code that timm and open_clip do not build."""
    if settings.family == "gramnet":
        from drct.training.networks.gramnet import build_gramnet

        return build_gramnet(pretrained)
    from drct.training.networks.f3net import build_f3net  # imports timm only for the pretrained weights

    return build_f3net(pretrained=pretrained, image_size=settings.image_size)


def to_device(inputs: ModelInput, device: torch.device) -> ModelInput:
    """A batch on ``device``: the image tensor moved, captions (strings) left as they are."""
    if isinstance(inputs, (tuple, list)):
        images, captions = inputs
        return images.to(device, non_blocking=True), list(captions)
    return inputs.to(device, non_blocking=True)


def _defake_model(settings: TrainSettings, pretrained: str) -> DRCTModel:
    """De-fake: frozen CLIP [image, caption] features (the backbone) and De-fake's MLP as the classifier."""
    from drct.training.networks.defake import DefakeMLP, build_defake_backbone

    backbone = build_defake_backbone(settings.model_name, pretrained or None)
    model = DRCTModel(backbone, backbone.feature_dim, embedding_dim=0, num_classes=settings.num_classes,
                      freeze_backbone=True)
    model.classifier = DefakeMLP(backbone.feature_dim, num_classes=settings.num_classes)
    return model


def build_model(settings: TrainSettings, load_pretrained: bool = True) -> DRCTModel:
    """Build the detector the settings describe.

    ``load_pretrained=False`` skips downloading backbone weights; ``load_model`` uses it when a
    checkpoint holds every weight anyway.
    """
    if settings.family == "timm":
        backbone, feature_dim = _timm_backbone(settings, bool(settings.pretrained) and load_pretrained)
    elif settings.family == "open_clip":
        backbone, feature_dim = _open_clip_backbone(settings, str(settings.pretrained) if load_pretrained else "")
    elif settings.family == "defake":
        return _defake_model(settings, str(settings.pretrained) if load_pretrained else "")
    elif settings.family in ("gramnet", "f3net"):
        backbone, feature_dim = _own_backbone(settings, bool(settings.pretrained) and load_pretrained)
    else:  # settings validation makes this unreachable
        raise ValueError(f"unknown model family {settings.family!r}")
    return DRCTModel(
        backbone,
        feature_dim,
        embedding_dim=settings.embedding_dim,
        num_classes=settings.num_classes,
        freeze_backbone=settings.freeze_backbone,
    )


def has_named_pretrained_weights(settings: TrainSettings) -> bool:
    """True when the backbone's weights can be fetched again by name (timm pretrained / an open_clip tag)."""
    return bool(settings.pretrained)
