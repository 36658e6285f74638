"""ROC and precision-recall curves per generator column, as long CSV tables.

numpy/pandas/sklearn only. Written next to metrics.json (``roc.csv``, ``pr.csv``) so that the
figures, the HTML report and DVC's plots all read the same points, and no one needs the
predictions (or a GPU) to redraw a curve. Collinear points are dropped (sklearn's
``drop_intermediate``); a curve still longer than ``max_points`` (continuous scores over 10,000
images leave thousands of corners) keeps ``max_points`` of its points, evenly spaced along the
curve and always including both ends: enough to draw it, while AUC and AP themselves come from
metrics.json, computed on every prediction. Measured in benchmarks/paper_outputs/.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve

__all__ = ["ROC_COLUMNS", "PR_COLUMNS", "MAX_POINTS", "curve_tables", "thin"]

ROC_COLUMNS: tuple[str, ...] = ("generator", "fpr", "tpr", "threshold")
PR_COLUMNS: tuple[str, ...] = ("generator", "recall", "precision", "threshold")
#: Points kept per curve (see the module docstring).
MAX_POINTS = 1000


def _finite(values: np.ndarray) -> np.ndarray:
    """sklearn marks the curve's end points with an infinite threshold; CSV gets an empty cell."""
    out = np.asarray(values, dtype=float).copy()
    out[~np.isfinite(out)] = np.nan
    return out


def thin(frame: pd.DataFrame, max_points: int) -> pd.DataFrame:
    """At most ``max_points`` rows, evenly spaced along the curve, first and last always kept."""
    if max_points < 2:
        raise ValueError(f"max_points must be >= 2, got {max_points}")
    if len(frame) <= max_points:
        return frame
    keep = np.unique(np.linspace(0, len(frame) - 1, max_points).round().astype(int))
    return frame.iloc[keep]


def curve_tables(
    columns: dict[str, tuple[pd.DataFrame, pd.DataFrame, str]], max_points: int = MAX_POINTS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(ROC, PR) long tables over the columns of :func:`drct.evaluation.metrics.column_sets`.

    ROC: ``fpr``, ``tpr`` per threshold ("fake iff score >= threshold", sklearn's convention;
    the 0.5 decision itself is ``>``, which only differs on exact ties). PR: precision and recall
    of the fake class. One block of rows per generator, in column order.
    """
    roc_parts, pr_parts = [], []
    for g, (reals, fakes, _) in columns.items():
        labels = np.concatenate([np.zeros(len(reals), dtype=int), np.ones(len(fakes), dtype=int)])
        scores = np.concatenate([reals["score"].to_numpy(float), fakes["score"].to_numpy(float)])
        fpr, tpr, roc_thr = roc_curve(labels, scores, drop_intermediate=True)
        roc_parts.append(thin(pd.DataFrame({"generator": g, "fpr": fpr, "tpr": tpr, "threshold": _finite(roc_thr)}), max_points))
        precision, recall, pr_thr = precision_recall_curve(labels, scores, drop_intermediate=True)
        # sklearn's last PR point (recall 0, precision 1) has no threshold
        thresholds = np.append(_finite(pr_thr), np.nan)
        pr_parts.append(thin(
            pd.DataFrame({"generator": g, "recall": recall, "precision": precision, "threshold": thresholds}), max_points
        ))
    roc = pd.concat(roc_parts, ignore_index=True)[list(ROC_COLUMNS)]
    pr = pd.concat(pr_parts, ignore_index=True)[list(PR_COLUMNS)]
    return roc, pr
