"""Training step: train one run (DRCT or a baseline), or import one of the authors' released checkpoints."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from drct.cli.arguments import add_command, json_arg, set_threads

log = logging.getLogger("drct")


def train_run(args: argparse.Namespace) -> None:
    from drct.training.settings import TrainSettings
    from drct.training.train_run import train

    settings = TrainSettings.from_dict(args.settings)
    if args.nproc_per_node > 1 and "WORLD_SIZE" not in os.environ:
        from drct.training.distributed import relaunch_under_torchrun

        argv = ["train-run", "--manifest", args.manifest, "--settings", json.dumps(args.settings),
                "--out-dir", args.out_dir]
        if args.threads:
            argv += ["--threads", str(max(1, args.threads // args.nproc_per_node))]
        if args.no_resume:
            argv.append("--no-resume")
        if args.captions:
            argv += ["--captions", args.captions, "--captioner", json.dumps(args.captioner or {})]
        status = relaunch_under_torchrun(args.nproc_per_node, argv)
        if status:
            raise SystemExit(f"torchrun with {args.nproc_per_node} processes failed (exit status {status})")
        return
    set_threads(args.threads)
    provenance = {"captioner": args.captioner} if args.captioner else None  # what wrote the captions
    summary = train(Path(args.manifest), Path(args.out_dir), settings, provenance, resume=not args.no_resume,
                    captions=Path(args.captions) if args.captions else None)
    log.info("training finished: %s", json.dumps(summary, default=str))


def import_released(args: argparse.Namespace) -> None:
    from drct.training.import_released import import_released as import_checkpoint
    from drct.training.settings import TrainSettings

    record = import_checkpoint(
        Path(args.source), Path(args.out), TrainSettings.from_dict(args.settings), member=args.member or None
    )
    log.info("imported %s: %s", args.out, json.dumps(record["imported_from"]))


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "train-run", train_run, "Train one detector run (DRCT or the plain baseline).", uses_gpu=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--settings", type=json_arg, required=True, help="TrainSettings (JSON or @file)")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--nproc-per-node", type=int, default=1,
                   help="processes (GPUs) for DDP: relaunches itself under torchrun; --settings batch_size is global")
    p.add_argument("--no-resume", action="store_true", help="start afresh even if OUT_DIR/resume/ holds a state")
    p.add_argument("--captions", default=None,
                   help="the manifest's path,caption CSV (drct merge-captions); required by De-fake")
    p.add_argument("--captioner", type=json_arg, default=None,
                   help="CaptionSettings that wrote --captions (JSON or @file): recorded in the checkpoint "
                        "sidecar, where drct predict finds the captioner")

    p = add_command(sub, "import-released", import_released,
                    "Convert one of the authors' released checkpoints (.pth, or a member of pretrained.zip) into ours.")
    p.add_argument("--source", required=True, help="the .pth/.safetensors file, or pretrained.zip with --member")
    p.add_argument("--member", default="", help="path of the checkpoint inside the zip")
    p.add_argument("--settings", type=json_arg, required=True,
                   help="TrainSettings describing the network (JSON or @file; model_name, embedding_dim...)")
    p.add_argument("--out", required=True, help="our checkpoint (.safetensors; its .json sidecar is written beside it)")
