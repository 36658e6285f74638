"""``drct predict``: P(fake) for a user's own image files and folders (not a step of the DAG)."""

from __future__ import annotations

import argparse
from pathlib import Path

from drct.cli.arguments import add_command, set_threads


def predict(args: argparse.Namespace) -> None:
    from drct.predict import predict_paths

    set_threads(args.threads)
    frame = predict_paths(
        Path(args.checkpoint), args.paths, Path(args.out), batch_size=args.batch_size, device=args.device,
        num_workers=args.workers, threshold=args.threshold, progress=not args.no_progress,
    )
    if (frame["status"] == "ok").sum() == 0:
        raise SystemExit("no image could be read; see the warnings above")


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "predict", predict, "P(fake) for image files and folders: CSV or JSON, unreadable images listed.",
                    uses_gpu=True)
    p.add_argument("paths", nargs="+", help="image files and/or folders (searched recursively)")
    p.add_argument("--checkpoint", required=True, help="our .safetensors checkpoint (trained or imported)")
    p.add_argument("--out", required=True, help="predictions file: .csv or .json")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="auto")
    p.add_argument("--threshold", type=float, default=0.5, help="fake when P(fake) is above this")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
