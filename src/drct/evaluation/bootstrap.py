"""Bootstrap confidence intervals for per-column accuracy and the table's Avg.

numpy only. Why: a table of accuracies cannot tell a 0.3-point gap to the paper from noise; a
percentile bootstrap over the test images can, and costs nothing next to the GPU step.

The resampling follows the evaluation's structure:

- *stratified*: reals and fakes are resampled separately, so each replicate keeps the column's
  class sizes (the paper's columns are fixed sets: 5,000 COCO reals plus that generator's fakes);
- *shared reals are shared*: where every column uses the same real set (DRCT-2M's COCO val2017),
  one replicate draws that set once and every column sees the same draw, so the Avg's interval
  includes the correlation between columns that a per-column bootstrap would ignore.

Accuracy depends on a resampled set only through how many of its images are classified
correctly. Drawing ``n`` images with replacement from a pool in which ``k`` are right gives a
Binomial(n, k/n) count of right ones, so each pool's count is drawn directly from that binomial:
the same distribution as resampling indices, in O(replicates) time and memory instead of
O(replicates x images) (DRCT-2M: 16 columns of 5,000 fakes).

Deterministic: the generator is ``numpy.random.default_rng(seed)`` and pools are drawn in sorted
name order, so the same predictions, replicates and seed give the same interval on any machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["BootstrapSettings", "accuracy_intervals"]


@dataclass(frozen=True)
class BootstrapSettings:
    """Replicates, two-sided level (0.95: 2.5th and 97.5th percentiles) and the seed."""

    replicates: int = 1000
    level: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        if self.replicates < 2:
            raise ValueError(f"bootstrap replicates must be >= 2, got {self.replicates}")
        if not 0 < self.level < 1:
            raise ValueError(f"bootstrap level must be in (0, 1), got {self.level}")
        if self.seed < 0:
            raise ValueError(f"bootstrap seed must be >= 0, got {self.seed}")

    @classmethod
    def from_dict(cls, values: Mapping | None) -> BootstrapSettings:
        return cls(**dict(values or {}))

    def to_dict(self) -> dict:
        return asdict(self)


def _draw(rng: np.random.Generator, correct: np.ndarray, replicates: int) -> np.ndarray:
    """Resampled counts of correct items: Binomial(n, k/n) per replicate (see the module)."""
    n = int(correct.size)
    k = int(np.count_nonzero(correct))
    return rng.binomial(n, k / n, size=replicates) if n else np.zeros(replicates, dtype=np.int64)


def accuracy_intervals(
    columns: Mapping[str, tuple[np.ndarray, np.ndarray, str]],
    settings: BootstrapSettings | None = None,
) -> dict:
    """Percentile intervals of each column's accuracy and of their unweighted mean (Avg), in %.

    ``columns``: ``{column: (reals_correct, fakes_correct, real_set_name)}``, boolean arrays of
    whether each real / fake test image was classified correctly. Columns naming the same real set
    must pass the same reals (they are drawn once per replicate). Returns ``{"generators": {g:
    [low, high]}, "mean": [low, high], "settings": {...}}``.
    """
    settings = settings or BootstrapSettings()
    if not columns:
        raise ValueError("accuracy_intervals needs at least one column")
    real_sets: dict[str, np.ndarray] = {}
    for name, (reals, _, real_name) in columns.items():
        reals = np.asarray(reals, dtype=bool)
        if real_name in real_sets and not np.array_equal(real_sets[real_name], reals):
            raise ValueError(f"column {name!r}: real set {real_name!r} differs from another column's")
        real_sets[real_name] = reals

    rng = np.random.default_rng(settings.seed)
    b = settings.replicates
    real_draws = {name: _draw(rng, real_sets[name], b) for name in sorted(real_sets)}
    fake_draws = {g: _draw(rng, np.asarray(columns[g][1], dtype=bool), b) for g in sorted(columns)}

    accs = {}
    for g, (reals, fakes, real_name) in columns.items():
        n = np.asarray(reals).size + np.asarray(fakes).size
        if n == 0:
            raise ValueError(f"column {g!r} has no images")
        accs[g] = 100.0 * (real_draws[real_name] + fake_draws[g]) / n
    mean = np.mean(np.stack([accs[g] for g in columns]), axis=0)

    tail = 100.0 * (1.0 - settings.level) / 2.0

    def interval(values: np.ndarray) -> list[float]:
        low, high = np.percentile(values, [tail, 100.0 - tail])
        return [float(low), float(high)]

    return {
        "generators": {g: interval(accs[g]) for g in columns},
        "mean": interval(mean),
        "settings": settings.to_dict(),
    }
