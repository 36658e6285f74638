"""Manifest -> training samples: group selection, labels, per-folder split, failed rows, bad images."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.manifests import DRCT_FOLDERS, write_manifest
from PIL import Image

from drct.images import ImageReadError, load_rgb
from drct.training.dataset import ImageDataset, Sample, build_datasets, select_samples
from drct.training.settings import TrainSettings


def settings(**changes) -> TrainSettings:
    base = TrainSettings(
        family="open_clip", model_name="ViT-Tiny-16-quickgelu", pretrained="", freeze_backbone=True,
        real=["real"], fake=["sdv14"], real_rec=["real-rec"], fake_rec=["fake-rec"], batch_size=4,
    )
    return base.replace(**changes)


def test_groups_labels_and_per_folder_split(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, DRCT_FOLDERS)
    train, val = select_samples(manifest, settings())
    # each folder of 4 splits int(4 * 0.9) = 3 / 1; test-split rows and failed rows never appear
    assert len(train) == 12 and len(val) == 4
    by_group = {g: [s for s in train if s.group == g] for g in ("real", "real_rec", "fake", "fake_rec")}
    assert {g: len(v) for g, v in by_group.items()} == {"real": 3, "real_rec": 3, "fake": 3, "fake_rec": 3}
    assert {s.label for s in by_group["real"]} == {0}
    assert {s.label for g in ("real_rec", "fake", "fake_rec") for s in by_group[g]} == {1}
    assert all(Path(s.path).is_absolute() and Path(s.path).is_file() for s in train + val)
    assert not {s.path for s in train} & {s.path for s in val}
    assert all("/test/" not in s.path for s in train + val)


def test_baseline_ignores_reconstructions(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, DRCT_FOLDERS)
    train, val = select_samples(manifest, settings(method="baseline"))
    assert {s.group for s in train + val} == {"real", "fake"}
    assert len(train) == 6 and len(val) == 2


def test_genimage_subset_real_and_fake_share_a_generator_name(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, [("genimage", "sdv4", "train", 0, 10), ("genimage", "sdv4", "train", 1, 20)])
    train, val = select_samples(manifest, settings(real=["sdv4"], fake=["sdv4"], real_rec=[], fake_rec=[]))
    assert sum(s.label == 0 for s in train) == 9 and sum(s.label == 0 for s in val) == 1
    assert sum(s.label == 1 for s in train) == 18 and sum(s.label == 1 for s in val) == 2
    assert all(("/0/" in s.path) == (s.label == 0) for s in train + val)


def test_ambiguous_generator_needs_dataset_prefix(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, [*DRCT_FOLDERS, ("other", "real", "train", 0, 2)])
    with pytest.raises(ValueError, match="several datasets.*'<dataset>:real'"):
        select_samples(manifest, settings())
    train, _ = select_samples(manifest, settings(real=["demo:real"]))
    assert {s.dataset for s in train if s.group == "real"} == {"demo"}


def test_unknown_generator_is_named(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, DRCT_FOLDERS)
    with pytest.raises(ValueError, match="no train rows for fake generator 'sdv15'"):
        select_samples(manifest, settings(fake=["sdv15"]))


def test_unreadable_image_raises_with_its_path(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, DRCT_FOLDERS)
    train_set, _ = build_datasets(manifest, settings(), seed=0)
    victim = train_set.samples[0].path
    Path(victim).write_bytes(b"this is not a PNG")
    with pytest.raises(ImageReadError, match=re.escape(victim)):
        train_set[0]
    with pytest.raises(ImageReadError, match="missing.png"):
        load_rgb(tmp_path / "missing.png")


def test_dataset_items_are_normalised_tensors(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, DRCT_FOLDERS)
    train_set, val_set = build_datasets(manifest, settings(), seed=0)
    image, label = val_set[0]
    assert image.shape == (3, 224, 224) and image.dtype == torch.float32 and label in (0, 1)
    # 64 px images are zero-padded to 224: the eval border is exactly normalised black
    assert image[0, 0, 0].item() == pytest.approx((0 - 0.485) / 0.229, abs=1e-5)
    assert train_set[0][0].shape == (3, 224, 224)


def test_grayscale_and_exif_rotated_images_load_as_upright_rgb(tmp_path: Path) -> None:
    gray = tmp_path / "gray.png"
    Image.fromarray(np.full((5, 7), 200, np.uint8), mode="L").save(gray)
    assert load_rgb(gray).shape == (5, 7, 3)
    rotated = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    Image.fromarray(np.zeros((10, 20, 3), np.uint8)).save(rotated, exif=exif)
    assert load_rgb(rotated).shape == (20, 10, 3)  # as cv2.imread (the authors' reader) returns it


def test_dataset_is_a_plain_sequence() -> None:
    ds = ImageDataset([Sample("/x.png", 1, "fake", "d", "g")], transform=lambda image: {"image": image})
    assert len(ds) == 1 and ds.labels == [1]
