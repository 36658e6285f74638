"""Data step: acquire archives, prepare and validate datasets, report them, combine manifests, fetch weights."""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

from drct.cli.arguments import add_command, json_arg

log = logging.getLogger("drct")


def acquire(args: argparse.Namespace) -> None:
    from drct.data.acquire import acquire as acquire_archive
    from drct.data.download import fetch_locked

    if (args.url is None) == (args.source is None):
        raise SystemExit("give either --url, or --source with --path")
    if args.source is not None:
        if not args.path:
            raise SystemExit("--source needs --path (the archive's path within the source)")
        digest = acquire_archive(
            args.source, args.path, Path(args.out), Path(args.lock), args.key,
            sha256=args.sha256 or None, md5=args.md5 or None, size=args.size,
            min_rate=args.min_rate, stall_seconds=args.stall_seconds,
        )
    else:
        digest = fetch_locked(
            args.url, Path(args.out), Path(args.lock), args.key, sha256=args.sha256 or None,
            size=args.size, md5=args.md5 or None, min_rate=args.min_rate, stall_seconds=args.stall_seconds,
        )
    log.info("%s -> %s (sha256 %s)", args.url or args.path, args.out, digest)


def list_source(args: argparse.Namespace) -> None:
    from drct.data.listing import ensure_listing
    from drct.data.sources import Source

    source = Source.from_config(args.source)
    if source.type != "modelscope":
        raise SystemExit("only modelscope sources have a hub listing")
    if args.listing:
        source = dataclasses.replace(source, listing=args.listing)
    listing = ensure_listing(source, refresh=args.refresh)
    for path, entry in listing.files.items():
        print(f"{path}\t{entry.get('size')}\t{entry.get('sha256') or ''}")


def prepare(args: argparse.Namespace) -> None:
    from drct.data.counts import load_expected_counts
    from drct.data.prepare import prepare_dataset

    spec = args.spec
    if len(args.archives) != len(spec["archives"]):
        raise SystemExit(f"--archives: got {len(args.archives)} files for {len(spec['archives'])} archives in the spec")
    expected = load_expected_counts(Path(args.expected_counts)) if args.expected_counts else None
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


def validate(args: argparse.Namespace) -> None:
    from drct.data.validate import validate_manifest

    valid, quarantined = validate_manifest(
        Path(args.manifest), Path(args.out_valid), Path(args.out_quarantine), workers=args.workers
    )
    log.info("%d valid images, %d quarantined (listed in %s)", valid, quarantined, args.out_quarantine)


def data_report(args: argparse.Namespace) -> None:
    from drct.data.data_report import write_data_report

    write_data_report(
        Path(args.manifest), Path(args.quarantine), args.layout, Path(args.out_test),
        Path(args.out_csv), Path(args.out_md), real_generator=args.real_generator,
    )


def combine(args: argparse.Namespace) -> None:
    from drct.data.combine import combine_manifests

    combine_manifests(Path(args.dataset), [Path(p) for p in args.reconstructions], Path(args.out))


def fetch_weights(args: argparse.Namespace) -> None:
    from drct.fetch_weights import fetch_all

    fetch_all(args.spec, Path(args.out))


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "acquire", acquire,
                    "Fetch one archive: resumable, retried, checksum-verified, recorded in a lock file.")
    p.add_argument("--url", default=None, help="http(s):// or file: URL (or use --source and --path)")
    p.add_argument("--source", type=json_arg, default=None,
                   help="the source's config entry (JSON or @file): base_url, type, dataset, revision, listing")
    p.add_argument("--path", default=None, help="the archive's path within --source")
    p.add_argument("--out", required=True, help="destination file")
    p.add_argument("--key", required=True, help="name of this archive in the lock file")
    p.add_argument("--lock", required=True, help="lock file with recorded checksums (the workflow's data/data.lock.json)")
    p.add_argument("--sha256", default="", help="published checksum (must agree with the lock file)")
    p.add_argument("--md5", default="", help="published md5 (e.g. COCO's), checked on top of sha256")
    p.add_argument("--size", type=int, default=None, help="expected size in bytes")
    p.add_argument("--min-rate", type=float, default=1024.0,
                   help="give up (keeping the .part for resume) when fewer bytes/s than this arrive ...")
    p.add_argument("--stall-seconds", type=float, default=60.0, help="... over this many seconds (0: never)")

    p = add_command(sub, "list-source", list_source,
                    "Fetch (or show) the recorded hub file listing of a ModelScope source.")
    p.add_argument("--source", type=json_arg, required=True, help="the source's config entry (JSON or @file)")
    p.add_argument("--listing", default=None, help="listing file (default: the source's `listing`)")
    p.add_argument("--refresh", action="store_true", help="ask the hub again and record changes")

    p = add_command(sub, "prepare", prepare,
                    "Extract a dataset's archives safely, normalise its layout, write its manifest.")
    p.add_argument("--spec", type=json_arg, required=True, help="the dataset's config entry (JSON or @file)")
    p.add_argument("--archives", nargs="+", required=True, help="archives in the order of the spec's `archives`")
    p.add_argument("--expected-counts", default=None, help="expected image counts (YAML); mismatches stop the job")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--workers", type=int, default=1, help="hash files in this many processes")

    p = add_command(sub, "validate", validate, "Decode every image; list corrupt or non-image files with their reason.")
    p.add_argument("--manifest", required=True)
    p.add_argument("--out-valid", required=True)
    p.add_argument("--out-quarantine", required=True)
    p.add_argument("--workers", type=int, default=1, help="decode in this many processes")

    p = add_command(sub, "data-report", data_report,
                    "Test-set manifest with hashes, and the real/fake format mix per subset.")
    p.add_argument("--manifest", required=True, help="the dataset's valid manifest")
    p.add_argument("--quarantine", required=True, help="the dataset's quarantine list")
    p.add_argument("--layout", required=True, choices=["drct2m", "genimage"])
    p.add_argument("--real-generator", default="real", help="drct2m layout: the shared real generator")
    p.add_argument("--out-test", required=True, help="test manifest CSV")
    p.add_argument("--out-csv", required=True, help="format report CSV")
    p.add_argument("--out-md", required=True, help="format report Markdown")

    p = add_command(sub, "combine", combine,
                    "A dataset's valid manifest plus reconstruction manifests, for training/evaluation.")
    p.add_argument("--dataset", required=True, help="the dataset's valid manifest")
    p.add_argument("--reconstructions", nargs="*", default=[], help="reconstruction manifests of this dataset")
    p.add_argument("--out", required=True)

    p = add_command(sub, "fetch-weights", fetch_weights,
                    "Fetch every model's weights into the hub cache (HF_HOME) ahead of offline jobs; "
                    "record revisions and sha256.")
    p.add_argument("--spec", type=json_arg, required=True, help="list of {name, kind, model, revision} (JSON or @file)")
    p.add_argument("--out", required=True, help="the record (JSON)")
