"""Metrics against values worked out by hand (arithmetic in the comments)."""

from __future__ import annotations

import math
import subprocess
import sys

import pandas as pd
import pytest

from drct.evaluation.metrics import binary_metrics, json_ready, protocol_metrics


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
    assert set(out["mean"]) == {"acc", "real_acc", "fake_acc", "auc", "ap"}


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
