"""drct.data.validate: every bad file is quarantined with its reason; valid rows keep labels."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image, ImageFile

from drct.data.manifest import build_manifest, read_manifest, write_manifest
from drct.data.validate import check_image, validate_manifest

MAX_PIXELS = 64 * 64  # small enough that a 200x200 image counts as a decompression bomb


def _noise(path: Path, size=(48, 48), fmt="PNG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(path, format=fmt)
    return path


@pytest.fixture
def dataset(tmp_path):
    """A manifest with valid images and one of each failure; returns (manifest, expected)."""
    img = tmp_path / "data" / "images"
    rows, expected = [], {}

    def add(rel, gen, split, label, reason):
        rows.append({"generator": gen, "split": split, "label": label, "path": str(img / rel)})
        expected[rel] = reason

    for i in range(3):
        _noise(img / f"real/train/{i}.jpg", fmt="JPEG")
        add(f"real/train/{i}.jpg", "real", "train", 0, None)
        _noise(img / f"sd14/train/{i}.png")
        add(f"sd14/train/{i}.png", "sd14", "train", 1, None)
    (img / "sd14/test").mkdir(parents=True)
    (img / "sd14/test/zero.png").write_bytes(b"")
    add("sd14/test/zero.png", "sd14", "test", 1, "zero_byte")
    whole = _noise(img / "sd14/test/trunc.png").read_bytes()
    (img / "sd14/test/trunc.png").write_bytes(whole[: len(whole) // 2])
    add("sd14/test/trunc.png", "sd14", "test", 1, "truncated")
    (img / "sd14/test/text.png").write_text("this is a text file, not a PNG\n")
    add("sd14/test/text.png", "sd14", "test", 1, "not_an_image")
    big = img / "sd14/test/bomb.png"
    Image.new("L", (200, 200)).save(big)
    add("sd14/test/bomb.png", "sd14", "test", 1, "decompression_bomb")
    _noise(img / "real/test/jpeg_named.png", fmt="JPEG")
    add("real/test/jpeg_named.png", "real", "test", 0, "wrong_format")
    _noise(img / "real/test/changed.jpg", fmt="JPEG")
    add("real/test/changed.jpg", "real", "test", 0, "sha256_mismatch")
    _noise(img / "real/test/gone.jpg", fmt="JPEG")
    add("real/test/gone.jpg", "real", "test", 0, "missing")

    manifest = tmp_path / "data" / "manifest.csv"
    write_manifest(build_manifest(rows, "demo", manifest.parent), manifest)
    _noise(img / "real/test/changed.jpg", fmt="JPEG")  # content changes after the manifest
    (img / "real/test/gone.jpg").unlink()
    return manifest, expected


@pytest.mark.parametrize("workers", [1, 2])
def test_quarantine_reasons_and_valid_rows(dataset, tmp_path, workers, caplog):
    manifest, expected = dataset
    out_valid = tmp_path / "out" / "valid.csv"
    out_q = tmp_path / "out" / "quarantine.csv"
    with caplog.at_level("INFO"):
        n_valid, n_bad = validate_manifest(manifest, out_valid, out_q, max_pixels=MAX_PIXELS,
                                           workers=workers)
    n_expected_bad = sum(r is not None for r in expected.values())
    assert (n_valid, n_bad) == (len(expected) - n_expected_bad, n_expected_bad)

    img = manifest.parent / "images"
    q = read_manifest(out_q)
    assert "reason" in q.columns and "detail" in q.columns
    got = {Path(p).relative_to(img).as_posix(): r for p, r in zip(q["abspath"], q["reason"])}
    assert got == {k: v for k, v in expected.items() if v is not None}

    original = read_manifest(manifest).set_index("abspath")
    valid = read_manifest(out_valid)
    assert sorted(Path(p).relative_to(img).as_posix() for p in valid["abspath"]) == sorted(
        k for k, v in expected.items() if v is None)
    for _, row in valid.iterrows():  # labels and facts unchanged
        assert row["label"] == original.loc[row["abspath"], "label"]
        assert row["sha256"] == original.loc[row["abspath"], "sha256"]
    # quarantined files stay in place, untouched; labels unchanged, never relabelled
    assert (img / "sd14/test/trunc.png").exists() and (img / "sd14/test/text.png").exists()
    for _, row in q.iterrows():
        assert row["label"] == original.loc[row["abspath"], "label"]
    assert "validate sd14/test" in caplog.text and "truncated" in caplog.text


def test_pil_globals_are_restored_and_strict_during_checks(tmp_path):
    before = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = True  # e.g. set by some training code in the process
    try:
        whole = _noise(tmp_path / "a.png").read_bytes()
        (tmp_path / "a.png").write_bytes(whole[: len(whole) // 2])
        assert check_image(tmp_path / "a.png")[0] == "truncated"
        assert ImageFile.LOAD_TRUNCATED_IMAGES is True
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = before[1]
    assert Image.MAX_IMAGE_PIXELS == before[0]


def test_wrong_format_can_be_allowed(tmp_path):
    p = _noise(tmp_path / "a.png", fmt="JPEG")
    assert check_image(p)[0] == "wrong_format"
    assert check_image(p, check_format=False) is None


def test_empty_quarantine_is_still_written(tmp_path):
    _noise(tmp_path / "d" / "ok.png")
    manifest = tmp_path / "d" / "m.csv"
    write_manifest(build_manifest(
        [{"generator": "g", "split": "test", "label": 1, "path": "ok.png"}], "ds", manifest.parent),
        manifest)
    assert validate_manifest(manifest, tmp_path / "v.csv", tmp_path / "q.csv") == (1, 0)
    q = pd.read_csv(tmp_path / "q.csv")
    assert len(q) == 0 and "reason" in q.columns


def test_bomb_between_limit_and_twice_limit(tmp_path):
    """PIL only warns between MAX_IMAGE_PIXELS and twice that; we still quarantine."""
    p = tmp_path / "b.png"
    Image.new("L", (80, 80)).save(p)  # 6400 pixels: > 4096, < 8192
    reason, detail = check_image(p, max_pixels=MAX_PIXELS)
    assert reason == "decompression_bomb" and "6400" in detail
