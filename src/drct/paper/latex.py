"""LaTeX (booktabs) for the paper's tables, marked as the paper marks them.

Pure text, no torch. Layout of each tabular, as in the paper: a header row of column groups
(Table 1's "SD Variants", "Turbo Variants", ...; ``\\cmidrule`` under each), a header row of
generator names, then row blocks separated by ``\\midrule``: detectors without DR, then each DR
method (DIRE, DRCT), then our rows. In every numeric column (Avg included) the best value over
all rows of the tabular is **bold** and the second best underlined, compared on the printed
(two-decimal, half-up) values so that printed ties are marked alike.

Packages needed in the including document: ``booktabs`` and ``graphicx`` (the tabular is wrapped
in ``\\resizebox`` to the text width, as the 16-column Table 1 needs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

import pandas as pd

from drct.paper.rounding import format_cell, round_half_up

__all__ = ["escape", "marks", "latex_tabular", "latex_table", "group_spans"]

_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}


def escape(text: object) -> str:
    """``text`` with LaTeX's special characters escaped (method names, generator names, notes)."""
    return "".join(_SPECIAL.get(ch, ch) for ch in str(text))


def marks(values: Sequence[float]) -> list[str]:
    """Per value: ``"best"`` (highest printed value), ``"second"`` (next distinct one) or ``""``.

    NaN is never marked. With a single distinct value nothing is second.
    """
    printed = [None if v is None or (isinstance(v, float) and math.isnan(v)) else Decimal(round_half_up(v)) for v in values]
    distinct = sorted({p for p in printed if p is not None}, reverse=True)
    best = distinct[0] if distinct else None
    second = distinct[1] if len(distinct) > 1 else None
    return ["best" if p is not None and p == best else "second" if p is not None and p == second else "" for p in printed]


def _wrap(text: str, mark: str) -> str:
    if mark == "best":
        return rf"\textbf{{{text}}}"
    if mark == "second":
        return rf"\underline{{{text}}}"
    return text


def group_spans(columns: Sequence[str], groups: Sequence[tuple[str, Sequence[str]]]) -> list[tuple[str, int, int]] | None:
    """(group name, first index, last index) over ``columns`` when the groups cover them in order.

    Returns None (no group header) unless every column belongs to a group and each group's
    columns are contiguous: a partial or reordered set of columns (the demo) gets a flat header.
    """
    if not groups or not columns:
        return None
    owner = {c: name for name, cols in groups for c in cols}
    if any(c not in owner for c in columns):
        return None
    spans: list[tuple[str, int, int]] = []
    for i, c in enumerate(columns):
        if spans and spans[-1][0] == owner[c] and spans[-1][2] == i - 1:
            spans[-1] = (owner[c], spans[-1][1], i)
        else:
            spans.append((owner[c], i, i))
    names = [s[0] for s in spans]
    return spans if len(names) == len(set(names)) else None


def _row_block(row: pd.Series) -> tuple[str, str]:
    """Rows of one block share this key: the source, and '-' (no DR) or the DR method's name."""
    dr = str(row["DR"])
    method = str(row["method"]).split("/")[0]
    return str(row["source"]), "-" if dr in ("-", "") else method


def latex_tabular(
    rows: pd.DataFrame,
    columns: Sequence[str],
    *,
    std: pd.DataFrame | None = None,
    groups: Sequence[tuple[str, Sequence[str]]] = (),
    row_label=None,
    show_dr: bool = True,
) -> str:
    """One booktabs tabular: Method, DR, ``columns``, Avg. with the paper's marking.

    ``std`` (same index as ``rows``) adds ``$\\pm$ std`` to cells that have one (several seeds).
    ``row_label(row) -> str`` names a row (default: its method).
    """
    numeric = [*columns, "Avg"]
    spans = group_spans(columns, groups)
    lead = 2 if show_dr else 1
    spec = "l" * lead + "c" * len(numeric)
    lines = [rf"\begin{{tabular}}{{{spec}}}", r"\toprule"]
    if spans:
        cells = [""] * lead
        rules = []
        cursor = 0
        for name, first, last in spans:
            cells += [""] * (first - cursor)
            width = last - first + 1
            cells.append(rf"\multicolumn{{{width}}}{{c}}{{{escape(name)}}}")
            rules.append(rf"\cmidrule(lr){{{lead + first + 1}-{lead + last + 1}}}")
            cursor = last + 1
        cells += [""] * (len(columns) - cursor + 1)
        lines.append(" & ".join(cells) + r" \\")
        lines.append(" ".join(rules))
    header = ["Method", "DR"][:lead] + [escape(c) for c in columns] + ["Avg."]
    lines.append(" & ".join(header) + r" \\")
    lines.append(r"\midrule")

    column_marks = {c: marks([float(v) if pd.notna(v) else float("nan") for v in rows[c]]) for c in numeric}
    previous = None
    for position, (index, row) in enumerate(rows.iterrows()):
        block = _row_block(row)
        if previous is not None and block != previous:
            lines.append(r"\midrule")
        previous = block
        label = row_label(row) if row_label else str(row["method"])
        cells = [escape(label)] + ([escape(row["DR"])] if show_dr else [])
        for c in numeric:
            text = format_cell(row[c])
            if text and std is not None and c in std.columns and pd.notna(std.loc[index, c]):
                text = rf"{text}$\pm${format_cell(std.loc[index, c])}"
            cells.append(_wrap(text, column_marks[c][position]) if text else "")
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines)


def latex_table(tabulars: Sequence[tuple[str, str]], caption: str, label: str) -> str:
    """A ``table*`` float per (subcaption, tabular), each resized to the text width."""
    out = [
        "% generated by drct (drct.paper.latex); needs \\usepackage{booktabs,graphicx}",
    ]
    for i, (subcaption, tabular) in enumerate(tabulars):
        text = caption if not subcaption else f"{caption} {subcaption}"
        suffix = "" if len(tabulars) == 1 else f"-{i + 1}"
        out += [
            r"\begin{table*}[t]",
            r"\centering",
            rf"\caption{{{escape(text)}}}",
            rf"\label{{{label}{suffix}}}",
            r"\resizebox{\textwidth}{!}{%",
            tabular + "%",
            "}",
            r"\end{table*}",
            "",
        ]
    return "\n".join(out)
