"""JPEG quality estimate from an image's quantisation tables (the IJG table-matching method).

Why: DRCT's real images (MSCOCO, ImageNet) are JPEG while most fakes are PNG; a detector can then
learn "JPEG artefacts = real". Recording each JPEG's quality lets the format report show how
different the real and fake compression really is.

Method (as in ImageMagick's ``identify`` and libjpeg's ``cjpeg -quality``): libjpeg derives its
quantisation tables from the two example tables of ITU-T T.81 Annex K, scaled by
``s = 5000 / q`` (q < 50) or ``200 - 2 q`` (q >= 50), entry ``(base * s + 50) // 100`` clipped to
1..255. The estimate is the quality 1..100 whose scaled tables are closest (sum of absolute
differences over the luminance and, when present, chrominance table) to the file's. It is exact
for files written by libjpeg-based encoders (Pillow, OpenCV, most cameras' software stacks) and
the nearest IJG quality otherwise. Only the header is read, no pixels are decoded.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image

__all__ = ["LUMINANCE", "CHROMINANCE", "estimate_quality", "ijg_tables", "quality_of_image"]

#: ITU-T T.81 Annex K.1 example tables, natural (row-major) order
LUMINANCE = np.array([
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
], dtype=np.int64)
CHROMINANCE = np.array([
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
    *([99] * 32),
], dtype=np.int64)
#: zigzag scan position -> natural index (older Pillow versions report tables in zigzag order)
_ZIGZAG = np.array([
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
    12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
    35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
])


@functools.lru_cache(maxsize=1)
def ijg_tables() -> tuple[np.ndarray, np.ndarray]:
    """(100, 64) luminance and chrominance tables libjpeg uses for qualities 1..100."""
    q = np.arange(1, 101, dtype=np.int64)[:, None]
    scale = np.where(q < 50, 5000 // q, 200 - 2 * q)
    lum = np.clip((LUMINANCE[None, :] * scale + 50) // 100, 1, 255)
    chrom = np.clip((CHROMINANCE[None, :] * scale + 50) // 100, 1, 255)
    return lum, chrom


def estimate_quality(tables: Mapping[int, Sequence[int]]) -> int | None:
    """Nearest IJG quality (1..100) for quantisation ``tables`` ({0: luma, 1: chroma, ...}).

    Both natural and zigzag order are tried; ties go to the lowest quality. None if there is no
    8x8 luminance table.
    """
    luma = tables.get(0)
    if luma is None or len(luma) != 64:
        return None
    lum_tab, chrom_tab = ijg_tables()
    observed = [np.asarray(luma, dtype=np.int64)]
    chroma = tables.get(1)
    if chroma is not None and len(chroma) == 64:
        observed.append(np.asarray(chroma, dtype=np.int64))
    best: tuple[int, int] | None = None
    for order in (slice(None), _ZIGZAG):  # reference tables in natural, then zigzag order
        err = np.abs(lum_tab[:, order] - observed[0]).sum(axis=1)
        if len(observed) > 1:
            err = err + np.abs(chrom_tab[:, order] - observed[1]).sum(axis=1)
        q = int(np.argmin(err))
        if best is None or err[q] < best[0]:
            best = (int(err[q]), q + 1)
    return best[1] if best else None


def quality_of_image(im: Image.Image) -> int | None:
    """Estimated quality of an opened JPEG (or MPO) image; None for every other format."""
    if im.format not in ("JPEG", "MPO"):
        return None
    tables = getattr(im, "quantization", None)
    return estimate_quality(tables) if tables else None
