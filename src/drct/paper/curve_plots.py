"""ROC and precision-recall curves per generator column: small multiples, one line per run.

Reads the ``roc.csv`` / ``pr.csv`` files the metrics step writes (no predictions, no torch).
Each panel is one generator column (the paper's name for it); each run keeps its colour across
panels and figures, and the panel's legend gives that run's AUC or AP there. ROC panels carry
the chance diagonal; PR panels the precision of calling everything fake (the share of fakes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import pandas as pd

from drct.paper.style import method_colours, new_figure, save_figure

__all__ = ["curve_figure"]

_AXES = {
    "roc": ("fpr", "tpr", "False positive rate (reals called fake)", "True positive rate (fakes caught)", "AUC"),
    "pr": ("recall", "precision", "Recall (fakes caught)", "Precision (of images called fake)", "AP"),
}


def curve_figure(
    curves: Sequence[tuple[str, pd.DataFrame, dict[str, float]]],
    kind: Literal["roc", "pr"],
    column_map: dict[str, str],
    out_png: Path,
    out_pdf: Path | None,
    title: str,
) -> None:
    """``curves``: (run label, its roc.csv/pr.csv frame, {generator: AUC or AP}) per run.

    Panels follow ``column_map`` (generator -> display name, the protocol's column order).
    """
    x, y, xlabel, ylabel, score_name = _AXES[kind]
    generators = list(column_map)
    n = len(generators)
    ncols = min(4, n)
    nrows = math.ceil(n / ncols)
    fig = new_figure(3.1 * ncols + 1.8, 2.9 * nrows + 0.7)
    colours = method_colours([label for label, _, _ in curves])
    axes = []
    for i, generator in enumerate(generators):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        axes.append(ax)
        baseline = None
        for label, frame, scores in curves:
            part = frame[frame["generator"] == generator]
            if part.empty:
                continue
            value = scores.get(generator)
            text = f"{value:.3f}" if value is not None and not math.isnan(value) else "n/a"
            ax.plot(part[x], part[y], color=colours[label], linewidth=1.4, label=text,
                    drawstyle="steps-post" if kind == "pr" else "default")
            if kind == "pr":
                baseline = float(part.loc[part["recall"].idxmax(), "precision"])
        if kind == "roc":
            ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=0.8)
        elif baseline is not None:
            ax.axhline(baseline, color="0.6", linestyle="--", linewidth=0.8)
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_aspect("equal")
        ax.set_title(column_map[generator], fontsize=10)
        ax.legend(title=score_name, loc="lower right" if kind == "roc" else "best",
                  fontsize=7, title_fontsize=7, frameon=True, framealpha=0.8, handlelength=1.2)
        ax.grid(color="0.92", linewidth=0.6)
        if i % ncols == 0:
            ax.set_ylabel(ylabel, fontsize=8)
        if i >= n - ncols:
            ax.set_xlabel(xlabel, fontsize=8)
        ax.tick_params(labelsize=7)
    handles = [axes[0].plot([], [], color=c, linewidth=2)[0] for c in colours.values()]
    fig.legend(handles, list(colours), loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=9)
    fig.suptitle(title, fontsize=11, x=0.01, ha="left")
    fig.tight_layout()
    save_figure(fig, out_png, out_pdf)
