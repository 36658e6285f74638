"""An archive laid out like the authors' ``pretrained.zip``, holding a demo-size ConvNeXt with random weights.

Their ``ContrastiveModels`` saves a timm ConvNeXt whose ``head.fc`` became ``Linear(feat, 1024)`` as
``model`` and the ``Linear(1024, 2)`` classifier as ``fc``; this rebuilds that structure (not ours)
for the demo's timm network, so nothing is downloaded.
"""

from __future__ import annotations

import io
import zipfile

import timm
import torch
from torch import nn

from drct.training.model import DEMO_TIMM_MODEL


class AuthorsConvNeXt(nn.Module):
    """``model`` = timm ConvNeXt with a 1024-wide head, ``fc`` = the 1024 -> 2 classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.model = timm.create_model(DEMO_TIMM_MODEL, pretrained=False, num_classes=1024)
        self.fc = nn.Linear(1024, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.model(x))


def pretrained_zip(members: dict[str, nn.Module]) -> bytes:
    """A zip whose ``members`` (path -> network) are ``.pth`` state dicts saved by ``torch.save``, plus a README."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("pretrained/README.txt", "checkpoints of DRCT (test copy)\n")
        for path, network in members.items():
            data = io.BytesIO()
            torch.save(network.state_dict(), data)
            archive.writestr(path, data.getvalue())
    return buffer.getvalue()
