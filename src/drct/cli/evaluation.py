"""Evaluation step: score test images with a checkpoint (clean or perturbed), metrics, sample pairs.

`score`, `metrics` and `perturbed-metrics` take every protocol of one run (``--protocols``), so the
workflow runs one job per run and step: each job is a new process that pays its imports (and, to
score, the model load) once for all protocols.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from drct.cli.arguments import add_command, json_arg, set_threads
from drct.errors import DrctError

log = logging.getLogger("drct")


def score(args: argparse.Namespace) -> None:
    from drct.evaluation.perturb import parse_perturbation
    from drct.evaluation.score import ProtocolTask, score_protocols

    set_threads(args.threads)
    tasks = [
        ProtocolTask(
            name=entry["name"], manifest=Path(entry["manifest"]), out=Path(entry["out"]),
            generators=entry.get("generators") or None,
            perturbations=tuple(parse_perturbation(p) for p in entry.get("perturbations", [])),
            perturbed_out=Path(entry["perturbed_out"]) if entry.get("perturbed_out") else None,
            captions=Path(entry["captions"]) if entry.get("captions") else None,
            reconstructions=entry.get("reconstructions") or None,
            reconstruction_manifests=tuple(Path(m) for m in entry.get("reconstruction_manifests", [])),
        )
        for entry in _entries(args.protocols, ("name", "manifest", "out"))
    ]
    score_protocols(Path(args.checkpoint), tasks, split=args.split, batch_size=args.batch_size, device=args.device)


def metrics(args: argparse.Namespace) -> None:
    import pandas as pd

    from drct.evaluation.bootstrap import BootstrapSettings
    from drct.evaluation.metrics import json_ready
    from drct.evaluation.summary import protocol_summary
    from drct.io import write_csv, write_json

    bootstrap = BootstrapSettings.from_dict(args.bootstrap)
    for entry in _entries(args.protocols, ("protocol", "predictions", "out")):
        predictions = pd.read_csv(entry["predictions"])
        result, roc, pr = protocol_summary(predictions, entry["protocol"], args.run, bootstrap)
        write_json(Path(entry["out"]), json_ready(result))
        if entry.get("roc"):
            write_csv(roc, Path(entry["roc"]))
        if entry.get("pr"):
            write_csv(pr, Path(entry["pr"]))
        low, high = result["mean"]["acc_ci"]
        log.info("%s: mean ACC %.2f (95%% CI %.2f-%.2f) over %d generators", entry["protocol"]["name"],
                 result["mean"]["acc"], low, high, len(result["generators"]))


def perturbed_metrics(args: argparse.Namespace) -> None:
    import pandas as pd

    from drct.evaluation.summary import perturbed_summary
    from drct.io import write_csv

    for entry in _entries(args.protocols, ("protocol", "predictions", "out")):
        table = perturbed_summary(pd.read_csv(entry["predictions"]), entry["protocol"])
        table.insert(0, "run", args.run)
        write_csv(table, Path(entry["out"]))
        log.info("%s: %d perturbations x %d columns -> %s", entry["protocol"]["name"],
                 table["perturbation"].nunique(), table["generator"].nunique(), entry["out"])


def _entries(value: object, required: tuple[str, ...]) -> list[dict]:
    """The ``--protocols`` list, each entry checked for its keys before any work starts."""
    if not isinstance(value, list) or not value:
        raise DrctError("--protocols: expected a non-empty JSON list of objects, one per protocol")
    for i, entry in enumerate(value):
        missing = [k for k in required if not isinstance(entry, dict) or k not in entry]
        if missing:
            raise DrctError(f"--protocols entry {i}: missing {', '.join(missing)} (needs {', '.join(required)})")
    return value


def samples(args: argparse.Namespace) -> None:
    from drct.evaluation.samples import copy_samples

    copy_samples(Path(args.manifest), args.groups, Path(args.out_dir), split=args.split, n=args.n)


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "score", score,
                    "Score one checkpoint on every protocol given, clean and perturbed, the model loaded once: "
                    "per-image P(fake).", uses_gpu=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--protocols", type=json_arg, required=True,
                   help='[{"name", "manifest", "generators": [...], "out": predictions CSV, and for a perturbation '
                        'study "perturbations": ["jpeg:60", "scale:0.5", "blur:2", "png"], "perturbed_out": CSV}, ...] '
                        "(JSON or @file; no generators = all)")
    p.add_argument("--split", default="test")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)

    p = add_command(sub, "metrics", metrics,
                    "Per-generator ACC, real/fake ACC, AUC, AP, oracle ACC, bootstrap CIs, curves; every protocol "
                    "of one run.")
    p.add_argument("--protocols", type=json_arg, required=True,
                   help='[{"protocol": its config entry, "predictions": CSV, "out": metrics JSON, "roc": CSV, '
                        '"pr": CSV}, ...] (JSON or @file; roc and pr optional)')
    p.add_argument("--run", required=True)
    p.add_argument("--bootstrap", type=json_arg, default=None, help="BootstrapSettings: replicates, level, seed")

    p = add_command(sub, "perturbed-metrics", perturbed_metrics,
                    "Metrics per perturbation and column from perturbed predictions; every protocol of one run.")
    p.add_argument("--protocols", type=json_arg, required=True,
                   help='[{"protocol": its config entry, "predictions": perturbed CSV, "out": metrics CSV}, ...]')
    p.add_argument("--run", required=True)

    p = add_command(sub, "samples", samples, "Copy a few image/reconstruction pairs for the sample grid.")
    p.add_argument("--manifest", required=True)
    p.add_argument("--groups", type=json_arg, required=True, help='[{"group": "real", "image": G, "rec": G}, ...]')
    p.add_argument("--split", default="train")
    p.add_argument("-n", type=int, default=3, help="pairs per group")
    p.add_argument("--out-dir", required=True)
