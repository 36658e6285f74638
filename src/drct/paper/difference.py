"""Bar chart of ours minus the paper, per generator column and Avg, one colour per method.

Reads a :func:`drct.paper.compare.comparison_frame`. Bars above zero: we beat the printed
number. A star over a bar: the paper's value is outside our 95 % bootstrap interval (more than
test-set noise). When our generators differ from the paper's, only the Avg can be set side by
side; that bar is hatched and the panel says it is not like for like.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import seaborn as sns

from drct.paper.style import (
    method_colours,
    new_figure,
    row_label,
    save_figure,
    slant_x_labels,
)
from drct.paper.tables import generator_columns

__all__ = ["difference_figure"]


def difference_figure(frame: pd.DataFrame, out_png: Path, out_pdf: Path | None, title: str) -> None:
    """Draw the ``ours - paper`` rows of a comparison frame."""
    diff = frame[frame["kind"] == "ours - paper"]
    meta = ["method", "DR", "kind", "avg_like_for_like", "outside_ci", "shared", "notes"]
    columns = [c for c in generator_columns(frame.drop(columns=meta[2:])) if diff[c].notna().any()] + ["Avg"]
    long = []
    for _, r in diff.iterrows():
        label = row_label(r["method"], r["DR"])
        starred = set(str(r["outside_ci"]).split(";")) if r["outside_ci"] else set()
        for c in columns:
            if pd.notna(r[c]):
                long.append({"column": c, "delta": float(r[c]), "series": label, "star": c in starred,
                             "unlike": c == "Avg" and not r["avg_like_for_like"]})
    data = pd.DataFrame(long, columns=["column", "delta", "series", "star", "unlike"])
    order = list(dict.fromkeys(data["series"])) if len(data) else []
    colours = method_colours(order)

    width = max(6.5, min(16.0, 2.5 + len(columns) * (0.22 * max(len(order), 1) + 0.3)))
    fig = new_figure(width, 4.4)
    ax = fig.add_subplot(1, 1, 1)
    if data.empty:
        ax.text(0.5, 0.5, "none of our rows has a paper row of the same method and DR",
                ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    else:
        sns.barplot(data=data, x="column", y="delta", hue="series", order=columns, hue_order=order,
                    palette=colours, errorbar=None, ax=ax, edgecolor="0.25", linewidth=0.4)
        span = max(abs(data["delta"]).max(), 1.0)
        for container, series in zip(ax.containers, order):
            part = data[data["series"] == series].set_index("column")
            for bar in container:
                column = columns[round(bar.get_x() + bar.get_width() / 2)]  # bar centre -> its group
                if column not in part.index or pd.isna(bar.get_height()):
                    continue
                row = part.loc[column]
                if row["unlike"]:
                    bar.set_hatch("//")
                    bar.set_alpha(0.6)
                if row["star"]:
                    y = bar.get_height()
                    ax.text(bar.get_x() + bar.get_width() / 2, y + (0.02 if y >= 0 else -0.06) * span, "*",
                            ha="center", va="bottom", fontsize=11)
        ax.axhline(0, color="0.2", linewidth=0.8)
        if len(columns) > 1:
            ax.axvline(len(columns) - 1.5, color="0.6", linestyle=":", linewidth=1)
        ax.set_ylim(-1.15 * span, 1.15 * span)
        ax.set_ylabel("ours \u2212 paper (accuracy points)")
        ax.set_xlabel("")
        ax.grid(axis="y", color="0.9", linewidth=0.6)
        ax.set_axisbelow(True)
        slant_x_labels(ax, 35)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
        notes = ["* paper value outside our 95% bootstrap interval"]
        if data["unlike"].any():
            notes.append("hatched: Avg over different generators (not like for like)")
        ax.set_title("; ".join(notes), loc="left", fontsize=8.5, color="0.3")
        sns.despine(ax=ax)
    fig.suptitle(title, fontsize=11, x=0.01, ha="left")
    save_figure(fig, out_png, out_pdf)
