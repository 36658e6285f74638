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

A job that was given a GPU but whose torch cannot use it fails instead of falling back to the CPU
(:func:`resolve_device`): at paper scale ``auto`` -> CPU means days of work, a runtime-limit kill
and a retry that does the same. A GPU counts as given (:func:`gpu_allocation`) when
``CUDA_VISIBLE_DEVICES`` names one and was set by someone else than :func:`claim_gpus` (Slurm,
the user), or when the job's ``gpu`` resource is above 0: Snakemake passes resources to no job's
environment, so the workflow exports them per command in ``DRCT_GPUS`` (``score=1,train-run=1``;
a plain number applies to every command) and the CLI tells this module which command runs
(:func:`set_job_command`). A GPU that :func:`claim_gpus` picked only because the machine has one
is not an allocation: a demo on a laptop with a CPU-only torch keeps running on the CPU.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from drct.errors import DrctError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

_held: list[int] = []  # open lock-file descriptors: kept for the life of the process

#: ``CUDA_VISIBLE_DEVICES`` values that give a job no GPU ("NoDevFiles": what Slurm/SGE set without one)
NO_GPU_VALUES = frozenset({"", "-1", "NoDevFiles"})
#: set by :func:`claim_gpus` to the ``CUDA_VISIBLE_DEVICES`` it chose (inherited by torchrun's workers)
CLAIMED_ENV = "DRCT_GPU_CLAIMED"
#: GPUs the workflow gave each command's jobs: ``"score=1,train-run=2"``, or one number for all
GPUS_ENV = "DRCT_GPUS"

_job_command: str | None = None  # the drct command running in this process, for DRCT_GPUS


def set_job_command(command: str | None) -> None:
    """Name the running ``drct`` command, so :func:`gpu_allocation` can read its entry of ``DRCT_GPUS``."""
    global _job_command
    _job_command = command


def _gpus_for(command: str | None, spec: str) -> int:
    """GPUs ``spec`` (``DRCT_GPUS``) gives ``command``; 0 when it names none (or cannot be read)."""
    count = 0
    for token in filter(None, (t.strip() for t in spec.split(","))):
        key, sep, value = token.rpartition("=")
        if sep and key.strip() != command:
            continue
        try:
            count = int(value)
        except ValueError:
            log.warning("%s: cannot read %r (use score=1,train-run=1 or one number)", GPUS_ENV, token)
    return count


def gpu_allocation(command: str | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    """Why this job counts as given a GPU (a phrase for the error message), or None when it was not."""
    env = os.environ if environ is None else environ
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() not in NO_GPU_VALUES and visible != env.get(CLAIMED_ENV):
        return f"CUDA_VISIBLE_DEVICES={visible}"
    command = _job_command if command is None else command
    gpus = _gpus_for(command, env.get(GPUS_ENV, ""))
    if gpus > 0:
        return f"its gpu resource is {gpus} ({GPUS_ENV}={env[GPUS_ENV]})"
    return None


def driver_version() -> str:
    """The NVIDIA driver version nvidia-smi reports, or why there is none (for error messages)."""
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return "no nvidia-smi"
    try:
        result = subprocess.run([binary, "--query-gpu=driver_version", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as error:
        return f"nvidia-smi failed ({error})"
    versions = sorted({line.strip() for line in result.stdout.splitlines() if line.strip()})
    if result.returncode != 0 or not versions:
        detail = (result.stderr or result.stdout).strip().splitlines()
        return f"nvidia-smi failed ({detail[0] if detail else f'exit status {result.returncode}'})"
    return ", ".join(versions)


def unusable_gpu_message(name: str, reason: str) -> str:
    """What failed (device asked for, GPU given, driver, torch build) and what to do about it."""
    import torch

    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU-only (no CUDA)"
    return (
        f"device {name!r}: this job was given a GPU ({reason}; CUDA_VISIBLE_DEVICES="
        f"{os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')}) but torch cannot use it "
        f"(torch.cuda.is_available() is False; NVIDIA driver: {driver_version()}; "
        f"torch {torch.__version__} built for {build}). Install a torch build whose CUDA version this "
        "driver supports (or update the driver), or set device: cpu for this job to run on the CPU on purpose"
    )


def resolve_device(name: str | torch.device) -> torch.device:
    """``"auto"``: the first CUDA device when there is one, else the CPU; any other name as torch reads it.

    When the job was given a GPU (:func:`gpu_allocation`) and ``auto`` or ``cuda...`` finds no
    usable CUDA, this raises :class:`DrctError` instead of running on the CPU.
    """
    import torch

    text = str(name)
    if text == "auto" or text.startswith("cuda"):
        if not torch.cuda.is_available():
            reason = gpu_allocation()
            if reason is not None:
                raise DrctError(unusable_gpu_message(text, reason))
    if text == "auto":
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
            os.environ["CUDA_VISIBLE_DEVICES"] = os.environ[CLAIMED_ENV] = ",".join(map(str, ids))
            log.info("using GPU(s) %s (locks in %s)", os.environ["CUDA_VISIBLE_DEVICES"], folder)
            return ids
        for _, fd in taken:  # not enough free: give back what we took and wait
            os.close(fd)
        if not waited:
            log.info("waiting for %d free GPU(s) of %d (locks in %s)", count, total, folder)
            waited = True
        time.sleep(poll_s)
