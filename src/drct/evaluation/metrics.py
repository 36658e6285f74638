"""Binary detection metrics and the paper's per-generator evaluation protocol.

numpy/pandas/sklearn only (no torch), so metrics can be recomputed from a predictions CSV on
any machine.

Decision rule (pinned to the authors' code, ``scripts/train.py::eval_model``): an image is
predicted *fake* iff ``score > threshold`` with ``score = P(fake)`` and threshold 0.5. The
authors compute ``accuracy_score(labels, outputs > threshold)``; their in-loop accuracy uses
``torch.max(softmax, 1)``, which picks index 0 (real) on an exact tie. Both give "fake iff
P(fake) > 0.5", so a score of exactly 0.5 counts as *real*.

Beyond the paper (which prints accuracy at 0.5 only): real/fake accuracy, AUC, AP, and an
*oracle-threshold* accuracy (the best accuracy any single threshold reaches on that column, the
threshold chosen on the test labels themselves). It is an upper bound, never a result: the gap
between it and ACC at 0.5 shows how much of a column's error is a calibration shift rather than
lost separability. It is always reported under its own name.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from drct.evaluation.decision import predict_fake

#: Metrics averaged (unweighted, over generators) into a protocol's "mean".
MEAN_KEYS: tuple[str, ...] = ("acc", "real_acc", "fake_acc", "auc", "ap", "oracle_acc")


def oracle_accuracy(labels, scores) -> tuple[float, float]:
    """Best accuracy (%) of the rule "fake iff score > t" over every threshold t, and that t.

    Candidate thresholds: each distinct score (everything at or below it is called real) and one
    just below the lowest score (everything fake). Among equally good thresholds the one nearest
    0.5 is returned (then the lower), so a well-calibrated detector reports a threshold near 0.5.
    *Oracle*: the threshold is fitted on the very labels it is scored on.
    """
    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, dtype=float)
    if y.size == 0:
        raise ValueError("oracle_accuracy needs at least one prediction")
    values, inverse = np.unique(s, return_inverse=True)
    reals_at = np.bincount(inverse, weights=(y == 0), minlength=len(values))
    fakes_at = np.bincount(inverse, weights=(y == 1), minlength=len(values))
    # threshold values[i]: reals with score <= values[i] right, fakes with score > values[i] right
    real_right = np.cumsum(reals_at)
    fake_right = fakes_at.sum() - np.cumsum(fakes_at)
    correct = np.concatenate([[fakes_at.sum()], real_right + fake_right])  # index 0: all called fake
    thresholds = np.concatenate([[np.nextafter(values[0], -np.inf)], values])
    best = correct.max()
    candidates = np.flatnonzero(correct == best)
    pick = candidates[np.lexsort((thresholds[candidates], np.abs(thresholds[candidates] - 0.5)))[0]]
    return 100.0 * float(best) / y.size, float(thresholds[pick])


def binary_metrics(labels, scores, threshold: float = 0.5) -> dict:
    """Accuracy (overall, on reals, on fakes; in %), ROC AUC, AP and oracle accuracy for one set.

    ``labels``: 0 real, 1 fake. ``scores``: P(fake). AUC and AP are threshold-free and NaN when
    one class is absent (sklearn would raise); class accuracies are NaN when their class is absent.
    ``oracle_acc`` / ``oracle_threshold``: :func:`oracle_accuracy` (an upper bound, see the module).
    """
    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, dtype=float)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"labels and scores must be 1-D and the same length, got {y.shape} and {s.shape}")
    if y.size == 0:
        raise ValueError("binary_metrics needs at least one prediction")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (real) or 1 (fake)")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")

    pred = predict_fake(s, threshold).astype(int)
    correct = pred == y
    is_real, is_fake = y == 0, y == 1
    n_real, n_fake = int(is_real.sum()), int(is_fake.sum())
    both = n_real > 0 and n_fake > 0
    oracle_acc, oracle_threshold = oracle_accuracy(y, s)
    return {
        "acc": 100.0 * float(correct.mean()),
        "real_acc": 100.0 * float(correct[is_real].mean()) if n_real else math.nan,
        "fake_acc": 100.0 * float(correct[is_fake].mean()) if n_fake else math.nan,
        "auc": float(roc_auc_score(y, s)) if both else math.nan,
        "ap": float(average_precision_score(y, s)) if both else math.nan,
        "oracle_acc": oracle_acc,
        "oracle_threshold": oracle_threshold,
        "n_real": n_real,
        "n_fake": n_fake,
    }


def column_sets(
    predictions: pd.DataFrame,
    generators: list[str],
    real_source: Literal["shared", "per_generator"],
    real_generator: str | None = None,
) -> dict[str, tuple[pd.DataFrame, pd.DataFrame, str]]:
    """Per generator column: (its test reals, its test fakes, the name of the real set it uses).

    ``real_source="shared"`` (DRCT-2M): every column uses the same reals, the rows with
    ``generator == real_generator`` and label 0 (COCO val2017). ``"per_generator"`` (GenImage):
    column ``g`` uses the rows with ``generator == g`` and label 0 (that subset's val/nature).
    Only ``split == "test"`` rows count when a ``split`` column exists. A generator without fakes
    or reals raises: a silently one-class column would print a meaningless accuracy.
    """
    required = {"generator", "label", "score"}
    missing = required - set(predictions.columns)
    if missing:
        raise ValueError(f"predictions lack columns {sorted(missing)}")
    if not generators:
        raise ValueError("protocol_metrics needs at least one generator")
    if real_source == "shared" and not real_generator:
        raise ValueError('real_source="shared" needs real_generator')
    if real_source not in ("shared", "per_generator"):
        raise ValueError(f"unknown real_source {real_source!r}")

    df = predictions
    if "split" in df.columns:
        df = df[df["split"] == "test"]
    gen = df["generator"].astype(str)
    label = df["label"].astype(int)

    sets: dict[str, tuple[pd.DataFrame, pd.DataFrame, str]] = {}
    for g in generators:
        fakes = df[(gen == g) & (label == 1)]
        real_name = real_generator if real_source == "shared" else g
        reals = df[(gen == real_name) & (label == 0)]
        if fakes.empty:
            raise ValueError(f"no test fakes (label 1) for generator {g!r}")
        if reals.empty:
            raise ValueError(f"no test reals (label 0) for generator {real_name!r} (column {g!r})")
        sets[g] = (reals, fakes, str(real_name))
    return sets


def protocol_metrics(
    predictions: pd.DataFrame,
    generators: list[str],
    real_source: Literal["shared", "per_generator"],
    real_generator: str | None = None,
    threshold: float = 0.5,
) -> dict:
    """One column per generator, as in the paper: that generator's test fakes + the real test set.

    Which reals a column uses: :func:`column_sets`. Returns ``{"generators": {g:
    binary_metrics(...)}, "mean": {k: unweighted mean over generators}}`` for ``k`` in
    :data:`MEAN_KEYS`.
    """
    per_generator: dict[str, dict] = {}
    for g, (reals, fakes, _) in column_sets(predictions, generators, real_source, real_generator).items():
        subset = pd.concat([reals, fakes], ignore_index=True)
        per_generator[g] = binary_metrics(subset["label"].to_numpy(), subset["score"].to_numpy(), threshold)

    mean = {k: float(np.mean([m[k] for m in per_generator.values()])) for k in MEAN_KEYS}
    return {"generators": per_generator, "mean": mean}


def json_ready(metrics: dict) -> dict:
    """Copy of a metrics dict with NaN replaced by None, because strict JSON has no NaN."""

    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, float) and math.isnan(value):
            return None
        return value

    return clean(metrics)
