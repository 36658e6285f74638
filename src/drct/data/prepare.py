"""From downloaded archives to ``<out_dir>/images/`` + ``<out_dir>/manifest.csv``.

All work happens in a hidden staging directory inside ``out_dir`` (same filesystem, so the final
moves are renames): archives are safely extracted there, the images moved into the canonical
layout, counted and hashed, and the manifest written. Only then are ``images/`` and, last,
``manifest.csv`` renamed into place, so the manifest existing means the dataset is complete. A
rerun after an interruption deletes the staging leftovers (and an ``images/`` without a
manifest) and redoes everything.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from drct.data.extract import safe_extract
from drct.data.layout import LayoutError, normalise
from drct.data.manifest import build_manifest, write_manifest

__all__ = ["CountMismatchError", "check_counts", "prepare_dataset"]

log = logging.getLogger(__name__)


class CountMismatchError(ValueError):
    """Image counts per generator/split differ from the configured expectation."""


def check_counts(rows: Sequence[Mapping], expected: Mapping[str, Mapping[str, int]]) -> list[str]:
    """Every difference between ``expected`` ({generator: {split: n}}) and the rows' counts.

    Counts include both labels (a GenImage subset's ai + nature images). Generators/splits
    present in the data but absent from ``expected`` are reported too.
    """
    actual = Counter((r["generator"], r["split"]) for r in rows)
    problems: list[str] = []
    for gen in sorted(expected):
        for split in sorted(expected[gen]):
            want, got = int(expected[gen][split]), actual.get((gen, split), 0)
            if got != want:
                problems.append(f"{gen}/{split}: expected {want} images, found {got}")
    for (gen, split), got in sorted(actual.items()):
        if split not in expected.get(gen, {}):
            problems.append(f"{gen}/{split}: found {got} images, not in expected_counts")
    return problems


def _clean_leftovers(out_dir: Path, images: Path) -> None:
    for leftover in out_dir.glob(".staging-*"):
        log.warning("removing leftover staging directory %s", leftover)
        shutil.rmtree(leftover, ignore_errors=True)
    if images.exists():
        log.warning("removing %s: it has no manifest, so a previous run did not finish", images)
        shutil.rmtree(images)


def prepare_dataset(
    archives: Sequence[Path],
    dataset: str,
    layout: str,
    out_dir: Path,
    *,
    members: Sequence[str | None],
    generators: Mapping[str, str],
    real_folder: str | None,
    expected_counts: Mapping[str, Mapping[str, int]] | None = None,
    strict_counts: bool = True,
    splits: Mapping[str, str] | None = None,
    real_name: str = "real",
    workers: int = 1,
    min_free_bytes_factor: float = 1.1,
) -> Path:
    """Extract ``archives``, normalise ``layout`` into ``out_dir/images`` and write the manifest.

    ``members[i]`` is the folder inside archive ``i`` to use as that archive's root (None: the
    archive's top level), e.g. ``"drct-demo-v1/drct2m"``. ``generators``, ``real_folder``,
    ``real_name`` and ``splits`` are passed to :func:`drct.data.layout.normalise`, which looks
    for each folder across all archive roots. With ``expected_counts`` every mismatch is listed
    in one :class:`CountMismatchError` (``strict_counts``) or logged as warnings. Returns the
    manifest path; an existing complete result is returned without redoing anything.
    """
    out_dir = Path(out_dir)
    manifest, images = out_dir / "manifest.csv", out_dir / "images"
    if manifest.is_file() and images.is_dir():
        log.info("%s already prepared (%s exists)", dataset, manifest)
        return manifest
    if len(members) != len(archives):
        raise ValueError(f"{len(archives)} archives but {len(members)} members entries")
    if not archives:
        raise ValueError(f"no archives given for dataset {dataset!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    _clean_leftovers(out_dir, images)

    staging = out_dir / f".staging-{secrets.token_hex(6)}"
    staging.mkdir()
    try:
        roots = []
        for i, (archive, member) in enumerate(zip(archives, members)):
            extracted = safe_extract(Path(archive), staging / "extract" / f"{i:03d}",
                                     min_free_bytes_factor=min_free_bytes_factor)
            root = extracted / member if member else extracted
            if not root.is_dir():
                top = sorted(p.name for p in extracted.iterdir())
                raise LayoutError(f"{archive}: no folder {member!r} inside the archive; "
                                  f"top level: {top}")
            roots.append(root)
        rows = normalise(roots, layout, staging / "images", generators=generators,
                         real_folder=real_folder, real_name=real_name, splits=splits)
        if not rows:
            raise LayoutError(f"{dataset}: no images found in {list(map(str, archives))}")
        if expected_counts is not None:
            problems = check_counts(rows, expected_counts)
            if problems and strict_counts:
                raise CountMismatchError(f"{dataset}: image counts differ from expected_counts:\n  "
                                         + "\n  ".join(problems))
            for problem in problems:
                log.warning("%s: %s", dataset, problem)
        df = build_manifest(rows, dataset, staging, workers=workers)
        write_manifest(df, staging / "manifest.csv")
        os.replace(staging / "images", images)
        os.replace(staging / "manifest.csv", manifest)  # last: marks the dataset complete
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("prepared %s: %d images -> %s", dataset, len(rows), manifest)
    return manifest
