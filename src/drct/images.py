"""The one way an image file becomes pixels, and the one answer to "is this file an image?".

Every step that looks at image files uses this module: dataset preparation and manifests (which
files are images), validation (which files decode), training, evaluation and ``drct predict``
(the pixels themselves). Before, each step had its own suffix list and its own limits, so a file
could pass one step and be dropped or refused by the next: ``.gif`` was an image for ``predict``
but silently skipped by preparation; validation accepted images up to 200 MP while the training
loader raised at PIL's 179 MP; 16-bit greyscale was clipped to white by ``convert("RGB")``.

Decoding (:func:`load_rgb`): PIL, EXIF orientation applied (the authors read with
``cv2.imread``, which applies it too), then RGB uint8. 16-bit greyscale (PIL modes ``I;16*`` and
``I``) keeps its high byte (``v >> 8``, what ``cv2.imread`` returns) instead of saturating;
palette, alpha and CMYK images are converted by PIL as before (alpha dropped). Truncated files
are errors, never padded.

Failures are split in two, because they call for opposite handling. A fault of *this file*
(not an image, truncated, too large, corrupt) raises :class:`ImageReadError` naming the file: a
per-item list (validation's quarantine, ``predict``'s ``unreadable`` rows) may record it and go
on. A fault of the *machine* (no space, I/O error, out of memory: :mod:`drct.failures`) raises
:class:`drct.failures.EnvironmentFailure` naming the file and the remedy: recording it per image
would let a job finish "successfully" with images silently missing.

No torch here: data validation (which must not import torch) uses it too.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps

from drct.failures import raise_if_environment

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_PIXELS",
    "ImageReadError",
    "decode",
    "describe_unsupported",
    "is_image_name",
    "load_rgb",
    "open_image",
    "pil_limits",
    "suffix_list",
    "to_rgb_array",
]

#: file suffixes (lower case) that are images everywhere: preparation, manifests, validation, predict
IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".jfif", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
)

#: the largest image (width x height) any step accepts. Validation quarantines larger ones as
#: ``decompression_bomb`` and the decoder refuses them, so nothing validation accepts can stop
#: training later. PIL's own guard (which raises at 2 x 89.5 MP) is moved out of the way.
MAX_PIXELS = 200_000_000
# PIL's guard is a process-wide global: set it once here (PIL raises above twice this, the explicit
# checks below refuse above it), so that every ``Image.open`` in a process using this module, the
# header reads of the manifest included, agrees on what is too large.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

class ImageReadError(RuntimeError):
    """One image file could not be decoded (a fault of that file, not of the machine)."""


def is_image_name(name: str | os.PathLike[str]) -> bool:
    """True when the file name ends in one of :data:`IMAGE_SUFFIXES` (case-insensitive)."""
    return os.path.splitext(os.fspath(name))[1].lower() in IMAGE_SUFFIXES


@contextlib.contextmanager
def pil_limits(max_pixels: int = MAX_PIXELS) -> Iterator[None]:
    """Strict PIL globals for the duration: truncated files raise, and PIL's bomb guard sits above
    ``max_pixels`` so that the explicit check against ``max_pixels`` is the one that decides.

    PIL raises only above 2x ``MAX_IMAGE_PIXELS`` and merely warns above 1x; the warning is
    silenced because the caller checks ``width * height`` against ``max_pixels`` itself.
    """
    old = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = max_pixels, False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = old


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """An opened PIL image as an RGB uint8 HWC array; 16-bit greyscale scaled, not clipped."""
    if image.mode.startswith("I;16") or image.mode == "I":
        wide = np.asarray(image).astype(np.int64)
        grey = (np.clip(wide, 0, 65535) >> 8).astype(np.uint8)  # high byte, as cv2.imread
        return np.repeat(grey[:, :, None], 3, axis=2)
    return np.asarray(image.convert("RGB"))


@contextlib.contextmanager
def open_image(path: str | os.PathLike[str], max_pixels: int = MAX_PIXELS) -> Iterator[Image.Image]:
    """``Image.open`` under :func:`pil_limits`, refusing images of more than ``max_pixels`` pixels.

    Raises :class:`ImageReadError` (naming the file and its size) for a too large image and lets
    PIL's own errors through, so that validation can tell them apart; :func:`load_rgb` turns
    those into :class:`ImageReadError` too.
    """
    with pil_limits(max_pixels), Image.open(path) as image:
        width, height = image.size
        if width * height > max_pixels:
            raise ImageReadError(
                f"cannot read image {path}: {width}x{height} = {width * height} pixels, "
                f"more than the limit of {max_pixels}"
            )
        yield image


def decode(image: Image.Image) -> np.ndarray:
    """Decode an opened image in full: EXIF orientation applied, then :func:`to_rgb_array`."""
    return to_rgb_array(ImageOps.exif_transpose(image))


def load_rgb(path: str | os.PathLike[str], *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an image to an RGB uint8 HWC array, EXIF orientation applied.

    Raises :class:`ImageReadError` naming ``path`` when the file is not a decodable image of at
    most ``max_pixels`` pixels; a failure of the machine (no space, I/O error, out of memory)
    raises :class:`drct.failures.EnvironmentFailure` instead.
    """
    try:
        with open_image(path, max_pixels) as image:
            return decode(image)
    except ImageReadError:
        raise
    except Exception as exc:  # PIL: OSError, SyntaxError, ValueError, DecompressionBombError; MemoryError too
        raise_if_environment(exc, path, "reading")
        raise ImageReadError(f"cannot read image {path}: {type(exc).__name__}: {exc}") from exc


def suffix_list() -> str:
    """The accepted suffixes for messages: ``.bmp, .gif, ...``."""
    return ", ".join(sorted(IMAGE_SUFFIXES))


def describe_unsupported(path: str | os.PathLike[str]) -> str:
    """Why a file is not treated as an image: its suffix is not one of :data:`IMAGE_SUFFIXES`."""
    suffix = Path(path).suffix or "(none)"
    return f"suffix {suffix} is not an image type ({suffix_list()})"
