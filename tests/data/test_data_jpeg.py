"""drct.data.jpeg: the IJG table-matching quality estimate, exact for libjpeg-written files."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from drct.data.jpeg import (
    _ZIGZAG,
    LUMINANCE,
    estimate_quality,
    ijg_tables,
    quality_of_image,
)


def _jpeg(quality: int, mode: str = "RGB", **save) -> Image.Image:
    im = Image.effect_noise((32, 32), 30).convert(mode)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, **save)
    buf.seek(0)
    return Image.open(buf)


def test_ijg_tables_by_hand():
    lum, chrom = ijg_tables()
    assert lum.shape == chrom.shape == (100, 64)
    assert (lum[49] == LUMINANCE).all()  # q=50: scale 100, the Annex K table itself
    # q=75: scale 50, (16*50 + 50)//100 = 8 and (11*50 + 50)//100 = 6
    assert lum[74][:2].tolist() == [8, 6]
    # q=10: scale 500, (16*500 + 50)//100 = 80, and 121*500/100 is clipped to 255
    assert lum[9][0] == 80 and lum[9][53] == 255
    assert (lum[99] == 1).all() and (chrom[99] == 1).all()


@pytest.mark.parametrize("quality", [1, 5, 30, 50, 51, 75, 90, 95, 99, 100])
def test_exact_for_pillow_written_files(quality):
    assert quality_of_image(_jpeg(quality)) == quality
    assert quality_of_image(_jpeg(quality, "L")) == quality  # luminance table only
    assert quality_of_image(_jpeg(quality, subsampling=0)) == quality


def test_tables_in_zigzag_order_are_recognised():
    tables = _jpeg(83).quantization
    zigzag = {k: list(np.asarray(v)[_ZIGZAG]) for k, v in tables.items()}
    assert estimate_quality(zigzag) == 83


def test_non_ijg_tables_get_the_nearest_quality():
    lum, chrom = ijg_tables()
    custom = {0: (lum[69] + 1).tolist(), 1: chrom[69].tolist()}  # q=70 tables, luma nudged
    assert estimate_quality(custom) == 70


def test_non_jpeg_and_missing_tables():
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    assert quality_of_image(Image.open(buf)) is None
    assert estimate_quality({}) is None and estimate_quality({0: [1, 2, 3]}) is None
