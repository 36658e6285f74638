"""Frozen-backbone feature caching: UnivFD's CLIP features computed once instead of every epoch.

When is it allowed? Only when every epoch would feed the head the *same* features:

- the backbone is frozen (UnivFD; never Conv-B, which is fine-tuned end to end), and
- training augmentation is off (``augment: false``). The authors' recipe augments (JPEG, crops,
  flips, colour, dropout...), so every epoch sees new pixels and new features: with the faithful
  default (``augment: true``) nothing can be cached and ``cache_features: auto`` stays off.

With both, a cached run is the same computation as the uncached one: features are produced by the
same backbone call under the same autocast setting as inside the loop (fp16 under AMP for training,
fp32 for validation, as :func:`drct.training.train_run.evaluate_accuracy` runs), stored on the CPU, and
the head is trained on them with the same batches in the same order. The CLIP ViT-L/14 forward
pass, about 95 % of a UnivFD step, then runs once instead of 17 times.
"""

from __future__ import annotations

import contextlib
import logging

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from drct.training.dataset import ImageDataset
from drct.training.model import DRCTModel, to_device
from drct.training.settings import TrainSettings

log = logging.getLogger(__name__)


def use_feature_cache(settings: TrainSettings, world_size: int = 1) -> bool:
    """Resolve ``settings.cache_features`` (``auto``: on exactly when it cannot change the result).

    Several processes and a cache: refused for ``true`` (a cached head trains in seconds on one
    GPU), silently off for ``auto``.
    """
    allowed = settings.freeze_backbone and not settings.augment
    if settings.cache_features == "auto":
        return allowed and world_size == 1
    if settings.cache_features and world_size > 1:
        raise ValueError("cache_features=true runs in one process; drop --nproc-per-node (the cached head trains in seconds)")
    return bool(settings.cache_features) and allowed


class FeatureDataset(Dataset):
    """``(features, label)`` pairs held in memory, in the order of the image dataset they came from."""

    def __init__(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        if len(features) != len(labels):
            raise ValueError(f"{len(features)} feature rows for {len(labels)} labels")
        self.features, self.labels = features, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.features[index], int(self.labels[index])


class HeadOnly(nn.Module):
    """The trainable head of a :class:`DRCTModel` as a module of its own: ``forward(features)``.

    Shares its parameters with the model, so the optimizer, checkpoints and DDP see the same tensors.
    """

    def __init__(self, model: DRCTModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.forward_head(features)


@torch.no_grad()
def compute_features(
    model: DRCTModel,
    dataset: ImageDataset,
    device: torch.device,
    *,
    batch_size: int,
    autocast: bool,
    num_workers: int = 0,
    desc: str = "features",
) -> FeatureDataset:
    """Backbone features of every image of ``dataset`` (its own transform), in dataset order.

    ``autocast``: compute as the training step would under AMP (fp16 on CUDA), so the cached
    features are bit for bit what the uncached loop feeds the head.
    """
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        pin_memory=device.type == "cuda")
    model.backbone.eval()
    context = torch.autocast(device_type=device.type, dtype=torch.float16) if autocast else contextlib.nullcontext()
    chunks: list[torch.Tensor] = []
    labels: list[torch.Tensor] = []
    for inputs, batch_labels in tqdm(loader, desc=desc, leave=False, mininterval=5.0):
        with context:  # inputs: images, or (images, captions) for De-fake
            chunks.append(model.backbone_features(to_device(inputs, device)).cpu())
        labels.append(torch.as_tensor(batch_labels))
    features = torch.cat(chunks) if chunks else torch.empty(0, model.feature_dim)
    log.info("cached %s features of %d images (%s, %.1f MB)", desc, len(features), features.dtype,
             features.numel() * features.element_size() / 1e6)
    return FeatureDataset(features, torch.cat(labels) if labels else torch.empty(0, dtype=torch.long))
