"""Metrics against values worked out by hand (arithmetic in the comments)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from drct.evaluation.bootstrap import BootstrapSettings, accuracy_intervals
from drct.evaluation.curves import curve_tables, thin
from drct.evaluation.metrics import (
    binary_metrics,
    column_sets,
    json_ready,
    oracle_accuracy,
    protocol_metrics,
)
from drct.evaluation.summary import perturbed_summary, protocol_summary


def test_binary_metrics_by_hand():
    labels = [0, 0, 0, 1, 1, 1]
    scores = [0.1, 0.4, 0.5, 0.3, 0.6, 0.9]
    # fake iff score > 0.5: predictions 0 0 0 0 1 1 (0.5 is a tie -> real, as argmax picks index 0)
    # reals: 3/3 right -> real_acc 100; fakes: 0.3 wrong, 0.6 and 0.9 right -> fake_acc 2/3
    # acc = 5/6
    m = binary_metrics(labels, scores)
    assert m["acc"] == pytest.approx(100 * 5 / 6)
    assert m["real_acc"] == pytest.approx(100.0)
    assert m["fake_acc"] == pytest.approx(100 * 2 / 3)
    # AUC = fraction of (real, fake) pairs where the fake scores higher, 9 pairs:
    #   fake 0.3 beats real 0.1 only -> 1; fake 0.6 beats all three -> 3; fake 0.9 -> 3; 7/9
    assert m["auc"] == pytest.approx(7 / 9)
    # AP = sum over ranks of (recall step) * precision, ranking 0.9F 0.6F 0.5R 0.4R 0.3F 0.1R:
    #   0.9: P 1/1, R 1/3; 0.6: P 2/2, R 2/3; 0.3: P 3/5, R 3/3
    #   AP = 1/3*1 + 1/3*1 + 1/3*3/5 = 13/15
    assert m["ap"] == pytest.approx(13 / 15)
    assert (m["n_real"], m["n_fake"]) == (3, 3)


def test_tie_counts_as_real_and_threshold_is_used():
    # exactly 0.5 is real at the default threshold
    assert binary_metrics([0], [0.5])["acc"] == 100.0
    assert binary_metrics([1], [0.5])["acc"] == 0.0
    # a lower threshold turns the same score into fake
    assert binary_metrics([1], [0.5], threshold=0.4)["acc"] == 100.0


def test_one_class_gives_nan_auc_ap_and_class_acc():
    m = binary_metrics([1, 1], [0.2, 0.9])
    assert m["acc"] == 50.0 and m["fake_acc"] == 50.0
    assert math.isnan(m["real_acc"]) and math.isnan(m["auc"]) and math.isnan(m["ap"])
    assert (m["n_real"], m["n_fake"]) == (0, 2)


def test_binary_metrics_rejects_bad_input():
    with pytest.raises(ValueError):
        binary_metrics([], [])
    with pytest.raises(ValueError):
        binary_metrics([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError):
        binary_metrics([0, 1], [0.1])


def _rows(generator, label, scores, split="test"):
    return [{"generator": generator, "label": label, "score": s, "split": split} for s in scores]


def test_protocol_shared_reals_unweighted_mean():
    preds = pd.DataFrame(
        _rows("real", 0, [0.2, 0.7])
        + _rows("A", 1, [0.9, 0.8])
        + _rows("B", 1, [0.1, 0.6, 0.95, 0.4])
        # train rows must be ignored: both would be wrong if counted
        + _rows("A", 1, [0.0], split="train")
        + _rows("real", 0, [1.0], split="train")
    )
    out = protocol_metrics(preds, ["A", "B"], real_source="shared", real_generator="real")
    a, b = out["generators"]["A"], out["generators"]["B"]
    # shared reals 0.2 (right), 0.7 (wrong) -> real_acc 50 in both columns
    # A: fakes 0.9, 0.8 both right -> acc (1 + 2) / 4 = 75; every fake above every real -> AUC 1, AP 1
    assert (a["acc"], a["real_acc"], a["fake_acc"]) == pytest.approx((75.0, 50.0, 100.0))
    assert (a["auc"], a["ap"], a["n_real"], a["n_fake"]) == pytest.approx((1.0, 1.0, 2, 2))
    # B: fakes 0.6, 0.95 right, 0.1, 0.4 wrong -> acc (1 + 2) / 6 = 50
    #   AUC pairs won: 0.1 -> 0, 0.6 -> 1 (> 0.2), 0.95 -> 2, 0.4 -> 1; 4/8 = 0.5
    #   AP, ranking 0.95F 0.7R 0.6F 0.4F 0.2R 0.1F: 1/4 * (1/1 + 2/3 + 3/4 + 4/6) = 37/48
    assert (b["acc"], b["real_acc"], b["fake_acc"]) == pytest.approx((50.0, 50.0, 50.0))
    assert (b["auc"], b["ap"]) == pytest.approx((0.5, 37 / 48))
    # unweighted mean over columns (pooling all 10 images would give 60 instead of 62.5)
    assert out["mean"]["acc"] == pytest.approx((75 + 50) / 2)
    assert out["mean"]["real_acc"] == pytest.approx(50.0)
    assert out["mean"]["fake_acc"] == pytest.approx((100 + 50) / 2)
    assert out["mean"]["auc"] == pytest.approx((1 + 0.5) / 2)
    assert out["mean"]["ap"] == pytest.approx((1 + 37 / 48) / 2)
    assert set(out["mean"]) == {"acc", "real_acc", "fake_acc", "auc", "ap", "oracle_acc"}


def test_protocol_per_generator_reals():
    preds = pd.DataFrame(
        _rows("X", 0, [0.3, 0.55]) + _rows("X", 1, [0.8]) + _rows("Y", 0, [0.1]) + _rows("Y", 1, [0.2, 0.7, 0.51])
    )
    out = protocol_metrics(preds, ["X", "Y"], real_source="per_generator", real_generator=None)
    x, y = out["generators"]["X"], out["generators"]["Y"]
    # X uses only X's reals: 0.3 right, 0.55 wrong; fake 0.8 right -> 2/3
    assert (x["acc"], x["real_acc"], x["fake_acc"]) == pytest.approx((200 / 3, 50.0, 100.0))
    assert (x["n_real"], x["n_fake"]) == (2, 1)
    # Y uses only Y's real 0.1 (right); fakes 0.7, 0.51 right, 0.2 wrong -> 3/4
    assert (y["acc"], y["real_acc"], y["fake_acc"]) == pytest.approx((75.0, 100.0, 200 / 3))
    assert (y["n_real"], y["n_fake"]) == (1, 3)
    assert out["mean"]["acc"] == pytest.approx((200 / 3 + 75) / 2)  # 425/6


def test_protocol_missing_generator_raises():
    preds = pd.DataFrame(_rows("real", 0, [0.2]) + _rows("A", 1, [0.9]))
    with pytest.raises(ValueError, match="'B'"):
        protocol_metrics(preds, ["A", "B"], real_source="shared", real_generator="real")
    with pytest.raises(ValueError, match="real_generator"):
        protocol_metrics(preds, ["A"], real_source="shared", real_generator=None)


def test_json_ready_replaces_nan():
    assert json_ready({"a": {"auc": float("nan"), "acc": 50.0}}) == {"a": {"auc": None, "acc": 50.0}}


def test_metrics_module_imports_no_torch():
    code = "import sys, drct.evaluation, drct.evaluation.metrics; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- agreement with scikit-learn ---------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_metrics_agree_with_sklearn(seed):
    """Same predictions through sklearn's own functions: every metric matches."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=300)
    # informative but imperfect scores, with exact 0.5 ties sprinkled in
    scores = np.clip(0.35 * labels + rng.normal(0.35, 0.2, size=300), 0, 1)
    scores[rng.choice(300, size=10, replace=False)] = 0.5
    m = binary_metrics(labels, scores)
    predicted = (scores > 0.5).astype(int)  # the authors' rule: fake iff strictly above 0.5
    assert m["acc"] == pytest.approx(100 * accuracy_score(labels, predicted))
    assert m["fake_acc"] == pytest.approx(100 * recall_score(labels, predicted, pos_label=1))
    assert m["real_acc"] == pytest.approx(100 * recall_score(labels, predicted, pos_label=0))
    assert m["auc"] == pytest.approx(roc_auc_score(labels, scores))
    assert m["ap"] == pytest.approx(average_precision_score(labels, scores))
    # oracle: sklearn's ROC lists every distinct threshold ("fake iff score >= t"); the best
    # accuracy over them, plus "all real", is the same maximum over partitions
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    n_fake, n_real = labels.sum(), (labels == 0).sum()
    best = max(((tpr * n_fake + (1 - fpr) * n_real) / len(labels)).max(), n_real / len(labels))
    assert m["oracle_acc"] == pytest.approx(100 * best)
    assert 100 * accuracy_score(labels, scores > m["oracle_threshold"]) == pytest.approx(m["oracle_acc"])


def test_oracle_accuracy_by_hand():
    # reals 0.6 0.7, fakes 0.8 0.9: at 0.5 both reals are wrong (acc 50); any t in [0.7, 0.8)
    # separates perfectly; the candidate thresholds are the scores, so t = 0.7 (nearest 0.5)
    acc, threshold = oracle_accuracy([0, 0, 1, 1], [0.6, 0.7, 0.8, 0.9])
    assert (acc, threshold) == (100.0, 0.7)
    assert binary_metrics([0, 0, 1, 1], [0.6, 0.7, 0.8, 0.9])["acc"] == 50.0
    # inverted scores: best is calling everything one class (50 %); ties -> threshold nearest 0.5
    acc, threshold = oracle_accuracy([0, 1], [0.9, 0.1])
    assert acc == 50.0 and threshold == pytest.approx(0.1)
    # all fakes: "everything fake" (threshold just below the lowest score) is perfect
    acc, threshold = oracle_accuracy([1, 1], [0.2, 0.3])
    assert acc == 100.0 and threshold < 0.2


# --- bootstrap -----------------------------------------------------------------------------------


def _columns(shared_reals=True):
    reals = np.array([True] * 40 + [False] * 10)  # 80 % of 50 reals right
    columns = {
        "A": (reals, np.array([True] * 45 + [False] * 5), "real"),  # acc (40 + 45) / 100 = 85
        "B": (reals, np.array([True] * 20 + [False] * 30), "real"),  # acc (40 + 20) / 100 = 60
    }
    if not shared_reals:
        columns["B"] = (np.array([True] * 25 + [False] * 25), columns["B"][1], "B")
    return columns


def test_bootstrap_is_deterministic_and_recorded():
    settings = BootstrapSettings(replicates=500, level=0.95, seed=7)
    first = accuracy_intervals(_columns(), settings)
    assert accuracy_intervals(_columns(), settings) == first
    assert first["settings"] == {"replicates": 500, "level": 0.95, "seed": 7}
    other = accuracy_intervals(_columns(), BootstrapSettings(replicates=500, level=0.95, seed=8))
    assert other["generators"] != first["generators"]
    a_low, a_high = first["generators"]["A"]
    assert a_low < 85.0 < a_high and a_high - a_low < 20  # around the point estimate
    low, high = first["mean"]
    assert low < (85 + 60) / 2 < high


def test_bootstrap_degenerate_and_level():
    all_right = {"A": (np.ones(30, bool), np.ones(20, bool), "real")}
    assert accuracy_intervals(all_right, BootstrapSettings(replicates=50))["generators"]["A"] == [100.0, 100.0]
    wide = accuracy_intervals(_columns(), BootstrapSettings(replicates=2000, level=0.99))["generators"]["B"]
    narrow = accuracy_intervals(_columns(), BootstrapSettings(replicates=2000, level=0.5))["generators"]["B"]
    assert wide[0] < narrow[0] < narrow[1] < wide[1]
    with pytest.raises(ValueError):
        BootstrapSettings(replicates=1)
    with pytest.raises(ValueError):
        BootstrapSettings(level=1.0)
    with pytest.raises(ValueError, match="differs"):
        accuracy_intervals({"A": (np.ones(3, bool), np.ones(2, bool), "r"), "B": (np.zeros(3, bool), np.ones(2, bool), "r")})


def test_bootstrap_count_matches_index_resampling():
    """The binomial draw is the distribution of resampling indices: compare quantiles."""
    correct = np.array([True] * 70 + [False] * 30)
    by_index = np.random.default_rng(1).choice(correct, size=(20000, 100)).sum(axis=1)
    columns = {"A": (correct, np.zeros(0, bool), "real")}
    ours = accuracy_intervals(columns, BootstrapSettings(replicates=20000, level=0.9, seed=1))["generators"]["A"]
    assert ours == pytest.approx(list(np.percentile(by_index, [5, 95])), abs=1.0)


def test_shared_reals_widen_the_avg_interval():
    """Shared reals move every column together, so the Avg varies more than with independent reals."""
    settings = BootstrapSettings(replicates=4000, seed=3)
    reals = np.array([True] * 25 + [False] * 25)
    fakes = np.ones(10, bool)
    shared = {g: (reals, fakes, "real") for g in ("A", "B", "C", "D")}
    separate = {g: (reals, fakes, g) for g in ("A", "B", "C", "D")}
    width = lambda out: out["mean"][1] - out["mean"][0]
    assert width(accuracy_intervals(shared, settings)) > 1.5 * width(accuracy_intervals(separate, settings))


# --- curves and summaries ----------------------------------------------------------------------


def _protocol_frame():
    return pd.DataFrame(
        _rows("real", 0, [0.2, 0.7, 0.1]) + _rows("A", 1, [0.9, 0.8]) + _rows("B", 1, [0.1, 0.6, 0.95, 0.4])
    )


PROTOCOL = {"name": "p", "real_source": "shared", "real_generator": "real",
            "columns": [{"generator": "A", "label": "A"}, {"generator": "B", "label": "B"}]}


def test_curves_match_sklearn_and_summary_records_cis():
    preds = _protocol_frame()
    roc, pr = curve_tables(column_sets(preds, ["A", "B"], "shared", "real"))
    assert list(roc.columns) == ["generator", "fpr", "tpr", "threshold"]
    b = roc[roc["generator"] == "B"]
    labels, scores = [0, 0, 0, 1, 1, 1, 1], [0.2, 0.7, 0.1, 0.1, 0.6, 0.95, 0.4]
    assert np.trapezoid(b["tpr"], b["fpr"]) == pytest.approx(roc_auc_score(labels, scores))
    assert pr.groupby("generator")["recall"].max().tolist() == [1.0, 1.0]

    metrics, roc2, _ = protocol_summary(preds, PROTOCOL, "run-seed0", BootstrapSettings(replicates=200, seed=0))
    assert metrics["run"] == "run-seed0" and metrics["bootstrap"]["replicates"] == 200
    low, high = metrics["generators"]["A"]["acc_ci"]
    assert low <= metrics["generators"]["A"]["acc"] <= high
    assert len(metrics["mean"]["acc_ci"]) == 2
    pd.testing.assert_frame_equal(roc, roc2)


def test_perturbed_summary_rows_per_perturbation():
    clean = _protocol_frame()
    frames = []
    for name, kind, strength, shift in (("jpeg-60", "jpeg", 60.0, 0.0), ("png", "png", float("nan"), 0.3)):
        f = clean.copy()
        f["score"] = np.clip(f["score"] + shift, 0, 1)
        f.insert(0, "strength", strength)
        f.insert(0, "kind", kind)
        f.insert(0, "perturbation", name)
        frames.append(f)
    out = perturbed_summary(pd.concat(frames, ignore_index=True), PROTOCOL)
    assert out["perturbation"].tolist() == ["jpeg-60"] * 3 + ["png"] * 3
    assert out["generator"].tolist() == ["A", "B", "Avg", "A", "B", "Avg"]
    reference = protocol_metrics(clean, ["A", "B"], "shared", "real")
    assert out.iloc[2]["acc"] == pytest.approx(reference["mean"]["acc"])
    # +0.3 moves the reals 0.2 0.7 0.1 to 0.5 (a tie: real, right), 1.0 (wrong), 0.4 (right): 2/3
    assert out.iloc[3]["real_acc"] == pytest.approx(200 / 3)


def test_long_curves_are_thinned_keeping_both_ends():
    frame = pd.DataFrame({"x": np.arange(10_000)})
    thinned = thin(frame, 1000)
    assert len(thinned) == 1000 and thinned["x"].iloc[0] == 0 and thinned["x"].iloc[-1] == 9_999
    assert thin(frame.head(5), 1000).equals(frame.head(5))
    rng = np.random.default_rng(0)
    preds = pd.DataFrame(_rows("real", 0, rng.random(3000)) + _rows("A", 1, rng.random(3000)))
    roc, pr = curve_tables(column_sets(preds, ["A"], "shared", "real"), max_points=200)
    assert len(roc) <= 200 and len(pr) <= 200
    assert (roc["fpr"].iloc[0], roc["tpr"].iloc[-1]) == (0.0, 1.0) and pr["recall"].iloc[0] == 1.0
