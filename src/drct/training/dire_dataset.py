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
import pandas as pd

from drct.training.dataset import GROUP_LABELS, Sample, _group_rows, read_training_manifest
from drct.training.dire import (
    DIRE_SIZE,
    DireCrop,
    MissingReconstructionError,
    align_to_reconstruction,
    pair_with_reconstruction,
)
from drct.training.settings import TrainSettings

__all__ = ["DIRE_SPLIT_SEED", "DireDataset", "DireSample", "build_dire_datasets", "pair_samples", "split_pair_folder", "dire_datasets_from_manifest"]

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
    # where it comes from (the checkpoint sidecar's sample counts, drct.training.dataset.count_samples)
    group: str = ""
    dataset: str = ""
    generator: str = ""


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


def _stem_index(rows: pd.DataFrame, what: str) -> dict[str, str]:
    """``{stem: absolute path}`` of a reconstruction generator's rows; two files of one stem are ambiguous."""
    index: dict[str, str] = {}
    for path in rows["abspath"]:
        stem = Path(path).stem
        if stem in index:
            raise ValueError(f"{what}: two reconstructions share the stem {stem!r} ({index[stem]}, {path})")
        index[stem] = str(path)
    return index


def select_dire_samples(manifest: str | Path, settings: TrainSettings) -> tuple[list[DireSample], list[DireSample]]:
    """``(train, val)`` image / reconstruction pairs of a DIRE run, from the combined manifest.

    ``settings.real[i]`` is paired with ``settings.real_rec[i]``, ``settings.fake[i]`` with
    ``settings.fake_rec[i]`` (train split rows, by file stem: the reconstruction step writes
    ``<stem>.png``). Each image folder (dataset, generator, label) is split on its own by
    :func:`split_pair_folder`, the authors' DIRE split. An image without its reconstruction
    raises :class:`drct.training.dire.MissingReconstructionError` naming both.
    """
    manifest = Path(manifest)
    train_rows = read_training_manifest(manifest)
    train_rows = train_rows[train_rows["split"] == "train"]
    train: list[DireSample] = []
    val: list[DireSample] = []
    for group, images, reconstructions in (("real", settings.real, settings.real_rec), ("fake", settings.fake, settings.fake_rec)):
        for image_name, rec_name in zip(images, reconstructions):
            rows = _group_rows(train_rows, group, image_name, manifest)
            recs = _stem_index(_group_rows(train_rows, f"{group}_rec", rec_name, manifest), f"{rec_name} in {manifest}")
            for (dataset, generator, _), folder in rows.groupby(["dataset", "generator", "label"], sort=True):
                absolute = dict(zip(folder["path"], folder["abspath"]))
                fit, hold = split_pair_folder(list(absolute), settings.val_fraction)
                for names, out in ((fit, train), (hold, val)):
                    for name in names:
                        stem = Path(absolute[name]).stem
                        if stem not in recs:
                            raise MissingReconstructionError(
                                f"no reconstruction of image {absolute[name]} in {rec_name!r} of {manifest} (stem {stem!r})"
                            )
                        out.append(DireSample(str(absolute[name]), recs[stem], GROUP_LABELS[group], group,
                                              str(dataset), str(generator)))
    return train, val


def dire_datasets_from_manifest(
    manifest: str | Path, settings: TrainSettings, seed: int | None = None
) -> tuple[DireDataset, DireDataset]:
    """A DIRE run's train set (random crops seeded by ``seed``) and validation set (centre crops)."""
    train, val = select_dire_samples(manifest, settings)
    return (
        DireDataset(train, DireCrop(settings.image_size, train=True, seed=seed)),
        DireDataset(val, DireCrop(settings.image_size, train=False)),
    )
