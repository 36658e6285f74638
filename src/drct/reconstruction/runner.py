"""Reconstruct the images a manifest selects: one shard of one reconstruction job.

Design constraints, and how they are met:

* Sharding: all shards of a job write into the same ``images_dir``. An input belongs to shard
  ``sha1(stem) mod num_shards``, so the split depends only on the file name (stable across runs,
  machines and manifest order) and two inputs that would write the same ``<stem>.png`` always land
  in the same shard, where the collision is detected.
* Resumable: every PNG is written to a temporary file in ``images_dir`` and ``os.replace``-d into
  place, so an existing ``<stem>.png`` is always complete and is skipped on a rerun. The pipeline
  is loaded only if something is left to compute.
* Nothing is silently lost: an unreadable image or a pipeline error becomes a ``failed`` row with
  the error text (the authors' loader turns unreadable images into black images labelled real).
* Files are opened like ``cv2.imread`` opens them in the authors' code: EXIF orientation applied.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image, ImageOps
from tqdm import tqdm

from drct.data.manifest import read_manifest
from drct.io import atomic_write_bytes, write_csv
from drct.reconstruction.pipeline import load_pipeline, model_provenance, reconstruct_image
from drct.reconstruction.settings import ReconstructionSettings

logger = logging.getLogger(__name__)

OUTPUT_COLUMNS = [
    "dataset",
    "generator",
    "split",
    "label",
    "path",
    "bytes",
    "width",
    "height",
    "format",
    "sha256",
    "source_path",
    "dr_model",
    "status",
    "error",
]


def _absolute(path: Path) -> Path:
    """Absolute, normalised path *without* resolving symlinks (data dirs are often symlinks)."""
    return Path(os.path.abspath(path))


def shard_of(stem: str, num_shards: int) -> int:
    """Shard of an input, from its file stem only (Python's ``hash`` is salted per process; sha1 is not)."""
    return int(hashlib.sha1(stem.encode("utf-8")).hexdigest(), 16) % num_shards


def select_inputs(
    manifest: pd.DataFrame,
    *,
    generator: str,
    split: str,
    label_filter: int | None,
    shard: int,
    num_shards: int,
    limit: int | None = None,
) -> pd.DataFrame:
    """Rows of one generator/split (and label), sorted by path, cut to ``limit``, then this shard's.

    ``limit`` applies before sharding so a limited job selects the same images however it is sharded.
    """
    if not 0 <= shard < num_shards:
        raise ValueError(f"shard must be in [0, {num_shards}), got {shard}")
    keep = (manifest["generator"] == generator) & (manifest["split"] == split)
    if label_filter is not None:
        keep &= manifest["label"].astype(int) == int(label_filter)
    rows = manifest[keep].sort_values("path", kind="stable")
    if limit is not None:
        rows = rows.head(limit)
    stems = [Path(p).stem for p in rows["path"]]
    mine = [shard_of(stem, num_shards) == shard for stem in stems]
    return rows[mine].reset_index(drop=True)


def open_image(path: Path) -> Image.Image:
    """Decode an image fully, with its EXIF orientation applied (as ``cv2.imread`` does)."""
    with Image.open(path) as image:
        image.load()
        return ImageOps.exif_transpose(image)


def _write_png_atomic(image: Image.Image, path: Path) -> bytes:
    """Encode ``image`` as PNG and move it into ``path`` atomically; returns the bytes written."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    data = buffer.getvalue()
    atomic_write_bytes(path, data)
    return data


def _png_facts(data: bytes) -> dict[str, Any]:
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
    return {
        "bytes": len(data),
        "width": width,
        "height": height,
        "format": "PNG",
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def _existing_output_facts(path: Path) -> dict[str, Any] | None:
    """Facts of an already written output, or None if it must be (re)computed."""
    if not path.is_file():
        return None
    try:
        return _png_facts(path.read_bytes())
    except Exception as exc:  # only possible if something outside this runner damaged it
        logger.warning("existing output %s is unreadable (%s); recomputing it", path, exc)
        return None


def reconstruct_manifest(
    manifest_csv: Path,
    out_csv: Path,
    images_dir: Path,
    settings: ReconstructionSettings,
    *,
    generator: str,
    split: str,
    label_filter: int | None,
    output_name: str,
    shard: int,
    num_shards: int,
    limit: int | None = None,
) -> pd.DataFrame:
    """Reconstruct this shard's selected inputs into ``images_dir/<stem>.png`` and write ``out_csv``.

    ``out_csv`` has one row per selected input (columns ``OUTPUT_COLUMNS``): ``status`` ``ok`` with
    the PNG's facts, or ``failed`` with the error and an empty ``path``. Paths are relative to
    ``out_csv``'s directory. The returned DataFrame carries the model provenance in
    ``df.attrs["dr_model_provenance"]``.
    """
    out_csv, images_dir = Path(out_csv), Path(images_dir)
    rows = select_inputs(
        read_manifest(manifest_csv),
        generator=generator,
        split=split,
        label_filter=label_filter,
        shard=shard,
        num_shards=num_shards,
        limit=limit,
    )
    images_dir.mkdir(parents=True, exist_ok=True)
    images_dir = _absolute(images_dir)
    out_base = _absolute(out_csv).parent
    pipe = None

    def get_pipe():
        nonlocal pipe
        if pipe is None:
            pipe = load_pipeline(settings)
        return pipe

    records: list[dict[str, Any]] = []
    claimed: dict[str, str] = {}  # output name -> source path that claimed it
    progress = tqdm(rows.to_dict("records"), desc=f"{output_name} shard {shard}/{num_shards}", unit="img")
    for row in progress:
        source = Path(row["abspath"])
        target = images_dir / f"{source.stem}.png"
        record: dict[str, Any] = {
            "dataset": row["dataset"],
            "generator": output_name,
            "split": row["split"],
            "label": 1,
            "source_path": os.path.relpath(source, out_base),
            "dr_model": settings.model,
        }
        if target.name in claimed:
            error = f"output name {target.name} already taken by {claimed[target.name]}"
            records.append(_failed(record, source, error))
            continue
        claimed[target.name] = row["path"]
        facts = _existing_output_facts(target)
        if facts is None:
            facts, error = _reconstruct_one(get_pipe, source, target, settings)
            if facts is None:
                records.append(_failed(record, source, error))
                continue
        records.append({**record, "path": os.path.relpath(target, out_base), **facts, "status": "ok", "error": ""})

    df = pd.DataFrame.from_records(records, columns=OUTPUT_COLUMNS)
    df = df.astype({"label": "int64", "bytes": "Int64", "width": "Int64", "height": "Int64"})
    write_csv(df, out_csv)
    try:
        df.attrs["dr_model_provenance"] = model_provenance(settings)
    except Exception as exc:  # provenance must not throw away a finished job
        logger.warning("could not resolve provenance of %s: %s", settings.model, exc)
        df.attrs["dr_model_provenance"] = {"model": settings.model, "error": f"{type(exc).__name__}: {exc}"}
    n_failed = int((df["status"] == "failed").sum())
    logger.info(
        "%s shard %d/%d: %d ok, %d failed -> %s", output_name, shard, num_shards, len(df) - n_failed, n_failed, out_csv
    )
    return df


def _reconstruct_one(
    get_pipe: Callable[[], Any], source: Path, target: Path, settings: ReconstructionSettings
) -> tuple[dict[str, Any] | None, str]:
    """Reconstruct ``source`` into ``target``; returns (facts, "") or (None, error text).

    Errors of one image (decoding, pipeline) are caught so one bad file cannot stop a shard;
    errors loading the pipeline itself are not, since every image would fail the same way.
    """
    try:
        image = open_image(source)
    except Exception as exc:
        return None, f"unreadable image: {type(exc).__name__}: {exc}"
    pipe = get_pipe()
    try:
        output = reconstruct_image(pipe, image, settings)
        data = _write_png_atomic(output, target)
    except Exception as exc:
        logger.exception("reconstruction of %s failed", source)
        return None, f"reconstruction failed: {type(exc).__name__}: {exc}"
    return _png_facts(data), ""


def _failed(record: dict[str, Any], source: Path, error: str) -> dict[str, Any]:
    logger.warning("failed: %s: %s", source, error)
    return {
        **record,
        "path": "",
        "bytes": None,
        "width": None,
        "height": None,
        "format": "",
        "sha256": "",
        "status": "failed",
        "error": error,
    }
