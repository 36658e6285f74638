"""Metrics beyond the paper, per run and generator column: the table the paper does not print.

ACC at 0.5 with its 95 % bootstrap interval, real and fake ACC (a detector can reach 50 % ACC by
calling everything real), AUC and AP (threshold-free: separability), and the oracle-threshold
accuracy with its threshold, an upper bound reported under its own name (the threshold is fitted
on the test labels). The gap between oracle ACC and ACC is the part of a column's error that a
better threshold would have removed: a calibration shift, not lost separability.

One row per run (every seed its own) and column, then the run's Avg row. pandas only.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from drct.paper.rounding import format_cell
from drct.paper.tables import RunMetrics

__all__ = ["DETAIL_HEADER", "detail_frame", "detail_markdown"]

DETAIL_HEADER = (
    "Method", "DR", "seed", "Column", "ACC", "ACC 95% CI", "real ACC", "fake ACC", "AUC", "AP",
    "oracle ACC", "oracle threshold",
)


def _ci(values: dict) -> str:
    ci = values.get("acc_ci")
    if not ci or ci[0] is None:
        return ""
    return f"[{format_cell(ci[0])}, {format_cell(ci[1])}]"


def _ratio(value) -> str:
    return "" if value is None else format_cell(value, 3)


def detail_frame(runs: Sequence[RunMetrics]) -> pd.DataFrame:
    """The printed table (strings), columns :data:`DETAIL_HEADER`."""
    rows = []
    for r in runs:
        seed = "" if r.seed is None else str(r.seed)
        for column, values in [*r.columns.items(), ("Avg", r.mean)]:
            threshold = values.get("oracle_threshold")
            rows.append([
                r.method, r.dr, seed, column, format_cell(values.get("acc")), _ci(values),
                format_cell(values.get("real_acc")), format_cell(values.get("fake_acc")),
                _ratio(values.get("auc")), _ratio(values.get("ap")), format_cell(values.get("oracle_acc")),
                "" if column == "Avg" or threshold is None else format_cell(threshold, 3),
            ])
    return pd.DataFrame(rows, columns=list(DETAIL_HEADER))


def detail_markdown(frame: pd.DataFrame, title: str, bootstrap: dict | None) -> str:
    """Pipe table with a preamble saying what every column is and how the intervals were made."""
    settings = ""
    if bootstrap:
        settings = (
            f" Intervals: percentile bootstrap, {bootstrap['replicates']} replicates, seed {bootstrap['seed']}, "
            f"level {bootstrap['level']}; reals and fakes resampled separately, a shared real set drawn once per "
            "replicate for all columns (so the Avg interval accounts for it)."
        )
    preamble = (
        f"# {title}\n\n"
        "Metrics the paper does not print, from the same predictions. ACC, real ACC, fake ACC in % at "
        "P(fake) > 0.5; AUC and AP threshold-free (0-1). **Oracle ACC is not a result**: the best accuracy any "
        "single threshold reaches on that column, the threshold fitted on the test labels (an upper bound; "
        f"its gap to ACC is calibration shift). Avg rows: unweighted means over the columns.{settings}\n\n"
    )
    header = list(frame.columns)
    align = [":---"] * 4 + ["---:"] * (len(header) - 4)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return preamble + "\n".join(lines) + "\n"
