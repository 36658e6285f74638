"""The ``drct`` command: one subcommand per pipeline step, usable with or without Snakemake.

Each subcommand reads the files the previous step wrote and writes its own, so any step can be
rerun alone. Heavy imports (torch, diffusers, timm) happen inside the subcommand that needs them:
``drct tables`` and the data steps never import torch.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("drct")


def _json_arg(value: str) -> Any:
    """Inline JSON, or ``@path`` to a JSON/YAML file: rules pass inline JSON, people often prefer a file."""
    if value.startswith("@"):
        path = Path(value[1:])
        text = path.read_text(encoding="utf-8")
        if path.suffix in {".yaml", ".yml"}:
            import yaml

            return yaml.safe_load(text)
        return json.loads(text)
    try:
        return json.loads(value)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({error}); pass inline JSON or @file.json") from error


def _set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


# --- data -----------------------------------------------------------------------------------------


def cmd_download(args: argparse.Namespace) -> None:
    from drct.data.download import fetch_locked

    digest = fetch_locked(
        args.url, Path(args.out), Path(args.lock), args.key, sha256=args.sha256 or None, size=args.size
    )
    log.info("%s -> %s (sha256 %s)", args.url, args.out, digest)


def cmd_prepare(args: argparse.Namespace) -> None:
    import yaml

    from drct.data.prepare import prepare_dataset

    spec = args.spec
    if len(args.archives) != len(spec["archives"]):
        raise SystemExit(f"--archives: got {len(args.archives)} files for {len(spec['archives'])} archives in the spec")
    expected = None
    if spec.get("expected_counts"):
        expected = yaml.safe_load(Path(spec["expected_counts"]).read_text(encoding="utf-8"))
    manifest = prepare_dataset(
        [Path(a) for a in args.archives],
        spec["name"],
        spec["layout"],
        Path(args.out_dir),
        members=[a.get("member") for a in spec["archives"]],
        generators={g["name"]: g["folder"] for g in spec["generators"]},
        real_folder=spec.get("real_folder"),
        expected_counts=expected,
        workers=args.workers,
    )
    log.info("wrote %s", manifest)


def cmd_validate(args: argparse.Namespace) -> None:
    from drct.data.validate import validate_manifest

    valid, quarantined = validate_manifest(
        Path(args.manifest), Path(args.out_valid), Path(args.out_quarantine), workers=args.workers
    )
    log.info("%d valid images, %d quarantined (listed in %s)", valid, quarantined, args.out_quarantine)


def cmd_merge_manifests(args: argparse.Namespace) -> None:
    from drct.data.combine import merge_manifests

    merge_manifests([Path(p) for p in args.inputs], Path(args.out))


def cmd_combine(args: argparse.Namespace) -> None:
    from drct.data.combine import combine_manifests

    combine_manifests(Path(args.dataset), [Path(p) for p in args.reconstructions], Path(args.out))


# --- reconstruction -------------------------------------------------------------------------------


def cmd_build_demo_model(args: argparse.Namespace) -> None:
    from drct.reconstruction.demo_model import build_demo_pipeline

    path = build_demo_pipeline(Path(args.out), seed=args.seed)
    log.info("demo inpainting pipeline saved to %s", path)


def cmd_reconstruct(args: argparse.Namespace) -> None:
    from drct.reconstruction.runner import reconstruct_manifest
    from drct.reconstruction.settings import ReconstructionSettings

    _set_threads(args.threads)
    settings = ReconstructionSettings.from_dict(args.settings)
    frame = reconstruct_manifest(
        Path(args.manifest),
        Path(args.out),
        Path(args.images_dir),
        settings,
        generator=args.source,
        split=args.split,
        label_filter=None if args.source_label == "all" else int(args.source_label),
        output_name=args.output_name,
        shard=args.shard,
        num_shards=args.num_shards,
        limit=args.limit,
    )
    failed = int((frame["status"] == "failed").sum()) if len(frame) else 0
    log.info("shard %d/%d: %d images, %d failed", args.shard, args.num_shards, len(frame), failed)
    if args.provenance:
        from drct.io import write_json
        from drct.provenance import environment

        write_json(
            Path(args.provenance),
            {
                "settings": settings.to_dict(),
                "model": frame.attrs.get("dr_model_provenance"),
                "source": args.source,
                "split": args.split,
                "shard": args.shard,
                "num_shards": args.num_shards,
                "images": len(frame),
                "failed": failed,
                **environment(),
            },
        )


# --- training and evaluation ----------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> None:
    from drct.training.loop import train
    from drct.training.settings import TrainSettings

    _set_threads(args.threads)
    settings = TrainSettings.from_dict(args.settings)
    summary = train(Path(args.manifest), Path(args.out_dir), settings)
    log.info("training finished: %s", json.dumps(summary, default=str))


def cmd_evaluate(args: argparse.Namespace) -> None:
    from drct.evaluation.predict import predict

    _set_threads(args.threads)
    predict(
        Path(args.checkpoint),
        Path(args.manifest),
        Path(args.out),
        split=args.split,
        generators=args.generators or None,
        batch_size=args.batch_size,
        device=args.device,
    )


def cmd_metrics(args: argparse.Namespace) -> None:
    import pandas as pd

    from drct.evaluation.metrics import json_ready, protocol_metrics
    from drct.io import write_json

    protocol = args.protocol
    predictions = pd.read_csv(args.predictions)
    result = protocol_metrics(
        predictions,
        [c["generator"] for c in protocol["columns"]],
        real_source=protocol["real_source"],
        real_generator=protocol.get("real_generator"),
    )
    result = {"run": args.run, "protocol": protocol["name"], **result}
    write_json(Path(args.out), json_ready(result))
    log.info("mean ACC %.2f over %d generators", result["mean"]["acc"], len(result["generators"]))


def cmd_tables(args: argparse.Namespace) -> None:
    from drct.paper.render import render_protocol

    spec = args.spec
    paths = render_protocol(
        paper_table=spec["paper_table"],
        metrics_files=[Path(p) for p in args.metrics],
        runs_meta=spec["runs"],
        column_map={c["generator"]: c["label"] for c in spec["columns"]},
        demo=spec["demo"],
        out_dir=Path(args.out_dir),
        title=spec["title"],
        stem="table",
    )
    for path in paths:
        log.info("wrote %s", path)


# --- parser ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="drct", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    p = add("download", cmd_download, "Fetch one archive: resumable, retried, checksum-verified, recorded in a lock file.")
    p.add_argument("--url", required=True, help="http(s):// or file: URL")
    p.add_argument("--out", required=True, help="destination file")
    p.add_argument("--key", required=True, help="name of this archive in the lock file")
    p.add_argument("--lock", default="workflow/data.lock.json", help="lock file with recorded checksums")
    p.add_argument("--sha256", default="", help="published checksum (wins over the lock file)")
    p.add_argument("--size", type=int, default=None, help="expected size in bytes")

    p = add("prepare", cmd_prepare, "Extract a dataset's archives safely, normalise its layout, write its manifest.")
    p.add_argument("--spec", type=_json_arg, required=True, help="the dataset's config entry (JSON or @file)")
    p.add_argument("--archives", nargs="+", required=True, help="archives in the order of the spec's `archives`")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--workers", type=int, default=1, help="hash files in this many processes")

    p = add("validate", cmd_validate, "Decode every image; list corrupt or non-image files with their reason.")
    p.add_argument("--manifest", required=True)
    p.add_argument("--out-valid", required=True)
    p.add_argument("--out-quarantine", required=True)
    p.add_argument("--workers", type=int, default=1, help="decode in this many processes")

    p = add("merge-manifests", cmd_merge_manifests, "Concatenate shard manifests into one.")
    p.add_argument("--inputs", nargs="+", required=True)
    p.add_argument("--out", required=True)

    p = add("combine", cmd_combine, "A dataset's valid manifest plus reconstruction manifests, for training/evaluation.")
    p.add_argument("--dataset", required=True, help="the dataset's valid manifest")
    p.add_argument("--reconstructions", nargs="*", default=[], help="reconstruction manifests of this dataset")
    p.add_argument("--out", required=True)

    p = add("build-demo-model", cmd_build_demo_model, "Build the demo's small random-weight SD inpainting pipeline.")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)

    p = add("reconstruct", cmd_reconstruct, "Diffusion-reconstruct one shard of a generator's images.")
    p.add_argument("--manifest", required=True)
    p.add_argument("--settings", type=_json_arg, required=True, help="ReconstructionSettings (JSON or @file)")
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

    p = add("train", cmd_train, "Train one detector (DRCT or the plain baseline).")
    p.add_argument("--manifest", required=True)
    p.add_argument("--settings", type=_json_arg, required=True, help="TrainSettings (JSON or @file)")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--threads", type=int, default=None)

    p = add("evaluate", cmd_evaluate, "Score test images with a checkpoint: per-image P(fake).")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--generators", nargs="*", default=[], help="only these generators (default all)")
    p.add_argument("--split", default="test")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", required=True, help="predictions CSV")

    p = add("metrics", cmd_metrics, "Per-generator ACC, real/fake ACC, AUC and AP from saved predictions.")
    p.add_argument("--predictions", required=True)
    p.add_argument("--protocol", type=_json_arg, required=True, help="the protocol's config entry")
    p.add_argument("--run", required=True)
    p.add_argument("--out", required=True)

    p = add("tables", cmd_tables, "Paper-layout table and accuracy figure, ours beside the paper's.")
    p.add_argument("--spec", type=_json_arg, required=True)
    p.add_argument("--metrics", nargs="+", required=True)
    p.add_argument("--out-dir", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
