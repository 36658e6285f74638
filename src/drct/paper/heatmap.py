"""Per-generator accuracy heatmap: methods x generators, ours above the paper's.

seaborn ``heatmap`` on the Agg canvas, no torch. One colour scale for both panels (and the
colour bar), centred on chance (50 %) with a diverging palette, so "worse than a coin" reads red
and "near perfect" reads blue at a glance; every cell carries its number. The Avg column is set
off by a white gap. When ours and the paper share the generator columns, the panels line up.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns

from drct.paper.style import new_figure, row_label, save_figure, slant_x_labels
from drct.paper.tables import PAPER_SOURCE, generator_columns

__all__ = ["accuracy_heatmap"]


def _matrix(rows: pd.DataFrame) -> pd.DataFrame:
    columns = [c for c in generator_columns(rows) if rows[c].notna().any()] + ["Avg"]
    matrix = rows[columns].astype(float)
    matrix.index = [row_label(m, d) for m, d in zip(rows["method"], rows["DR"])]
    return matrix


def accuracy_heatmap(table: pd.DataFrame, out_png: Path, out_pdf: Path | None, title: str) -> None:
    """Draw a :func:`drct.paper.tables.build_table` frame: one heatmap per source, ours first."""
    sources = list(dict.fromkeys(table["source"]))
    sources = [s for s in sources if s != PAPER_SOURCE] + [s for s in sources if s == PAPER_SOURCE]
    panels = [(s, _matrix(table[table["source"] == s])) for s in sources]
    values = np.concatenate([m.to_numpy().ravel() for _, m in panels])
    values = values[~np.isnan(values)]
    spread = max(50.0 - float(values.min()) if len(values) else 10.0, float(values.max()) - 50.0 if len(values) else 10.0, 10.0)

    n_cols = max(m.shape[1] for _, m in panels)
    heights = [max(m.shape[0], 1) * 0.42 + 1.1 for _, m in panels]
    width = 3.2 + 0.62 * n_cols
    fig = new_figure(width, sum(heights) + 0.6)
    grid = fig.add_gridspec(len(panels), 2, height_ratios=heights, width_ratios=[40, 1], hspace=0.3, wspace=0.03)
    cbar_ax = fig.add_subplot(grid[:, 1])
    for i, (source, matrix) in enumerate(panels):
        # same cell width in every panel: a panel with fewer columns leaves the rest of its row empty
        spare = n_cols - matrix.shape[1]
        cell = grid[i, 0].subgridspec(1, 2, width_ratios=[matrix.shape[1], max(spare, 1e-6)], wspace=0)
        ax = fig.add_subplot(cell[0, 0])
        sns.heatmap(
            matrix, ax=ax, cmap="RdBu", center=50.0, vmin=50.0 - spread, vmax=50.0 + spread,
            annot=True, fmt=".1f", annot_kws={"fontsize": 7.5}, linewidths=0.5, linecolor="white",
            cbar=i == 0, cbar_ax=cbar_ax if i == 0 else None,
            cbar_kws={"label": "Accuracy (%)  (50 = chance)"},
        )
        ax.axvline(matrix.shape[1] - 1, color="white", linewidth=4)  # set Avg apart
        ax.set_title(source, loc="left", fontsize=10)
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.tick_params(axis="x", labelrotation=40, labelsize=8)
        ax.tick_params(axis="y", labelrotation=0, labelsize=8)
        slant_x_labels(ax, 40)
    fig.suptitle(title, fontsize=11, x=0.01, ha="left")
    save_figure(fig, out_png, out_pdf)
