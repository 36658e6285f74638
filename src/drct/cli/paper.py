"""Paper step: tables and figures in the paper's layout, the robustness and format-bias studies, sample grids.

Nothing here imports torch: the paper outputs are rendered from evaluation files alone.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from drct.cli.arguments import add_command, json_arg

log = logging.getLogger("drct")


def tables(args: argparse.Namespace) -> None:
    from drct.paper.render import render_paper

    spec = args.spec
    paths = render_paper(
        paper_table=spec["paper_table"],
        metrics_files=[Path(p) for p in args.metrics],
        roc_files=[Path(p) for p in args.roc],
        pr_files=[Path(p) for p in args.pr],
        runs_meta=spec["runs"],
        column_map={c["generator"]: c["label"] for c in spec["columns"]},
        demo=spec["demo"],
        out_dir=Path(args.out_dir),
        title=spec["title"],
    )
    for path in paths:
        log.info("wrote %s", path)


def _study(render, args: argparse.Namespace) -> None:
    from drct.planning.perturbations import parse_spec, spec_id

    spec = args.spec
    only = [spec_id(*parse_spec(p)) for p in args.only] if args.only else None
    paths = render(
        [Path(p) for p in args.perturbed], [Path(p) for p in args.metrics], spec["runs"],
        Path(args.out_dir), spec["title"], spec["demo"], only=only,
    )
    for path in paths:
        log.info("wrote %s", path)


def robustness(args: argparse.Namespace) -> None:
    from drct.paper.robustness import render_robustness

    _study(render_robustness, args)


def format_bias(args: argparse.Namespace) -> None:
    from drct.paper.format_bias import render_format_bias

    _study(render_format_bias, args)


def ablation(args: argparse.Namespace) -> None:
    from drct.paper.ablations import render_ablation

    for path in render_ablation(args.kind, [Path(p) for p in args.metrics], args.spec, Path(args.out_dir)):
        log.info("wrote %s", path)


def sample_grid(args: argparse.Namespace) -> None:
    from drct.paper.sample_grid import sample_grid as render_grid

    render_grid(Path(args.samples), Path(args.out_png), Path(args.out_pdf) if args.out_pdf else None, args.title)


def _add_study_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--spec", type=json_arg, required=True, help='{"title", "demo", "runs"}')
    p.add_argument("--perturbed", nargs="+", required=True, help="perturbed metrics CSV per run")
    p.add_argument("--metrics", nargs="+", required=True, help="clean metrics.json per run")
    p.add_argument("--only", nargs="*", default=[], help="only these perturbations (jpeg:60, png ...); default all")
    p.add_argument("--out-dir", required=True)


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "tables", tables, "Paper-layout tables and figures, ours beside the paper's (no torch).")
    p.add_argument("--spec", type=json_arg, required=True)
    p.add_argument("--metrics", nargs="+", required=True, help="metrics.json per run")
    p.add_argument("--roc", nargs="+", required=True, help="roc.csv per run, in the order of --metrics")
    p.add_argument("--pr", nargs="+", required=True, help="pr.csv per run, in the order of --metrics")
    p.add_argument("--out-dir", required=True)

    p = add_command(sub, "robustness", robustness,
                    "Robustness table and figure: accuracy under JPEG, resizing and blur (no torch).")
    _add_study_arguments(p)

    p = add_command(sub, "format-bias", format_bias,
                    "Format-bias control: accuracy with every test image re-encoded to one format (no torch).")
    _add_study_arguments(p)

    p = add_command(sub, "ablation", ablation,
                    "The component ablation's table or the lambda sweep's table and plot (no torch).")
    p.add_argument("--kind", choices=["components", "lambda"], required=True)
    p.add_argument("--spec", type=json_arg, required=True, help="drct.planning.ablations.ablation_spec")
    p.add_argument("--metrics", nargs="+", required=True, help="metrics.json of every ablation run")
    p.add_argument("--out-dir", required=True)

    p = add_command(sub, "sample-grid", sample_grid,
                    "Real / real-rec / fake / fake-rec grid from copied samples (no torch).")
    p.add_argument("--samples", required=True, help="folder with samples.csv")
    p.add_argument("--title", default="")
    p.add_argument("--out-png", required=True)
    p.add_argument("--out-pdf", default=None)
