"""Pixel geometry of diffusion reconstruction: RGB conversion, centre crop, pad to 8, crop back.

Mirrors the authors' ``read_image``/``func`` (data/diffusion_rec.py), which work on OpenCV arrays:

* ``cv2.imread(path)`` (IMREAD_COLOR) yields 3-channel 8-bit colour: an alpha channel is dropped
  without compositing, grey is replicated to three channels, 16-bit samples are cut to their high
  byte. ``to_rgb`` does the same on PIL images (PIL's own ``I;16 -> RGB`` would clip instead).
  OpenCV also applies the EXIF orientation on read; that happens where files are opened (runner).
* Height and width are capped at ``max_side`` *independently* (``min(h, 1024)``, ``min(w, 1024)``)
  and the image is centre-cropped to that size with albumentations' ``CenterCrop``, whose offsets
  are ``(H - h) // 2`` and ``(W - w) // 2``.
* The crop is copied into a zero array whose sides are rounded up to a multiple of 8 (bottom/right
  padding); the pipeline runs at the padded size and the output is cropped to the top-left
  pre-padding box.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


def to_rgb(image: Image.Image) -> Image.Image:
    """3-channel 8-bit RGB the way ``cv2.imread`` + ``BGR2RGB`` would produce it.

    RGBA/LA/PA: alpha is dropped, colour values kept as stored (no compositing on any background).
    L/P/1/CMYK/YCbCr: PIL's standard conversion. 16-bit grey: high byte (OpenCV strips the low byte).
    """
    if image.mode == "RGB":
        return image
    if image.mode in _SIXTEEN_BIT_MODES:
        high_byte = (np.asarray(image, dtype=np.uint16) >> 8).astype(np.uint8)
        return Image.fromarray(high_byte, mode="L").convert("RGB")
    return image.convert("RGB")


def centre_crop_box(width: int, height: int, max_side: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the centre crop that caps each side at ``max_side`` on its own."""
    new_w, new_h = min(width, max_side), min(height, max_side)
    left, top = (width - new_w) // 2, (height - new_h) // 2
    return left, top, left + new_w, top + new_h


def centre_crop_max_side(image: Image.Image, max_side: int) -> Image.Image:
    """Centre-crop sides longer than ``max_side``; smaller images are returned unchanged."""
    box = centre_crop_box(image.width, image.height, max_side)
    if box == (0, 0, image.width, image.height):
        return image
    return image.crop(box)


def round_up(value: int, multiple: int) -> int:
    """Smallest multiple of ``multiple`` that is >= ``value``."""
    return -(-value // multiple) * multiple


def pad_bottom_right(image: Image.Image, multiple: int) -> Image.Image:
    """Zero-pad (black) at the bottom and right so both sides are multiples of ``multiple``."""
    size = (round_up(image.width, multiple), round_up(image.height, multiple))
    if size == image.size:
        return image
    padded = Image.new(image.mode, size, 0)
    padded.paste(image, (0, 0))
    return padded
