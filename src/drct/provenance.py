"""What produced a result: code version and the versions of the packages that decide it.

Written into every checkpoint sidecar and reconstruction provenance file, so a number in a table
can be traced back to the commit and library versions that made it.
"""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

#: distributions whose versions decide a reconstruction or training result
TRACKED_PACKAGES = (
    "torch",
    "torchvision",
    "diffusers",
    "transformers",
    "timm",
    "open_clip_torch",
    "albumentations",
    "pytorch-metric-learning",
    "safetensors",
    "numpy",
    "pillow",
    "opencv-python-headless",
)


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(cwd: Path | None = None) -> str | None:
    """``HEAD`` of the repository holding this package (``+dirty`` when tracked files changed), else None."""
    where = cwd or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where, capture_output=True, text=True, check=True, timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if dirty else commit


def environment() -> dict[str, Any]:
    """Commit, package versions and interpreter, for a provenance record."""
    return {
        "git_commit": git_commit(),
        "package_versions": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
