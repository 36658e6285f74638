"""Expected image counts per generator and split, from a committed file, checked after layout.

Why: a truncated download, a wrong archive or a changed upstream dataset shows up first as a
wrong number of images. The expected numbers live in ``data/expected_counts/<dataset>.yaml``
(committed), each marked ``verified`` (a published, checked number: COCO 2017 train 118,287 /
val 5,000) or ``best-known`` (our best information, not confirmed against the data). Every
mismatch is reported, per generator and split (and label where the file gives one); mismatches
of verified counts (and images of a generator/split the file does not list) stop the prepare
step, best-known mismatches are warnings, and all are written to the dataset's ``counts.csv``.

File format::

    format: drct-expected-counts/1
    dataset: drct2m
    generators:
      real:
        status: verified                 # or best-known
        source: where the numbers come from
        train: 118287                    # all labels of this generator/split
        test: 5000
      sdv14:                             # GenImage: per label, real (nature) and fake (ai)
        status: best-known
        train: {real: 162000, fake: 162000}
        test: {real: 6000, fake: 6000}

A plain ``{generator: {split: count}}`` mapping is also accepted (all counts then verified).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

__all__ = [
    "COUNTS_FORMAT",
    "STATUSES",
    "Expected",
    "compare_counts",
    "load_expected_counts",
    "parse_expected_counts",
    "resolve_counts_path",
]

COUNTS_FORMAT = "drct-expected-counts/1"
STATUSES = ("verified", "best-known")
_LABELS = {"real": 0, "fake": 1}
_SPLITS = ("train", "test")


@dataclass(frozen=True)
class Expected:
    """One expected count. ``label`` None means both labels together."""

    generator: str
    split: str
    label: int | None
    count: int
    status: str
    source: str = ""


def _entries(generator: str, spec: Mapping[str, Any], status: str, source: str) -> list[Expected]:
    out: list[Expected] = []
    for split in _SPLITS:
        value = spec.get(split)
        if value is None:
            continue
        if isinstance(value, Mapping):
            unknown = set(value) - set(_LABELS)
            if unknown:
                raise ValueError(f"{generator}/{split}: labels must be real/fake, got {sorted(unknown)}")
            out += [Expected(generator, split, _LABELS[name], int(n), status, source)
                    for name, n in value.items() if n is not None]
        else:
            out.append(Expected(generator, split, None, int(value), status, source))
    extra = set(spec) - {*_SPLITS, "status", "source"}
    if extra:
        raise ValueError(f"{generator}: unknown keys {sorted(extra)} (splits are train/test)")
    return out


def parse_expected_counts(data: Mapping[str, Any]) -> list[Expected]:
    """Expected counts from the parsed YAML (either format, see the module docstring)."""
    if data.get("format") == COUNTS_FORMAT:
        out: list[Expected] = []
        for generator, spec in (data.get("generators") or {}).items():
            status = spec.get("status", "best-known")
            if status not in STATUSES:
                raise ValueError(f"{generator}: status {status!r} is not one of {STATUSES}")
            out += _entries(str(generator), spec, status, str(spec.get("source", "")))
        return out
    if "format" in data:
        raise ValueError(f"unknown expected-counts format {data['format']!r}; expected {COUNTS_FORMAT}")
    return [e for generator, spec in data.items()
            for e in _entries(str(generator), spec, "verified", "")]


def resolve_counts_path(path: str | os.PathLike[str], project_root: Path | None = None) -> Path:
    """``path`` as given if it exists (relative to the working directory), else relative to the
    project root: the files are committed in the repo, but Snakemake may run in another directory."""
    path = Path(path)
    if path.is_absolute() or path.exists() or project_root is None:
        return path
    return project_root / path


def load_expected_counts(path: str | os.PathLike[str]) -> list[Expected]:
    """Parse an expected-counts YAML file; errors name the file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return parse_expected_counts(data)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: {exc}") from exc


def compare_counts(rows: Sequence[Mapping[str, Any]] | pd.DataFrame,
                   expected: Sequence[Expected]) -> pd.DataFrame:
    """One row per expected count and per generator/split found but not expected.

    Columns: generator, split, label (real/fake/all), expected, found, status, ok, source.
    """
    if isinstance(rows, pd.DataFrame):
        frame = rows[["generator", "split", "label"]]
        triples = list(frame.itertuples(index=False, name=None))
    else:
        triples = [(r["generator"], r["split"], int(r["label"])) for r in rows]
    by_split = Counter((g, s) for g, s, _ in triples)
    by_label = Counter((g, s, int(lab)) for g, s, lab in triples)
    records = []
    for e in expected:
        found = by_split.get((e.generator, e.split), 0) if e.label is None else \
            by_label.get((e.generator, e.split, e.label), 0)
        label = "all" if e.label is None else ("real" if e.label == 0 else "fake")
        records.append({"generator": e.generator, "split": e.split, "label": label,
                        "expected": e.count, "found": found, "status": e.status,
                        "ok": found == e.count, "source": e.source})
    known = {(e.generator, e.split) for e in expected}
    for (gen, split), found in sorted(by_split.items()):
        if (gen, split) not in known:
            records.append({"generator": gen, "split": split, "label": "all", "expected": None,
                            "found": found, "status": "unexpected", "ok": False, "source": ""})
    columns = ["generator", "split", "label", "expected", "found", "status", "ok", "source"]
    report = pd.DataFrame.from_records(records, columns=columns)
    report["expected"] = report["expected"].astype("Int64")
    return report


def describe_mismatch(row: Mapping[str, Any]) -> str:
    """One line per mismatch, as the prepare log and errors print it."""
    where = f"{row['generator']}/{row['split']}" + ("" if row["label"] == "all" else f" ({row['label']})")
    if row["status"] == "unexpected":
        return f"{where}: found {row['found']} images, not in expected_counts"
    return f"{where}: expected {row['expected']} images ({row['status']}), found {row['found']}"
