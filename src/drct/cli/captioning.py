"""Captioning step (De-fake): the demo captioner, one shard of BLIP captions, their merge."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from drct.cli.arguments import add_command, json_arg, set_threads

log = logging.getLogger("drct")


def build_demo_captioner(args: argparse.Namespace) -> None:
    from drct.captioning.build_demo_captioner import build_demo_captioner as build

    path = build(Path(args.out), seed=args.seed)
    log.info("demo captioner saved to %s", path)


def caption_shard(args: argparse.Namespace) -> None:
    from drct.captioning.caption_shard import caption_manifest
    from drct.captioning.settings import CaptionSettings

    set_threads(args.threads)
    frame = caption_manifest(
        Path(args.manifest), Path(args.out), CaptionSettings.from_dict(args.settings),
        shard=args.shard, num_shards=args.num_shards,
    )
    failed = int((frame["status"] == "failed").sum()) if frame is not None and len(frame) else 0
    log.info("captions shard %d/%d: %d images, %d failed", args.shard, args.num_shards,
             0 if frame is None else len(frame), failed)


def merge_captions(args: argparse.Namespace) -> None:
    from drct.captioning.caption_shard import merge_captions as merge

    captions = merge([Path(p) for p in args.inputs], Path(args.out))
    log.info("%d captions -> %s", len(captions), args.out)


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "build-demo-captioner", build_demo_captioner,
                    "Build the demo's tiny random-weight BLIP captioner (save_pretrained folder).")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)

    p = add_command(sub, "caption-shard", caption_shard,
                    "BLIP-caption one shard of a manifest's images (resumable; De-fake's captions).", uses_gpu=True)
    p.add_argument("--manifest", required=True, help="the dataset's combined manifest")
    p.add_argument("--settings", type=json_arg, required=True, help="CaptionSettings (JSON or @file)")
    p.add_argument("--shard", type=int, default=0)
    p.add_argument("--num-shards", type=int, default=1)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", required=True, help="the shard's CSV (path, caption, status, error)")

    p = add_command(sub, "merge-captions", merge_captions,
                    "Merge caption shards into one path,caption CSV (failed images logged and left out).")
    p.add_argument("--inputs", nargs="+", required=True)
    p.add_argument("--out", required=True)
