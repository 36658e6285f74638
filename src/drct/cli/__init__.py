"""The ``drct`` command: one subcommand per pipeline step, usable with or without Snakemake.

Each subcommand reads the files the previous step wrote and writes its own, so any step can be
rerun alone. Each module of this package registers the subcommands of one step beside their
handlers; heavy imports (torch, diffusers, timm) happen inside the handler that needs them, so
``drct tables`` and the data steps never import torch.

A failure the user can act on (:class:`drct.errors.DrctError`, a full disk, a missing file) is
reported as one line and a non-zero exit; ``drct --debug COMMAND`` shows the traceback too.
"""

from __future__ import annotations

import argparse
import errno
import logging
import sys

from drct.cli import captioning, data, dvc, evaluation, paper, predict, reconstruction, training
from drct.errors import DrctError

log = logging.getLogger("drct")

#: the step modules, in the order of the pipeline (and of ``drct --help``)
STEPS = (data, reconstruction, captioning, training, evaluation, predict, paper, dvc)

#: exit status of a failure reported as one line (argparse uses 2 for usage errors)
EXIT_FAILURE = 1

#: OSError numbers that describe the machine, not the code: reported as one line
_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="drct", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for step in STEPS:
        step.register(sub)
    return parser


def one_line(error: BaseException) -> str | None:
    """The one-line report of a failure the user can act on, or None for a programming error."""
    if isinstance(error, DrctError):
        return str(error)
    if isinstance(error, MemoryError):
        return "out of memory: free memory, lower the batch size or the number of workers, then rerun"
    if isinstance(error, OSError) and error.errno in _ENVIRONMENT_ERRNOS:
        where = f" ({error.filename})" if error.filename else ""
        return f"{error.strerror or error}{where}: fix this on the machine (space, permissions, path), then rerun"
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if getattr(args, "uses_gpu", False):
        from drct.device import claim_gpus, set_job_command

        set_job_command(args.command)  # its DRCT_GPUS entry: a job given a GPU fails without a usable one
        claim_gpus(getattr(args, "nproc_per_node", 1))  # no-op unless DRCT_GPU_LOCK_DIR is set
    try:
        args.func(args)
    except Exception as error:  # noqa: BLE001 - sorted into user-facing and programming errors below
        report = one_line(error)
        if report is None or args.debug:
            raise
        print(f"drct {args.command}: error: {report}", file=sys.stderr)
        return EXIT_FAILURE
    return 0
