"""Training and validation samples from a manifest, and the torch Dataset that reads them.

Selection (manifest columns are described in docs/architecture.md):

- only ``split == "train"`` rows; rows whose ``status`` is ``failed`` (failed reconstructions)
  are dropped when the column exists;
- group ``real`` takes the *label-0* rows of its generators, ``fake`` the *label-1* rows (a
  GenImage subset holds both under one generator name); ``real_rec``/``fake_rec`` take every row
  of their reconstruction outputs;
- training label: real 0; fake, real-rec, fake-rec 1 (the paper's contrastive labelling);
- each folder (dataset, generator, label) is split 90/10 on its own with :func:`split_folder`,
  as the authors split every input folder on its own.

Images are decoded by :func:`drct.images.load_rgb`, the decoder every step uses (EXIF orientation,
RGB, the one pixel limit). An unreadable image raises :class:`drct.images.ImageReadError` naming
the file: the original turned it into a black image labelled real, silently; here validation
upstream should have removed it, so reaching one is a bug worth stopping for.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import torch
from torch.utils.data import Dataset

from drct.data.manifest import read_manifest
from drct.images import load_rgb
from drct.model_input import build_eval_transform
from drct.training.augment import build_train_transform
from drct.training.settings import TrainSettings
from drct.training.split import split_folder

log = logging.getLogger(__name__)

GROUP_LABELS = {"real": 0, "real_rec": 1, "fake": 1, "fake_rec": 1}


@dataclass(frozen=True)
class Sample:
    path: str  # absolute
    label: int  # training label (0 real, 1 generated or reconstructed)
    group: str  # real / real_rec / fake / fake_rec
    dataset: str
    generator: str


def read_training_manifest(manifest: str | Path) -> pd.DataFrame:
    """The manifest through :func:`drct.data.manifest.read_manifest`, failed reconstruction rows dropped."""
    df = read_manifest(Path(manifest))
    if "status" in df.columns:
        df = df[df["status"] != "failed"]
    return df


def _parse_name(name: str) -> tuple[str | None, str]:
    """``"dataset:generator"`` -> (dataset, generator); a bare name matches any dataset."""
    if ":" in name:
        dataset, generator = name.split(":", 1)
        return dataset, generator
    return None, name


def _group_rows(train: pd.DataFrame, group: str, name: str, manifest: Path) -> pd.DataFrame:
    dataset, generator = _parse_name(name)
    rows = train[train["generator"] == generator]
    if dataset is not None:
        rows = rows[rows["dataset"] == dataset]
    if group == "real":
        rows = rows[rows["label"] == 0]
    elif group == "fake":
        rows = rows[rows["label"] == 1]
    if rows.empty:
        raise ValueError(f"no train rows for {group} generator {name!r} in manifest {manifest}")
    if dataset is None and rows["dataset"].nunique() > 1:
        found = ", ".join(sorted(rows["dataset"].unique()))
        raise ValueError(
            f"{group} generator {name!r} occurs in several datasets ({found}) of {manifest}; "
            f"write it as '<dataset>:{generator}'"
        )
    if rows["path"].isna().any():
        raise ValueError(f"{group} generator {name!r} has rows without a path in {manifest}")
    return rows


def select_samples(manifest: str | Path, settings: TrainSettings) -> tuple[list[Sample], list[Sample]]:
    """``(train, val)`` samples for the groups of ``settings``, each folder split on its own."""
    manifest = Path(manifest)
    df = read_training_manifest(manifest)
    train_rows = df[df["split"] == "train"]
    train: list[Sample] = []
    val: list[Sample] = []
    for group, names in settings.groups.items():
        for name in names:
            rows = _group_rows(train_rows, group, name, manifest)
            for (dataset, generator, _), folder in rows.groupby(["dataset", "generator", "label"], sort=True):
                # split on the manifest-relative paths (sorted like the authors' file names), keep absolute ones
                absolute = dict(zip(folder["path"], folder["abspath"]))
                fit, hold = split_folder(list(absolute), settings.val_fraction, settings.split_seed)
                label = GROUP_LABELS[group]
                train += [Sample(absolute[p], label, group, str(dataset), str(generator)) for p in fit]
                val += [Sample(absolute[p], label, group, str(dataset), str(generator)) for p in hold]
    return train, val


def count_samples(samples: list[Sample]) -> dict[str, int]:
    """``{"group/dataset:generator": n}``: what a checkpoint was trained on, for the sidecar."""
    counts = Counter(f"{s.group}/{s.dataset}:{s.generator}" for s in samples)
    return dict(sorted(counts.items()))


class ImageDataset(Dataset):
    """``(image tensor CHW, label)`` pairs; the transform gets an RGB uint8 HWC array."""

    def __init__(self, samples: list[Sample], transform: Callable[..., dict]) -> None:
        self.samples = samples
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        sample = self.samples[index]
        image = self.transform(image=load_rgb(sample.path))["image"]
        return image, sample.label

    @property
    def labels(self) -> list[int]:
        return [s.label for s in self.samples]


def build_datasets(
    manifest: str | Path, settings: TrainSettings, seed: int | None = None
) -> tuple[ImageDataset, ImageDataset]:
    """Train set (augmented unless ``settings.augment`` is off) and validation set (eval transform).

    DIRE input (``settings.input == "dire"``): image / reconstruction pairs instead
    (:func:`drct.training.dire_dataset.dire_datasets_from_manifest`), with DIRE's own crop and no other augmentation.
    """
    if settings.input == "dire":
        from drct.training.dire_dataset import dire_datasets_from_manifest  # imports this module

        return dire_datasets_from_manifest(manifest, settings, seed=seed)
    train, val = select_samples(manifest, settings)
    if settings.augment:
        train_transform = build_train_transform(settings.image_size, seed=seed)
    else:
        train_transform = build_eval_transform(settings.image_size)
    return ImageDataset(train, train_transform), ImageDataset(val, build_eval_transform(settings.image_size))


class CaptionedImageDataset(ImageDataset):
    """``((image tensor CHW, caption), label)``: what a captioned family (De-fake) trains on.

    The default collate turns a batch into ``[images, [captions]]``, which
    :meth:`drct.training.model.DRCTModel.forward` takes as ``(images, captions)``.
    """

    def __init__(self, samples: list[Sample], captions: list[str], transform: Callable[..., dict]) -> None:
        if len(samples) != len(captions):
            raise ValueError(f"{len(samples)} samples but {len(captions)} captions")
        super().__init__(samples, transform)
        self.captions = captions

    def __getitem__(self, index: int) -> tuple[tuple[torch.Tensor, str], int]:  # type: ignore[override]
        image, label = super().__getitem__(index)
        return (image, self.captions[index]), label


def with_captions(samples: list[Sample], captions: dict[str, str]) -> tuple[list[Sample], list[str], int]:
    """The samples that have a caption, their captions, and how many were dropped for having none."""
    kept = [s for s in samples if s.path in captions]
    return kept, [captions[s.path] for s in kept], len(samples) - len(kept)


def build_captioned_datasets(
    manifest: str | Path, settings: TrainSettings, captions_csv: str | Path
) -> tuple[CaptionedImageDataset, CaptionedImageDataset, dict[str, int]]:
    """Train and validation sets of (image, caption) pairs for De-fake, and the images dropped per split.

    The split is made on every selected image first (as for every detector), then images without a
    caption (failed captioning) are dropped and counted, so a missing caption never moves another
    image between train and validation. Both splits use CLIP's preprocessing (De-fake does not augment).
    """
    from drct.captioning.join import captions_by_abspath
    from drct.model_input import build_input_transform

    captions = captions_by_abspath(Path(manifest), Path(captions_csv))
    train, val = select_samples(manifest, settings)
    transform = build_input_transform(settings.family, settings.image_size)
    train, train_captions, train_dropped = with_captions(train, captions)
    val, val_captions, val_dropped = with_captions(val, captions)
    dropped = {"train": train_dropped, "val": val_dropped}
    if train_dropped or val_dropped:
        log.warning("dropped %d train and %d val image(s) without a caption in %s", train_dropped, val_dropped,
                    captions_csv)
    return (CaptionedImageDataset(train, train_captions, transform),
            CaptionedImageDataset(val, val_captions, transform), dropped)
