"""Argument helpers shared by the step modules of the CLI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable

Handler = Callable[[argparse.Namespace], None]


def add_command(
    sub: argparse._SubParsersAction, name: str, handler: Handler, help_: str, *, uses_gpu: bool = False
) -> argparse.ArgumentParser:
    """One subcommand; ``uses_gpu`` commands lock their GPU(s) under the local multi-GPU profile, and
    fail when they were given a GPU that torch cannot use (:mod:`drct.device`)."""
    parser = sub.add_parser(name, help=help_, description=help_)
    parser.set_defaults(func=handler, uses_gpu=uses_gpu)
    return parser


def json_arg(value: str) -> Any:
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


def set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)
