"""The authors' network layouts (their ContrastiveModels), rebuilt at demo size for import tests."""

from __future__ import annotations

import timm
import torch
from torch import nn

from drct.training.model import DEMO_OPEN_CLIP_MODEL, DEMO_TIMM_MODEL, open_clip_module


class AuthorsTimm(nn.Module):
    """ContrastiveModels(convnext...): ``model`` = timm net with head.fc -> Linear(feat, 1024); ``fc`` = Linear(1024, 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.model = timm.create_model(DEMO_TIMM_MODEL, pretrained=False, num_classes=1024)
        self.fc = nn.Linear(1024, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.model(x))


class AuthorsClipV2(nn.Module):
    """CLIPModelV2: OpenAI CLIP (both towers) as ``model``, ``fc`` = Linear(image dim, 1024)."""

    def __init__(self) -> None:
        super().__init__()
        self.model = open_clip_module().create_model(DEMO_OPEN_CLIP_MODEL, pretrained=None)
        self.fc = nn.Linear(self.model.visual.output_dim, 1024)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.model.encode_image(x))


class AuthorsClip(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.model = AuthorsClipV2()
        self.fc = nn.Linear(1024, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.model(x))
