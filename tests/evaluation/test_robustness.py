"""Test-time perturbations on tiny images with properties checkable by hand, and their scoring."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from drct.evaluation.perturb import (
    Perturbation,
    apply_perturbation,
    parse_perturbation,
    perturbation_list,
)


def _image(h: int = 24, w: int = 40, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_scale_resizes_the_full_image_as_the_authors_hook():
    image = _image(24, 40)
    half = apply_perturbation(image, Perturbation("scale", 0.5))
    assert half.shape == (12, 20, 3) and half.dtype == np.uint8  # halves both sides
    assert apply_perturbation(image, Perturbation("scale", 1.5)).shape == (36, 60, 3)
    assert apply_perturbation(_image(7, 9), Perturbation("scale", 0.5)).shape == (3, 4, 3)  # int() truncates
    np.testing.assert_array_equal(apply_perturbation(image, Perturbation("scale", 1.0)), image)
    # a constant image stays constant through bilinear resizing
    flat = np.full((10, 10, 3), 77, np.uint8)
    assert (apply_perturbation(flat, Perturbation("scale", 0.5)) == 77).all()
    with pytest.raises(ValueError, match="0x0"):
        apply_perturbation(np.zeros((1, 1, 3), np.uint8), Perturbation("scale", 0.5))


def test_jpeg_changes_pixels_more_at_lower_quality_and_keeps_shape():
    image = _image(32, 32)
    errors = {}
    for q in (60, 90, 100):
        out = apply_perturbation(image, Perturbation("jpeg", q))
        assert out.shape == image.shape and out.dtype == np.uint8
        errors[q] = np.abs(out.astype(int) - image).mean()
    assert errors[60] > errors[90] > errors[100] > 0  # even q100 is lossy (4:2:0 chroma)
    again = apply_perturbation(image, Perturbation("jpeg", 60))
    np.testing.assert_array_equal(again, apply_perturbation(image, Perturbation("jpeg", 60)))  # deterministic


def test_blur_sigma_zero_is_identity_and_blur_smooths():
    image = _image()
    np.testing.assert_array_equal(apply_perturbation(image, Perturbation("blur", 0)), image)
    blurred = [apply_perturbation(image, Perturbation("blur", s)) for s in (1, 3)]
    assert image.std() > blurred[0].std() > blurred[1].std()
    flat = np.full((8, 8, 3), 200, np.uint8)
    np.testing.assert_array_equal(apply_perturbation(flat, Perturbation("blur", 2)), flat)
    # channels are blurred separately: a pure red image stays pure red
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    out = apply_perturbation(red, Perturbation("blur", 1.5))
    assert (out[..., 1:] == 0).all() and (out[..., 0] == 255).all()


def test_png_round_trip_is_lossless_and_none_is_a_no_op():
    image = _image()
    np.testing.assert_array_equal(apply_perturbation(image, Perturbation("png")), image)
    assert apply_perturbation(image, None) is image


def test_parse_and_ids():
    assert parse_perturbation("jpeg:60") == Perturbation("jpeg", 60)
    assert parse_perturbation("jpeg-60") == Perturbation("jpeg", 60)
    assert parse_perturbation("scale:0.5").id == "scale-0.5"
    assert parse_perturbation("blur:1").id == "blur-1"
    assert parse_perturbation("png").id == "png"
    assert Perturbation("scale", 1.25).spec == "scale:1.25"
    for bad in ("jpeg:101", "jpeg:60.5", "scale:0", "blur:-1", "png:3", "sharpen:1", "jpeg:x", "jpeg"):
        with pytest.raises(ValueError):
            parse_perturbation(bad)


def test_perturbation_list_from_config():
    out = perturbation_list(jpeg_quality=[60], scale=[0.5], blur_sigma=[0, 2], formats=["png", "jpeg95"])
    assert [p.id for p in out] == ["jpeg-60", "scale-0.5", "blur-0", "blur-2", "png", "jpeg-95"]
    with pytest.raises(ValueError, match="twice"):
        perturbation_list(jpeg_quality=[95], formats=["jpeg95"])
    with pytest.raises(ValueError, match="format"):
        perturbation_list(formats=["webp"])


def test_perturb_module_imports_no_torch():
    code = "import sys, drct.evaluation.perturb; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
