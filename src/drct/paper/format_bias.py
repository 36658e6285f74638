"""Format-bias control: the evaluation with every test image re-encoded to one format, beside raw.

Why: GenImage's (and DRCT-2M's) reals are JPEG photographs and its fakes PNG, so a detector can
score well by recognising JPEG artefacts instead of generators. Re-encoding *every* test image the
same way (JPEG at one quality; PNG) removes that cue: a detector that learned "JPEG = real" then
calls the re-encoded fakes real, and its fake accuracy collapses under the JPEG condition. PNG is
lossless, so its numbers must equal the raw ones (a check that only pixels reach the model).

Table: Avg ACC, real ACC and fake ACC per method under each condition, with the change from raw;
figure: the same as grouped bars. Reads the perturbed metrics and clean metrics.json; no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import seaborn as sns

from drct.paper.latex import escape, latex_table
from drct.paper.robustness import (
    load_perturbed,
    robustness_summary,
    write_study_outputs,
)
from drct.paper.rounding import format_cell
from drct.paper.style import new_figure, save_figure, slant_x_labels

__all__ = ["condition_name", "render_format_bias"]

METRICS = {"acc": "ACC", "real_acc": "real ACC", "fake_acc": "fake ACC"}


def condition_name(perturbation: str) -> str:
    """``clean`` -> "raw files", ``png`` -> "all PNG", ``jpeg-95`` -> "all JPEG q95"."""
    if perturbation == "clean":
        return "raw files"
    if perturbation == "png":
        return "all PNG"
    if perturbation.startswith("jpeg-"):
        return f"all JPEG q{perturbation.split('-', 1)[1]}"
    return perturbation


def _signed(value: float) -> str:
    """``+1.20`` / ``-0.30`` / ``0.00`` (a difference that rounds to zero is printed unsigned)."""
    text = format_cell(value)
    if text.lstrip("-") == "0.00":
        return "0.00"
    return ("+" + text) if text and value > 0 else text


def format_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Wide printed table: per method, each condition's ACC / real / fake, and the change from raw."""
    conditions = ["clean", *[p for p in dict.fromkeys(summary["perturbation"]) if p != "clean"]]
    rows = []
    for group in dict.fromkeys(summary["group"]):
        part = summary[summary["group"] == group].set_index("perturbation")
        first = part.iloc[0]
        rec = {"Method": first["method"], "DR": first["DR"]}
        for cond in conditions:
            if cond not in part.index:
                continue
            for metric, name in METRICS.items():
                value = part.loc[cond, metric]
                text = format_cell(value)
                std = part.loc[cond, f"{metric}_std"]
                rec[f"{condition_name(cond)}: {name}"] = f"{text} ± {format_cell(std)}" if pd.notna(std) else text
                if cond != "clean" and "clean" in part.index:
                    rec[f"{condition_name(cond)}: {name} change"] = _signed(value - part.loc["clean", metric])
        rows.append(rec)
    return pd.DataFrame(rows)


def format_markdown(table: pd.DataFrame, title: str, demo: bool) -> str:
    lines = [f"# {title}", "",
             "Avg over the protocol's generator columns (%). `raw files`: the test images as stored. `all PNG` /",
             "`all JPEG qN`: every test image (real and fake) decoded and re-encoded so before scoring. PNG is",
             "lossless, so it must match raw; under one JPEG quality for all, a detector that keys on the reals'",
             "JPEG artefacts loses its fake accuracy. `change`: minus the raw value."]
    if demo:
        lines.append("Demo run: every demo image is PNG; the numbers exercise the pipeline only.")
    conditions = list(dict.fromkeys(c.split(": ")[0] for c in table.columns[2:]))
    for cond in conditions:
        cols = [c for c in table.columns[2:] if c.split(": ")[0] == cond]
        header = ["Method", "DR", *[c.split(": ", 1)[1] for c in cols]]
        lines += ["", f"## {cond}", "", "| " + " | ".join(header) + " |",
                  "| " + " | ".join([":---", ":---", *(["---:"] * len(cols))]) + " |"]
        for _, r in table.iterrows():
            lines.append("| " + " | ".join([str(r["Method"]), str(r["DR"]), *[str(r[c]) for c in cols]]) + " |")
    return "\n".join(lines) + "\n"


def format_latex(table: pd.DataFrame, title: str) -> str:
    cols = list(table.columns[2:])
    conditions = list(dict.fromkeys(c.split(": ")[0] for c in cols))
    spans = [(cond, [c for c in cols if c.split(": ")[0] == cond]) for cond in conditions]
    head1, rules, cursor = ["", ""], [], 3
    for cond, members in spans:
        head1.append(rf"\multicolumn{{{len(members)}}}{{c}}{{{escape(cond)}}}")
        rules.append(rf"\cmidrule(lr){{{cursor}-{cursor + len(members) - 1}}}")
        cursor += len(members)
    head2 = ["Method", "DR", *[escape(c.split(": ", 1)[1]) for c in cols]]
    lines = [rf"\begin{{tabular}}{{ll{'c' * len(cols)}}}", r"\toprule", " & ".join(head1) + r" \\", " ".join(rules),
             " & ".join(head2) + r" \\", r"\midrule"]
    for _, r in table.iterrows():
        lines.append(" & ".join(escape(r[c]).replace("±", r"$\pm$") for c in table.columns) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return latex_table([("", "\n".join(lines))], title, "tab:format-bias")


def format_figure(summary: pd.DataFrame, out_png: Path, out_pdf: Path | None, title: str) -> None:
    """Three panels (ACC, real ACC, fake ACC): per method, one bar per condition."""
    data = summary.copy()
    data["condition"] = [condition_name(p) for p in data["perturbation"]]
    conditions = ["raw files", *[c for c in dict.fromkeys(data["condition"]) if c != "raw files"]]
    labels = list(dict.fromkeys(data["label"]))
    palette = dict(zip(conditions, sns.color_palette("Set2", n_colors=len(conditions))))
    fig = new_figure(max(9.0, 1.4 * len(labels) * 3 + 2.5), 4.3)
    for i, (metric, name) in enumerate(METRICS.items()):
        ax = fig.add_subplot(1, 3, i + 1)
        sns.barplot(data=data, x="label", y=metric, hue="condition", order=labels, hue_order=conditions,
                    palette=palette, errorbar=None, ax=ax, edgecolor="0.25", linewidth=0.4)
        if len(labels) * len(conditions) <= 24:  # few bars: print their values (a 0 % bar is invisible)
            for container in ax.containers:
                ax.bar_label(container, fmt="%.0f", fontsize=7, padding=1)
        ax.axhline(50, color="0.5", linestyle="--", linewidth=0.8)
        ax.set_ylim(0, 108)
        ax.set_title(f"Avg {name}", fontsize=10)
        ax.set_xlabel("")
        ax.set_ylabel("%" if i == 0 else "")
        slant_x_labels(ax, 30)
        ax.grid(axis="y", color="0.92", linewidth=0.6)
        ax.set_axisbelow(True)
        if ax.legend_ is not None:
            ax.legend_.remove()
        sns.despine(ax=ax)
    handles = [fig.axes[0].bar([0], [0], color=palette[c], edgecolor="0.25", linewidth=0.4)[0] for c in conditions]
    fig.legend(handles, conditions, loc="upper center", bbox_to_anchor=(0.5, 0.02), ncol=len(conditions),
               frameon=False, fontsize=9)
    fig.suptitle(title, fontsize=11, x=0.01, ha="left")
    fig.tight_layout()
    save_figure(fig, out_png, out_pdf)


def render_format_bias(
    perturbed_files: Sequence[Path],
    clean_files: Sequence[Path],
    runs_meta: Sequence[dict],
    out_dir: Path,
    title: str,
    demo: bool,
    stem: str = "format_bias",
    only: Sequence[str] | None = None,
) -> list[Path]:
    """Write ``<stem>.md/.csv/.tex/.png/.pdf/.html`` in ``out_dir``; return the paths.

    ``only``: the perturbation ids of this study (the perturbed files may hold the other study's too).
    """
    title = f"{title}: format-bias control"
    summary = robustness_summary(load_perturbed(perturbed_files, clean_files, runs_meta, only))
    table = format_table(summary)
    return write_study_outputs(
        out_dir,
        stem,
        format_markdown(table, title, demo),
        table,
        format_latex(table, title),
        lambda png, pdf: format_figure(summary, png, pdf, title),
    )
