"""One protocol's paper outputs: tables (Markdown, CSV, LaTeX) and figures (PNG, PDF).

This is what ``drct tables`` calls. It reads only evaluation outputs (metrics.json, roc.csv,
pr.csv), so it needs no GPU, no raw data and no torch. :func:`render_protocol` writes the paper-
layout table and its accuracy figure; :func:`render_paper` writes everything for a protocol:

=====================  ================================================================
``table.*``            paper layout (Markdown, CSV, LaTeX with the paper's bold/underline
                       and group headers), the paper's rows and ours (seeds: mean ± std)
``comparison.*``       each of our rows beside the paper's row and the difference
``metrics.*``          beyond the paper: real/fake ACC, AUC, AP, oracle ACC, ACC 95 % CI
``*.html``             each Markdown table as an HTML page (``snakemake --report`` shows
                       HTML in the page, CSV only as a download link)
``table_accuracy.*``   bars: ours vs the paper per generator
``heatmap.*``          methods x generators, ours and the paper's
``difference.*``       bars: ours minus the paper
``roc.*``, ``pr.*``    ROC / PR curves per generator, a line per run
=====================  ================================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from drct.io import atomic_write_text, write_csv
from drct.paper.accuracy_bars import accuracy_figure
from drct.paper.compare import (
    ci_envelopes,
    comparison_frame,
    comparison_markdown,
    printed_comparison,
)
from drct.paper.curve_plots import curve_figure
from drct.paper.detail import detail_frame, detail_markdown
from drct.paper.difference import difference_figure
from drct.paper.heatmap import accuracy_heatmap
from drct.paper.html import write_html
from drct.paper.latex import escape, latex_table, latex_tabular
from drct.paper.style import row_label
from drct.paper.tables import (
    COLUMN_GROUPS,
    PAPER_SOURCE,
    PAPER_TABLES,
    aggregate_seeds,
    blocks,
    build_table,
    generator_columns,
    load_paper_table,
    load_runs,
    our_rows_from_metrics,
    write_table,
)

__all__ = ["render_protocol", "render_paper", "output_paths", "PAPER_OUTPUTS"]

#: Files :func:`render_paper` writes in its folder (the rule's outputs).
PAPER_OUTPUTS: tuple[str, ...] = (
    "table.md", "table.csv", "table.tex", "table.html",
    "comparison.md", "comparison.csv", "comparison.tex", "comparison.html",
    "metrics.md", "metrics.csv", "metrics.html",
    "table_accuracy.png", "table_accuracy.pdf", "heatmap.png", "heatmap.pdf",
    "difference.png", "difference.pdf", "roc.png", "roc.pdf", "pr.png", "pr.pdf",
)


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


def _std_table(table: pd.DataFrame, std_rows: pd.DataFrame) -> pd.DataFrame:
    """Std frame aligned with ``table``: NaN for the paper's rows, our seeds' std for ours (last rows)."""
    std = pd.DataFrame(index=table.index, columns=table.columns, dtype=float)
    if std_rows.empty:
        return std
    ours_index = table.index[table["source"] != PAPER_SOURCE]
    for column in [*generator_columns(table), "Avg"]:
        if column in std_rows.columns:
            std.loc[ours_index, column] = std_rows[column].astype(float).to_numpy()
    return std


def _groups_line(paper_table: str, table: pd.DataFrame) -> str:
    groups = COLUMN_GROUPS.get(paper_table) or []
    if not groups:
        return ""
    text = "; ".join(f"{name}: {', '.join(cols)}" for name, cols in groups)
    return f"Column groups of the paper's header: {text}."


def table_latex(table: pd.DataFrame, std: pd.DataFrame, paper_table: str, title: str) -> str:
    """Paper-layout LaTeX: one tabular when all rows share columns, else one per source (ours first)."""
    groups = COLUMN_GROUPS.get(paper_table) or []

    def label(row: pd.Series) -> str:
        if row["source"] == PAPER_SOURCE:
            return str(row["method"])
        return f"{row['method']} ({'demo' if 'demo' in str(row['source']) else 'reproduced'})"

    parts = blocks(table)
    if len({tuple(cols) for _, _, cols in parts}) <= 1:
        cols = parts[0][2] if parts else []
        tabulars = [("", latex_tabular(table, cols, std=std, groups=groups, row_label=label))]
    else:
        parts = [b for b in parts if b[0] != PAPER_SOURCE] + [b for b in parts if b[0] == PAPER_SOURCE]
        tabulars = [
            (f"({source})", latex_tabular(rows, cols, std=std.loc[rows.index], groups=groups, row_label=label))
            for source, rows, cols in parts
        ]
    caption = f"{title}. Accuracy (%) at P(fake) > 0.5; best of each column bold, second underlined."
    return latex_table(tabulars, caption, f"tab:{paper_table}")


def comparison_latex(frame: pd.DataFrame, title: str, label: str) -> str:
    printed = printed_comparison(frame)
    cols = [c for c in printed.columns if c not in ("method", "DR", "kind", "avg_like_for_like", "shared_columns")]
    lines = [rf"\begin{{tabular}}{{lll{'c' * len(cols)}}}", r"\toprule",
             " & ".join(["Method", "DR", "", *[escape(c) for c in cols]]) + r" \\", r"\midrule"]
    previous = None
    for _, r in printed.iterrows():
        key = (r["method"], r["DR"])
        if previous is not None and key != previous:
            lines.append(r"\midrule")
        previous = key
        lines.append(" & ".join(escape(v) for v in [r["method"], r["DR"], r["kind"], *[r[c] for c in cols]]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return latex_table([("", "\n".join(lines))], f"{title}: ours beside the paper", label)


def render_paper(
    paper_table: str,
    metrics_files: Sequence[Path],
    roc_files: Sequence[Path],
    pr_files: Sequence[Path],
    runs_meta: Sequence[dict],
    column_map: dict[str, str],
    demo: bool,
    out_dir: Path,
    title: str,
) -> list[Path]:
    """Every table and figure of one protocol (:data:`PAPER_OUTPUTS`) into ``out_dir``.

    ``roc_files`` / ``pr_files`` are in the order of ``metrics_files`` (one per run).
    """
    if not (len(metrics_files) == len(roc_files) == len(pr_files)):
        raise ValueError("need one roc.csv and one pr.csv per metrics.json")
    out = Path(out_dir)
    paths = {name: out / name for name in PAPER_OUTPUTS}
    paper = load_paper_table(paper_table)
    runs = load_runs(metrics_files, runs_meta, column_map)
    rows = our_rows_from_metrics(metrics_files, runs_meta, column_map)
    means, std_rows = aggregate_seeds(rows)
    # the paper's row order: detectors without DR first, then the DR methods (stable otherwise)
    order = sorted(range(len(means)), key=lambda i: str(means["DR"].iloc[i]) not in ("-", ""))
    means, std_rows = means.iloc[order].reset_index(drop=True), std_rows.iloc[order].reset_index(drop=True)
    table = build_table(paper, means, generator_columns(paper), demo)
    std = _std_table(table, std_rows)

    groups = _groups_line(paper_table, table)
    write_table(
        table, paths["table.md"], paths["table.csv"], title=title,
        preamble=preamble(paper_table, table, demo) + (groups + "\n" if groups else ""), std=std,
    )
    atomic_write_text(paths["table.tex"], table_latex(table, std, paper_table, title))

    frame = comparison_frame(table, ci_envelopes(runs))
    atomic_write_text(
        paths["comparison.md"],
        f"# {title}: ours beside the paper\n\n"
        + ("Demo run: the numbers exercise the pipeline and are not comparable to the paper's.\n\n" if demo else "")
        + comparison_markdown(frame),
    )
    write_csv(printed_comparison(frame), paths["comparison.csv"])
    atomic_write_text(paths["comparison.tex"], comparison_latex(frame, title, f"tab:{paper_table}-comparison"))

    detail = detail_frame(runs)
    atomic_write_text(
        paths["metrics.md"], detail_markdown(detail, f"{title}: metrics beyond the paper", runs[0].bootstrap if runs else None)
    )
    write_csv(detail, paths["metrics.csv"])
    for stem in ("table", "comparison", "metrics"):
        write_html(paths[f"{stem}.md"], paths[f"{stem}.html"])

    accuracy_figure(table, paths["table_accuracy.png"], paths["table_accuracy.pdf"], title)
    accuracy_heatmap(table, paths["heatmap.png"], paths["heatmap.pdf"], title)
    difference_figure(frame, paths["difference.png"], paths["difference.pdf"], f"{title}: ours \u2212 paper")
    for kind, files, key in (("roc", roc_files, "auc"), ("pr", pr_files, "ap")):
        reverse = {label: generator for generator, label in column_map.items()}
        curves = []
        # baselines first, as the table rows, so each method keeps its colour across figures
        for r, path in sorted(zip(runs, files), key=lambda pair: pair[0].dr not in ("-", "")):
            scores = {reverse.get(c, c): v.get(key) for c, v in r.columns.items()}
            name = row_label(r.method, r.dr) + (f" seed {r.seed}" if len({x.seed for x in runs}) > 1 else "")
            curves.append((name, pd.read_csv(path), scores))
        curve_figure(curves, kind, column_map, paths[f"{kind}.png"], paths[f"{kind}.pdf"],
                     f"{title}: {'ROC' if kind == 'roc' else 'precision-recall'} curves")
    return [paths[name] for name in PAPER_OUTPUTS]
