"""What ``drct metrics`` writes: a protocol's metrics, their bootstrap intervals and curves.

numpy/pandas/sklearn only. Two entry points:

- :func:`protocol_summary`: one run's clean predictions -> ``metrics.json`` content (per-column
  ACC, real/fake ACC, AUC, AP, oracle accuracy; bootstrap intervals of ACC and Avg with the
  settings that made them) and the ROC / PR tables;
- :func:`perturbed_summary`: one run's perturbed predictions (robustness study, format control)
  -> one long table, a row per (perturbation, column) plus the Avg row of each perturbation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from drct.evaluation.bootstrap import BootstrapSettings, accuracy_intervals
from drct.evaluation.curves import curve_tables
from drct.evaluation.decision import predict_fake
from drct.evaluation.metrics import (
    MEAN_KEYS,
    column_sets,
    protocol_metrics,
)

__all__ = ["PERTURBED_METRIC_COLUMNS", "protocol_summary", "perturbed_summary"]

#: Columns of a perturbed metrics table; ``generator`` is ``Avg`` on each perturbation's mean row.
PERTURBED_METRIC_COLUMNS: tuple[str, ...] = (
    "perturbation", "kind", "strength", "generator", *MEAN_KEYS, "n_real", "n_fake",
)


def _sets(predictions: pd.DataFrame, protocol: Mapping[str, Any]) -> dict:
    return column_sets(
        predictions,
        [c["generator"] for c in protocol["columns"]],
        real_source=protocol["real_source"],
        real_generator=protocol.get("real_generator"),
    )


def protocol_summary(
    predictions: pd.DataFrame,
    protocol: Mapping[str, Any],
    run: str,
    bootstrap: BootstrapSettings | None = None,
) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """(metrics dict, ROC table, PR table) of one run under one protocol.

    The metrics dict: ``{"run", "protocol", "generators": {g: {acc, ..., acc_ci}}, "mean": {...,
    acc_ci}, "bootstrap": settings}``; intervals are ``[low, high]`` in %.
    """
    sets = _sets(predictions, protocol)
    result = protocol_metrics(
        predictions,
        list(sets),
        real_source=protocol["real_source"],
        real_generator=protocol.get("real_generator"),
    )
    correct = {
        g: (~predict_fake(r["score"].to_numpy()), predict_fake(f["score"].to_numpy()), name)
        for g, (r, f, name) in sets.items()
    }
    intervals = accuracy_intervals(correct, bootstrap or BootstrapSettings())
    for g, ci in intervals["generators"].items():
        result["generators"][g]["acc_ci"] = ci
    result["mean"]["acc_ci"] = intervals["mean"]
    roc, pr = curve_tables(sets)
    metrics = {"run": run, "protocol": protocol["name"], **result, "bootstrap": intervals["settings"]}
    return metrics, roc, pr


def perturbed_summary(predictions: pd.DataFrame, protocol: Mapping[str, Any]) -> pd.DataFrame:
    """Metrics per perturbation and column, plus each perturbation's unweighted mean (``Avg``).

    ``predictions``: the long file of :func:`drct.evaluation.score.score_perturbed`. Rows keep
    the file's perturbation order, columns the protocol's order.
    """
    missing = {"perturbation", "kind", "strength"} - set(predictions.columns)
    if missing:
        raise ValueError(f"perturbed predictions lack columns {sorted(missing)}")
    rows = []
    for perturbation in dict.fromkeys(predictions["perturbation"]):
        part = predictions[predictions["perturbation"] == perturbation]
        kind, strength = part["kind"].iloc[0], part["strength"].iloc[0]
        result = protocol_metrics(
            part,
            [c["generator"] for c in protocol["columns"]],
            real_source=protocol["real_source"],
            real_generator=protocol.get("real_generator"),
        )
        base = {"perturbation": perturbation, "kind": kind, "strength": strength}
        for g, m in result["generators"].items():
            rows.append({**base, "generator": g, **{k: m[k] for k in (*MEAN_KEYS, "n_real", "n_fake")}})
        rows.append({**base, "generator": "Avg", **result["mean"]})  # image counts: see the columns
    return pd.DataFrame(rows, columns=list(PERTURBED_METRIC_COLUMNS))
