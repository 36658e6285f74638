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


DEMO_ARCHIVE = Path(__file__).resolve().parents[2] / "data" / "demo" / "drct-demo-v1.tar.gz"
#: the demo archive's DRCT-2M-like folders: our split -> the archive's split folder
DEMO_SPLITS = {"train": "train2017", "test": "val2017"}


def write_demo_manifest(root: Path, folders: list[tuple[str, str, int, int]]) -> Path:
    """The first images of the embedded demo's DRCT-2M-like folders and their manifest.

    ``folders`` = [(generator folder, split, label, n_images)] (e.g. ``("flux", "train", 1, 6)``);
    the images are extracted from ``data/demo/drct-demo-v1.tar.gz`` (sorted by name) under
    ``root/images/demo/<folder>/<split>/<label>/``; dataset ``demo``, generator = the folder name.
    """
    import hashlib
    import tarfile

    rows = []
    with tarfile.open(DEMO_ARCHIVE) as archive:
        members = sorted((m for m in archive.getmembers() if m.isfile()), key=lambda m: m.name)
        for generator, split, label, n in folders:
            prefix = f"drct-demo-v1/drct2m/{generator}/{DEMO_SPLITS[split]}/"
            chosen = [m for m in members if m.name.startswith(prefix)][:n]
            if len(chosen) < n:
                raise ValueError(f"the demo archive has {len(chosen)} images under {prefix}, not {n}")
            folder = root / "images" / "demo" / generator / split / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            for member in chosen:
                data = archive.extractfile(member).read()
                path = folder / Path(member.name).name
                path.write_bytes(data)
                with Image.open(path) as image:
                    width, height, kind = image.width, image.height, image.format
                rows.append(["demo", generator, split, label, path.relative_to(root).as_posix(), len(data),
                             width, height, kind, hashlib.sha256(data).hexdigest(), "ok"])
    manifest = root / "manifest.csv"
    pd.DataFrame(rows, columns=COLUMNS).to_csv(manifest, index=False)
    return manifest
