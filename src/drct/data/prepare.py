"""From downloaded archives to ``<out_dir>/images/`` + ``<out_dir>/manifest.csv`` (+ ``counts.csv``).

All work happens in a hidden staging directory inside ``out_dir`` (same filesystem, so the final
moves are renames): archives are safely extracted there (a local-folder snapshot is linked
instead, :mod:`drct.data.local`), the images moved into the canonical layout, counted against
the expected counts (:mod:`drct.data.counts`), hashed, and the manifest written. Only then are
``images/`` and, last, ``manifest.csv`` renamed into place, so the manifest existing means the
dataset is complete. A
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

import pandas as pd

from drct.data.counts import (
    Expected,
    compare_counts,
    describe_mismatch,
    parse_expected_counts,
)
from drct.data.extract import safe_extract
from drct.data.layout import LayoutError, normalise
from drct.data.local import (
    check_pinned,
    is_folder_snapshot,
    link_snapshot,
    pinned_hashes,
)
from drct.data.manifest import build_manifest, write_manifest
from drct.errors import DrctError
from drct.io import write_csv
from drct.paths import inside

__all__ = ["CountMismatchError", "check_counts", "prepare_dataset"]

log = logging.getLogger(__name__)


class CountMismatchError(DrctError, ValueError):
    """Image counts per generator/split differ from the configured expectation."""


ExpectedCounts = Mapping[str, Mapping[str, int]] | Sequence[Expected]


def _expected(expected: ExpectedCounts) -> list[Expected]:
    if isinstance(expected, Mapping):
        return parse_expected_counts(expected)  # plain {generator: {split: n}}: all verified
    return list(expected)


def count_report(rows: Sequence[Mapping], expected: ExpectedCounts | None) -> pd.DataFrame:
    """Expected vs found per generator/split(/label); all found counts when nothing is expected."""
    if expected is None:
        found = Counter((r["generator"], r["split"]) for r in rows)
        return pd.DataFrame.from_records(
            [{"generator": g, "split": s, "label": "all", "expected": None, "found": n,
              "status": "unchecked", "ok": None, "source": ""} for (g, s), n in sorted(found.items())],
            columns=["generator", "split", "label", "expected", "found", "status", "ok", "source"])
    return compare_counts(rows, _expected(expected))


def check_counts(rows: Sequence[Mapping], expected: ExpectedCounts) -> list[str]:
    """Every difference between ``expected`` and the rows' counts, one line each.

    ``expected`` is a plain ``{generator: {split: n}}`` mapping (counts include both labels) or
    parsed :class:`drct.data.counts.Expected` entries. Generators/splits present in the data but
    absent from ``expected`` are reported too.
    """
    report = compare_counts(rows, _expected(expected))
    return [describe_mismatch(r) for r in report.to_dict("records") if not r["ok"]]


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
    expected_counts: ExpectedCounts | None = None,
    strict_counts: bool = True,
    splits: Mapping[str, str] | None = None,
    real_name: str = "real",
    workers: int = 1,
    min_free_bytes_factor: float = 1.1,
) -> Path:
    """Extract ``archives``, normalise ``layout`` into ``out_dir/images`` and write the manifest.

    ``members[i]`` is the folder inside archive ``i`` to use as that archive's root (None: the
    archive's top level), e.g. ``"drct-demo-v1/drct2m"``; one that would lead outside the extracted
    archive (absolute, ``..``, a link out) raises :class:`drct.paths.UnsafePathError`. ``generators``, ``real_folder``,
    ``real_name`` and ``splits`` are passed to :func:`drct.data.layout.normalise`, which looks
    for each folder across all archive roots. An archive may also be a local-folder snapshot
    (:mod:`drct.data.local`), whose files are linked rather than extracted.

    Counts: ``out_dir/counts.csv`` lists expected vs found per generator/split (and label where
    the expectation gives one). With ``strict_counts``, mismatches of *verified* counts and
    images of unlisted generators/splits are collected into one :class:`CountMismatchError`;
    *best-known* mismatches (and all of them without ``strict_counts``) are logged as warnings.
    Returns the manifest path; an existing complete result is returned without redoing anything.
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
        roots, pins = [], {}
        for i, (archive, member) in enumerate(zip(archives, members)):
            into = staging / "extract" / f"{i:03d}"
            if is_folder_snapshot(Path(archive)):
                extracted = link_snapshot(Path(archive), into,
                                          min_free_bytes_factor=min_free_bytes_factor)
                pins.update(pinned_hashes(Path(archive), extracted))
            else:
                extracted = safe_extract(Path(archive), into,
                                         min_free_bytes_factor=min_free_bytes_factor)
            # member comes from the config: it must stay inside what was extracted, because the
            # images under it are *moved* (and a rerun may delete what is left of them)
            root = inside(extracted, member, f"{archive}: member") if member else extracted
            if not root.is_dir():
                top = sorted(p.name for p in extracted.iterdir())
                raise LayoutError(f"{archive}: no folder {member!r} inside the archive; "
                                  f"top level: {top}")
            roots.append(root)
        rows = normalise(roots, layout, staging / "images", generators=generators,
                         real_folder=real_folder, real_name=real_name, splits=splits)
        images_only = [r for r in rows if r["image"]]  # other files: listed for quarantine, not counted
        if not images_only:
            raise LayoutError(f"{dataset}: no images found in {list(map(str, archives))}")
        report = count_report(images_only, expected_counts)
        bad = report[report["ok"] == False]  # noqa: E712 - ok is None when unchecked
        fatal = bad[bad["status"] != "best-known"] if strict_counts else bad.iloc[0:0]
        if len(fatal):
            lines = [describe_mismatch(r) for r in bad.to_dict("records")]
            raise CountMismatchError(f"{dataset}: image counts differ from expected_counts:\n  "
                                     + "\n  ".join(lines))
        for row in bad.to_dict("records"):
            log.warning("%s: %s", dataset, describe_mismatch(row))
        write_csv(report, staging / "counts.csv")
        df = build_manifest(rows, dataset, staging, workers=workers)
        check_pinned(df, pins)  # a local folder's images must hash as its snapshot pinned
        write_manifest(df, staging / "manifest.csv")
        os.replace(staging / "images", images)
        os.replace(staging / "counts.csv", out_dir / "counts.csv")
        os.replace(staging / "manifest.csv", manifest)  # last: marks the dataset complete
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("prepared %s: %d images -> %s", dataset, len(rows), manifest)
    return manifest
