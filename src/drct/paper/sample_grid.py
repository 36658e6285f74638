"""Sample grid: real / real-rec / fake / fake-rec, like the paper's framework figure.

Reads the sample folder the evaluation step copied (``samples.csv`` and the images beside it),
so it needs neither the raw data nor torch. One row per sample index, four columns: a real image,
its diffusion reconstruction, a generated image, its reconstruction; real columns framed green
and fake ones orange, as in the paper's figure. Images are shown whole, at their own aspect ratio.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from drct.paper.style import new_figure, save_figure

__all__ = ["COLUMNS", "sample_grid"]

#: (group, role, column title, frame colour) per grid column, in the paper's order.
COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("real", "image", "Real", "#2e9e44"),
    ("real", "rec", "Real rec.", "#f0a35e"),
    ("fake", "image", "Fake", "#e4572e"),
    ("fake", "rec", "Fake rec.", "#e4572e"),
)


def sample_grid(samples_dir: Path, out_png: Path, out_pdf: Path | None, title: str) -> None:
    """Draw the grid from ``samples_dir/samples.csv``; a missing group leaves its columns blank."""
    samples_dir = Path(samples_dir)
    table = pd.read_csv(samples_dir / "samples.csv")
    if table.empty:
        raise ValueError(f"{samples_dir}/samples.csv lists no images")
    n_rows = int(table["index"].max()) + 1
    fig = new_figure(2.3 * len(COLUMNS), 2.3 * n_rows + 0.7)
    for row in range(n_rows):
        for col, (group, role, name, colour) in enumerate(COLUMNS):
            ax = fig.add_subplot(n_rows, len(COLUMNS), row * len(COLUMNS) + col + 1)
            hit = table[(table["index"] == row) & (table["group"] == group) & (table["role"] == role)]
            ax.set_xticks([])
            ax.set_yticks([])
            if len(hit):
                with Image.open(samples_dir / hit["file"].iloc[0]) as image:
                    ax.imshow(np.asarray(image.convert("RGB")))
                for spine in ax.spines.values():
                    spine.set_edgecolor(colour)
                    spine.set_linewidth(3)
                ax.set_xlabel(str(hit["generator"].iloc[0]), fontsize=7, color="0.35")
            else:
                ax.set_axis_off()
            if row == 0:
                ax.set_title(name, fontsize=11, color=colour, fontweight="bold")
    fig.suptitle(title, fontsize=11, x=0.01, ha="left")
    fig.tight_layout()
    save_figure(fig, out_png, out_pdf)
