"""Evaluation step: score test images with a checkpoint (clean or perturbed), metrics, sample pairs."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from drct.cli.arguments import add_command, json_arg, set_threads

log = logging.getLogger("drct")


def score(args: argparse.Namespace) -> None:
    from drct.evaluation.score import score as score_manifest

    set_threads(args.threads)
    score_manifest(Path(args.checkpoint), Path(args.manifest), Path(args.out), split=args.split,
            generators=args.generators or None, batch_size=args.batch_size, device=args.device)


def score_perturbed(args: argparse.Namespace) -> None:
    from drct.evaluation.perturb import parse_perturbation
    from drct.evaluation.score import score_perturbed as score_manifest_perturbed

    set_threads(args.threads)
    perturbations = [parse_perturbation(p) for p in args.perturbations]
    score_manifest_perturbed(Path(args.checkpoint), Path(args.manifest), Path(args.out), perturbations, split=args.split,
                      generators=args.generators or None, batch_size=args.batch_size, device=args.device)


def metrics(args: argparse.Namespace) -> None:
    import pandas as pd

    from drct.evaluation.bootstrap import BootstrapSettings
    from drct.evaluation.metrics import json_ready
    from drct.evaluation.summary import protocol_summary
    from drct.io import write_csv, write_json

    predictions = pd.read_csv(args.predictions)
    result, roc, pr = protocol_summary(predictions, args.protocol, args.run, BootstrapSettings.from_dict(args.bootstrap))
    write_json(Path(args.out), json_ready(result))
    if args.roc:
        write_csv(roc, Path(args.roc))
    if args.pr:
        write_csv(pr, Path(args.pr))
    low, high = result["mean"]["acc_ci"]
    log.info(
        "mean ACC %.2f (95%% CI %.2f-%.2f) over %d generators", result["mean"]["acc"], low, high, len(result["generators"])
    )


def perturbed_metrics(args: argparse.Namespace) -> None:
    import pandas as pd

    from drct.evaluation.summary import perturbed_summary
    from drct.io import write_csv

    table = perturbed_summary(pd.read_csv(args.predictions), args.protocol)
    table.insert(0, "run", args.run)
    write_csv(table, Path(args.out))
    log.info("%d perturbations x %d columns -> %s", table["perturbation"].nunique(), table["generator"].nunique(), args.out)


def samples(args: argparse.Namespace) -> None:
    from drct.evaluation.samples import copy_samples

    copy_samples(Path(args.manifest), args.groups, Path(args.out_dir), split=args.split, n=args.n)


def _add_scoring_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--generators", nargs="*", default=[], help="only these generators (default all)")
    p.add_argument("--split", default="test")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", required=True, help="predictions CSV")


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "score", score, "Score test images with a checkpoint: per-image P(fake).", uses_gpu=True)
    _add_scoring_arguments(p)

    p = add_command(sub, "score-perturbed", score_perturbed,
                    "Score test images under each perturbation (robustness, format control) into one long CSV.",
                    uses_gpu=True)
    _add_scoring_arguments(p)
    p.add_argument("--perturbations", nargs="+", required=True, help="jpeg:Q, scale:S, blur:SIGMA, png")

    p = add_command(sub, "metrics", metrics,
                    "Per-generator ACC, real/fake ACC, AUC, AP, oracle ACC, bootstrap CIs, curves.")
    p.add_argument("--predictions", required=True)
    p.add_argument("--protocol", type=json_arg, required=True, help="the protocol's config entry")
    p.add_argument("--run", required=True)
    p.add_argument("--bootstrap", type=json_arg, default=None, help="BootstrapSettings: replicates, level, seed")
    p.add_argument("--roc", default=None, help="write the ROC curve points here (CSV)")
    p.add_argument("--pr", default=None, help="write the precision-recall curve points here (CSV)")
    p.add_argument("--out", required=True)

    p = add_command(sub, "perturbed-metrics", perturbed_metrics,
                    "Metrics per perturbation and column from perturbed predictions.")
    p.add_argument("--predictions", required=True)
    p.add_argument("--protocol", type=json_arg, required=True, help="the protocol's config entry")
    p.add_argument("--run", required=True)
    p.add_argument("--out", required=True)

    p = add_command(sub, "samples", samples, "Copy a few image/reconstruction pairs for the sample grid.")
    p.add_argument("--manifest", required=True)
    p.add_argument("--groups", type=json_arg, required=True, help='[{"group": "real", "image": G, "rec": G}, ...]')
    p.add_argument("--split", default="train")
    p.add_argument("-n", type=int, default=3, help="pairs per group")
    p.add_argument("--out-dir", required=True)
