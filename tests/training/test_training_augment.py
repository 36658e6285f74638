"""Augmentation: the authors' order and parameters, and an evaluation crop that never resizes."""

from __future__ import annotations

import albumentations as A
import numpy as np
import pytest
import torch

from drct.model_input import IMAGENET_MEAN, IMAGENET_STD, build_eval_transform
from drct.training.augment import build_train_transform


def _names(transforms) -> list[str]:
    return [type(t).__name__ for t in transforms]


def test_train_pipeline_order_and_probabilities() -> None:
    compose = build_train_transform(224)
    steps = list(compose.transforms)
    assert _names(steps) == [
        "ImageCompression", "RandomScale", "HorizontalFlip", "GaussNoise", "GaussianBlur",
        "RandomRotate90", "PadIfNeeded", "RandomCrop", "OneOf", "OneOf", "ToGray", "Affine",
        "Normalize", "ToTensorV2",
    ]
    assert [t.p for t in steps] == [0.5, 0.2, 0.5, 0.1, 0.1, 0.5, 1.0, 1.0, 0.5, 0.5, 0.2, 0.5, 1.0, 1.0]
    assert _names(steps[8].transforms) == ["RandomBrightnessContrast", "FancyPCA", "HueSaturationValue"]
    assert _names(steps[9].transforms) == ["CoarseDropout", "GridDropout"]
    assert steps[0].quality_range == (30, 100)
    assert steps[1].scale_limit == (-0.5, 0.5)  # factor 0.5-1.5
    assert (steps[7].height, steps[7].width) == (224, 224)
    assert steps[9].transforms[0].num_holes_range == (8, 8)
    assert steps[9].transforms[1].random_offset is False


@pytest.mark.parametrize("shape", [(64, 64, 3), (300, 500, 3), (224, 224, 3)])
def test_train_output_is_normalised_224_tensor(shape: tuple[int, int, int]) -> None:
    compose = build_train_transform(224, seed=3)
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    out = compose(image=image)["image"]
    assert isinstance(out, torch.Tensor) and out.shape == (3, 224, 224) and out.dtype == torch.float32


def test_train_transform_is_reproducible_from_its_seed() -> None:
    image = np.random.default_rng(1).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    first, second = build_train_transform(224, seed=11), build_train_transform(224, seed=11)
    for _ in range(5):
        assert torch.equal(first(image=image)["image"], second(image=image)["image"])


def test_eval_pads_centred_with_zeros_and_centre_crops_without_resize() -> None:
    # 100 x 300 image whose pixel value is column // 2 (same in all channels).
    image = np.repeat((np.arange(300) // 2).astype(np.uint8)[None, :, None], 100, axis=0).repeat(3, axis=2)
    out = build_eval_transform(224)(image=image)["image"].numpy()
    assert out.shape == (3, 224, 224)
    # Height 100 -> 224: 62 zero rows on top, 62 at the bottom (centred), value 0 before normalising.
    zero = (0.0 - IMAGENET_MEAN[0]) / IMAGENET_STD[0]
    assert np.allclose(out[0, :62, :], zero) and np.allclose(out[0, 162:, :], zero)
    # Width 300 -> centre crop 224 starts at column (300 - 224) // 2 = 38; no resampling.
    for j in (0, 1, 100, 223):
        expected = ((38 + j) // 2 / 255.0 - IMAGENET_MEAN[0]) / IMAGENET_STD[0]
        assert out[0, 62, j] == pytest.approx(expected, abs=1e-5)
        assert out[0, 161, j] == pytest.approx(expected, abs=1e-5)


def test_eval_leaves_a_224_image_untouched_but_normalised() -> None:
    image = np.random.default_rng(2).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    out = build_eval_transform(224)(image=image)["image"].numpy()
    mean = np.array(IMAGENET_MEAN)[:, None, None]
    std = np.array(IMAGENET_STD)[:, None, None]
    assert np.allclose(out, (image.transpose(2, 0, 1) / 255.0 - mean) / std, atol=1e-5)


def test_albumentations_is_2x() -> None:
    # The parameter names above are the 2.x API; 1.x would need quality_lower/value/... instead.
    assert int(A.__version__.split(".")[0]) >= 2
