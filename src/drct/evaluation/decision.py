"""The decision rule: an image is called fake when its score is strictly above the threshold.

One definition for the metrics (accuracy at 0.5) and for ``drct predict``'s ``prediction`` column,
kept apart from :mod:`drct.evaluation.metrics` so that ``drct predict`` does not import scikit-learn
(a second of start-up) only to compare numbers with 0.5.
"""

from __future__ import annotations

import numpy as np

__all__ = ["predict_fake"]


def predict_fake(scores: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Boolean fake decisions: strictly above the threshold (ties go to real, as in the original)."""
    return np.asarray(scores, dtype=float) > threshold
