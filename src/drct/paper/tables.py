"""The paper's accuracy tables, with our runs' rows beside the paper's.

pandas only (no torch). Layout of every table built here (one row per method and DR variant):

    source | method | DR | <one column per generator, paper order> | Avg | notes

``source`` is "paper", "ours" or "ours (demo)". Numbers are accuracies in % and are printed
rounded half-up to two decimals (see :mod:`drct.paper.rounding`); Avg is the unweighted mean of
the row's generator columns, computed exactly in decimal, which reproduces every printed Avg of
the paper's three tables.

When our generators differ from the paper's (the demo), the stacked DataFrame holds the union of
columns (NaN where a row has no such column) and :func:`render_markdown` prints one table per
source, each with only its own columns, so no Avg over different column sets sits in one column.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from drct.io import atomic_write_text, write_csv
from drct.paper.rounding import decimal_mean, format_cell, round_half_up

__all__ = [
    "PAPER_TABLES",
    "CORRECTIONS",
    "round_half_up",
    "load_paper_table",
    "generator_columns",
    "paper_avg",
    "our_rows_from_metrics",
    "build_table",
    "render_markdown",
    "write_table",
    "blocks",
    "COLUMN_GROUPS",
    "RunMetrics",
    "load_runs",
    "meta_field",
    "aggregate_seeds",
]

#: Paper tables shipped as package data, with the paper's caption name.
PAPER_TABLES: dict[str, str] = {
    "drct2m_intra": "Table 1 (DRCT-2M, intra-dataset)",
    "genimage_intra": "Table 2 (GenImage, intra-dataset)",
    "drct2m_to_genimage_cross": "Table 7 (DRCT-2M -> GenImage, cross-dataset)",
}

#: Columns that are not generators.
NON_GENERATOR_COLUMNS: frozenset[str] = frozenset({"source", "method", "DR", "Avg", "notes", "run", "group", "seed"})

#: The paper's column-group headers (Table 1); Tables 2 and 7 print none.
COLUMN_GROUPS: dict[str, list[tuple[str, list[str]]]] = {
    "drct2m_intra": [
        ("SD Variants", ["LDM", "SDv1.4", "SDv1.5", "SDv2", "SDXL", "SDXL-Refiner"]),
        ("Turbo Variants", ["SD-Turbo", "SDXL-Turbo"]),
        ("LCM Variants", ["LCM-SDv1.5", "LCM-SDXL"]),
        ("ControlNet Variants", ["SDv1-Ctrl", "SDv2-Ctrl", "SDXL-Ctrl"]),
        ("DR Variants", ["SDv1-DR", "SDv2-DR", "SDXL-DR"]),
    ],
    "genimage_intra": [],
    "drct2m_to_genimage_cross": [],
}

PAPER_SOURCE = "paper"


@dataclass(frozen=True)
class Correction:
    """A printed cell the authors corrected afterwards; applied on load, recorded in ``notes``."""

    table: str
    method: str
    dr: str
    column: str
    printed: str
    corrected: str
    note: str


CORRECTIONS: tuple[Correction, ...] = (
    Correction(
        table="genimage_intra",
        method="DRCT/Conv-B",
        dr="SDv1",
        column="BigGAN",
        printed="58.81",
        corrected="59.81",
        note="BigGAN set to the authors' corrected 59.81 (printed 58.81; the printed Avg 82.08 uses 59.81)",
    ),
)


def _ours_source(demo: bool) -> str:
    return "ours (demo)" if demo else "ours"


def generator_columns(df: pd.DataFrame) -> list[str]:
    """The generator (accuracy) columns of a table, in order."""
    return [c for c in df.columns if c not in NON_GENERATOR_COLUMNS]


def load_paper_table(name: str) -> pd.DataFrame:
    """One of the paper's tables (columns: method, DR, generators..., Avg, notes) as floats.

    Read from the package's copy of the reference CSVs. Author corrections in
    :data:`CORRECTIONS` are applied (after checking the printed value is still what the CSV holds)
    and noted in ``notes``. ``Avg`` stays the printed Avg.
    """
    if name not in PAPER_TABLES:
        raise ValueError(f"unknown paper table {name!r}; known: {sorted(PAPER_TABLES)}")
    source = resources.files("drct.paper").joinpath("reference", f"{name}.csv")
    with source.open("r", encoding="utf-8") as fh:
        raw = pd.read_csv(fh, dtype=str, keep_default_na=False)

    for fix in (c for c in CORRECTIONS if c.table == name):
        hit = (raw["method"] == fix.method) & (raw["DR"] == fix.dr)
        if hit.sum() != 1 or raw.loc[hit, fix.column].iloc[0] != fix.printed:
            raise ValueError(f"correction {fix} no longer matches {name}.csv")
        raw.loc[hit, fix.column] = fix.corrected
        old = raw.loc[hit, "notes"].iloc[0]
        raw.loc[hit, "notes"] = fix.note if not old else f"{fix.note}. Source note: {old}"

    table = raw.copy()
    for col in [*generator_columns(raw), "Avg"]:
        table[col] = raw[col].astype(float)
    return table


def paper_avg(row: pd.Series) -> float:
    """Unweighted mean of a row's generator columns (missing cells skipped), exact in decimal."""
    values = [row[c] for c in row.index if c not in NON_GENERATOR_COLUMNS and pd.notna(row[c])]
    return decimal_mean(values) if values else float("nan")


def method_label(method: str, backbone_label: str) -> str:
    """Paper method name: "DRCT/<backbone>" for DRCT runs, the bare backbone for baselines."""
    if method == "drct":
        return f"DRCT/{backbone_label}"
    if method == "baseline":
        return backbone_label
    raise ValueError(f"unknown method {method!r} (expected 'drct' or 'baseline')")


@dataclass(frozen=True)
class RunMetrics:
    """One run's metrics.json, labelled for the tables.

    ``group``: the run's configuration without its seed (from the runs meta, never parsed from the
    id), so the seeds of one configuration aggregate into one row. ``columns``: display name -> that generator's metrics dict, in the config's column order.
    """

    run: str
    group: str
    method: str
    dr: str
    seed: int
    columns: dict[str, dict]
    mean: dict
    bootstrap: dict | None

    @property
    def label(self) -> str:
        return self.method if self.dr in ("-", "") else f"{self.method} ({self.dr})"


def meta_field(meta: dict, key: str) -> Any:
    """A field of a run's meta entry, or a KeyError that says which run lacks it.

    ``group`` and ``seed`` come from the planning step that built the run id
    (:func:`drct.planning.runs.run_meta`); the id itself is never parsed.
    """
    if key not in meta:
        raise KeyError(f"run {meta.get('run')!r}: its runs-meta entry has no {key!r} (see drct.planning.runs.run_meta)")
    return meta[key]


def load_runs(
    metrics_files: Sequence[Path], run_meta: Sequence[dict], column_map: dict[str, str]
) -> list[RunMetrics]:
    """Read metrics.json files into :class:`RunMetrics`, in file order.

    ``run_meta`` entries: ``{"run", "group", "seed", "method": "drct"|"baseline", "backbone_label",
    "dr_label"}`` and, for DIRE runs, ``"input": "dire"`` (:func:`drct.planning.runs.run_meta`), matched to a metrics file by its ``run``. Generator names are mapped to
    the paper's display names by ``column_map`` (unmapped names are kept as they are), ordered as
    ``column_map`` (the config's order), not as the file (metrics.json has sorted keys).
    """
    meta_by_run = {m["run"]: m for m in run_meta}
    rank = {g: i for i, g in enumerate(column_map)}
    runs = []
    for path in metrics_files:
        metrics = json.loads(Path(path).read_text(encoding="utf-8"))
        run = metrics.get("run")
        if run not in meta_by_run:
            raise KeyError(f"{path}: run {run!r} has no entry in runs meta ({sorted(meta_by_run)})")
        meta = meta_by_run[run]
        # DRCT rows and DIRE rows (input: image minus its reconstruction by that DR model) name their DR model
        dr = (meta.get("dr_label") or "-") if meta["method"] == "drct" or meta.get("input") == "dire" else "-"
        columns: dict[str, dict] = {}
        for generator in sorted(metrics["generators"], key=lambda g: rank.get(g, len(rank))):  # stable for unmapped
            column = column_map.get(generator, generator)
            if column in columns:
                raise ValueError(f"{path}: two generators map to column {column!r}")
            columns[column] = metrics["generators"][generator]
        runs.append(
            RunMetrics(
                run=run, group=meta_field(meta, "group"), method=method_label(meta["method"], meta["backbone_label"]),
                dr=dr, seed=meta_field(meta, "seed"), columns=columns, mean=metrics.get("mean", {}),
                bootstrap=metrics.get("bootstrap"),
            )
        )
    return runs


def _acc(values: dict) -> float:
    acc = values.get("acc")
    return float("nan") if acc is None else float(acc)


def our_rows_from_metrics(
    metrics_files: Sequence[Path], run_meta: Sequence[dict], column_map: dict[str, str]
) -> pd.DataFrame:
    """One table row per metrics.json: method, DR, per-generator ACC (display names), Avg, notes.

    See :func:`load_runs` for the matching and column order. Rows keep the order of
    ``metrics_files``; Avg is over the generators present in that file. ``run`` and ``group``
    columns name the run and its seed-less configuration.
    """
    rows: list[dict] = []
    for r in load_runs(metrics_files, run_meta, column_map):
        row: dict = {"method": r.method, "DR": r.dr}
        row.update({column: _acc(values) for column, values in r.columns.items()})
        row["Avg"] = paper_avg(pd.Series(row))
        row["notes"] = f"run {r.run}"
        row["run"], row["group"] = r.run, r.group
        rows.append(row)
    return pd.DataFrame(rows)


def aggregate_seeds(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(mean rows, std rows): one row per ``group`` (a configuration run at several seeds).

    Cells are the mean over seeds; std is the sample standard deviation (ddof 1), NaN with one
    seed. Avg is the mean of the seeds' Avgs. Groups keep their order of first appearance; notes
    name the runs.
    """
    if rows.empty or "group" not in rows.columns:
        return rows.copy(), pd.DataFrame(index=rows.index, columns=rows.columns, dtype=float)
    numeric = [*generator_columns(rows), "Avg"]
    means, stds = [], []
    for group in dict.fromkeys(rows["group"]):
        part = rows[rows["group"] == group]
        first = part.iloc[0]
        mean = {"method": first["method"], "DR": first["DR"], "group": group}
        std = dict(mean)
        for col in numeric:
            values = part[col].astype(float)
            mean[col] = float(values.mean()) if values.notna().any() else float("nan")
            std[col] = float(values.std(ddof=1)) if values.notna().sum() > 1 else float("nan")
        runs = list(part["run"]) if "run" in part.columns else []
        mean["notes"] = f"run {runs[0]}" if len(runs) == 1 else f"mean ± std over {len(runs)} seeds: runs {', '.join(runs)}"
        means.append(mean)
        stds.append(std)
    return pd.DataFrame(means), pd.DataFrame(stds)


def merge_columns(paper_columns: Sequence[str], our_columns: Sequence[str]) -> list[str]:
    """Paper columns in paper order, with ours-only columns slotted in so ours keep their order.

    An ours-only column goes just before the next of our columns the paper also has (or at the
    end), so both the paper's and our block read in their own order: paper [G1, G2, G3] and ours
    [X, G2, Y] give [G1, X, G2, G3, Y]. Where our shared columns disagree with the paper's order,
    the paper's order wins.
    """
    layout = list(paper_columns)
    pending: list[str] = []
    for column in our_columns:
        if column in layout:
            at = layout.index(column)
            layout[at:at] = pending
            pending = []
        else:
            pending.append(column)
    return layout + pending


def build_table(
    paper: pd.DataFrame, ours: Sequence[dict] | pd.DataFrame, columns: Sequence[str], demo: bool
) -> pd.DataFrame:
    """Paper rows (source "paper") stacked above ours (source "ours" / "ours (demo)").

    Columns: source, method, DR, generators (``columns``, the paper's display names in paper
    order, merged with ours by :func:`merge_columns`), Avg, notes. Cells a row lacks are NaN.
    Paper rows keep the printed Avg; our rows get Avg over their own generators if they do not
    carry one.
    """
    columns = list(columns)
    absent = [c for c in columns if c not in paper.columns]
    if absent:
        raise ValueError(f"paper table lacks columns {absent}")
    ours_df = pd.DataFrame(list(ours)) if not isinstance(ours, pd.DataFrame) else ours.copy()

    paper_part = paper.copy()
    paper_part["source"] = PAPER_SOURCE
    if "notes" not in paper_part.columns:
        paper_part["notes"] = ""

    generators = columns
    if not ours_df.empty:
        for col in ("method", "DR"):
            if col not in ours_df.columns:
                raise ValueError(f"our rows lack column {col!r}")
        ours_df["source"] = _ours_source(demo)
        generators = merge_columns(columns, generator_columns(ours_df))
        if "Avg" not in ours_df.columns:
            ours_df["Avg"] = ours_df.apply(paper_avg, axis=1)
        if "notes" not in ours_df.columns:
            ours_df["notes"] = ""

    layout = ["source", "method", "DR", *generators, "Avg", "notes"]
    if "group" in ours_df.columns:  # which seed-less run configuration a row of ours is
        layout.append("group")
    parts = [paper_part.reindex(columns=layout)]
    if not ours_df.empty:
        parts.append(ours_df.reindex(columns=layout))
    table = pd.concat(parts, ignore_index=True)
    table["notes"] = table["notes"].fillna("").astype(str)
    return table


def blocks(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame, list[str]]]:
    """(source, rows, generator columns with at least one value) per source, in row order."""
    out = []
    for source in dict.fromkeys(df["source"]):
        rows = df[df["source"] == source]
        cols = [c for c in generator_columns(df) if rows[c].notna().any()]
        out.append((source, rows, cols))
    return out


def cell_text(value: object, std: object = None) -> str:
    """A printed cell: the value half-up to 2 decimals, ``± std`` when there is one (several seeds)."""
    text = format_cell(value)
    if text and std is not None and pd.notna(std):
        text = f"{text} ± {format_cell(std)}"
    return text


def _std_of(std: pd.DataFrame | None, index, column: str) -> object:
    if std is None or column not in std.columns or index not in std.index:
        return None
    return std.loc[index, column]


def _markdown_grid(rows: pd.DataFrame, gen_cols: list[str], std: pd.DataFrame | None = None) -> str:
    """One pipe table: Source, Method, DR, generators, Avg; numbers right-aligned."""
    header = ["Source", "Method", "DR", *gen_cols, "Avg"]
    align = [":---", ":---", ":---", *(["---:"] * (len(gen_cols) + 1))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    for index, r in rows.iterrows():
        cells = [str(r["source"]), str(r["method"]), str(r["DR"])]
        cells += [cell_text(r[c], _std_of(std, index, c)) for c in [*gen_cols, "Avg"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render_markdown(df: pd.DataFrame, std: pd.DataFrame | None = None) -> str:
    """Markdown for a :func:`build_table` frame, numbers rounded half-up to 2 decimals.

    One table when every source has the same generator columns (ours directly under the
    paper's, as in the paper); otherwise one table per source, ours first, each with only its columns
    (their Avg then covers different generators and must not share a column). Non-empty
    ``notes`` follow as a list. ``std`` (same index and columns as ``df``; several seeds) prints
    ``mean ± std`` cells.
    """
    parts = blocks(df)
    if len({tuple(cols) for _, _, cols in parts}) <= 1:
        cols = parts[0][2] if parts else []
        body = _markdown_grid(df, cols, std)
    else:  # ours first: they are the subject; the paper after, for reference
        parts = [b for b in parts if b[0] != PAPER_SOURCE] + [b for b in parts if b[0] == PAPER_SOURCE]
        body = "\n".join(f"**{source}**\n\n{_markdown_grid(rows, cols, std)}" for source, rows, cols in parts)

    noted = df[df["notes"].fillna("") != ""] if "notes" in df.columns else df.iloc[0:0]
    if not noted.empty:
        items = [f"- {r['method']} ({r['DR']}, {r['source']}): {r['notes']}" for _, r in noted.iterrows()]
        body += "\nNotes:\n\n" + "\n".join(items) + "\n"
    return body


def printed_frame(df: pd.DataFrame, std: pd.DataFrame | None = None) -> pd.DataFrame:
    """The table as printed: numbers as half-up 2-decimal strings (``± std`` with several seeds)."""
    out = df.copy().astype(object)
    for col in [*generator_columns(df), "Avg"]:
        out[col] = [cell_text(v, _std_of(std, i, col)) for i, v in df[col].items()]
    return out.fillna("")


def write_table(
    df: pd.DataFrame,
    out_md: Path,
    out_csv: Path,
    *,
    title: str | None = None,
    preamble: str | None = None,
    std: pd.DataFrame | None = None,
    appendix: str | None = None,
) -> None:
    """Write the markdown (optional title, preamble and appendix) and the printed CSV, atomically."""
    parts = []
    if title:
        parts.append(f"# {title}\n")
    if preamble:
        parts.append(preamble.strip() + "\n")
    parts.append(render_markdown(df, std))
    if appendix:
        parts.append(appendix.strip() + "\n")
    atomic_write_text(Path(out_md), "\n".join(parts))
    write_csv(printed_frame(df, std), Path(out_csv))
