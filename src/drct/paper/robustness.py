"""Robustness study: accuracy against perturbation strength, per method (table and line plot).

Reads the perturbed metrics tables (``drct perturbed-metrics``) and the clean metrics.json of
the same runs; no predictions, no torch. Each number is a protocol's Avg (unweighted mean over
its generator columns) under one perturbation, averaged over seeds (``± std`` with several).

Perturbations (see :mod:`drct.evaluation.perturb`): JPEG quality and resize scale as the
authors' hooks (full image, before the centre crop; paper ranges 60-100 and 0.5-1.5) and
Gaussian blur, our addition. The unperturbed ("clean") Avg is the reference: a column in the
table, a dotted line in the plot, and the curve's point at scale 1 and sigma 0 (where the
perturbation is the identity), so a study with few levels still draws a line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import pandas as pd
import seaborn as sns

from drct.io import atomic_write_text, write_csv
from drct.paper.html import write_html
from drct.paper.latex import escape, latex_table
from drct.paper.rounding import format_cell
from drct.paper.style import method_colours, new_figure, row_label, save_figure
from drct.paper.tables import meta_field, method_label

__all__ = ["KIND_TITLES", "load_perturbed", "robustness_summary", "render_robustness"]

#: Display names of the perturbation kinds, in plotting order.
KIND_TITLES: dict[str, str] = {
    "jpeg": "JPEG quality",
    "scale": "Resize scale (before the centre crop)",
    "blur": "Gaussian blur \u03c3 (px; our addition)",
}


#: Strength at which a kind is the identity (tested in tests/test_robustness.py); JPEG has none.
IDENTITY: dict[str, float] = {"scale": 1.0, "blur": 0.0}


def load_perturbed(
    perturbed_files: Sequence[Path],
    clean_files: Sequence[Path],
    runs_meta: Sequence[dict],
    only: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One long frame: run, group, label, perturbation, kind, strength and the Avg metrics.

    The clean Avg of each run enters as ``perturbation == "clean"`` (kind ``clean``), read from
    its metrics.json. Only the Avg rows (``generator == "Avg"``) of the perturbed tables are kept,
    and of those only the perturbation ids in ``only`` when given (a missing one raises).
    """
    meta = {m["run"]: m for m in runs_meta}

    def labelled(run: str) -> dict:
        if run not in meta:
            raise KeyError(f"run {run!r} has no entry in runs meta ({sorted(meta)})")
        m = meta[run]
        dr = (m.get("dr_label") or "-") if m["method"] == "drct" else "-"
        method = method_label(m["method"], m["backbone_label"])
        return {"run": run, "group": meta_field(m, "group"), "method": method, "DR": dr, "label": row_label(method, dr)}

    parts = []
    for path in perturbed_files:
        table = pd.read_csv(path)
        avg = table[table["generator"] == "Avg"]
        if only is not None:
            missing = sorted(set(only) - set(avg["perturbation"]))
            if missing:
                raise ValueError(f"{path}: no results for perturbation(s) {missing}")
            avg = avg[avg["perturbation"].isin(only)]
        for _, r in avg.iterrows():
            parts.append({**labelled(str(r["run"])), "perturbation": r["perturbation"], "kind": r["kind"],
                          "strength": r["strength"], "acc": r["acc"], "real_acc": r["real_acc"],
                          "fake_acc": r["fake_acc"], "auc": r["auc"]})
    for path in clean_files:
        metrics = json.loads(Path(path).read_text(encoding="utf-8"))
        mean = metrics["mean"]
        parts.append({**labelled(metrics["run"]), "perturbation": "clean", "kind": "clean", "strength": float("nan"),
                      "acc": mean["acc"], "real_acc": mean["real_acc"], "fake_acc": mean["fake_acc"],
                      "auc": mean.get("auc")})
    frame = pd.DataFrame(parts)
    if only is not None:  # conditions in the config's order (clean first)
        rank = {name: i for i, name in enumerate(["clean", *only])}
        frame = frame.sort_values("perturbation", key=lambda p: p.map(rank), kind="stable")
    # baselines first, as the paper's tables (and our other figures: one colour per method throughout)
    return frame.sort_values("DR", key=lambda dr: dr.ne("-"), kind="stable").reset_index(drop=True)


def robustness_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per (configuration, perturbation): the printed table in long form."""
    keys = ["group", "method", "DR", "label", "perturbation", "kind", "strength"]
    rows = []
    for key, part in frame.groupby(keys, sort=False, dropna=False):
        rec = dict(zip(keys, key))
        for metric in ("acc", "real_acc", "fake_acc", "auc"):
            values = part[metric].astype(float)
            rec[metric] = float(values.mean())
            rec[f"{metric}_std"] = float(values.std(ddof=1)) if values.notna().sum() > 1 else float("nan")
        rec["seeds"] = len(part)
        rows.append(rec)
    return pd.DataFrame(rows)


def _cell(value: float, std: float) -> str:
    text = format_cell(value)
    return f"{text} ± {format_cell(std)}" if text and pd.notna(std) else text


def _strength_name(kind: str, strength: float) -> str:
    value = float(strength)
    return f"{int(value)}" if value.is_integer() and kind == "jpeg" else f"{value:g}"


def _wide(summary: pd.DataFrame, kind: str) -> tuple[list[str], list[list[str]], list[str]]:
    """(header, printed rows, row labels) of one kind: clean, then the strengths in order."""
    part = summary[summary["kind"] == kind].sort_values("strength")
    strengths = list(dict.fromkeys(part["strength"]))
    header = ["Method", "DR", "clean", *[_strength_name(kind, s) for s in strengths]]
    body, labels = [], []
    for group in dict.fromkeys(summary["group"]):
        rows = summary[summary["group"] == group]
        clean = rows[rows["kind"] == "clean"]
        first = rows.iloc[0]
        cells = [str(first["method"]), str(first["DR"])]
        cells.append(_cell(clean["acc"].iloc[0], clean["acc_std"].iloc[0]) if len(clean) else "")
        for s in strengths:
            hit = rows[(rows["kind"] == kind) & (rows["strength"] == s)]
            cells.append(_cell(hit["acc"].iloc[0], hit["acc_std"].iloc[0]) if len(hit) else "")
        body.append(cells)
        labels.append(str(first["label"]))
    return header, body, labels


def robustness_markdown(summary: pd.DataFrame, title: str, demo: bool) -> str:
    lines = [f"# {title}", "",
             "Avg accuracy (%, unweighted mean over the protocol's generator columns) with every test image",
             "perturbed before the evaluation transform; `clean` is the unperturbed evaluation. JPEG and resize",
             "follow the authors' test hooks (OpenCV, applied to the full image before the centre crop); Gaussian",
             "blur (scipy, per channel) is our addition: the authors named it but never implemented it."]
    if demo:
        lines.append("Demo run: tiny stand-in data and random-weight models; the numbers exercise the pipeline only.")
    for kind, name in KIND_TITLES.items():
        if not (summary["kind"] == kind).any():
            continue
        header, body, _ = _wide(summary, kind)
        lines += ["", f"## {name}", "", "| " + " | ".join(header) + " |",
                  "| " + " | ".join([":---", ":---", *(["---:"] * (len(header) - 2))]) + " |"]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines) + "\n"


def robustness_latex(summary: pd.DataFrame, title: str) -> str:
    tabulars = []
    for kind, name in KIND_TITLES.items():
        if not (summary["kind"] == kind).any():
            continue
        header, body, _ = _wide(summary, kind)
        spec = "ll" + "c" * (len(header) - 2)
        lines = [rf"\begin{{tabular}}{{{spec}}}", r"\toprule", " & ".join(escape(h) for h in header) + r" \\", r"\midrule"]
        lines += [" & ".join(escape(c).replace("±", r"$\pm$") for c in cells) + r" \\" for cells in body]
        lines += [r"\bottomrule", r"\end{tabular}"]
        tabulars.append((f"({name})", "\n".join(lines)))
    return latex_table(tabulars, title, "tab:robustness")


def robustness_figure(summary: pd.DataFrame, out_png: Path, out_pdf: Path | None, title: str) -> None:
    """One panel per perturbation kind: Avg accuracy vs strength, a line per method."""
    kinds = [k for k in KIND_TITLES if (summary["kind"] == k).any()]
    labels = list(dict.fromkeys(summary["label"]))
    colours = method_colours(labels)
    fig = new_figure(4.2 * max(len(kinds), 1) + 2.2, 3.9)
    low = min(40.0, float(summary["acc"].min()) - 5.0)
    for i, kind in enumerate(kinds):
        ax = fig.add_subplot(1, len(kinds), i + 1)
        part = summary[summary["kind"] == kind]
        if kind in IDENTITY:  # the clean evaluation is exactly scale 1 / sigma 0: the curve's anchor
            clean = summary[(summary["kind"] == "clean") & ~summary["group"].isin(
                part.loc[part["strength"] == IDENTITY[kind], "group"])].assign(kind=kind, strength=IDENTITY[kind])
            part = pd.concat([part, clean], ignore_index=True)
        part = part.sort_values("strength")
        sns.lineplot(data=part, x="strength", y="acc", hue="label", hue_order=labels, palette=colours,
                     marker="o", ax=ax, legend=False, errorbar=None)
        for label in labels:
            clean = summary[(summary["label"] == label) & (summary["kind"] == "clean")]
            rows = part[part["label"] == label]
            if len(clean):
                ax.axhline(float(clean["acc"].iloc[0]), color=colours[label], linestyle=":", linewidth=1.1)
            if rows["acc_std"].notna().any():
                ax.fill_between(rows["strength"], rows["acc"] - rows["acc_std"], rows["acc"] + rows["acc_std"],
                                color=colours[label], alpha=0.15, linewidth=0)
        ax.axhline(50, color="0.5", linestyle="--", linewidth=0.8)
        ax.set_ylim(low, 101)
        ax.set_title(KIND_TITLES[kind], fontsize=10)
        ax.set_xlabel({"jpeg": "quality (100 = mildest)", "scale": "scale factor (1 = none)",
                       "blur": "sigma (0 = none)"}[kind], fontsize=9)
        ax.set_ylabel("Avg accuracy (%)" if i == 0 else "")
        ax.set_xticks(sorted(part["strength"].unique()))
        ax.grid(color="0.92", linewidth=0.6)
        sns.despine(ax=ax)
    handles = [fig.axes[0].plot([], [], color=colours[lab], marker="o", linewidth=1.5)[0] for lab in labels]
    handles.append(fig.axes[0].plot([], [], color="0.3", linestyle=":", linewidth=1.1)[0])
    handles.append(fig.axes[0].plot([], [], color="0.5", linestyle="--", linewidth=0.8)[0])
    fig.legend(handles, [*labels, "clean (no perturbation)", "chance"], loc="center left",
               bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=9)
    fig.suptitle(title, fontsize=11, x=0.01, ha="left")
    fig.tight_layout()
    save_figure(fig, out_png, out_pdf)


#: what a study writes, from its summary, title and demo flag: Markdown, the CSV table, LaTeX, and a
#: function drawing the figure to (png, pdf)
StudyOutputs = Callable[[pd.DataFrame, str, bool], tuple[str, pd.DataFrame, str, Callable[[Path, Path], None]]]


def render_study(
    name: str,
    outputs: StudyOutputs,
    perturbed_files: Sequence[Path],
    clean_files: Sequence[Path],
    runs_meta: Sequence[dict],
    out_dir: Path,
    title: str,
    demo: bool,
    stem: str,
    only: Sequence[str] | None = None,
) -> list[Path]:
    """Write a perturbation study's ``<stem>.md/.csv/.tex/.png/.pdf/.html`` in ``out_dir``; return the paths.

    Shared by the robustness study and the format-bias control, which differ only in ``outputs``.
    ``only``: the perturbation ids of this study (the perturbed files may hold the other study's too).
    The HTML page is the Markdown's tables for ``snakemake --report`` (:mod:`drct.paper.html`).
    """
    title = f"{title}: {name}"
    summary = robustness_summary(load_perturbed(perturbed_files, clean_files, runs_meta, only))
    markdown, table, latex, draw_figure = outputs(summary, title, demo)
    out_dir = Path(out_dir)
    paths = [out_dir / f"{stem}.{ext}" for ext in ("md", "csv", "tex", "png", "pdf", "html")]
    atomic_write_text(paths[0], markdown)
    write_csv(table, paths[1])
    atomic_write_text(paths[2], latex)
    draw_figure(paths[3], paths[4])
    write_html(paths[0], paths[5])
    return paths


def robustness_outputs(summary: pd.DataFrame, title: str, demo: bool):  # noqa: ANN201 - StudyOutputs
    return (robustness_markdown(summary, title, demo), summary, robustness_latex(summary, title),
            lambda png, pdf: robustness_figure(summary, png, pdf, title))


#: ``render_robustness(perturbed_files, clean_files, runs_meta, out_dir, title, demo, only=None)``
render_robustness = partial(render_study, "robustness", robustness_outputs, stem="robustness")
