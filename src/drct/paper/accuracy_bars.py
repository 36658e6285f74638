"""Per-generator accuracy figure: our runs beside the paper's rows for the same methods.

Built on ``matplotlib.figure.Figure`` with the Agg canvas (no pyplot, so no global backend
state and no display needed) and seaborn bar plots. No torch.

Layout: when ours and the paper share the generator columns, one panel of grouped bars per
generator, each method in one colour, the paper's bar light and hatched next to our dark one.
When the columns differ (the demo), two stacked panels, ours above and the paper below, each with its
own generator axis and the same colour per method. The chance level (50 %) is a dashed line and
the Avg group is set off by a dotted separator.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from drct.paper.style import method_colours, row_label, save_figure, slant_x_labels
from drct.paper.tables import PAPER_SOURCE, generator_columns

#: Bars get their value printed on top when a panel has at most this many (the demo).
MAX_LABELLED_BARS = 24


def _select(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(paper rows to show, our rows): the paper's rows for our methods and DRs, else all of them."""
    ours = table[table["source"] != PAPER_SOURCE]
    paper = table[table["source"] == PAPER_SOURCE]
    if not ours.empty:
        wanted = set(zip(ours["method"], ours["DR"]))
        matched = paper[[(m, d) in wanted for m, d in zip(paper["method"], paper["DR"])]]
        if not matched.empty:
            paper = matched
    return paper, ours


def _columns(rows: pd.DataFrame) -> list[str]:
    """Generator columns these rows have values for, then Avg."""
    return [c for c in generator_columns(rows) if rows[c].notna().any()] + ["Avg"]


def _series_name(label: str, source: str) -> str:
    return f"{label} \u2014 {source}"


def _long(rows: pd.DataFrame, columns: list[str], by_source: bool) -> pd.DataFrame:
    """Long form for seaborn: one row per (table row, column) with a value.

    ``series`` (the bar colour) is the method label, plus the source when paper and ours share
    a panel.
    """
    out = []
    for _, r in rows.iterrows():
        label = row_label(r["method"], r["DR"])
        series = _series_name(label, r["source"]) if by_source else label
        for c in columns:
            if pd.notna(r[c]):
                out.append({"column": c, "acc": float(r[c]), "series": series})
    return pd.DataFrame(out, columns=["column", "acc", "series"])


def _y_bottom(values: pd.Series) -> float:
    """40 % (just under chance) unless something is lower: detectors live between 50 and 100."""
    low = float(values.min()) if len(values) else 50.0
    return max(0.0, min(40.0, 10.0 * ((low - 5.0) // 10)))  # >= 5 points of room under the lowest bar


def _decorate(ax, columns: list[str], title: str, y_bottom: float) -> None:
    """Chance line, Avg separator, shared y range, rotated generator names, legend outside."""
    ax.axhline(50, color="0.4", linestyle="--", linewidth=0.8, zorder=0)
    if len(columns) > 1:
        ax.axvline(len(columns) - 1.5, color="0.6", linestyle=":", linewidth=1)
    ax.set_ylim(y_bottom, 101)
    ax.set_xlim(-0.6, len(columns) - 0.4)
    ax.set_ylabel("Accuracy (%)")
    ax.set_xlabel("")
    ax.set_title(title, fontsize=10, loc="left")
    ax.grid(axis="y", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    slant_x_labels(ax, 35)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    sns.despine(ax=ax)


def _bars(
    ax, long: pd.DataFrame, columns: list[str], order: list[str], palette: dict[str, str], hatches: dict[str, str]
) -> None:
    """Grouped bars (x: column, hue: series in ``order``); seaborn's legend is rebuilt later."""
    sns.barplot(
        data=long, x="column", y="acc", hue="series", order=columns, hue_order=order,
        palette=palette, errorbar=None, ax=ax, edgecolor="0.25", linewidth=0.4,
    )
    for container, series in zip(ax.containers, order):
        for bar in container:
            bar.set_hatch(hatches.get(series, ""))
    if len(long) <= MAX_LABELLED_BARS:
        for container in ax.containers:
            ax.bar_label(container, fmt="%.1f", fontsize=7, padding=1)
    if ax.legend_ is not None:
        ax.legend_.remove()


def accuracy_figure(table: pd.DataFrame, out_png: Path, out_pdf: Path | None, title: str) -> None:
    """Plot a :func:`drct.paper.tables.build_table` frame: per-generator accuracy, ours vs paper."""
    paper, ours = _select(table)
    labels = list(dict.fromkeys(row_label(m, d) for m, d in zip(ours["method"], ours["DR"])))
    labels += [lab for lab in dict.fromkeys(row_label(m, d) for m, d in zip(paper["method"], paper["DR"])) if lab not in labels]
    light = sns.color_palette("pastel", n_colors=max(len(labels), 1))
    colour = method_colours(labels)
    pale = {lab: to_hex(light[i % len(light)]) for i, lab in enumerate(labels)}

    paper_cols, ours_cols = _columns(paper), _columns(ours) if not ours.empty else []
    shown = pd.concat([paper[paper_cols], ours[ours_cols]] if ours_cols else [paper[paper_cols]])
    y_bottom = _y_bottom(shown.stack())
    one_panel = ours.empty or paper_cols == ours_cols

    if one_panel:
        columns = paper_cols
        rows = pd.concat([ours, paper])
        long = _long(rows, columns, by_source=True)
        # each method's paper bar right after ours, paper light and hatched
        order, palette, hatches = [], {}, {}
        for lab in labels:
            for source in [*dict.fromkeys(ours["source"]), PAPER_SOURCE]:
                name = _series_name(lab, source)
                if name in set(long["series"]):
                    order.append(name)
                    palette[name] = (pale if source == PAPER_SOURCE else colour)[lab]
                    hatches[name] = "//" if source == PAPER_SOURCE else ""
        width = min(16.0, 3.0 + len(columns) * (0.16 * max(len(order), 1) + 0.25))
        fig = Figure(figsize=(max(width, 7.0), 5.0))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        _bars(ax, long, columns, order, palette, hatches)
        _decorate(ax, columns, "paper: light, hatched; ours: solid" if not ours.empty else "paper", y_bottom)
    else:
        # ours on top: they are the subject; the paper below for reference
        panels = [(ours, ours_cols, str(ours["source"].iloc[0])), (paper, paper_cols, PAPER_SOURCE)]
        n_bars = max(len(c) * max(len(r), 1) for r, c, _ in panels)
        width = min(16.0, 3.0 + n_bars * 0.16 + max(len(c) for _, c, _ in panels) * 0.25)
        fig = Figure(figsize=(max(width, 7.0), 8.0))
        FigureCanvasAgg(fig)
        for i, (rows, columns, source) in enumerate(panels):
            ax = fig.add_subplot(2, 1, i + 1)
            long = _long(rows, columns, by_source=False)
            order = [lab for lab in labels if lab in set(long["series"])]
            palette = {lab: (pale if source == PAPER_SOURCE else colour)[lab] for lab in order}
            hatches = {lab: "//" if source == PAPER_SOURCE else "" for lab in order}
            _bars(ax, long, columns, order, palette, hatches)
            _decorate(ax, columns, source, y_bottom)

    fig.suptitle(title, fontsize=12, x=0.01, ha="left")
    fig.tight_layout()
    save_figure(fig, Path(out_png), None if out_pdf is None else Path(out_pdf))
