"""Which device a job runs on: ``auto`` resolved, and which GPU when several GPU jobs share a machine.

:func:`resolve_device` is the one place a configured device name (``auto``, ``cpu``, ``cuda``,
``cuda:1`` ...) becomes a ``torch.device``; reconstruction, training, evaluation and predict use it.
torch is imported inside it, so importing this module stays cheap (the CLI imports it before CUDA
may start).

Snakemake's ``--resources gpu=N`` only limits how many GPU jobs run together; it does not say
which GPU each one gets, so without help every job would use GPU 0. Under the local multi-GPU
profile (``workflow/profiles/local-gpu``), each GPU command takes an exclusive lock file per GPU
it needs (``DRCT_GPU_LOCK_DIR/<host>/gpu-<i>.lock``, ``fcntl.flock``, released by the OS when the process
ends, even on a crash) and sets ``CUDA_VISIBLE_DEVICES`` to those GPUs before CUDA starts.
Snakemake's limit guarantees a free GPU exists; the lock only decides which one.

Nothing happens when ``DRCT_GPU_LOCK_DIR`` is unset, when ``CUDA_VISIBLE_DEVICES`` is already set
(Slurm sets it for the GPUs it allocated; torchrun's workers inherit their parent's), or when no
GPU is present. GPUs are counted with ``nvidia-smi -L``, not torch, because CUDA must not start
before ``CUDA_VISIBLE_DEVICES`` is set.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

_held: list[int] = []  # open lock-file descriptors: kept for the life of the process


def resolve_device(name: str | torch.device) -> torch.device:
    """``"auto"``: the first CUDA device when there is one, else the CPU; any other name as torch reads it."""
    import torch

    if str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def count_gpus() -> int:
    """GPUs on this machine according to ``nvidia-smi -L`` (0 without a driver)."""
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return 0
    try:
        listing = subprocess.run([binary, "-L"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in listing.splitlines() if line.startswith("GPU "))


def claim_gpus(count: int, *, lock_dir: str | None = None, total: int | None = None,
               poll_s: float = 5.0) -> list[int] | None:
    """Lock ``count`` free GPUs, export them as ``CUDA_VISIBLE_DEVICES``, return their ids (or None: no-op)."""
    lock_dir = lock_dir if lock_dir is not None else os.environ.get("DRCT_GPU_LOCK_DIR")
    if not lock_dir or "CUDA_VISIBLE_DEVICES" in os.environ or count < 1:
        return None
    total = count_gpus() if total is None else total
    if total == 0:
        return None
    if count > total:
        raise RuntimeError(f"this job needs {count} GPUs, the machine has {total}")
    folder = Path(lock_dir) / socket.gethostname()  # per machine: a shared filesystem must not couple nodes
    folder.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        taken: list[tuple[int, int]] = []
        for gpu in range(total):
            fd = os.open(folder / f"gpu-{gpu}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            taken.append((gpu, fd))
            if len(taken) == count:
                break
        if len(taken) == count:
            _held.extend(fd for _, fd in taken)
            ids = [gpu for gpu, _ in taken]
            os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, ids))
            log.info("using GPU(s) %s (locks in %s)", os.environ["CUDA_VISIBLE_DEVICES"], folder)
            return ids
        for _, fd in taken:  # not enough free: give back what we took and wait
            os.close(fd)
        if not waited:
            log.info("waiting for %d free GPU(s) of %d (locks in %s)", count, total, folder)
            waited = True
        time.sleep(poll_s)
