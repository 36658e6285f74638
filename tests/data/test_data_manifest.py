"""drct.data.manifest: columns, relative paths, header-only facts, deterministic output."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from drct.data.manifest import (
    FACT_COLUMNS,
    MANIFEST_COLUMNS,
    build_manifest,
    read_manifest,
    write_manifest,
)


def _image(path: Path, size=(16, 12), fmt="PNG", **save) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (10, 200, 30)).save(path, format=fmt, **save)
    return path


@pytest.fixture
def rows(tmp_path):
    images = tmp_path / "data" / "images"
    out = []
    for gen, label, fmt, ext in (("real", 0, "JPEG", "jpg"), ("sd14", 1, "PNG", "png")):
        for split in ("train", "test"):
            for i in range(3):
                save = {"quality": 60 + 10 * i} if fmt == "JPEG" else {}
                p = _image(images / gen / split / f"{i}.{ext}", (16 + i, 12), fmt, **save)
                out.append({"generator": gen, "split": split, "label": label, "path": str(p)})
    bad = images / "sd14" / "train" / "broken.png"
    bad.write_bytes(b"not an image")
    out.append({"generator": "sd14", "split": "train", "label": 1, "path": str(bad)})
    return out


def test_build_write_read_roundtrip(rows, tmp_path):
    base = tmp_path / "data"
    df = build_manifest(rows, "demo", base)
    assert list(df.columns) == [*MANIFEST_COLUMNS, *FACT_COLUMNS, "abspath"]
    manifest = base / "manifest.csv"
    write_manifest(df, manifest)
    text = manifest.read_text()
    assert text.splitlines()[0] == ",".join([*MANIFEST_COLUMNS, *FACT_COLUMNS])
    assert str(tmp_path) not in text  # only relative paths on disk

    back = read_manifest(manifest)
    assert len(back) == len(rows)
    row = back[back["path"] == "images/sd14/train/1.png"].iloc[0]
    p = base / "images/sd14/train/1.png"
    assert row["abspath"] == str(p)
    assert (row["dataset"], row["generator"], row["split"], row["label"]) == ("demo", "sd14", "train", 1)
    assert (row["width"], row["height"], row["format"]) == (17, 12, "PNG")
    assert row["bytes"] == p.stat().st_size
    assert row["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest()
    jpg = back[back["path"] == "images/real/test/0.jpg"].iloc[0]
    assert (jpg["format"], jpg["label"]) == ("JPEG", 0)
    # the JPEG quality each file was saved with, estimated from its quantisation tables
    qualities = back[back["format"] == "JPEG"].set_index("path")["jpeg_quality"]
    assert qualities["images/real/train/2.jpg"] == 80 and qualities["images/real/test/1.jpg"] == 70
    assert back.loc[back["format"] == "PNG", "jpeg_quality"].isna().all()
    broken = back[back["path"].str.endswith("broken.png")].iloc[0]
    assert pd.isna(broken["width"]) and pd.isna(broken["format"])  # kept for validation
    keys = back[["generator", "split", "label", "path"]].apply(tuple, axis=1).tolist()
    assert keys == sorted(keys)


def test_output_is_deterministic(rows, tmp_path):
    base = tmp_path / "data"
    write_manifest(build_manifest(rows, "demo", base), base / "a.csv")
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    write_manifest(build_manifest(shuffled, "demo", base, workers=2), base / "b.csv")
    assert (base / "a.csv").read_bytes() == (base / "b.csv").read_bytes()
    # re-writing what was read gives the same bytes again
    write_manifest(read_manifest(base / "a.csv"), base / "c.csv")
    assert (base / "a.csv").read_bytes() == (base / "c.csv").read_bytes()


def test_paths_are_recomputed_for_another_directory(rows, tmp_path):
    base = tmp_path / "data"
    df = read_manifest(write_manifest(build_manifest(rows, "demo", base), base / "manifest.csv"))
    other = tmp_path / "results" / "exp" / "valid.csv"
    write_manifest(df, other)
    moved = read_manifest(other)
    assert moved["path"].str.startswith("../../data/images/").all()
    assert sorted(moved["abspath"]) == sorted(df["abspath"])
    assert all(Path(p).is_file() for p in moved["abspath"])


def test_relative_row_paths_and_extra_columns(tmp_path):
    base = tmp_path / "d"
    _image(base / "x" / "a.png")
    df = build_manifest([{"generator": "g", "split": "test", "label": 1, "path": "x/a.png"}],
                        "ds", base)
    df["reason"] = ["why"]
    write_manifest(df, base / "m.csv")
    back = read_manifest(base / "m.csv")
    assert list(back.columns) == [*MANIFEST_COLUMNS, *FACT_COLUMNS, "reason", "abspath"]
    assert back.loc[0, "path"] == "x/a.png" and back.loc[0, "reason"] == "why"


def test_read_manifest_reports_missing_columns(tmp_path):
    bad = tmp_path / "m.csv"
    bad.write_text("generator,path\ng,a.png\n")
    with pytest.raises(ValueError, match=r"missing columns \['dataset', 'split', 'label'"):
        read_manifest(bad)


def test_na_like_strings_stay_strings(tmp_path):
    base = tmp_path / "d"
    _image(base / "a.png")
    df = build_manifest([{"generator": "NA", "split": "test", "label": 0, "path": "a.png"}],
                        "None", base)
    back = read_manifest(write_manifest(df, base / "m.csv"))
    assert back.loc[0, "generator"] == "NA" and back.loc[0, "dataset"] == "None"
