"""Our rows beside the paper's matching rows, with the difference and whether it exceeds noise.

pandas only. For each of our rows (one per method, backbone and DR; seeds aggregated) the paper's
row of the same method and DR, and ``ours - paper`` in every column both have. A difference is
starred when the paper's value lies outside our 95 % bootstrap interval (with several seeds:
outside the envelope of the seeds' intervals), i.e. when test-set sampling noise of our evaluation
alone does not explain it.

When our generators differ from the paper's (the demo), no column is shared: the Avg is then
still shown side by side, marked as covering different generators (not like for like), which is
all that can be compared.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from drct.paper.rounding import format_cell
from drct.paper.tables import PAPER_SOURCE, RunMetrics, generator_columns

__all__ = ["COMPARISON_KINDS", "comparison_frame", "comparison_markdown", "ci_envelopes"]

COMPARISON_KINDS = ("ours", "paper", "ours - paper")
NOT_LIKE_FOR_LIKE = "\u2021"  # double dagger
OUTSIDE_CI = "*"


def ci_envelopes(runs: Sequence[RunMetrics]) -> dict[str, dict[str, tuple[float, float]]]:
    """Per seed-less group and column (display name, or ``Avg``): the widest [low, high] over seeds."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for r in runs:
        cells = {c: v.get("acc_ci") for c, v in r.columns.items()}
        cells["Avg"] = r.mean.get("acc_ci")
        group = out.setdefault(r.group, {})
        for column, ci in cells.items():
            if not ci or ci[0] is None:
                continue
            low, high = float(ci[0]), float(ci[1])
            if column in group:
                low, high = min(low, group[column][0]), max(high, group[column][1])
            group[column] = (low, high)
    return out


def comparison_frame(
    table: pd.DataFrame, envelopes: dict[str, dict[str, tuple[float, float]]] | None = None
) -> pd.DataFrame:
    """Long comparison frame: per our row, three rows (ours, paper, ours - paper).

    ``table``: a :func:`drct.paper.tables.build_table` frame whose our rows carry ``group`` (see
    :func:`drct.paper.tables.aggregate_seeds`). Columns: method, DR, kind, the generator columns
    both rows have (table order), Avg, ``avg_like_for_like`` (bool), ``outside_ci`` (the starred
    columns, ``;``-separated), ``shared`` (how many generator columns are compared) and notes.
    Our rows without a paper row of the same method and DR are listed with an empty paper row.
    """
    paper = table[table["source"] == PAPER_SOURCE]
    ours = table[table["source"] != PAPER_SOURCE]
    columns = generator_columns(table)
    records = []
    for index, row in ours.iterrows():
        match = paper[(paper["method"] == row["method"]) & (paper["DR"] == row["DR"])]
        prow = match.iloc[0] if len(match) else None
        our_cols = [c for c in columns if pd.notna(row[c])]
        paper_cols = [c for c in columns if prow is not None and pd.notna(prow[c])]
        shared = [c for c in our_cols if c in paper_cols]
        like = prow is not None and our_cols == paper_cols
        group = row.get("group") if "group" in row.index else None
        ci = (envelopes or {}).get(group, {}) if group else {}
        base = {"method": row["method"], "DR": row["DR"]}
        ours_rec = {**base, "kind": "ours", **{c: row[c] for c in shared}, "Avg": row["Avg"]}
        paper_rec = {**base, "kind": "paper"}
        diff_rec = {**base, "kind": "ours - paper"}
        starred = []
        if prow is not None:
            paper_rec.update({c: prow[c] for c in shared})
            paper_rec["Avg"] = prow["Avg"]
            for c in [*shared, "Avg"]:
                diff_rec[c] = float(row[c]) - float(prow[c])
                low_high = ci.get(c)
                if low_high and not (low_high[0] <= float(prow[c]) <= low_high[1]) and (c != "Avg" or like):
                    starred.append(c)
        notes = "" if prow is not None else "the paper has no row for this method and DR"
        for rec in (ours_rec, paper_rec, diff_rec):
            rec.update(avg_like_for_like=like, outside_ci=";".join(starred), shared=len(shared), notes=notes)
            records.append(rec)
    layout = ["method", "DR", "kind", *columns, "Avg", "avg_like_for_like", "outside_ci", "shared", "notes"]
    frame = pd.DataFrame(records).reindex(columns=layout)
    keep = [c for c in columns if frame[c].notna().any()]
    return frame[["method", "DR", "kind", *keep, "Avg", "avg_like_for_like", "outside_ci", "shared", "notes"]]


def _printed(frame: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Header and printed cells: differences signed, starred outside the CI; Avg marked when unlike."""
    gen_cols = generator_columns(frame.drop(columns=["kind", "avg_like_for_like", "outside_ci", "shared"]))
    header = ["Method", "DR", "Row", *gen_cols, "Avg"]
    body = []
    for _, r in frame.iterrows():
        starred = set(str(r["outside_ci"]).split(";")) if r["outside_ci"] else set()
        cells = [str(r["method"]), str(r["DR"]), str(r["kind"])]
        for c in [*gen_cols, "Avg"]:
            text = format_cell(r[c])
            if text and r["kind"] == "ours - paper":
                text = ("+" if float(r[c]) > 0 else "") + text
                if c in starred:
                    text += OUTSIDE_CI
            if text and c == "Avg" and not r["avg_like_for_like"] and r["kind"] != "ours":
                text += NOT_LIKE_FOR_LIKE
            cells.append(text)
        body.append(cells)
    return header, body


def printed_comparison(frame: pd.DataFrame) -> pd.DataFrame:
    """The comparison as printed (strings), for the CSV."""
    header, body = _printed(frame)
    out = pd.DataFrame(body, columns=["method", "DR", "kind", *header[3:]])
    out["avg_like_for_like"] = frame["avg_like_for_like"].to_list()
    out["shared_columns"] = frame["shared"].to_list()
    return out


def comparison_markdown(frame: pd.DataFrame) -> str:
    """Pipe table plus the legend of its marks."""
    header, body = _printed(frame)
    align = [":---", ":---", ":---", *(["---:"] * (len(header) - 3))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    legend = [
        (
            f"{OUTSIDE_CI}: the paper's value lies outside our 95 % bootstrap interval (outside every seed's "
            "interval when there are several seeds): more than test-set noise of our evaluation."
        ),
    ]
    if not frame["avg_like_for_like"].all():
        legend.append(
            f"{NOT_LIKE_FOR_LIKE}: Avg over different generators (ours and the paper's columns differ): "
            "not like for like, shown only because nothing else can be compared."
        )
    if len(frame) == 0 or frame["shared"].max() == 0:
        legend.append("No generator column is shared with the paper, so only the Avgs sit side by side.")
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {item}" for item in legend) + "\n"
