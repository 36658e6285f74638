"""An archive laid out like the authors' ``pretrained.zip``, holding networks in their layout (tests/helpers/authors_models.py).

Their ``ContrastiveModels`` saves a timm ConvNeXt whose ``head.fc`` became ``Linear(feat, 1024)`` as
``model`` and the ``Linear(1024, 2)`` classifier as ``fc``; this rebuilds that structure (not ours)
for the demo's timm network, so nothing is downloaded.
"""

from __future__ import annotations

import io
import zipfile

import torch
from torch import nn


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
