"""Reconstruction step: the demo model, one shard of diffusion reconstructions, their merge, the published check."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from drct.cli.arguments import add_command, json_arg, set_threads

log = logging.getLogger("drct")


def build_demo_model(args: argparse.Namespace) -> None:
    from drct.reconstruction.build_demo_model import build_demo_pipeline

    path = build_demo_pipeline(Path(args.out), seed=args.seed)
    log.info("demo inpainting pipeline saved to %s", path)


def reconstruct_shard(args: argparse.Namespace) -> None:
    from drct.reconstruction.reconstruct_shard import reconstruct_manifest
    from drct.reconstruction.settings import ReconstructionSettings

    set_threads(args.threads)
    frame = reconstruct_manifest(
        Path(args.manifest),
        Path(args.out),
        Path(args.images_dir),
        ReconstructionSettings.from_dict(args.settings),
        generator=args.source,
        split=args.split,
        label_filter=None if args.source_label == "all" else int(args.source_label),
        output_name=args.output_name,
        shard=args.shard,
        num_shards=args.num_shards,
        limit=args.limit,
        provenance_json=Path(args.provenance) if args.provenance else None,
    )
    failed = int((frame["status"] == "failed").sum()) if len(frame) else 0
    log.info("shard %d/%d: %d images, %d failed", args.shard, args.num_shards, len(frame), failed)


def merge_reconstructions(args: argparse.Namespace) -> None:
    from drct.reconstruction.merge_reconstructions import merge_manifests

    merge_manifests([Path(p) for p in args.inputs], Path(args.out))


def published_check_sample(args: argparse.Namespace) -> None:
    from drct.reconstruction.published_check import write_sample

    write_sample(
        Path(args.manifest), Path(args.out), source=args.source, published=args.published, split=args.split,
        n=args.n, seed=args.seed,
    )


def published_check_compare(args: argparse.Namespace) -> None:
    from drct.reconstruction.published_check import run_comparison

    summary = run_comparison(
        Path(args.sample), Path(args.ours), check=args.check,
        provenance_json=Path(args.provenance) if args.provenance else None,
        out_csv=Path(args.out_csv), out_json=Path(args.out_json), out_md=Path(args.out_md),
    )
    if summary["n_compared"] == 0:
        raise SystemExit(f"no image could be compared; see {args.out_csv}")


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "build-demo-model", build_demo_model,
                    "Build the demo's small random-weight SD inpainting pipeline.")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)

    p = add_command(sub, "reconstruct-shard", reconstruct_shard,
                    "Diffusion-reconstruct one shard of a generator's images.", uses_gpu=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--settings", type=json_arg, required=True, help="ReconstructionSettings (JSON or @file)")
    p.add_argument("--source", required=True, help="generator whose images are reconstructed")
    p.add_argument("--source-label", default="all", choices=["all", "0", "1"], help="only images with this label")
    p.add_argument("--split", required=True, choices=["train", "test"])
    p.add_argument("--output-name", required=True, help="generator name of the reconstructions")
    p.add_argument("--images-dir", required=True)
    p.add_argument("--shard", type=int, default=0)
    p.add_argument("--num-shards", type=int, default=1)
    p.add_argument("--limit", type=int, default=None, help="at most this many images (smoke tests)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", required=True, help="the shard's manifest CSV")
    p.add_argument("--provenance", default=None, help="write settings, model revision and versions here (JSON)")

    p = add_command(sub, "merge-reconstructions", merge_reconstructions,
                    "Concatenate the shard manifests of one reconstruction job into one.")
    p.add_argument("--inputs", nargs="+", required=True)
    p.add_argument("--out", required=True)

    p = add_command(sub, "published-check-sample", published_check_sample,
                    "Seeded sample of source images that also have a published reconstruction (a small manifest).")
    p.add_argument("--manifest", required=True, help="the dataset's valid manifest")
    p.add_argument("--source", required=True, help="generator whose images are reconstructed (DRCT-2M: real)")
    p.add_argument("--published", required=True, help="generator of the dataset's published reconstructions of --source")
    p.add_argument("--split", required=True, choices=["train", "test"])
    p.add_argument("-n", type=int, required=True, help="images in the sample (all common stems when fewer)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="the sample manifest CSV (source rows and their published rows)")

    p = add_command(sub, "published-check-compare", published_check_compare,
                    "PSNR and SSIM of our reconstructions vs the published ones: per-image CSV, summary JSON, "
                    "report (no torch).")
    p.add_argument("--sample", required=True, help="the sample manifest (drct published-check-sample)")
    p.add_argument("--ours", required=True, help="manifest of our reconstructions of the sample")
    p.add_argument("--check", type=json_arg, required=True,
                   help="reconstruction.published_check (JSON or @file): model, dataset, source, published, split, ...")
    p.add_argument("--provenance", default=None, help="provenance JSON of our reconstructions")
    p.add_argument("--out-csv", required=True, help="per-image PSNR/SSIM, failures with their reason")
    p.add_argument("--out-json", required=True, help="summary")
    p.add_argument("--out-md", required=True, help="Markdown report")
