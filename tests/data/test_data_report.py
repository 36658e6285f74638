"""drct.data.data_report: the test manifest and the real/fake format mix, numbers worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from PIL import Image

from drct.data.data_report import format_table, write_data_report
from drct.data.manifest import build_manifest, read_manifest, write_manifest


def _save(path: Path, fmt: str, quality: int | None = None) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (3, 4, 5)).save(path, fmt, **({"quality": quality} if quality else {}))
    return str(path)


def _frame(rows):
    return pd.DataFrame.from_records(rows, columns=["generator", "split", "label", "format", "jpeg_quality"])


def test_format_only_accuracy_drct2m_layout():
    # real test: 3 JPEG + 1 PNG; fake "a": 4 PNG; fake "b": 2 JPEG + 2 PNG
    rows = ([("real", "test", 0, "JPEG", 90)] * 3 + [("real", "test", 0, "PNG", None)]
            + [("a", "test", 1, "PNG", None)] * 4
            + [("b", "test", 1, "JPEG", 70)] * 2 + [("b", "test", 1, "PNG", None)] * 2)
    table = format_table(_frame(rows), "drct2m").set_index("generator")
    # a: 0.5 * (max(.75, 0) + max(.25, 1)) = 0.875; b: 0.5 * (max(.75, .5) + max(.25, .5)) = 0.625
    assert table.loc["a", "format_only_acc"] == 87.5 and table.loc["b", "format_only_acc"] == 62.5
    assert (table.loc["b", "real_JPEG"], table.loc["b", "fake_JPEG"]) == (0.75, 0.5)
    assert table.loc["b", "real_jpeg_quality_median"] == 90 and table.loc["b", "fake_jpeg_quality_median"] == 70
    assert "real" not in table.index and table["n_real"].tolist() == [4, 4]


def test_genimage_layout_pairs_each_subset_with_its_own_nature_images():
    rows = ([("adm", "test", 0, "JPEG", 96)] * 2 + [("adm", "test", 1, "PNG", None)] * 2
            + [("glide", "test", 0, "PNG", None)] * 2 + [("glide", "test", 1, "PNG", None)])
    table = format_table(_frame(rows), "genimage").set_index("generator")
    assert table.loc["adm", "format_only_acc"] == 100.0  # the JPEG-real / PNG-fake trap
    assert table.loc["glide", "format_only_acc"] == 50.0  # same format: says nothing
    assert table.loc["glide", ["n_real", "n_fake"]].tolist() == [2, 1]


def test_write_data_report(tmp_path):
    base = tmp_path / "data"
    rows = [{"generator": "real", "split": s, "label": 0, "path": _save(base / f"images/real/{s}/{i}.jpg", "JPEG", 85)}
            for s in ("train", "test") for i in range(2)]
    rows += [{"generator": "sd", "split": s, "label": 1, "path": _save(base / f"images/sd/{s}/{i}.png", "PNG")}
             for s in ("train", "test") for i in range(2)]
    valid = write_manifest(build_manifest(rows, "d", base), base / "manifest.valid.csv")
    quarantine = write_manifest(build_manifest(rows[:1], "d", base).assign(reason="zero_byte", detail="x"),
                                base / "quarantine.csv")
    table = write_data_report(valid, quarantine, "drct2m", base / "test_manifest.csv",
                              base / "format_report.csv", base / "format_report.md")
    test = read_manifest(base / "test_manifest.csv")
    assert sorted(test["path"]) == ["images/real/test/0.jpg", "images/real/test/1.jpg",
                                    "images/sd/test/0.png", "images/sd/test/1.png"]
    assert test["sha256"].str.len().eq(64).all() and test["jpeg_quality"].dropna().eq(85).all()
    assert table["format_only_acc"].tolist() == [100.0, 100.0]
    md = (base / "format_report.md").read_text()
    import hashlib

    assert hashlib.sha256((base / "test_manifest.csv").read_bytes()).hexdigest() in md
    assert "quarantined: 1" in md and "zero_byte" in md
    assert "format alone separates real from fake" in md and "sd/test" in md
