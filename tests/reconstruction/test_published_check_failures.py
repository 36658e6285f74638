"""The published-check compare: one image's fault is a listed failure, the machine's stops the job."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from drct.failures import EnvironmentFailure
from drct.reconstruction import published_check


def write_png(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(path)
    return path


def test_a_damaged_image_is_a_listed_failure(tmp_path):
    ours, published = write_png(tmp_path / "ours.png", 0), write_png(tmp_path / "published.png", 1)
    assert published_check.compare_pair(str(ours), str(published))["status"] == "ok"
    ours.write_bytes(ours.read_bytes()[:60])
    row = published_check.compare_pair(str(ours), str(published))
    assert row["status"] == "failed" and row["reason"].startswith("ours: unreadable")


@pytest.mark.parametrize("exc", [MemoryError(), OSError(errno.EIO, os.strerror(errno.EIO))], ids=["memory", "EIO"])
def test_a_machine_failure_while_reading_stops_the_compare(tmp_path, monkeypatch, exc):
    ours, published = write_png(tmp_path / "ours.png", 0), write_png(tmp_path / "published.png", 1)

    def load_rgb(path):
        raise exc

    monkeypatch.setattr(published_check, "load_rgb", load_rgb)
    with pytest.raises(EnvironmentFailure, match="reading the ours image") as caught:
        published_check.compare_pair(str(ours), str(published))
    assert str(ours) in str(caught.value)
