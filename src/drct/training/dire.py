"""The DIRE input: |image - reconstruction| in [-1, 1] scale, both cropped at one position.

DIRE (Wang et al., ICCV 2023) classifies the *reconstruction error* of an image, not the image.
The DRCT authors' baseline computes it in ``data/dataset.py`` (``calculate_dire``, used when
``--is_dire`` is set) with ``data/transform.py``'s ``create_sdie_transforms``. Their order, which
this module follows:

1. zero-pad both images, centred, to at least ``size`` on each side (albumentations
   ``PadIfNeeded``, constant 0: ``top = (size - h) // 2``, the rest at the bottom; same for width);
2. crop ``size x size`` from both at the *same* position (one albumentations call with the
   reconstruction as an additional target): a random position in training, the centre
   (``(H - size) // 2``, ``(W - size) // 2``) in validation and test;
3. scale both to [-1, 1] as ``x / 127.5 - 1`` (in float64: uint8 divided by a Python float);
4. absolute difference, cast to float32, HWC -> CHW.

Nothing else: no flip, no JPEG, no colour change and no ImageNet normalisation (the tensor lies
in [0, 2]), and the size is always 224 (``calculate_dire`` is called with its default
``input_size=224``; the command's ``--input_size`` and ``--is_crop`` only reach the ignored image
transform).

Crop then difference, or difference then crop: the same numbers, because steps 3 and 4 act on
each pixel alone and both images are padded and cropped identically; a padded pixel is 0 in both,
so -1 in both, so 0 in the difference either way. Cropping first, as the authors do, only touches
``size x size`` pixels.

The random position follows albumentations 1.3.0 (the authors' pin): ``top = int((H - size) * u)``
with ``u`` uniform in [0, 1), likewise ``left``; so the last offset ``H - size`` is never drawn
unless it is 0. ``u`` comes from a numpy ``Generator`` the caller owns, so a run is reproducible.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from drct.errors import DrctError
from drct.reconstruction.preprocess import centre_crop_box

__all__ = [
    "DIRE_SIZE",
    "DireCrop",
    "MissingReconstructionError",
    "align_to_reconstruction",
    "centre_origin",
    "dire_input",
    "pad_to_size",
    "pair_with_reconstruction",
    "random_origin",
    "reconstruction_path",
]

#: the DIRE input size the authors' code always uses (``calculate_dire``'s default ``input_size``)
DIRE_SIZE = 224

ImageLike = Image.Image | np.ndarray


class MissingReconstructionError(DrctError, FileNotFoundError):
    """An image has no reconstruction where its folder of reconstructions should hold one (a
    :class:`drct.errors.DrctError`: the command line reports it in one line)."""


def _as_rgb_array(image: ImageLike, what: str) -> np.ndarray:
    """RGB uint8 HWC array of a PIL image or an array (the arrays :func:`drct.images.load_rgb` returns)."""
    array = np.asarray(image.convert("RGB")) if isinstance(image, Image.Image) else np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"{what} must be an RGB uint8 HWC image, got dtype {array.dtype} and shape {array.shape}")
    return array


def pad_to_size(array: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad an HWC array, centred, so both sides are at least ``size`` (larger sides untouched)."""
    height, width = array.shape[:2]
    pad_h, pad_w = max(size - height, 0), max(size - width, 0)
    if pad_h == 0 and pad_w == 0:
        return array
    top, left = pad_h // 2, pad_w // 2
    return np.pad(array, ((top, pad_h - top), (left, pad_w - left), (0, 0)), mode="constant", constant_values=0)


def centre_origin(height: int, width: int, size: int) -> tuple[int, int]:
    """(top, left) of the centre ``size`` crop of a padded ``height x width`` image (albumentations CenterCrop)."""
    return (height - size) // 2, (width - size) // 2


def random_origin(height: int, width: int, size: int, rng: np.random.Generator) -> tuple[int, int]:
    """(top, left) of a random ``size`` crop, drawn as albumentations 1.3.0's RandomCrop draws it.

    Two uniforms in [0, 1), height first, each scaled by the free room and truncated.
    """
    u_top, u_left = rng.random(), rng.random()
    return int((height - size) * u_top), int((width - size) * u_left)


def dire_input(
    image: ImageLike,
    reconstruction: ImageLike,
    size: int = DIRE_SIZE,
    rng: np.random.Generator | None = None,
) -> torch.Tensor:
    """The DIRE tensor (float32, 3 x size x size, values in [0, 2]) of an image and its reconstruction.

    ``rng`` given: training, a random crop position drawn from it. ``rng`` None: evaluation, the
    centre crop. Both images must have the same size (see :func:`align_to_reconstruction` for
    inputs the reconstruction step centre-cropped): the authors' code crops the reconstruction at
    offsets computed from the image, so unequal sizes would compare different pixels.
    """
    a = _as_rgb_array(image, "image")
    b = _as_rgb_array(reconstruction, "reconstruction")
    if a.shape != b.shape:
        raise ValueError(
            f"image and reconstruction differ in size: {a.shape[1]}x{a.shape[0]} vs {b.shape[1]}x{b.shape[0]} (width x height)"
        )
    a, b = pad_to_size(a, size), pad_to_size(b, size)
    height, width = a.shape[:2]
    top, left = centre_origin(height, width, size) if rng is None else random_origin(height, width, size, rng)
    a = a[top : top + size, left : left + size]
    b = b[top : top + size, left : left + size]
    difference = np.abs((a / 127.5 - 1.0) - (b / 127.5 - 1.0))  # float64, as in the authors' code
    return torch.from_numpy(np.ascontiguousarray(difference.astype(np.float32).transpose(2, 0, 1)))


class DireCrop:
    """The DIRE input with its crop policy and random stream: a dataset's ``transform``.

    ``train=True`` draws crop positions from a generator seeded by ``seed`` (the OS when None);
    ``set_random_seed`` restarts it, the hook the training loop already calls on an
    albumentations pipeline each epoch and in each DataLoader worker, so a DIRE dataset is
    reseeded by the same code. ``train=False`` is the centre crop and draws nothing.
    """

    def __init__(self, size: int = DIRE_SIZE, train: bool = True, seed: int | None = None) -> None:
        self.size = size
        self.train = train
        self.rng = np.random.default_rng(seed)

    def set_random_seed(self, seed: int | None) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, image: ImageLike, reconstruction: ImageLike) -> torch.Tensor:
        return dire_input(image, reconstruction, self.size, self.rng if self.train else None)


def align_to_reconstruction(image: np.ndarray, reconstruction_hw: tuple[int, int], max_side: int) -> np.ndarray:
    """The part of ``image`` that was reconstructed, when the reconstruction step cropped it.

    Reconstruction caps each side at ``max_side`` by a centre crop
    (:func:`drct.reconstruction.preprocess.centre_crop_box`) and writes an output of the capped
    size. The authors pair such outputs with the saved crop (their GenImage ``crop`` folders);
    here the same crop is cut from the original. Equal sizes pass unchanged; any other mismatch
    raises ``ValueError`` (a wrong pairing, not a cropped input).
    """
    height, width = image.shape[:2]
    if (height, width) == tuple(reconstruction_hw):
        return image
    left, top, right, bottom = centre_crop_box(width, height, max_side)
    if (bottom - top, right - left) != tuple(reconstruction_hw):
        raise ValueError(
            f"reconstruction is {reconstruction_hw[1]}x{reconstruction_hw[0]} but the image is {width}x{height} "
            f"(capped at {max_side}: {right - left}x{bottom - top}, width x height)"
        )
    return image[top:bottom, left:right]


def reconstruction_path(image_path: str | os.PathLike[str], reconstruction_dir: str | os.PathLike[str]) -> Path:
    """Where the reconstruction step writes an image's reconstruction: ``<dir>/<stem>.png``."""
    return Path(reconstruction_dir) / f"{Path(image_path).stem}.png"


def pair_with_reconstruction(
    image_path: str | os.PathLike[str],
    reconstruction_dir: str | os.PathLike[str] | Callable[[str], str | os.PathLike[str]],
) -> Path:
    """The reconstruction of ``image_path``; raises :class:`MissingReconstructionError` naming both when absent.

    ``reconstruction_dir`` is a folder, or a function of the image path giving its folder (images
    of different generators are reconstructed into different folders). The authors pair sorted
    file lists by position after asserting equal counts; pairing by stem cannot shift every later
    pair when one file is missing, and a missing one is named instead of counted.
    """
    folder = reconstruction_dir(os.fspath(image_path)) if callable(reconstruction_dir) else reconstruction_dir
    path = reconstruction_path(image_path, folder)
    if not path.is_file():
        raise MissingReconstructionError(f"no reconstruction of image {image_path}: expected {path}")
    return path
