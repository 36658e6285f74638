"""Metric and plot views of the evaluation outputs, in the folder layout DVC reads.

``dvc metrics show`` and ``dvc plots show`` expand a folder into every file inside it, and an
evaluation run's folder (``eval/<protocol>/<run>/``) holds predictions and curves beside its
``metrics.json``: pointed at it, DVC would parse a 100,000-row predictions CSV as a "metric".
So each run's numbers are also written to folders that hold one kind of file each:

- ``<metrics_dir>/<protocol>/<run>.json``: the run's summary, the ``mean`` block of ``metrics.json``
  (Avg over the protocol's generator columns) reduced to :data:`SUMMARY_KEYS`, one short row per run
  in ``dvc metrics show`` and one line per value in ``dvc metrics diff``. Every numeric field of
  every generator made rows of about 5,000 characters on the demo (70 columns); the per-generator
  numbers are in the accuracy plot view below and in ``metrics.json`` itself;
- ``<plots_dir>/accuracy/<protocol>/<run>.csv``: one row per generator column (in the protocol's
  order, with its display label), which DVC draws as one bar chart per run, revisions side by side;
- ``<plots_dir>/roc/<protocol>/<run>.csv``: the run's ``roc.csv`` with each generator's label and
  the point's rank on its curve, which DVC draws (template ``.dvc/plots/roc_by_generator.json``)
  as one chart per run, one curve per generator.

The views are derived only from ``metrics.json`` and ``roc.csv``; nothing is recomputed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from drct.io import write_csv, write_json

__all__ = ["ACCURACY_COLUMNS", "ROC_COLUMNS", "SUMMARY_KEYS", "accuracy_table", "roc_table", "summary", "view_paths",
           "write_views"]

#: The run's metrics DVC shows (written with sorted keys): the ``mean`` block's Avg ACC (%), real and fake ACC (%),
#: AUC and AP (0-1). Intervals, oracle numbers and counts stay in ``metrics.json``.
SUMMARY_KEYS: tuple[str, ...] = ("acc", "real_acc", "fake_acc", "auc", "ap")

#: Columns of an accuracy view; the metric names are those of ``metrics.json``.
ACCURACY_COLUMNS: tuple[str, ...] = ("generator", "label", "acc", "real_acc", "fake_acc", "auc", "ap")
#: Columns of a ROC view: ``point`` orders each generator's curve (ties in fpr are vertical steps).
ROC_COLUMNS: tuple[str, ...] = ("generator", "label", "point", "fpr", "tpr", "threshold")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def summary(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The :data:`SUMMARY_KEYS` of ``metrics.json``'s ``mean`` block.

    A key that is missing or not a finite number (an AUC is NaN when a column has one class only)
    is left out rather than written as a number DVC would diff; a file without a ``mean`` block
    is not a ``drct metrics`` output and is an error.
    """
    mean = metrics.get("mean")
    if not isinstance(mean, Mapping):
        raise ValueError(f"metrics of run {metrics.get('run')!r} have no 'mean' block")
    return {key: mean[key] for key in SUMMARY_KEYS if _is_number(mean.get(key))}


def accuracy_table(metrics: Mapping[str, Any], columns: Sequence[Mapping[str, str]]) -> pd.DataFrame:
    """One row per generator column of the protocol, in its order, labelled as in the tables.

    Generators that ``metrics.json`` scores but the protocol does not list (none today) follow in
    name order, labelled by name, so nothing the evaluation measured is hidden.
    """
    generators = metrics.get("generators")
    if not isinstance(generators, Mapping) or not generators:
        raise ValueError(f"metrics of run {metrics.get('run')!r} list no generators")
    labels = {c["generator"]: c.get("label", c["generator"]) for c in columns}
    order = [g for g in labels if g in generators] + sorted(set(generators) - set(labels))
    rows = []
    for name in order:
        values = generators[name]
        rows.append({"generator": name, "label": labels.get(name, name),
                     **{k: values.get(k) for k in ACCURACY_COLUMNS[2:]}})
    return pd.DataFrame(rows, columns=list(ACCURACY_COLUMNS))


def roc_table(roc: pd.DataFrame, columns: Sequence[Mapping[str, str]]) -> pd.DataFrame:
    """The ROC points of ``drct metrics`` (generator, fpr, tpr, threshold), labelled and ranked.

    Rows keep their order within each generator (the curve's order); generators follow the
    protocol's column order. A ROC table without those columns is an error.
    """
    missing = {"generator", "fpr", "tpr", "threshold"} - set(roc.columns)
    if missing:
        raise ValueError(f"ROC table lacks columns {sorted(missing)}")
    labels = {c["generator"]: c.get("label", c["generator"]) for c in columns}
    order = [g for g in labels if g in set(roc["generator"])]
    order += sorted(set(roc["generator"]) - set(order))
    parts = []
    for name in order:
        points = roc[roc["generator"] == name].reset_index(drop=True)
        parts.append(points.assign(label=labels.get(name, name), point=range(len(points))))
    return pd.concat(parts, ignore_index=True)[list(ROC_COLUMNS)]


def view_paths(protocol: str, run: str, metrics_dir: Path, plots_dir: Path) -> tuple[Path, Path, Path]:
    """(metric, accuracy, ROC view) of one run under one protocol; the rule declares the same paths."""
    return (metrics_dir / protocol / f"{run}.json", plots_dir / "accuracy" / protocol / f"{run}.csv",
            plots_dir / "roc" / protocol / f"{run}.csv")


def write_views(
    metrics_files: Sequence[Path],
    protocols: Sequence[Mapping[str, Any]],
    metrics_dir: Path,
    plots_dir: Path,
    roc_files: Sequence[Path] | None = None,
) -> list[Path]:
    """Write the views of every ``metrics.json`` (and of the ``roc.csv`` beside it); return the paths.

    Each metrics file names its own run and protocol, so the views cannot be attached to the wrong
    run whatever order the files come in; ``roc_files``, when given, pair with ``metrics_files``
    in order (one per metrics file). A protocol missing from ``protocols`` is an error, not a
    silently unlabelled table.
    """
    if roc_files is not None and len(roc_files) != len(metrics_files):
        raise ValueError(f"{len(roc_files)} ROC files for {len(metrics_files)} metrics files; give one per run")
    by_name = {p["name"]: p for p in protocols}
    written: list[Path] = []
    seen: set[tuple[str, str]] = set()
    for i, path in enumerate(metrics_files):
        metrics = json.loads(Path(path).read_text(encoding="utf-8"))
        try:
            run, protocol = metrics["run"], metrics["protocol"]
        except KeyError as missing:
            raise ValueError(f"{path}: no {missing} field; is it a `drct metrics` output?") from None
        if protocol not in by_name:
            raise ValueError(f"{path}: protocol {protocol!r} is not one of {sorted(by_name)}")
        if (protocol, run) in seen:
            raise ValueError(f"{path}: run {run!r} under protocol {protocol!r} given twice")
        seen.add((protocol, run))
        metric_path, accuracy_path, roc_path = view_paths(protocol, run, metrics_dir, plots_dir)
        write_json(metric_path, summary(metrics))
        write_csv(accuracy_table(metrics, by_name[protocol]["columns"]), accuracy_path)
        written += [metric_path, accuracy_path]
        if roc_files is not None:
            write_csv(roc_table(pd.read_csv(roc_files[i]), by_name[protocol]["columns"]), roc_path)
            written.append(roc_path)
    return written
