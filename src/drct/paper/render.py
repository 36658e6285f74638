"""One protocol's paper outputs: the table (Markdown + CSV) and the accuracy figure (PNG + PDF).

This is what ``drct tables`` calls. It reads only metrics.json files, so it needs no GPU and no
torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from drct.paper.figures import accuracy_figure
from drct.paper.tables import (
    PAPER_TABLES,
    blocks,
    build_table,
    generator_columns,
    load_paper_table,
    our_rows_from_metrics,
    write_table,
)

__all__ = ["render_protocol", "output_paths"]


def output_paths(out_dir: Path, stem: str) -> list[Path]:
    """``<stem>.md``, ``<stem>.csv``, ``<stem>_accuracy.png``, ``<stem>_accuracy.pdf`` in ``out_dir``."""
    out_dir = Path(out_dir)
    return [out_dir / f"{stem}.md", out_dir / f"{stem}.csv", out_dir / f"{stem}_accuracy.png", out_dir / f"{stem}_accuracy.pdf"]


def preamble(paper_table: str, table: pd.DataFrame, demo: bool) -> str:
    """What the numbers are, where the paper's come from, and (demo) why ours are not comparable."""
    lines = [
        "Accuracy (%) with a detection at P(fake) > 0.5. Each generator column: that generator's test",
        "fakes plus the real test set. Avg: unweighted mean of the row's generator columns. All numbers",
        f"rounded half-up to two decimals. Paper rows: {PAPER_TABLES[paper_table]} of Chen et al. (ICML 2024).",
    ]
    if len({tuple(cols) for _, _, cols in blocks(table)}) > 1:
        lines.append(
            "Our generators differ from the paper's, so ours and the paper's rows are in separate tables "
            "and each Avg covers only its own table's columns."
        )
    if demo:
        lines.append(
            "Demo run: tiny stand-in data and models; the 'ours (demo)' numbers exercise the pipeline "
            "and are not comparable to the paper's."
        )
    return "\n".join(lines) + "\n"


def render_protocol(
    paper_table: str,
    metrics_files: Sequence[Path],
    runs_meta: Sequence[dict],
    column_map: dict[str, str],
    demo: bool,
    out_dir: Path,
    title: str,
    *,
    stem: str | None = None,
) -> list[Path]:
    """Write the table and figure for one protocol; return the four paths (md, csv, png, pdf).

    ``stem`` names the files (default: ``paper_table``), see :func:`output_paths`.
    """
    paper = load_paper_table(paper_table)
    ours = our_rows_from_metrics(metrics_files, runs_meta, column_map)
    table = build_table(paper, ours, generator_columns(paper), demo)

    md, csv, png, pdf = paths = output_paths(Path(out_dir), stem or paper_table)
    write_table(table, md, csv, title=title, preamble=preamble(paper_table, table, demo))
    accuracy_figure(table, png, pdf, title)
    return paths
