"""De-fake's hybrid detector (Sha et al., CCS 2023): frozen CLIP image + caption embeddings into an MLP.

Why a module of our own: the DRCT paper lists De-fake as a baseline, but the DRCT authors' code has
no De-fake; this follows De-fake's own released code (zeyangsha/De-Fake, ``train.py``/``test.py``),
our implementation of the same maths.

What De-fake runs
-----------------
- CLIP ViT-B/32 with OpenAI's weights (``clip.load("ViT-B/32")``; here open_clip
  ``ViT-B-32-quickgelu``, tag ``openai``: the same checkpoint and activation).
- Image embedding ``encode_image(image)`` and text embedding ``encode_text(tokenize(caption))``,
  both *unnormalised* (512 each for ViT-B/32), concatenated in the order **[image, text]**
  (``torch.cat((image_embedding, text_embedding), 1)``): 1024 features.
- CLIP is frozen: both embeddings are computed under ``torch.no_grad()`` (their optimiser lists
  CLIP's parameters, but no gradient ever reaches them, so only the MLP trains).
- The MLP (their ``NeuralNet(1024, [512, 256], 2)``): Linear(1024, 512) -> ReLU -> Dropout(0.5) ->
  Linear(512, 256) -> ReLU -> Linear(256, 2). Their ``forward`` applies the dropout once, after the
  first layer, although its name suggests two; we do what the code does. 656,642 parameters
  (:data:`MLP_PARAMETERS`). PyTorch's default ``nn.Linear`` initialisation, as theirs.
- Captions: the image's prompt where the data set has one, else a BLIP caption
  (:mod:`drct.captioning`); the DRCT data have no prompts for real images, so every image is captioned.

Split for caching: :class:`DefakeFeatures` (frozen CLIP, ``(images, tokens) -> [N, 2 * embed_dim]``)
and :class:`DefakeMLP` (the only trainable part) are separate modules, so the features of a data
set can be computed once and the MLP trained on them (``DefakeModel.forward_head``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

#: De-fake's CLIP (open_clip name, tag): OpenAI's ViT-B/32
CLIP_MODEL = "ViT-B-32-quickgelu"
CLIP_PRETRAINED = "openai"
#: De-fake's MLP widths: NeuralNet(1024, [512, 256], 2)
HIDDEN_SIZES = (512, 256)
DROPOUT = 0.5
#: parameters of the MLP on ViT-B/32 features: (1024*512 + 512) + (512*256 + 256) + (256*2 + 2)
MLP_PARAMETERS = 656_642


class DefakeMLP(nn.Module):
    """De-fake's classifier: Linear -> ReLU -> Dropout -> Linear -> ReLU -> Linear (logits)."""

    def __init__(self, input_dim: int, hidden_sizes: Sequence[int] = HIDDEN_SIZES, num_classes: int = 2,
                 dropout: float = DROPOUT) -> None:
        super().__init__()
        first, second = hidden_sizes
        self.fc1 = nn.Linear(input_dim, first)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(first, second)
        self.fc3 = nn.Linear(second, num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.dropout(torch.relu(self.fc1(features)))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


class DefakeFeatures(nn.Module):
    """Frozen CLIP: ``cat([encode_image(images), encode_text(tokens)], dim=1)``, unnormalised.

    Parameters never require gradients and the module stays in eval mode even inside a model
    that trains, so the features are a fixed function of (image, caption) and can be cached.
    """

    def __init__(self, clip: nn.Module) -> None:
        super().__init__()
        self.clip = clip
        for param in self.clip.parameters():
            param.requires_grad_(False)
        self.clip.eval()
        self.embed_dim = int(clip.visual.output_dim)
        self.feature_dim = 2 * self.embed_dim

    def train(self, mode: bool = True) -> DefakeFeatures:
        super().train(mode)
        self.clip.eval()
        return self

    @torch.no_grad()
    def forward(self, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        if images.shape[0] != tokens.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {tokens.shape[0]} captions")
        image_embedding = self.clip.encode_image(images)
        text_embedding = self.clip.encode_text(tokens)
        return torch.cat((image_embedding, text_embedding), dim=1).float()


class DefakeModel(nn.Module):
    """Features then MLP; ``forward(images, tokens)`` returns logits ``[N, num_classes]``."""

    def __init__(self, features: DefakeFeatures, num_classes: int = 2,
                 hidden_sizes: Sequence[int] = HIDDEN_SIZES, dropout: float = DROPOUT) -> None:
        super().__init__()
        self.features = features
        self.mlp = DefakeMLP(features.feature_dim, hidden_sizes, num_classes, dropout)

    def forward(self, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.features(images, tokens))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Logits from (cached) concatenated features."""
        return self.mlp(features)

    def head_state_dict(self) -> dict[str, torch.Tensor]:
        """The trainable part only (``mlp.*``): what a checkpoint of a frozen-CLIP run needs to store."""
        return {k: v for k, v in self.state_dict().items() if k.startswith("mlp.")}


def build_defake(model_name: str = CLIP_MODEL, pretrained: str | None = CLIP_PRETRAINED,
                 num_classes: int = 2) -> tuple[DefakeModel, object]:
    """De-fake on an open_clip model, and the tokenizer its captions go through.

    ``pretrained=None`` builds CLIP with random weights (tests; the demo's ``ViT-Tiny-16-quickgelu``).
    The tokenizer is open_clip's for ``model_name`` (CLIP's BPE, 77 tokens, as ``clip.tokenize``;
    captions longer than that are cut, where ``clip.tokenize`` would raise).
    """
    from drct.training.model import open_clip_module

    open_clip = open_clip_module()
    clip = open_clip.create_model(model_name, pretrained=pretrained or None)
    tokenizer = open_clip.get_tokenizer(model_name)
    return DefakeModel(DefakeFeatures(clip), num_classes=num_classes), tokenizer


class DefakeBackbone(nn.Module):
    """:class:`DefakeFeatures` that takes the captions as text: ``forward(images, captions)``.

    Why: the training loop, feature caching and scoring hand a model ``(images, captions)`` straight
    from the data loader; tokenising here keeps CLIP's tokenizer next to the CLIP it belongs to, so
    no caller needs to know which tokenizer a checkpoint was trained with. The pipeline wraps this
    backbone in :class:`drct.training.model.DRCTModel` with :class:`DefakeMLP` as its classifier
    (same maths as :class:`DefakeModel`; the pipeline's checkpoints, resume and caching then apply
    unchanged).
    """

    def __init__(self, features: DefakeFeatures, tokenizer) -> None:
        super().__init__()
        self.features = features
        self.tokenizer = tokenizer
        self.feature_dim = features.feature_dim

    def train(self, mode: bool = True) -> DefakeBackbone:
        super().train(mode)
        self.features.train(mode)  # CLIP stays in eval mode (DefakeFeatures.train)
        return self

    def forward(self, images: torch.Tensor, captions: Sequence[str]) -> torch.Tensor:
        tokens = self.tokenizer(list(captions)).to(images.device)
        return self.features(images, tokens)


def build_defake_backbone(model_name: str = CLIP_MODEL, pretrained: str | None = CLIP_PRETRAINED) -> DefakeBackbone:
    """De-fake's frozen CLIP features with their tokenizer (``pretrained=None``/``""``: random weights)."""
    model, tokenizer = build_defake(model_name, pretrained)
    return DefakeBackbone(model.features, tokenizer)
