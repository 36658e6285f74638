"""Shared look of the paper figures: one colour per method everywhere, deterministic saving.

matplotlib's object API with the Agg canvas (no pyplot: no global state, no display) and
seaborn's styling. No torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from drct.io import atomic_path

__all__ = ["DPI", "new_figure", "save_figure", "method_colours", "row_label", "slant_x_labels"]

DPI = 150


def row_label(method: str, dr: str | None) -> str:
    """"DRCT/Conv-B (SDv1)"; baselines (no DR) by their method name alone."""
    return method if dr in ("-", "", None) else f"{method} ({dr})"


def method_colours(labels: Sequence[str]) -> dict[str, str]:
    """A stable colour per label, in the given order (tab10, cycling)."""
    base = sns.color_palette("tab10", n_colors=10)
    return {label: to_hex(base[i % len(base)]) for i, label in enumerate(dict.fromkeys(labels))}


def new_figure(width: float, height: float) -> Figure:
    """A Figure on the Agg canvas with seaborn's ticks style applied to its axes later."""
    sns.set_theme(style="ticks", context="paper", font_scale=1.1)
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def slant_x_labels(ax, degrees: float) -> None:
    """Rotate the x tick labels, right-aligned and anchored at their tick, so long generator names stay readable."""
    for tick in ax.get_xticklabels():
        tick.set_rotation(degrees)
        tick.set_horizontalalignment("right")
        tick.set_rotation_mode("anchor")


def save_figure(fig: Figure, png: Path, pdf: Path | None) -> None:
    """PNG (and PDF) atomically, without timestamps, so a re-render gives the same bytes."""
    for path, fmt in ((png, "png"), (pdf, "pdf")):
        if path is None:
            continue
        metadata = {"CreationDate": None} if fmt == "pdf" else {"Software": None}
        with atomic_path(Path(path)) as tmp:
            fig.savefig(tmp, format=fmt, dpi=DPI, bbox_inches="tight", metadata=metadata)
