"""What produced a result: code version and the versions of the packages that decide it.

Written into every checkpoint sidecar and reconstruction provenance file, so a number in a table
can be traced back to the commit and library versions that made it.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
import time
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


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or ""


def memory_gib() -> float | None:
    """Total memory in GiB (``/proc/meminfo`` on Linux), else None."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)  # the value is in KiB
    except (OSError, ValueError, IndexError):
        pass
    return None


def tool_version(command: list[str]) -> str | None:
    """What ``command`` (e.g. ``["dvc", "--version"]``) prints, stripped; None if it cannot run."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def machine_info() -> dict[str, Any]:
    """Where a benchmark figure came from: CPU, memory, platform, load, commit, date.

    The load average is part of it because this project's reference machine is shared: a figure
    measured under load is not comparable with one measured idle. Accelerators are described by
    :func:`device_info`, tools by :func:`tool_version`: the benchmarks add what they use.
    """
    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_gib": memory_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "git_commit": git_commit(),
        "recorded": time.strftime("%Y-%m-%d"),
    }


def device_info(device: Any) -> dict[str, Any]:
    """The torch device a benchmark ran on: name, GPU model and memory, torch/CUDA builds, threads.

    torch is imported here, not at module level, so that provenance stays importable where torch
    is not (the data steps).
    """
    import torch

    device = torch.device(device)
    info: dict[str, Any] = {
        "device": str(device), "gpu": None, "gpu_memory_gib": None,
        "torch": torch.__version__, "torch_cuda_build": torch.version.cuda,
        "torch_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    cudnn=torch.backends.cudnn.version())
    return info
