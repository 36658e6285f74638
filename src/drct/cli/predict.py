"""``drct predict``: P(fake) for a user's own image files and folders (not a step of the DAG)."""

from __future__ import annotations

import argparse
from pathlib import Path

from drct.cli.arguments import add_command, set_threads


def predict(args: argparse.Namespace) -> None:
    if args.list_released:
        from drct.released import format_table, released_table

        print(format_table(released_table(_config(args))))
        return
    if bool(args.checkpoint) == bool(args.released):
        raise SystemExit("drct predict: give either --checkpoint FILE or --released NAME (see --list-released)")
    if not args.paths:
        raise SystemExit("drct predict: name at least one image file or folder")
    from drct.predict import predict_paths

    checkpoint = Path(args.checkpoint) if args.checkpoint else _released(args)
    set_threads(args.threads)
    frame = predict_paths(
        checkpoint, args.paths, Path(args.out) if args.out else None, batch_size=args.batch_size,
        device=args.device, num_workers=args.workers, threshold=args.threshold, progress=not args.no_progress,
        captions=Path(args.captions) if args.captions else None,
        captioner=Path(args.captioner) if args.captioner else None,
        reconstructions=Path(args.reconstructions) if args.reconstructions else None,
    )
    if (frame["status"] == "ok").sum() == 0:
        raise SystemExit("no image could be read; see the warnings above")


def _released(args: argparse.Namespace) -> Path:
    from drct.released import fetch_released

    return fetch_released(args.released, cache=Path(args.cache) if args.cache else None,
                          config_path=_config(args), source_url=args.source_url,
                          progress=not args.no_progress)


def _config(args: argparse.Namespace) -> Path:
    from drct.released import DEFAULT_CONFIG

    return Path(args.released_config) if args.released_config else DEFAULT_CONFIG


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "predict", predict,
                    "P(fake) for image files and folders: CSV (stdout or --out) or JSON, unreadable images listed.",
                    uses_gpu=True)
    p.add_argument("paths", nargs="*", help="image files and/or folders (searched recursively)")
    which = p.add_argument_group("model (one of)")
    which.add_argument("--checkpoint", help="our .safetensors checkpoint (trained or imported)")
    which.add_argument("--released", metavar="NAME",
                       help="one of the authors' released checkpoints (names: --list-released): pretrained.zip is "
                            "downloaded and the checkpoint imported once, into --cache")
    p.add_argument("--out", help="predictions file: .csv or .json (default: CSV on stdout)")
    p.add_argument("--reconstructions", metavar="DIR",
                   help="DIRE checkpoints only: the folder of the images' reconstructions by the checkpoint's DR "
                        "model, <image stem>.png (as `drct reconstruct-shard` writes them)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="auto")
    p.add_argument("--threshold", type=float, default=0.5, help="fake when P(fake) is above this")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    cap = p.add_argument_group("De-fake checkpoints (a caption per image)")
    cap.add_argument("--captions", metavar="CSV",
                     help="path,caption CSV of the images (paths relative to the CSV's folder or absolute); "
                          "default: caption them with the captioner the checkpoint records")
    cap.add_argument("--captioner", metavar="DIR",
                     help="a BLIP save_pretrained folder to caption with instead of the recorded one")
    rel = p.add_argument_group("released checkpoints")
    rel.add_argument("--list-released", action="store_true", help="print the names --released accepts, and exit")
    rel.add_argument("--cache", help="where the archive and imported checkpoints are kept "
                                     "(default: $DRCT_CACHE, else ~/.cache/drct)")
    rel.add_argument("--source-url", help="base URL of a mirror of the archive's source (replaces its base_url)")
    rel.add_argument("--released-config", metavar="FILE",
                     help="the preset listing the released checkpoints (training.released) and their networks "
                          "(default: presets/eval_released.yaml of this project)")
