"""Test-time perturbations: the robustness study and the format-bias control.

numpy / OpenCV / scipy only (no torch), applied to the *decoded full image* (RGB uint8 HWC)
before the evaluation transform (pad, centre crop), which is where the authors' test hooks
(``data/dataset.py``: ``post_aug_mode``) act:

- ``jpeg``: encode with OpenCV at quality ``q`` and decode again, as their ``cv2_jpg`` (in
  memory; OpenCV's libjpeg defaults, 4:2:0 chroma subsampling). Paper range: 60-100.
- ``scale``: ``cv2.resize`` to ``(int(w * s), int(h * s))`` with OpenCV's default bilinear
  interpolation, as their ``cv2_scale``. The crop then sees more (s < 1) or less (s > 1) of the
  scene. Paper range: 0.5-1.5.
- ``blur``: Gaussian blur of standard deviation ``sigma`` pixels, each channel separately with
  ``scipy.ndimage.gaussian_filter`` (reflect borders), as CNNSpot's robustness test does. **Our
  addition**: the authors list blur among their post-processing modes but never implemented it.
  sigma 0 is the identity.
- ``png``: lossless PNG round trip, the format-bias control's "every image PNG". The pixels come
  back unchanged, so its scores must equal the raw ones: a check that the detector sees pixels, not
  file containers. (Format bias in pixels is JPEG's artefacts on the reals; ``jpeg`` at one
  quality, e.g. 95, applied to every test image, is the control that removes that cue.)

A perturbation is written ``kind:value`` on the command line and in config-derived lists
(``jpeg:60``, ``scale:0.5``, ``blur:1.5``, ``png``) and ``kind-value`` in file names and tables
(:attr:`Perturbation.id`). Those strings are written and read by :mod:`drct.planning.perturbations`
only, the module the Snakefile formats the studies' specs with, so both sides spell them alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter

from drct.planning import perturbations as specs
from drct.planning.perturbations import KINDS

__all__ = ["KINDS", "Perturbation", "apply_perturbation", "parse_perturbation", "perturbation_list"]

Kind = Literal["jpeg", "scale", "blur", "png"]


@dataclass(frozen=True)
class Perturbation:
    """One test-time perturbation: a kind and its strength (``None`` for ``png``)."""

    kind: Kind
    value: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown perturbation kind {self.kind!r}; use one of {', '.join(KINDS)}")
        if KINDS[self.kind] is None:
            if self.value is not None:
                raise ValueError(f"perturbation {self.kind!r} takes no value, got {self.value!r}")
            return
        if self.value is None or not math.isfinite(float(self.value)):
            raise ValueError(f"perturbation {self.kind!r} needs a finite {KINDS[self.kind]}")
        value = float(self.value)
        if self.kind == "jpeg" and not (value.is_integer() and 0 <= value <= 100):
            raise ValueError(f"JPEG quality must be an integer in 0-100, got {self.value!r}")
        if self.kind == "scale" and value <= 0:
            raise ValueError(f"resize scale must be positive, got {self.value!r}")
        if self.kind == "blur" and value < 0:
            raise ValueError(f"blur sigma must be >= 0, got {self.value!r}")
        object.__setattr__(self, "value", int(value) if self.kind == "jpeg" else value)

    @property
    def id(self) -> str:
        """File- and table-friendly name: ``jpeg-60``, ``scale-0.5``, ``blur-1``, ``png``."""
        return specs.spec_id(self.kind, self.value)

    @property
    def spec(self) -> str:
        """Command-line form, the inverse of :func:`parse_perturbation`: ``jpeg:60``."""
        return specs.spec(self.kind, self.value)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return apply_perturbation(image, self)


def parse_perturbation(text: str) -> Perturbation:
    """``"jpeg:60"`` / ``"jpeg-60"`` / ``"png"`` -> :class:`Perturbation` (clear error otherwise)."""
    kind, value = specs.parse_spec(text)
    return Perturbation(kind, value)  # type: ignore[arg-type]


def perturbation_list(
    jpeg_quality: list[int] | tuple[int, ...] = (),
    scale: list[float] | tuple[float, ...] = (),
    blur_sigma: list[float] | tuple[float, ...] = (),
    formats: list[str] | tuple[str, ...] = (),
) -> list[Perturbation]:
    """The perturbations of a config section, in a stable order (JPEG, scale, blur, formats).

    ``formats`` entries: ``png`` or ``jpeg<q>`` (e.g. ``jpeg95``), the format-bias control. Built
    from the spec strings the workflow passes to ``drct evaluate`` (one formatting for both).
    """
    out = [parse_perturbation(s) for s in specs.section_specs(jpeg_quality, scale, blur_sigma, formats)]
    ids = [p.id for p in out]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"perturbations listed twice: {duplicates}")
    return out


def _check_image(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 HxWx3 image, got {array.dtype} {array.shape}")
    return array


def _encode_decode(image: np.ndarray, extension: str, params: list[int]) -> np.ndarray:
    """Encode with OpenCV (BGR order) and decode back to RGB, in memory."""
    ok, encoded = cv2.imencode(extension, np.ascontiguousarray(image[:, :, ::-1]), params)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image.shape} image as {extension}")
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    return np.ascontiguousarray(decoded[:, :, ::-1])


def apply_perturbation(image: np.ndarray, perturbation: Perturbation | None) -> np.ndarray:
    """The perturbed copy of an RGB uint8 image (``None``: the image itself, unchanged)."""
    if perturbation is None:
        return image
    array = _check_image(image)
    kind, value = perturbation.kind, perturbation.value
    if kind == "jpeg":
        return _encode_decode(array, ".jpg", [int(cv2.IMWRITE_JPEG_QUALITY), int(value)])
    if kind == "png":
        return _encode_decode(array, ".png", [int(cv2.IMWRITE_PNG_COMPRESSION), 3])
    if kind == "scale":
        h, w = array.shape[:2]
        new_w, new_h = int(w * value), int(h * value)
        if new_w < 1 or new_h < 1:
            raise ValueError(f"scale {value} turns a {w}x{h} image into {new_w}x{new_h}")
        return cv2.resize(array, (new_w, new_h))  # default INTER_LINEAR, as the authors' cv2_scale
    if kind == "blur":
        if value == 0:
            return array.copy()
        out = np.empty_like(array)
        for c in range(3):
            gaussian_filter(array[:, :, c], sigma=value, output=out[:, :, c])
        return out
    raise AssertionError(kind)  # unreachable: checked in Perturbation
