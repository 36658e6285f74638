"""Training and evaluation samples for DIRE: each image with its diffusion reconstruction.

A DIRE sample is a training :class:`drct.training.dataset.Sample` (path, label, group, dataset,
generator) plus the path of its reconstruction, found by :func:`drct.training.dire.pair_with_reconstruction`
(``<reconstruction folder>/<image stem>.png``, as the reconstruction step names its outputs).
Pairing happens when the samples are built, so a missing reconstruction stops the run before the
first step, naming the image and the expected file.

Bad input is handled as :mod:`drct.training.dataset` handles it: an unreadable image or
reconstruction raises :class:`drct.images.ImageReadError` naming the file. The authors' DIRE
loader returns an all-zero tensor labelled real instead, silently; upstream validation should
have removed such files, so reaching one is a bug worth stopping for.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from drct.images import load_rgb
from drct.reconstruction.settings import ReconstructionSettings
from drct.training.dataset import Sample
from drct.training.dire import DIRE_SIZE, DireCrop, align_to_reconstruction, pair_with_reconstruction

__all__ = ["DIRE_SPLIT_SEED", "DireDataset", "DireSample", "build_dire_datasets", "pair_samples", "split_pair_folder"]

#: the seed of the authors' DIRE train/validation split: ``load_pair_data``'s default, which their
#: dataset does not override (its other loaders get the dataset's 2021)
DIRE_SPLIT_SEED = 2023

#: the reconstruction step's default side cap (the authors' 1024), read from its settings so the two cannot drift
DEFAULT_MAX_SIDE: int = next(f.default for f in dataclasses.fields(ReconstructionSettings) if f.name == "max_side")


@dataclass(frozen=True)
class DireSample:
    path: str  # the image, absolute
    reconstruction: str  # its reconstruction, absolute
    label: int  # 0 real, 1 generated


def split_pair_folder(
    paths: Iterable[str], val_fraction: float = 0.1, seed: int = DIRE_SPLIT_SEED
) -> tuple[list[str], list[str]]:
    """``(train, val)`` of one folder's images as the authors split DIRE data: sorted, shuffled *once*.

    Their ``load_pair_data`` calls ``split_data(images, reconstructions, seed=2023)``: two
    different lists, each shuffled once from numpy's legacy RNG seeded with ``seed`` (the same
    permutation, so pairs stay together). Image-only loaders pass one list twice, which shuffles
    it twice (:func:`drct.training.split.split_folder`); the DIRE split is therefore a different
    one, and using ``split_folder`` here would validate on other images than the authors did.
    The first ``int(n * (1 - val_fraction))`` are train.
    """
    order = sorted(paths)
    np.random.RandomState(seed).shuffle(order)
    cut = int(len(order) * (1 - val_fraction))
    return order[:cut], order[cut:]


def pair_samples(
    samples: Iterable[Sample],
    reconstruction_dir: str | os.PathLike[str] | Callable[[str], str | os.PathLike[str]],
) -> list[DireSample]:
    """Each sample with its reconstruction; the first missing one raises ``MissingReconstructionError``."""
    return [DireSample(s.path, str(pair_with_reconstruction(s.path, reconstruction_dir)), s.label) for s in samples]


class DireDataset(Dataset):
    """``(DIRE tensor CHW, label)`` pairs; ``transform`` is a :class:`DireCrop` (training or evaluation).

    ``max_side`` is the reconstruction step's side cap: an image larger than it is compared on the
    centre crop that was reconstructed (:func:`drct.training.dire.align_to_reconstruction`).
    Deterministic under a seed: the only randomness is ``transform``'s crop positions, drawn from
    its own generator (reseeded through ``transform.set_random_seed``).
    """

    def __init__(self, samples: list[DireSample], transform: DireCrop, max_side: int = DEFAULT_MAX_SIDE) -> None:
        self.samples = samples
        self.transform = transform
        self.max_side = max_side

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        sample = self.samples[index]
        image = load_rgb(sample.path)
        reconstruction = load_rgb(sample.reconstruction)
        try:
            image = align_to_reconstruction(image, reconstruction.shape[:2], self.max_side)
        except ValueError as exc:
            raise ValueError(f"{sample.path} and its reconstruction {sample.reconstruction} do not match: {exc}") from None
        return self.transform(image, reconstruction), sample.label

    @property
    def labels(self) -> list[int]:
        return [s.label for s in self.samples]


def build_dire_datasets(
    train: Iterable[Sample],
    val: Iterable[Sample],
    reconstruction_dir: str | Path | Callable[[str], str | os.PathLike[str]],
    seed: int | None = None,
    size: int = DIRE_SIZE,
    max_side: int = DEFAULT_MAX_SIDE,
) -> tuple[DireDataset, DireDataset]:
    """Train set (random crops seeded by ``seed``) and validation set (centre crops) of paired samples."""
    return (
        DireDataset(pair_samples(train, reconstruction_dir), DireCrop(size, train=True, seed=seed), max_side),
        DireDataset(pair_samples(val, reconstruction_dir), DireCrop(size, train=False), max_side),
    )
