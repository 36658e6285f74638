"""The image manifest: one CSV row per image, the contract between pipeline steps.

Columns are :data:`MANIFEST_COLUMNS` in that order (see ``docs/architecture.md``), plus any
extra columns a step adds (``jpeg_quality`` for dataset images, ``reason`` for quarantine,
``source_path`` ... for reconstructions).
``path`` (and ``source_path``) are stored *relative to the manifest's directory* so a results
tree can be moved or mounted elsewhere; in memory, DataFrames carry absolute ``abspath``
(and ``source_abspath``) columns instead, and :func:`write_manifest` recomputes the relative
paths for wherever the manifest is written. Rows are sorted (generator, split, label, path) so
the same data always gives the same bytes, hence the same manifest sha256 in run sidecars.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

import drct.images  # noqa: F401 - importing it sets PIL's process-wide pixel guard to MAX_PIXELS
from drct.data.jpeg import quality_of_image
from drct.data.progress import MININTERVAL
from drct.failures import raise_if_environment
from drct.io import sha256_file, write_csv

__all__ = [
    "FACT_COLUMNS",
    "MANIFEST_COLUMNS",
    "PATH_COLUMNS",
    "SORT_COLUMNS",
    "build_manifest",
    "file_facts",
    "read_manifest",
    "write_manifest",
]

log = logging.getLogger(__name__)

# tqdm in a Snakemake log file (not a terminal): one line every 30 s, not ten per second

MANIFEST_COLUMNS: tuple[str, ...] = (
    "dataset", "generator", "split", "label", "path", "bytes", "width", "height", "format", "sha256",
)
#: optional columns :func:`build_manifest` adds after MANIFEST_COLUMNS (empty for non-JPEG files):
#: the estimated JPEG quality (drct.data.jpeg), for the format-bias report
FACT_COLUMNS: tuple[str, ...] = ("jpeg_quality",)
SORT_COLUMNS = ["generator", "split", "label", "path"]
#: relative column stored in the CSV -> absolute column used in memory
PATH_COLUMNS: dict[str, str] = {"path": "abspath", "source_path": "source_abspath"}
_STR_COLUMNS = ("dataset", "generator", "split", "path", "format", "sha256", "source_path")


def file_facts(path: str | os.PathLike[str]) -> dict[str, Any]:
    """bytes, width, height, format, sha256 and jpeg_quality of one file.

    Only the image *header* is read (``Image.open`` is lazy; no decode): full decoding is the
    validation step's job, and a file PIL cannot identify still gets a row (width/height/format
    empty) so that validation can quarantine it with a reason instead of it vanishing here. The
    JPEG quality is estimated from the header's quantisation tables (:mod:`drct.data.jpeg`).
    Sizes are read up to twice :data:`drct.images.MAX_PIXELS` (PIL's guard, set by that module),
    so an image just above the limit is recorded with its size and quarantined by validation.
    """
    path = Path(path)
    facts: dict[str, Any] = {"bytes": path.stat().st_size, "width": None, "height": None,
                             "format": None, "sha256": sha256_file(path), "jpeg_quality": None}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                facts["width"], facts["height"] = im.size
                facts["format"] = im.format
                facts["jpeg_quality"] = quality_of_image(im)
    except Exception as exc:  # noqa: BLE001 - an unreadable header is recorded, not fatal ...
        raise_if_environment(exc, path, "reading")  # ... unless the machine failed (no space, I/O, memory)
        log.debug("cannot read image header of %s: %s", path, exc)
    return facts


def _abs(path: str, base_dir: Path) -> str:
    return os.path.normpath(path if os.path.isabs(path) else os.path.join(base_dir, path))


def _rel(abspath: Any, base_dir: str) -> Any:
    if not isinstance(abspath, (str, os.PathLike)) or str(abspath) == "":
        return None  # failed reconstruction rows have no file
    return Path(os.path.relpath(abspath, base_dir)).as_posix()


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    df["label"] = df["label"].astype(int)
    for column in ("bytes", "width", "height", "jpeg_quality"):
        if column in df.columns:
            df[column] = df[column].astype("Int64")
    return df


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(SORT_COLUMNS, kind="mergesort", na_position="last").reset_index(drop=True)


def build_manifest(
    rows: Iterable[Mapping[str, Any]], dataset: str, base_dir: Path, *, workers: int = 1,
) -> pd.DataFrame:
    """Manifest DataFrame for ``rows`` (generator, split, label, path) of dataset ``dataset``.

    Row paths may be absolute or relative to ``base_dir``; the result has ``path`` relative to
    ``base_dir`` and an absolute ``abspath``. ``workers`` > 1 hashes files in threads (hashlib
    and file reads release the GIL), which matters for millions of files.
    """
    base = os.path.abspath(base_dir)
    rows = list(rows)
    abspaths = [_abs(str(r["path"]), Path(base)) for r in rows]
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            facts = list(tqdm(pool.map(file_facts, abspaths), total=len(abspaths),
                              desc=f"manifest {dataset}", unit="img", leave=False,
                              mininterval=MININTERVAL))
    else:
        facts = [file_facts(p) for p in tqdm(abspaths, desc=f"manifest {dataset}", unit="img",
                                             leave=False, mininterval=MININTERVAL)]
    records = [
        {"dataset": dataset, "generator": r["generator"], "split": r["split"],
         "label": int(r["label"]), "path": _rel(a, base), **f, "abspath": a}
        for r, a, f in zip(rows, abspaths, facts)
    ]
    df = pd.DataFrame.from_records(records, columns=[*MANIFEST_COLUMNS, *FACT_COLUMNS, "abspath"])
    return _sorted(_typed(df))


def write_manifest(df: pd.DataFrame, path: Path) -> Path:
    """Write ``df`` atomically as a manifest CSV at ``path``; returns ``path``.

    ``path``/``source_path`` are recomputed relative to ``path``'s directory from the absolute
    columns when present (absolute values in the relative columns are relativised too), the
    absolute columns are dropped, :data:`MANIFEST_COLUMNS` come first and rows are sorted.
    """
    path = Path(path)
    out = df.copy()
    base = os.path.abspath(path.parent)
    for rel_col, abs_col in PATH_COLUMNS.items():
        if abs_col in out.columns:
            out[rel_col] = [_rel(p, base) for p in out[abs_col]]
            out = out.drop(columns=abs_col)
        elif rel_col in out.columns:
            out[rel_col] = [_rel(p, base) if isinstance(p, str) and os.path.isabs(p) else p
                            for p in out[rel_col]]
    missing = [c for c in MANIFEST_COLUMNS if c not in out.columns]
    if missing:
        raise ValueError(f"cannot write manifest {path}: missing columns {missing}")
    extras = [c for c in out.columns if c not in MANIFEST_COLUMNS]
    out = _sorted(out[[*MANIFEST_COLUMNS, *extras]])
    return write_csv(out, path)


def read_manifest(path: Path) -> pd.DataFrame:
    """Read a manifest CSV; adds absolute ``abspath`` (and ``source_abspath``) columns.

    Empty cells become NA, but strings such as ``NA`` or ``None`` stay strings (a generator
    could be called that). Raises ValueError naming the file and any missing required column.
    """
    path = Path(path)
    header = pd.read_csv(path, nrows=0).columns
    missing = [c for c in MANIFEST_COLUMNS if c not in header]
    if missing:
        raise ValueError(
            f"{path} is not a manifest: missing columns {missing} "
            f"(required: {', '.join(MANIFEST_COLUMNS)})"
        )
    df = pd.read_csv(path, dtype={c: str for c in _STR_COLUMNS if c in header},
                     keep_default_na=False, na_values=[""])
    df = _typed(df)
    base = os.path.abspath(path.parent)
    for rel_col, abs_col in PATH_COLUMNS.items():
        if rel_col in df.columns:
            df[abs_col] = [None if not isinstance(p, str) else _abs(str(p), Path(base)) for p in df[rel_col]]
    return df
