"""Caption the images of one shard of a manifest, resumably; merge the shards into one CSV.

Design constraints, and how they are met:

* Sharding: the selected rows (optionally one generator and/or split) are sorted by ``path``, and
  row ``i`` of that order belongs to shard ``i % num_shards``: every shard gets an equal share
  whatever the manifest's order, and the split is the same on every machine.
* Resumable, with the same result as an uninterrupted run: work goes in chunks of
  ``settings.batch_size`` rows (a chunk is one ``generate`` call). Each finished chunk is appended
  to a journal next to the output as *one* JSON line, written with a single ``write`` and
  ``fsync``-ed. A kill mid-write leaves at most a last line without its newline, which a rerun
  drops (truncating the journal back to its last complete line). Chunks are therefore all or
  nothing, so a rerun redoes whole chunks only and its chunks are the ones the uninterrupted run
  would have made: batched decoding gives the same captions either way. The journal's first line
  records the settings; a journal written with other settings is discarded, not mixed in.
* Bad images are not fatal: an image that cannot be decoded is logged and becomes a ``failed`` row
  (kept in the shard file so nothing drops out silently, left out of the merged captions).
* Failures of the machine are: a full disk, a read-only output folder or missing model files stop
  the shard with ``drct.failures.EnvironmentFailure`` / ``CaptionerUnavailable``; the journal
  keeps the finished chunks for the rerun.
* The shard CSV (``path, caption, status, error``, sorted by path) is written atomically once all
  chunks are done, then the journal is deleted. ``path`` is the manifest's own ``path`` column
  (relative to the manifest's folder), the key training joins captions on.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image, ImageOps

from drct.captioning.settings import CaptionSettings
from drct.data.manifest import read_manifest
from drct.failures import raise_if_environment, writing
from drct.io import write_csv

logger = logging.getLogger(__name__)

SHARD_COLUMNS = ["path", "caption", "status", "error"]
CAPTION_COLUMNS = ["path", "caption"]
_JOURNAL_FORMAT = "drct-captions-journal-1"


def select_shard(
    manifest: pd.DataFrame,
    *,
    shard: int,
    num_shards: int,
    generator: str | None = None,
    split: str | None = None,
) -> pd.DataFrame:
    """This shard's rows: filtered by generator/split, sorted by path, every ``num_shards``-th from ``shard``."""
    if not 0 <= shard < num_shards:
        raise ValueError(f"shard must be in [0, {num_shards}), got {shard}")
    keep = pd.Series(True, index=manifest.index)
    if generator is not None:
        keep &= manifest["generator"] == generator
    if split is not None:
        keep &= manifest["split"] == split
    rows = manifest[keep].sort_values("path", kind="stable").reset_index(drop=True)
    return rows.iloc[shard::num_shards].reset_index(drop=True)


def journal_path(out_csv: Path) -> Path:
    """The journal of an unfinished shard: a hidden sibling of its CSV (same folder, same disk)."""
    return out_csv.parent / f".{out_csv.name}.journal.jsonl"


def _header(settings: CaptionSettings) -> dict[str, Any]:
    return {"format": _JOURNAL_FORMAT, "settings": settings.to_dict()}


def _append_line(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line with a single write, then fsync: the line is whole on disk or absent."""
    data = (json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, data)
        if written != len(data):  # a short write: the line ends without "\n" and a rerun drops it
            raise OSError(f"short write to {path} ({written} of {len(data)} bytes)")
        os.fsync(fd)
    finally:
        os.close(fd)


def read_journal(path: Path, settings: CaptionSettings) -> dict[str, dict[str, Any]]:
    """Rows of the chunks a previous run finished, by path; ``{}`` to start afresh.

    A last line without its newline (a kill mid-write) is cut off the file. A journal whose header
    names other settings, or that cannot be parsed, is deleted with a warning: its captions would
    not be the ones these settings give.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    complete = data[: data.rfind(b"\n") + 1]
    if len(complete) < len(data):
        logger.warning("dropping an incomplete last chunk of %s (%d bytes; a run was killed mid-write)",
                       path, len(data) - len(complete))
        with open(path, "r+b") as fh:
            fh.truncate(len(complete))
            fh.flush()
            os.fsync(fh.fileno())
    try:
        lines = [json.loads(line) for line in complete.decode("utf-8").splitlines()]
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        logger.warning("journal %s is damaged (%s); starting this shard afresh", path, exc)
        path.unlink()
        return {}
    if not lines:
        return {}
    if lines[0] != _header(settings):
        logger.warning("journal %s was written with other settings (%s); starting this shard afresh", path, lines[0])
        path.unlink()
        return {}
    done: dict[str, dict[str, Any]] = {}
    for chunk in lines[1:]:
        for row in chunk["rows"]:
            done[row["path"]] = row
    return done


def open_image(path: Path) -> Image.Image:
    """Decode an image fully (a truncated file fails here, not inside the model), EXIF orientation applied."""
    with Image.open(path) as image:
        image.load()
        return ImageOps.exif_transpose(image)


def _caption_chunk(get_captioner, chunk: Sequence[dict[str, Any]], settings: CaptionSettings) -> list[dict[str, Any]]:
    """Rows of one chunk: decodable images captioned in one batch, undecodable ones ``failed``."""
    from drct.captioning.captioner import caption_images

    results: dict[str, dict[str, Any]] = {}
    images, paths = [], []
    for row in chunk:
        try:
            images.append(open_image(Path(row["abspath"])))
            paths.append(row["path"])
        except Exception as exc:
            raise_if_environment(exc, row["abspath"], "reading")
            error = f"unreadable image: {type(exc).__name__}: {exc}"
            logger.warning("skipping %s: %s", row["abspath"], error)
            results[row["path"]] = {"path": row["path"], "caption": "", "status": "failed", "error": error}
    if images:
        captioner = get_captioner()  # a model that cannot load fails the shard, not each image
        try:
            captions: list[str | None] = list(caption_images(captioner, images, settings))
            errors = [""] * len(images)
        except Exception as exc:
            raise_if_environment(exc, f"a batch of {len(images)} image(s)", "captioning")
            logger.warning("captioning a batch of %d failed (%s: %s); one image per call", len(images),
                           type(exc).__name__, exc)
            captions, errors = _one_by_one(captioner, images, settings)
        for path, caption, error in zip(paths, captions, errors, strict=True):
            if caption is None:
                logger.warning("skipping %s: %s", path, error)
                results[path] = {"path": path, "caption": "", "status": "failed", "error": error}
            else:
                results[path] = {"path": path, "caption": caption, "status": "ok", "error": ""}
    return [results[row["path"]] for row in chunk]


def _one_by_one(captioner, images: list[Image.Image], settings: CaptionSettings) -> tuple[list[str | None], list[str]]:
    """Caption each image alone after its batch failed, so one bad image costs only its own caption."""
    from drct.captioning.captioner import caption_images

    captions: list[str | None] = []
    errors: list[str] = []
    for image in images:
        try:
            captions.append(caption_images(captioner, [image], settings)[0])
            errors.append("")
        except Exception as exc:
            raise_if_environment(exc, "one image", "captioning")
            captions.append(None)
            errors.append(f"captioning failed: {type(exc).__name__}: {exc}")
    return captions, errors


def caption_manifest(
    manifest_csv: Path,
    out_csv: Path,
    settings: CaptionSettings,
    *,
    shard: int,
    num_shards: int,
    generator: str | None = None,
    split: str | None = None,
    max_chunks: int | None = None,
) -> pd.DataFrame | None:
    """Caption this shard's images into ``out_csv`` (columns ``SHARD_COLUMNS``, sorted by path).

    Resumes from the journal of an interrupted run (see the module docstring). The model is loaded
    only when something is left to caption. ``max_chunks`` stops after that many new chunks without
    writing ``out_csv`` (returns None): what a kill does, for tests and for time-boxed jobs.
    """
    from drct.captioning.captioner import load_captioner

    out_csv = Path(out_csv)
    rows = select_shard(read_manifest(manifest_csv), shard=shard, num_shards=num_shards,
                        generator=generator, split=split)
    journal = journal_path(out_csv)
    with writing(out_csv.parent):
        out_csv.parent.mkdir(parents=True, exist_ok=True)
    done = read_journal(journal, settings)
    if not journal.exists():
        with writing(journal):
            _append_line(journal, _header(settings))
    todo = [row for row in rows.to_dict("records") if row["path"] not in done]
    logger.info("captions shard %d/%d: %d images, %d done before, %d to caption", shard, num_shards,
                len(rows), len(rows) - len(todo), len(todo))

    captioner = None

    def get_captioner():
        nonlocal captioner
        if captioner is None:
            captioner = load_captioner(settings)
        return captioner

    for number, start in enumerate(range(0, len(todo), settings.batch_size)):
        if max_chunks is not None and number >= max_chunks:
            return None
        chunk = todo[start : start + settings.batch_size]
        finished = _caption_chunk(get_captioner, chunk, settings)
        with writing(journal):
            _append_line(journal, {"rows": finished})
        done.update({row["path"]: row for row in finished})

    records = [done[path] for path in rows["path"]]
    frame = pd.DataFrame.from_records(records, columns=SHARD_COLUMNS).sort_values("path", kind="stable")
    with writing(out_csv):
        write_csv(frame.reset_index(drop=True), out_csv)
    journal.unlink(missing_ok=True)
    failed = int((frame["status"] == "failed").sum())
    logger.info("captions shard %d/%d: %d ok, %d failed -> %s", shard, num_shards, len(frame) - failed, failed, out_csv)
    return frame.reset_index(drop=True)


def read_shard_csv(path: Path) -> pd.DataFrame:
    """A shard CSV as written: strings kept as strings (an empty caption is "", not NaN)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def merge_captions(shard_csvs: Iterable[Path], out_csv: Path) -> pd.DataFrame:
    """Combine shard CSVs into ``out_csv``: ``path, caption`` of the ``ok`` rows, sorted by path.

    A path in two shards is an error (the shards did not come from one sharding of one manifest).
    Failed rows are logged and left out: an image without a caption cannot be fed to De-fake.
    """
    frames = [read_shard_csv(Path(p)) for p in shard_csvs]
    if not frames:
        raise ValueError("no shard CSVs to merge")
    merged = pd.concat(frames, ignore_index=True)
    duplicated = merged["path"][merged["path"].duplicated()].unique().tolist()
    if duplicated:
        raise ValueError(f"{len(duplicated)} path(s) appear in more than one shard, e.g. {duplicated[:3]}")
    failed = merged[merged["status"] != "ok"]
    for row in failed.head(20).itertuples():
        logger.warning("no caption for %s: %s", row.path, row.error)
    if len(failed):
        logger.warning("%d image(s) without a caption left out of %s", len(failed), out_csv)
    captions = merged[merged["status"] == "ok"][CAPTION_COLUMNS].sort_values("path", kind="stable")
    captions = captions.reset_index(drop=True)
    with writing(out_csv):
        write_csv(captions, out_csv)
    return captions
