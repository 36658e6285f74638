"""Keep one experiment's DVC record free of another experiment's data.

Snakemake shares ``results/data/<dataset>`` and ``results/downloads/<download>`` between
experiments on purpose (one name, one definition in every config). DVC records each of those two
folders as one output of its ``download`` stage, with ``persist: true`` so that a config change
resumes instead of re-downloading. Run a second experiment in the same workspace and that stage
would fold the first experiment's datasets into the second one's ``dvc.lock`` (and push them with
it). The check below runs before the stage and names every folder that the current config does
not define, so the mix-up stops before anything is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["foreign_entries"]


def _children(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def foreign_entries(config: Mapping[str, Any], data_dir: Path, downloads_dir: Path) -> list[Path]:
    """Folders under the shared data and download folders that ``config`` does not define.

    Only folders count: the pipeline writes every dataset and download into a folder of its own
    name, so a loose file there is not another experiment's output.
    """
    datasets = {d["name"] for d in config["datasets"]}
    downloads = {d["name"] for d in config["downloads"]}
    foreign = [p for p in _children(data_dir) if p.name not in datasets]
    foreign += [p for p in _children(downloads_dir) if p.name not in downloads]
    return foreign
