"""Reconstruct the images a manifest selects: one shard of one reconstruction job.

Design constraints, and how they are met:

* Sharding: all shards of a job write into the same ``images_dir``. An input belongs to shard
  ``sha1(stem) mod num_shards``, so the split depends only on the file name (stable across runs,
  machines and manifest order) and two inputs that would write the same ``<stem>.png`` always land
  in the same shard, where the collision is detected.
* Resumable: every PNG is written to a temporary file in ``images_dir`` and ``os.replace``-d into
  place, so a kill never leaves a partial ``<stem>.png``. On a rerun an existing output is checked
  in full (the CRC of every PNG chunk) before it counts as done (something outside the runner may have damaged it: a copy cut
  short, a failing disk); a damaged one is logged, deleted and reconstructed. Temporaries a killed
  run left behind are swept at shard start, only those of this shard's own outputs (other shards
  of the job share ``images_dir`` and may be writing theirs). The pipeline is loaded only if
  something is left to compute.
* Nothing is silently lost: an unreadable image or a pipeline error becomes a ``failed`` row with
  the error text (the authors' loader turns unreadable images into black images labelled real).
* Nothing escapes: a failure of the machine (no space, read-only or forbidden output folder, out of
  memory, model files missing) is not one image's fault; it stops the shard with
  ``drct.failures.EnvironmentFailure`` before the shard CSV is written, so the job fails instead
  of finishing with rows that training would silently drop. Finished PNGs stay; a rerun resumes.
* Files are opened like ``cv2.imread`` opens them in the authors' code: EXIF orientation applied.
* Batched: images of one padded size are reconstructed ``settings.batch_size`` at a time, each with
  its own seeded generator (see ``pipeline.reconstruct_batch``); work is ordered by the manifest's
  sizes so batches fill, and decoded images wait in memory only a few batches at a time.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image, ImageOps
from tqdm import tqdm

from drct.data.manifest import read_manifest
from drct.failures import raise_if_environment, writing
from drct.io import atomic_write_bytes, leftover_temporaries, write_csv, write_json
from drct.provenance import environment
from drct.reconstruction.pipeline import (
    load_pipeline,
    model_provenance,
    padded_size,
    reconstruct_batch,
)
from drct.reconstruction.settings import ReconstructionSettings, runtime_info

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


def _png_facts(data: bytes, *, check: bool = False) -> dict[str, Any]:
    """Size, dimensions and sha256 of PNG bytes; ``check`` also proves the file whole (raises if damaged).

    A PNG records a CRC-32 of every chunk when it is written; ``verify`` recomputes each one up to
    ``IEND``, so a file cut anywhere in its pixel data, or with any byte changed, raises. That is
    the hash-recorded-at-write-time check, at the cost of the sha256 (~5 ms for a 1024x1024 output
    here; a full decode costs ~90 ms and is weaker: PIL stops inflating once it has every row, so a
    file cut in its last bytes still decodes).
    """
    with Image.open(io.BytesIO(data)) as image:
        if image.format != "PNG":
            raise ValueError(f"not a PNG but {image.format}")
        width, height = image.size
        if check:
            image.verify()
    return {
        "bytes": len(data),
        "width": width,
        "height": height,
        "format": "PNG",
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def _existing_output_facts(path: Path) -> dict[str, Any] | None:
    """Facts of an already written output, or None if it must be (re)computed.

    The runner's own writes are atomic, so a damaged output was damaged from outside (a copy cut
    short, a failing disk). Reading the header alone would accept a truncated file, so every chunk's
    CRC is checked (see ``_png_facts``): the cost of the sha256 the facts need anyway, and only for
    outputs a rerun finds (not for fresh ones).
    A damaged output is deleted (it would otherwise outlive a failed recomputation) and recomputed.
    """
    if not path.is_file():
        return None
    try:
        data = path.read_bytes()
        return _png_facts(data, check=True)
    except Exception as exc:
        raise_if_environment(exc, path, "reading the finished output", writing=True)
        logger.warning("existing output %s is damaged (%s: %s); deleting and recomputing it", path,
                       type(exc).__name__, exc)
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as unlink_error:
            raise_if_environment(unlink_error, path, "deleting the damaged output", writing=True)
            raise
        return None


def sweep_leftover_temporaries(images_dir: Path, names: set[str]) -> int:
    """Delete temporaries of atomic writes to ``images_dir/<name>`` for this shard's own ``names``.

    A job killed while writing a PNG leaves ``.<stem>.png.tmp-<hex>``. Only this shard writes its
    stems (the split is by stem), so its temporaries are its own to delete whatever their age;
    other shards' temporaries and every other file are left alone. Returns how many were deleted.
    """
    removed = 0
    for tmp in leftover_temporaries(images_dir, names):
        try:
            tmp.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:  # e.g. a read-only archive of finished outputs: harmless, keep going
            logger.warning("could not delete the leftover temporary %s: %s", tmp, exc)
            continue
        removed += 1
    if removed:
        logger.info("deleted %d temporary file(s) left in %s by an interrupted run", removed, images_dir)
    return removed


def model_record(settings: ReconstructionSettings) -> dict[str, Any]:
    """The model's provenance (revision, files' hashes), or the reason it could not be resolved:
    a finished shard is never thrown away because its provenance could not be read."""
    try:
        return model_provenance(settings)
    except Exception as exc:  # noqa: BLE001 - recorded, not raised
        logger.warning("could not resolve provenance of %s: %s", settings.model, exc)
        return {"model": settings.model, "error": f"{type(exc).__name__}: {exc}"}


def shard_provenance(settings: ReconstructionSettings, **shard: Any) -> dict[str, Any]:
    """What one shard's provenance JSON records: settings, model, where it ran (the same settings
    give different pixels on different hardware), the shard and its counts, package versions."""
    return {
        "settings": settings.to_dict(),
        "runtime": runtime_info(settings),
        "model": model_record(settings),
        **shard,
        **environment(),
    }


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
    provenance_json: Path | None = None,
) -> pd.DataFrame:
    """Reconstruct this shard's selected inputs into ``images_dir/<stem>.png`` and write ``out_csv``.

    ``out_csv`` has one row per selected input (columns ``OUTPUT_COLUMNS``): ``status`` ``ok`` with
    the PNG's facts, or ``failed`` with the error and an empty ``path``. Paths are relative to
    ``out_csv``'s directory. ``provenance_json`` (optional) records the settings, the model's
    revision, where it ran and the package versions (:func:`shard_provenance`).

    Raises ``drct.failures.EnvironmentFailure`` (a ``DrctError``) when the machine fails rather
    than one image (see the module docstring); ``out_csv`` is then not written.
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
    with writing(images_dir):
        images_dir.mkdir(parents=True, exist_ok=True)
    images_dir = _absolute(images_dir)
    out_base = _absolute(out_csv).parent
    pipe = None

    def get_pipe():
        nonlocal pipe
        if pipe is None:
            pipe = load_pipeline(settings)
        return pipe

    sweep_leftover_temporaries(images_dir, {f"{Path(p).stem}.png" for p in rows["abspath"]})

    # Pass 1, in path order (so the first claimant of an output name wins on every run): what is
    # already done, what collides, what is left to compute.
    records: dict[int, dict[str, Any]] = {}
    todo: list[_Work] = []
    claimed: dict[str, str] = {}  # output name -> source path that claimed it
    for index, row in enumerate(rows.to_dict("records")):
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
            records[index] = _failed(record, source, error)
            continue
        claimed[target.name] = row["path"]
        facts = _existing_output_facts(target)
        if facts is not None:
            records[index] = _ok(record, target, out_base, facts)
        else:
            todo.append(_Work(index, source, target, record, _size_hint(row, settings)))

    # Pass 2: compute what is left, batched by padded size.
    if todo:
        progress = tqdm(total=len(todo), desc=f"{output_name} shard {shard}/{num_shards}", unit="img")
        batcher = _Batcher(settings.batch_size)
        for work in sorted(todo, key=lambda w: w.size_hint):
            try:
                work.image = open_image(work.source)
            except Exception as exc:
                raise_if_environment(exc, work.source, "reading")
                records[work.index] = _failed(work.record, work.source, f"unreadable image: {type(exc).__name__}: {exc}")
                progress.update(1)
                continue
            for batch in batcher.add(work, padded_size(work.image.width, work.image.height, settings)):
                _run_batch(get_pipe, batch, settings, out_base, records)
                progress.update(len(batch))
        for batch in batcher.drain():
            _run_batch(get_pipe, batch, settings, out_base, records)
            progress.update(len(batch))
        progress.close()
    records = [records[i] for i in range(len(rows))]

    df = pd.DataFrame.from_records(records, columns=OUTPUT_COLUMNS)
    df = df.astype({"label": "int64", "bytes": "Int64", "width": "Int64", "height": "Int64"})
    with writing(out_csv):
        write_csv(df, out_csv)
    n_failed = int((df["status"] == "failed").sum())
    if provenance_json is not None:
        record = shard_provenance(settings, source=generator, split=split, shard=shard, num_shards=num_shards,
                                  images=len(df), failed=n_failed)
        with writing(provenance_json):
            write_json(provenance_json, record)
    logger.info(
        "%s shard %d/%d: %d ok, %d failed -> %s", output_name, shard, num_shards, len(df) - n_failed, n_failed, out_csv
    )
    return df


@dataclass
class _Work:
    """One image left to reconstruct; ``image`` is decoded only when its turn comes."""

    index: int
    source: Path
    target: Path
    record: dict[str, Any]
    size_hint: tuple[int, int]
    image: Image.Image | None = None


def _size_hint(row: dict[str, Any], settings: ReconstructionSettings) -> tuple[int, int]:
    """Padded size from the manifest's width/height, to order the work so equal sizes are adjacent.

    Only an ordering hint (the decoded image decides the batch; EXIF rotation may swap sides);
    rows without sizes sort first.
    """
    try:
        return padded_size(int(row["width"]), int(row["height"]), settings)
    except (KeyError, TypeError, ValueError):
        return (0, 0)


class _Batcher:
    """Collects decoded images into per-padded-size batches of ``batch_size``.

    Work arrives sorted by the manifest's sizes, so buckets fill one after another. To bound memory
    when sizes are interleaved anyway (EXIF rotations, missing sizes), at most ``4 * batch_size``
    images wait at a time; beyond that the fullest bucket is released early.
    """

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.max_waiting = 4 * batch_size
        self.buckets: dict[tuple[int, int], list[_Work]] = {}

    def add(self, work: _Work, size: tuple[int, int]) -> list[list[_Work]]:
        bucket = self.buckets.setdefault(size, [])
        bucket.append(work)
        ready = []
        if len(bucket) >= self.batch_size:
            ready.append(self.buckets.pop(size))
        if sum(len(b) for b in self.buckets.values()) > self.max_waiting:
            fullest = max(self.buckets, key=lambda k: len(self.buckets[k]))
            ready.append(self.buckets.pop(fullest))
        return ready

    def drain(self) -> list[list[_Work]]:
        ready = list(self.buckets.values())
        self.buckets = {}
        return ready


def _run_batch(
    get_pipe: Callable[[], Any],
    batch: list[_Work],
    settings: ReconstructionSettings,
    out_base: Path,
    records: dict[int, dict[str, Any]],
) -> None:
    """Reconstruct one batch and write each output atomically; on error retry one image per call.

    A batch can fail for a reason that belongs to one image or to the batch (GPU memory); retrying
    singly keeps every image that can be computed and gives each failure its own error text.
    Errors loading the pipeline are not caught: every image would fail the same way. Nor are
    failures of the machine (out of memory on the CPU, no space, ...): retrying them per image
    would only turn them into ``failed`` rows.
    """
    pipe = get_pipe()
    try:
        outputs = reconstruct_batch(pipe, [w.image for w in batch], settings)
    except Exception as exc:
        others = f" (and {len(batch) - 1} other image(s) of its batch)" if len(batch) > 1 else ""
        raise_if_environment(exc, f"{batch[0].source}{others}", "reconstructing")
        if len(batch) == 1:
            logger.exception("reconstruction of %s failed", batch[0].source)
            work = batch[0]
            records[work.index] = _failed(work.record, work.source, f"reconstruction failed: {type(exc).__name__}: {exc}")
            work.image = None
            return
        logger.warning("batch of %d failed (%s: %s); retrying one image per call", len(batch), type(exc).__name__, exc)
        _release_cached_memory()
        for work in batch:
            _run_batch(get_pipe, [work], settings, out_base, records)
        return
    for work, output in zip(batch, outputs, strict=True):
        try:
            facts = _png_facts(_write_png_atomic(output, work.target))
        except (OSError, MemoryError) as exc:  # one image's only when not the folder's (e.g. a name too long)
            raise_if_environment(exc, work.target, "writing", writing=True)
            records[work.index] = _failed(work.record, work.source, f"could not write output: {exc}")
        else:
            records[work.index] = _ok(work.record, work.target, out_base, facts)
        work.image = None


def _release_cached_memory() -> None:
    """Give cached GPU memory back after a failed batch, so the single-image retries can fit."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _ok(record: dict[str, Any], target: Path, out_base: Path, facts: dict[str, Any]) -> dict[str, Any]:
    return {**record, "path": os.path.relpath(target, out_base), **facts, "status": "ok", "error": ""}


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
