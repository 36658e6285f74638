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
    from drct.data.acquire import acquire
    from drct.data.download import fetch_locked

    if (args.url is None) == (args.source is None):
        raise SystemExit("give either --url, or --source with --path")
    if args.source is not None:
        if not args.path:
            raise SystemExit("--source needs --path (the archive's path within the source)")
        digest = acquire(
            args.source, args.path, Path(args.out), Path(args.lock), args.key,
            sha256=args.sha256 or None, md5=args.md5 or None, size=args.size,
        )
    else:
        digest = fetch_locked(
            args.url, Path(args.out), Path(args.lock), args.key, sha256=args.sha256 or None,
            size=args.size, md5=args.md5 or None,
        )
    log.info("%s -> %s (sha256 %s)", args.url or args.path, args.out, digest)


def cmd_list_source(args: argparse.Namespace) -> None:
    from drct.data.listing import ensure_listing
    from drct.data.sources import Source

    source = Source.from_config(args.source)
    if source.type != "modelscope":
        raise SystemExit("only modelscope sources have a hub listing")
    if args.listing:
        import dataclasses

        source = dataclasses.replace(source, listing=args.listing)
    listing = ensure_listing(source, refresh=args.refresh)
    for path, entry in listing.files.items():
        print(f"{path}\t{entry.get('size')}\t{entry.get('sha256') or ''}")


def cmd_data_report(args: argparse.Namespace) -> None:
    from drct.data.data_report import write_data_report

    write_data_report(
        Path(args.manifest), Path(args.quarantine), args.layout, Path(args.out_test),
        Path(args.out_csv), Path(args.out_md), real_generator=args.real_generator,
    )


def cmd_prepare(args: argparse.Namespace) -> None:
    from drct.data.prepare import prepare_dataset

    spec = args.spec
    if len(args.archives) != len(spec["archives"]):
        raise SystemExit(f"--archives: got {len(args.archives)} files for {len(spec['archives'])} archives in the spec")
    expected = None
    if spec.get("expected_counts"):
        from drct.config import PROJECT_ROOT
        from drct.data.counts import load_expected_counts, resolve_counts_path

        expected = load_expected_counts(resolve_counts_path(spec["expected_counts"], PROJECT_ROOT))
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
    from drct.reconstruction.build_demo_model import build_demo_pipeline

    path = build_demo_pipeline(Path(args.out), seed=args.seed)
    log.info("demo inpainting pipeline saved to %s", path)


def cmd_reconstruct(args: argparse.Namespace) -> None:
    from drct.reconstruction.reconstruct_shard import reconstruct_manifest
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
        from drct.reconstruction.settings import runtime_info

        write_json(
            Path(args.provenance),
            {
                "settings": settings.to_dict(),
                "runtime": runtime_info(settings),
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


def cmd_released_sample(args: argparse.Namespace) -> None:
    from drct.reconstruction.published_check import write_sample

    write_sample(
        Path(args.manifest), Path(args.out), source=args.source, released=args.released, split=args.split,
        n=args.n, seed=args.seed,
    )


def cmd_released_compare(args: argparse.Namespace) -> None:
    from drct.reconstruction.published_check import run_comparison

    summary = run_comparison(
        Path(args.sample), Path(args.ours), check=args.check,
        provenance_json=Path(args.provenance) if args.provenance else None,
        out_csv=Path(args.out_csv), out_json=Path(args.out_json), out_md=Path(args.out_md),
    )
    if summary["n_compared"] == 0:
        raise SystemExit(f"no image could be compared; see {args.out_csv}")


# --- training and evaluation ----------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> None:
    import os

    from drct.training.train_run import train
    from drct.training.settings import TrainSettings

    settings = TrainSettings.from_dict(args.settings)
    if args.nproc_per_node > 1 and "WORLD_SIZE" not in os.environ:
        from drct.training.distributed import relaunch_under_torchrun

        argv = ["train", "--manifest", args.manifest, "--settings", json.dumps(args.settings), "--out-dir", args.out_dir]
        if args.threads:
            argv += ["--threads", str(max(1, args.threads // args.nproc_per_node))]
        if args.no_resume:
            argv.append("--no-resume")
        status = relaunch_under_torchrun(args.nproc_per_node, argv)
        if status:
            raise SystemExit(f"torchrun with {args.nproc_per_node} processes failed (exit status {status})")
        return
    _set_threads(args.threads)
    summary = train(Path(args.manifest), Path(args.out_dir), settings, resume=not args.no_resume)
    log.info("training finished: %s", json.dumps(summary, default=str))


def cmd_import_released(args: argparse.Namespace) -> None:
    from drct.training.import_released import import_released
    from drct.training.settings import TrainSettings

    record = import_released(
        Path(args.source), Path(args.out), TrainSettings.from_dict(args.settings), member=args.member or None
    )
    log.info("imported %s: %s", args.out, json.dumps(record["imported_from"]))


def cmd_fetch_weights(args: argparse.Namespace) -> None:
    from drct.fetch_weights import fetch_all

    fetch_all(args.spec, Path(args.out))


def cmd_predict(args: argparse.Namespace) -> None:
    from drct.predict import predict_paths

    _set_threads(args.threads)
    frame = predict_paths(
        Path(args.checkpoint), args.paths, Path(args.out), batch_size=args.batch_size, device=args.device,
        num_workers=args.workers, threshold=args.threshold, progress=not args.no_progress,
    )
    if (frame["status"] == "ok").sum() == 0:
        raise SystemExit("no image could be read; see the warnings above")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from drct.evaluation.perturb import parse_perturbation
    from drct.evaluation.score import predict, predict_perturbed

    _set_threads(args.threads)
    common = dict(split=args.split, generators=args.generators or None, batch_size=args.batch_size, device=args.device)
    if args.perturbations:
        perturbations = [parse_perturbation(p) for p in args.perturbations]
        predict_perturbed(Path(args.checkpoint), Path(args.manifest), Path(args.out), perturbations, **common)
    else:
        predict(Path(args.checkpoint), Path(args.manifest), Path(args.out), **common)


def cmd_metrics(args: argparse.Namespace) -> None:
    import pandas as pd

    from drct.evaluation.bootstrap import BootstrapSettings
    from drct.evaluation.metrics import json_ready
    from drct.evaluation.summary import protocol_summary
    from drct.io import write_csv, write_json

    protocol = args.protocol
    predictions = pd.read_csv(args.predictions)
    result, roc, pr = protocol_summary(predictions, protocol, args.run, BootstrapSettings.from_dict(args.bootstrap))
    write_json(Path(args.out), json_ready(result))
    if args.roc:
        write_csv(roc, Path(args.roc))
    if args.pr:
        write_csv(pr, Path(args.pr))
    low, high = result["mean"]["acc_ci"]
    log.info(
        "mean ACC %.2f (95%% CI %.2f-%.2f) over %d generators", result["mean"]["acc"], low, high, len(result["generators"])
    )


def cmd_perturbed_metrics(args: argparse.Namespace) -> None:
    import pandas as pd

    from drct.evaluation.summary import perturbed_summary
    from drct.io import write_csv

    table = perturbed_summary(pd.read_csv(args.predictions), args.protocol)
    table.insert(0, "run", args.run)
    write_csv(table, Path(args.out))
    log.info("%d perturbations x %d columns -> %s", table["perturbation"].nunique(), table["generator"].nunique(), args.out)


def cmd_samples(args: argparse.Namespace) -> None:
    from drct.evaluation.samples import copy_samples

    copy_samples(Path(args.manifest), args.groups, Path(args.out_dir), split=args.split, n=args.n)


def cmd_tables(args: argparse.Namespace) -> None:
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


def cmd_perturbation_report(args: argparse.Namespace) -> None:
    from drct.paper.format_bias import render_format_bias
    from drct.paper.robustness import render_robustness

    from drct.evaluation.perturb import parse_perturbation

    spec = args.spec
    render = render_robustness if args.study == "robustness" else render_format_bias
    only = [parse_perturbation(p).id for p in args.only] if args.only else None
    paths = render(
        [Path(p) for p in args.perturbed], [Path(p) for p in args.metrics], spec["runs"],
        Path(args.out_dir), spec["title"], spec["demo"], only=only,
    )
    for path in paths:
        log.info("wrote %s", path)


def cmd_sample_grid(args: argparse.Namespace) -> None:
    from drct.paper.sample_grid import sample_grid

    sample_grid(Path(args.samples), Path(args.out_png), Path(args.out_pdf) if args.out_pdf else None, args.title)


# --- DVC ------------------------------------------------------------------------------------------


def cmd_dvc_views(args: argparse.Namespace) -> None:
    from drct.dvc.views import write_views

    roc = [Path(p) for p in args.roc] if args.roc else None
    paths = write_views([Path(p) for p in args.metrics], args.protocols, Path(args.metrics_dir), Path(args.plots_dir), roc)
    log.info("wrote %d metric and plot views", len(paths))


def cmd_check_workspace(args: argparse.Namespace) -> None:
    from drct.config import load_yaml
    from drct.dvc.workspace import foreign_entries

    config = load_yaml(args.config)
    foreign = foreign_entries(config, Path(args.data_dir), Path(args.downloads_dir))
    if foreign:
        listed = "\n  - ".join(str(p) for p in foreign)
        raise SystemExit(
            f"this workspace holds data that {args.config} (experiment {config.get('experiment')!r}) does not "
            f"define:\n  - {listed}\nDVC would record them in this experiment's dvc.lock. Run each experiment "
            "in its own clone (README, 'Versioning with DVC'), or move these folders away."
        )
    log.info("workspace holds only the data of experiment %r", config.get("experiment"))


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
    p.add_argument("--url", default=None, help="http(s):// or file: URL (or use --source and --path)")
    p.add_argument("--source", type=_json_arg, default=None,
                   help="the source's config entry (JSON or @file): base_url, type, dataset, revision, listing")
    p.add_argument("--path", default=None, help="the archive's path within --source")
    p.add_argument("--out", required=True, help="destination file")
    p.add_argument("--key", required=True, help="name of this archive in the lock file")
    p.add_argument("--lock", default="workflow/data.lock.json", help="lock file with recorded checksums")
    p.add_argument("--sha256", default="", help="published checksum (must agree with the lock file)")
    p.add_argument("--md5", default="", help="published md5 (e.g. COCO's), checked on top of sha256")
    p.add_argument("--size", type=int, default=None, help="expected size in bytes")

    p = add("list-source", cmd_list_source, "Fetch (or show) the recorded hub file listing of a ModelScope source.")
    p.add_argument("--source", type=_json_arg, required=True, help="the source's config entry (JSON or @file)")
    p.add_argument("--listing", default=None, help="listing file (default: the source's `listing`)")
    p.add_argument("--refresh", action="store_true", help="ask the hub again and record changes")

    p = add("data-report", cmd_data_report, "Test-set manifest with hashes, and the real/fake format mix per subset.")
    p.add_argument("--manifest", required=True, help="the dataset's valid manifest")
    p.add_argument("--quarantine", required=True, help="the dataset's quarantine list")
    p.add_argument("--layout", required=True, choices=["drct2m", "genimage"])
    p.add_argument("--real-generator", default="real", help="drct2m layout: the shared real generator")
    p.add_argument("--out-test", required=True, help="test manifest CSV")
    p.add_argument("--out-csv", required=True, help="format report CSV")
    p.add_argument("--out-md", required=True, help="format report Markdown")

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

    p = add("released-sample", cmd_released_sample,
            "Seeded sample of source images that also have a released reconstruction (a small manifest).")
    p.add_argument("--manifest", required=True, help="the dataset's valid manifest")
    p.add_argument("--source", required=True, help="generator whose images are reconstructed (DRCT-2M: real)")
    p.add_argument("--released", required=True, help="generator of the authors' reconstructions of --source")
    p.add_argument("--split", required=True, choices=["train", "test"])
    p.add_argument("-n", type=int, required=True, help="images in the sample (all common stems when fewer)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="the sample manifest CSV (source rows and their released rows)")

    p = add("released-compare", cmd_released_compare,
            "PSNR and SSIM of our reconstructions vs the released ones: per-image CSV, summary JSON, report (no torch).")
    p.add_argument("--sample", required=True, help="the sample manifest (drct released-sample)")
    p.add_argument("--ours", required=True, help="manifest of our reconstructions of the sample")
    p.add_argument("--check", type=_json_arg, required=True,
                   help="reconstruction.released_check (JSON or @file): model, dataset, source, released, split, ...")
    p.add_argument("--provenance", default=None, help="provenance JSON of our reconstructions")
    p.add_argument("--out-csv", required=True, help="per-image PSNR/SSIM, failures with their reason")
    p.add_argument("--out-json", required=True, help="summary")
    p.add_argument("--out-md", required=True, help="Markdown report")

    p = add("train", cmd_train, "Train one detector (DRCT or the plain baseline).")
    p.add_argument("--manifest", required=True)
    p.add_argument("--settings", type=_json_arg, required=True, help="TrainSettings (JSON or @file)")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--nproc-per-node", type=int, default=1,
                   help="processes (GPUs) for DDP: relaunches itself under torchrun; --settings batch_size is global")
    p.add_argument("--no-resume", action="store_true", help="start afresh even if OUT_DIR/resume/ holds a state")

    p = add("import-released", cmd_import_released,
            "Convert one of the authors' released checkpoints (.pth, or a member of pretrained.zip) into ours.")
    p.add_argument("--source", required=True, help="the .pth/.safetensors file, or pretrained.zip with --member")
    p.add_argument("--member", default="", help="path of the checkpoint inside the zip")
    p.add_argument("--settings", type=_json_arg, required=True,
                   help="TrainSettings describing the network (JSON or @file; model_name, embedding_dim...)")
    p.add_argument("--out", required=True, help="our checkpoint (.safetensors; its .json sidecar is written beside it)")

    p = add("fetch-weights", cmd_fetch_weights,
            "Fetch every model's weights into the hub cache (HF_HOME) ahead of offline jobs; record revisions and sha256.")
    p.add_argument("--spec", type=_json_arg, required=True, help="list of {name, kind, model, revision} (JSON or @file)")
    p.add_argument("--out", required=True, help="the record (JSON)")

    p = add("predict", cmd_predict, "P(fake) for image files and folders: CSV or JSON, unreadable images listed.")
    p.add_argument("paths", nargs="+", help="image files and/or folders (searched recursively)")
    p.add_argument("--checkpoint", required=True, help="our .safetensors checkpoint (trained or imported)")
    p.add_argument("--out", required=True, help="predictions file: .csv or .json")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="auto")
    p.add_argument("--threshold", type=float, default=0.5, help="fake when P(fake) is above this")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = add("evaluate", cmd_evaluate, "Score test images with a checkpoint: per-image P(fake).")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--generators", nargs="*", default=[], help="only these generators (default all)")
    p.add_argument("--split", default="test")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument(
        "--perturbations", nargs="*", default=[],
        help="score under each (jpeg:Q, scale:S, blur:SIGMA, png) into one long CSV; default: unperturbed",
    )
    p.add_argument("--out", required=True, help="predictions CSV")

    p = add("metrics", cmd_metrics, "Per-generator ACC, real/fake ACC, AUC, AP, oracle ACC, bootstrap CIs, curves.")
    p.add_argument("--predictions", required=True)
    p.add_argument("--protocol", type=_json_arg, required=True, help="the protocol's config entry")
    p.add_argument("--run", required=True)
    p.add_argument("--bootstrap", type=_json_arg, default=None, help="BootstrapSettings: replicates, level, seed")
    p.add_argument("--roc", default=None, help="write the ROC curve points here (CSV)")
    p.add_argument("--pr", default=None, help="write the precision-recall curve points here (CSV)")
    p.add_argument("--out", required=True)

    p = add("perturbed-metrics", cmd_perturbed_metrics, "Metrics per perturbation and column from perturbed predictions.")
    p.add_argument("--predictions", required=True)
    p.add_argument("--protocol", type=_json_arg, required=True, help="the protocol's config entry")
    p.add_argument("--run", required=True)
    p.add_argument("--out", required=True)

    p = add("samples", cmd_samples, "Copy a few image/reconstruction pairs for the sample grid.")
    p.add_argument("--manifest", required=True)
    p.add_argument("--groups", type=_json_arg, required=True, help='[{"group": "real", "image": G, "rec": G}, ...]')
    p.add_argument("--split", default="train")
    p.add_argument("-n", type=int, default=3, help="pairs per group")
    p.add_argument("--out-dir", required=True)

    p = add("tables", cmd_tables, "Paper-layout tables and figures, ours beside the paper's (no torch).")
    p.add_argument("--spec", type=_json_arg, required=True)
    p.add_argument("--metrics", nargs="+", required=True, help="metrics.json per run")
    p.add_argument("--roc", nargs="+", required=True, help="roc.csv per run, in the order of --metrics")
    p.add_argument("--pr", nargs="+", required=True, help="pr.csv per run, in the order of --metrics")
    p.add_argument("--out-dir", required=True)

    p = add("perturbation-report", cmd_perturbation_report, "Robustness or format-bias table and figure (no torch).")
    p.add_argument("--study", required=True, choices=["robustness", "format"])
    p.add_argument("--spec", type=_json_arg, required=True, help='{"title", "demo", "runs"}')
    p.add_argument("--perturbed", nargs="+", required=True, help="perturbed metrics CSV per run")
    p.add_argument("--metrics", nargs="+", required=True, help="clean metrics.json per run")
    p.add_argument("--only", nargs="*", default=[], help="only these perturbations (jpeg:60, png ...); default all")
    p.add_argument("--out-dir", required=True)

    p = add("sample-grid", cmd_sample_grid, "Real / real-rec / fake / fake-rec grid from copied samples (no torch).")
    p.add_argument("--samples", required=True, help="folder with samples.csv")
    p.add_argument("--title", default="")
    p.add_argument("--out-png", required=True)
    p.add_argument("--out-pdf", default=None)

    p = add("dvc-views", cmd_dvc_views, "Per-run metric and accuracy files in the folders DVC reads (no torch).")
    p.add_argument("--metrics", nargs="+", required=True, help="metrics.json per run and protocol")
    p.add_argument("--protocols", type=_json_arg, required=True, help="evaluation.protocols (JSON or @file)")
    p.add_argument("--metrics-dir", required=True, help="writes <protocol>/<run>.json here")
    p.add_argument("--roc", nargs="*", default=None, help="roc.csv per run, in the order of --metrics")
    p.add_argument("--plots-dir", required=True, help="writes accuracy/ and roc/<protocol>/<run>.csv here")

    p = add("check-workspace", cmd_check_workspace,
            "Fail if the shared data folders hold datasets or downloads the config does not define.")
    p.add_argument("--config", default="config.yaml")
    p.add_argument("--data-dir", default="results/data")
    p.add_argument("--downloads-dir", default="results/downloads")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command in GPU_COMMANDS:
        from drct.device import claim_gpus

        claim_gpus(getattr(args, "nproc_per_node", 1))  # no-op unless DRCT_GPU_LOCK_DIR is set
    args.func(args)
    return 0


#: commands that run on a GPU: under the local multi-GPU profile each locks the GPU(s) it uses
GPU_COMMANDS = frozenset({"train", "evaluate", "predict", "reconstruct"})


if __name__ == "__main__":
    sys.exit(main())
