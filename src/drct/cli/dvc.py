"""DVC views of the evaluation outputs, and the workspace check before ``dvc repro`` downloads."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from drct.cli.arguments import add_command, json_arg

log = logging.getLogger("drct")


def dvc_views(args: argparse.Namespace) -> None:
    from drct.dvc.views import write_views

    roc = [Path(p) for p in args.roc] if args.roc else None
    paths = write_views([Path(p) for p in args.metrics], args.protocols, Path(args.metrics_dir), Path(args.plots_dir), roc)
    log.info("wrote %d metric and plot views", len(paths))


def check_workspace(args: argparse.Namespace) -> None:
    from drct.config import load_yaml
    from drct.dvc.workspace import foreign_entries

    config = load_yaml(args.config)
    foreign = foreign_entries(config, Path(args.data_dir), Path(args.downloads_dir))
    if foreign:
        listed = "\n  - ".join(str(p) for p in foreign)
        raise SystemExit(
            f"this workspace holds data that {args.config} (experiment {config.get('experiment')!r}) does not "
            f"define:\n  - {listed}\nDVC would record them in this experiment's dvc.lock. Run each experiment "
            "in its own clone (docs/dvc.md), or move these folders away."
        )
    log.info("workspace holds only the data of experiment %r", config.get("experiment"))


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "dvc-views", dvc_views, "Per-run summary metrics (Avg ACC, real/fake ACC, AUC, AP) and "
                    "per-generator plot files in the folders DVC reads (no torch).")
    p.add_argument("--metrics", nargs="+", required=True, help="metrics.json per run and protocol")
    p.add_argument("--protocols", type=json_arg, required=True, help="evaluation.protocols (JSON or @file)")
    p.add_argument("--metrics-dir", required=True, help="writes <protocol>/<run>.json (the run's summary) here")
    p.add_argument("--roc", nargs="*", default=None, help="roc.csv per run, in the order of --metrics")
    p.add_argument("--plots-dir", required=True, help="writes accuracy/ and roc/<protocol>/<run>.csv here")

    p = add_command(sub, "check-workspace", check_workspace,
                    "Fail if the shared data folders hold datasets or downloads the config does not define.")
    p.add_argument("--config", default="config.yaml")
    p.add_argument("--data-dir", default="results/data")
    p.add_argument("--downloads-dir", default="results/downloads")
