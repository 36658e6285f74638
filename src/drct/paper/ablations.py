"""The paper's ablations from our runs: the component table and the lambda sweep (table and plot).

Reads the metrics.json of the ablation runs (:mod:`drct.planning.ablations` lists them with their
rows); no torch. Cells are accuracies in % per generator column of the ablation's protocol, and
Avg their unweighted mean, rounded half-up as in every other table; several seeds give mean ± std.

The paper's values for these two ablations are not in the reference folder (it holds Tables 1, 2
and the cross table only), so the "Paper Avg" column is left empty and every caption says so:
numbers that were not transcribed from the paper are never typed in.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import seaborn as sns

from drct.io import atomic_write_text, write_csv
from drct.paper.html import write_html
from drct.paper.latex import escape, latex_table
from drct.paper.rounding import format_cell
from drct.paper.style import new_figure, save_figure
from drct.paper.tables import paper_avg

__all__ = ["KINDS", "ablation_frame", "component_table", "lambda_table", "render_ablation"]

#: what each kind is called in titles and file names
KINDS = {"components": "Component ablation", "lambda": "Weight of the contrastive term (lambda sweep)"}

#: the component flags, as the component table prints them (real is in every row)
COMPONENTS = {"real_rec": "Real-rec", "fake": "Fake", "fake_rec": "Fake-rec", "contrastive": "L_con"}

PAPER_NOTE = ("Paper Avg: empty, because the paper's values for this ablation are not in the reference folder "
              "(../shared/reference/paper_tables holds Tables 1, 2 and the cross table only); they are "
              "never typed from memory.")

DEMO_NOTE = "Demo run: tiny stand-in data and random-weight models; the numbers exercise the pipeline only."


def ablation_frame(metrics_files: Sequence[Path], entries: Sequence[dict], column_map: dict[str, str]) -> pd.DataFrame:
    """One row per run: the entry's fields, ACC per column (display names, protocol order) and Avg.

    ``entries`` (``ablation_spec``'s ``components`` or ``lambdas``) are matched to metrics files by
    ``run``; every entry needs exactly one file.
    """
    by_run = {}
    for path in metrics_files:
        metrics = json.loads(Path(path).read_text(encoding="utf-8"))
        by_run[metrics["run"]] = metrics
    rows = []
    for entry in entries:
        if entry["run"] not in by_run:
            raise KeyError(f"no metrics file for ablation run {entry['run']!r} (given: {sorted(by_run)})")
        generators = by_run[entry["run"]]["generators"]
        missing = [g for g in column_map if g not in generators]
        if missing:
            raise KeyError(f"run {entry['run']!r}: its metrics have no generator(s) {missing}")
        row = dict(entry)
        for generator, label in column_map.items():
            acc = generators[generator].get("acc")
            row[label] = float("nan") if acc is None else float(acc)
        row["Avg"] = paper_avg(pd.Series({label: row[label] for label in column_map.values()}))
        rows.append(row)
    return pd.DataFrame(rows)


def _seed_summary(frame: pd.DataFrame, numeric: Sequence[str]) -> pd.DataFrame:
    """Mean and sample std (ddof 1, NaN with one seed) over the seeds of each group, in order."""
    out = []
    for group in dict.fromkeys(frame["group"]):
        part = frame[frame["group"] == group]
        row = {k: part.iloc[0][k] for k in frame.columns if k not in (*numeric, "run", "seed")}
        row["seeds"] = len(part)
        for column in numeric:
            values = part[column].astype(float)
            row[column] = float(values.mean())
            row[f"{column} std"] = float(values.std(ddof=1)) if values.notna().sum() > 1 else float("nan")
        out.append(row)
    return pd.DataFrame(out)


def _cell(row: pd.Series, column: str) -> str:
    text = format_cell(row[column])
    std = row.get(f"{column} std")
    return f"{text} ± {format_cell(std)}" if text and std is not None and pd.notna(std) else text


def component_table(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Printed component table: the component checkmarks, the columns, Avg and an empty Paper Avg."""
    summary = _seed_summary(frame, [*columns, "Avg"])
    body = []
    for _, row in summary.iterrows():
        cells = {"Real": "✓", **{name: "✓" if row[flag] else "" for flag, name in COMPONENTS.items()}}
        cells.update({column: _cell(row, column) for column in [*columns, "Avg"]})
        cells.update({"Paper Avg": "", "seeds": int(row["seeds"]), "method": row["method"]})
        body.append(cells)
    return pd.DataFrame(body)


def lambda_table(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Printed lambda table: lambda, the columns, Avg and an empty Paper Avg, lambda ascending."""
    summary = _seed_summary(frame, [*columns, "Avg"]).sort_values("lambda", kind="stable")
    body = []
    for _, row in summary.iterrows():
        cells = {"lambda": f"{float(row['lambda']):g}"}
        cells.update({column: _cell(row, column) for column in [*columns, "Avg"]})
        cells.update({"Paper Avg": "", "seeds": int(row["seeds"])})
        body.append(cells)
    return pd.DataFrame(body)


def _markdown(table: pd.DataFrame, printed: Sequence[str], title: str, notes: Sequence[str]) -> str:
    numeric = [c for c in printed if c not in ("Real", *COMPONENTS.values(), "lambda")]
    align = [":---:" if c not in numeric else "---:" for c in printed]
    lines = [f"# {title}", "", *notes, "", "| " + " | ".join(printed) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(row[c]) for c in printed) + " |" for _, row in table.iterrows()]
    return "\n".join(lines) + "\n"


def _latex(table: pd.DataFrame, printed: Sequence[str], title: str, label: str) -> str:
    header = [r"$\lambda$" if c == "lambda" else (r"$L_{con}$" if c == "L_con" else escape(c)) for c in printed]
    lines = [rf"\begin{{tabular}}{{{'c' * len(printed)}}}", r"\toprule", " & ".join(header) + r" \\", r"\midrule"]
    for _, row in table.iterrows():
        cells = [escape(str(row[c])).replace("±", r"$\pm$").replace("✓", r"\checkmark") for c in printed]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return latex_table([("", "\n".join(lines))], title, label)


def lambda_figure(frame: pd.DataFrame, out_png: Path, out_pdf: Path | None, title: str) -> None:
    """Avg accuracy against lambda: a point per run, the line through the seeds' means, chance at 50 %."""
    fig = new_figure(5.6, 3.8)
    ax = fig.add_subplot(1, 1, 1)
    data = frame.assign(lam=frame["lambda"].astype(float), avg=frame["Avg"].astype(float))
    sns.lineplot(data=data, x="lam", y="avg", marker="o", errorbar=("sd", 1) if data["seed"].nunique() > 1 else None,
                 ax=ax, color=sns.color_palette("tab10")[0], label="ours (Avg)")
    ax.axhline(50, color="0.5", linestyle="--", linewidth=0.8, label="chance")
    ax.set_xticks(sorted(data["lam"].unique()))
    ax.set_xlabel(r"$\lambda$ (weight of the contrastive term; CE weight $1-\lambda$)")
    ax.set_ylabel("Avg accuracy (%)")
    ax.set_ylim(min(40.0, float(data["avg"].min()) - 5.0), 101)
    ax.grid(color="0.92", linewidth=0.6)
    ax.legend(frameon=False, fontsize=9)
    sns.despine(ax=ax)
    fig.suptitle("\n".join(textwrap.wrap(title, 70)), fontsize=10, x=0.01, ha="left")
    fig.tight_layout()
    save_figure(fig, out_png, out_pdf)


def render_ablation(kind: str, metrics_files: Sequence[Path], spec: dict, out_dir: Path) -> list[Path]:
    """Write ``<kind>.md/.csv/.tex/.html`` (and for the sweep ``lambda.png/.pdf``) in ``out_dir``."""
    if kind not in KINDS:
        raise ValueError(f"unknown ablation {kind!r}; known: {', '.join(KINDS)}")
    column_map = {c["generator"]: c["label"] for c in spec["columns"]}
    columns = list(column_map.values())
    entries = spec["components" if kind == "components" else "lambdas"]
    if not entries:
        raise ValueError(f"the spec has no {kind} runs: set ablations.{'components: true' if kind == 'components' else 'lambdas'}")
    frame = ablation_frame(metrics_files, entries, column_map)
    title = f"{KINDS[kind]}: {spec['title']}"
    notes = [PAPER_NOTE]
    if kind == "components":
        table = component_table(frame, columns)
        printed = ["Real", *COMPONENTS.values(), *columns, "Avg", "Paper Avg"]
        notes.insert(0, "Each row adds one component to the row above (the last row is DRCT itself). "
                        "Accuracy (%) at threshold 0.5 per generator; Avg is their unweighted mean.")
    else:
        table = lambda_table(frame, columns)
        printed = ["lambda", *columns, "Avg", "Paper Avg"]
        notes.insert(0, "Loss (1 - lambda) * CE + lambda * L_con, as the authors' --alpha (their default 0.3). "
                        "Accuracy (%) at threshold 0.5 per generator; Avg is their unweighted mean.")
    if spec.get("demo"):
        notes.append(DEMO_NOTE)
    if (table["seeds"] > 1).any():
        notes.append("Cells: mean ± std over seeds.")
    out_dir = Path(out_dir)
    paths = [out_dir / f"{kind}.{ext}" for ext in ("md", "csv", "tex", "html")]
    atomic_write_text(paths[0], _markdown(table, printed, title, notes))
    write_csv(frame, paths[1])
    atomic_write_text(paths[2], _latex(table, printed, title + ". " + PAPER_NOTE, f"tab:ablation-{kind}"))
    write_html(paths[0], paths[3])
    if kind == "lambda":
        paths += [out_dir / "lambda.png", out_dir / "lambda.pdf"]
        lambda_figure(frame, paths[4], paths[5], title)
    return paths
