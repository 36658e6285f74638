"""A small manifest of generated PNGs for training, evaluation and predict tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from drct.data.manifest import MANIFEST_COLUMNS

COLUMNS = ["dataset", "generator", "split", "label", "path", "bytes", "width", "height", "format", "sha256", "status"]


def write_manifest(root: Path, folders: list[tuple[str, str, str, int, int]], size: int = 64) -> Path:
    """Write PNGs and a manifest: ``folders`` = [(dataset, generator, split, label, n_images)].

    Fakes are brighter than reals so a tiny model has something to learn; one failed
    reconstruction row (empty path) is added to every generator whose name contains "rec".
    """
    rows = []
    rng = np.random.default_rng(0)
    for dataset, generator, split, label, n in folders:
        folder = root / "images" / dataset / generator / split / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            base = 60 + 120 * label
            pixels = np.clip(rng.normal(base, 30, (size, size, 3)), 0, 255).astype(np.uint8)
            path = folder / f"{i:03d}.png"
            Image.fromarray(pixels).save(path)
            rows.append([dataset, generator, split, label, path.relative_to(root).as_posix(),
                         path.stat().st_size, size, size, "PNG", "0" * 64, "ok"])
        if "rec" in generator:
            rows.append([dataset, generator, split, label, "", "", "", "", "", "", "failed"])
    manifest = root / "manifest.csv"
    pd.DataFrame(rows, columns=COLUMNS).to_csv(manifest, index=False)
    return manifest


DRCT_FOLDERS = [
    ("demo", "real", "train", 0, 4),
    ("demo", "real", "test", 0, 2),
    ("demo", "sdv14", "train", 1, 4),
    ("demo", "real-rec", "train", 1, 4),
    ("demo", "fake-rec", "train", 1, 4),
]


def write_rows_manifest(root: Path, rows: list[dict]) -> Path:
    """``root/manifest.csv`` from rows of a few columns: the other manifest columns left empty, plus ``status``."""
    frame = pd.DataFrame(rows)
    for column in MANIFEST_COLUMNS:
        if column not in frame.columns:
            frame[column] = ""
    path = root / "manifest.csv"
    frame[[*MANIFEST_COLUMNS, "status"]].to_csv(path, index=False)
    return path
