"""Resuming an interrupted training run where it stopped, with the same result as an uninterrupted one.

After every epoch the loop writes ``<out_dir>/resume/``:

- ``model-e<epoch>.safetensors`` (+ sidecar): the ``last`` checkpoint of that epoch (head only for a
  frozen, named backbone, as :mod:`drct.training.checkpoint` stores them);
- ``best-e<epoch>.safetensors`` (+ sidecar): a copy of the best checkpoint so far. Snakemake deletes a
  failed job's declared outputs (``best``/``last``/``history``), so they must survive elsewhere;
  resuming puts ``best``, ``last`` and ``history.csv`` back before training on;
- ``state.pt`` (written last, atomically: the commit point): epoch, best epoch and accuracy,
  history, and the optimizer, cosine-schedule and GradScaler states, the file names above, the
  maths-relevant settings and the manifest's sha256. Plain tensors and numbers only, so it is read
  back with ``torch.load(weights_only=True)``.

Every epoch restarts its random streams from ``(seed, epoch)`` (:func:`drct.training.distributed.epoch_seed`),
so nothing else is needed for epoch ``e + 1`` to draw what it would have drawn without the break.
A state written for other settings or another manifest is refused (it would silently mix two
experiments); the directory is removed once training finishes.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from drct.io import atomic_path
from drct.training.checkpoint import load_weights, read_sidecar, save_checkpoint
from drct.training.model import DRCTModel
from drct.training.settings import TrainSettings

log = logging.getLogger(__name__)

RESUME_DIR = "resume"
STATE_FILE = "state.pt"
STATE_FORMAT = 1
#: settings that change how fast a run goes but not its numbers: they may differ on resume
EXECUTION_FIELDS = frozenset({"num_workers", "device", "cache_features"})


def maths_settings(settings: TrainSettings) -> dict[str, Any]:
    return {k: v for k, v in settings.to_dict().items() if k not in EXECUTION_FIELDS}


@dataclass
class Progress:
    """What the loop carries from epoch to epoch besides the weights and optimizer."""

    next_epoch: int = 0
    best_acc: float = float("-inf")
    best_epoch: int = -1
    history: list[dict[str, Any]] = field(default_factory=list)


def resume_dir(out_dir: Path) -> Path:
    return Path(out_dir) / RESUME_DIR


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def save_state(
    out_dir: Path,
    *,
    model: DRCTModel,
    settings: TrainSettings,
    record: dict[str, Any],
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: torch.amp.GradScaler,
    progress: Progress,
    best_checkpoint: Path,
    manifest_sha256: str,
    backbone_sha256: str | None,
) -> Path:
    """Write the resume files for the epoch just finished (``progress.next_epoch - 1``)."""
    folder = resume_dir(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    epoch = progress.next_epoch - 1
    model_file = folder / f"model-e{epoch}.safetensors"
    save_checkpoint(model, model_file, settings, record, backbone_sha256)
    best_file = folder / f"best-e{progress.best_epoch}.safetensors"
    if not best_file.exists():
        for source, target in ((best_checkpoint, best_file), (_sidecar(best_checkpoint), _sidecar(best_file))):
            with atomic_path(target) as tmp:
                shutil.copyfile(source, tmp)
    state = {
        "format": STATE_FORMAT,
        "next_epoch": progress.next_epoch,
        "best_acc": progress.best_acc,
        "best_epoch": progress.best_epoch,
        "history": progress.history,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "model_file": model_file.name,
        "best_file": best_file.name,
        "settings": maths_settings(settings),
        "manifest_sha256": manifest_sha256,
    }
    with atomic_path(folder / STATE_FILE) as tmp:
        torch.save(state, tmp)
    for stale in folder.glob("*-e*.*"):
        if stale.name.split(".")[0] not in (model_file.stem, best_file.stem):
            stale.unlink(missing_ok=True)
    return folder / STATE_FILE


def load_state(out_dir: Path, settings: TrainSettings, manifest_sha256: str) -> dict[str, Any] | None:
    """The saved state, or ``None`` when there is nothing to resume. Mismatches raise, naming the fields."""
    path = resume_dir(out_dir) / STATE_FILE
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("format") != STATE_FORMAT:
        raise ValueError(f"{path}: resume state format {state.get('format')!r}, expected {STATE_FORMAT}")
    saved, now = state["settings"], maths_settings(settings)
    changed = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
    problems = [f"settings changed: {', '.join(changed)}"] if changed else []
    if state["manifest_sha256"] != manifest_sha256:
        problems.append("the manifest changed")
    if problems:
        raise ValueError(
            f"cannot resume from {path.parent}: {'; '.join(problems)}. Delete that folder (or pass --no-resume) "
            "to start this run afresh."
        )
    return state


def restore(
    out_dir: Path,
    state: dict[str, Any],
    *,
    model: DRCTModel,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: torch.amp.GradScaler,
    best_checkpoint: Path,
    last_checkpoint: Path,
    restore_files: bool = True,
) -> Progress:
    """Load weights and optimizer/scheduler/scaler states; put the best checkpoint back (Snakemake
    deleted it with the failed job's outputs). Under DDP only rank 0 writes (``restore_files``)."""
    folder = resume_dir(out_dir)
    model_file = folder / state["model_file"]
    load_weights(model, model_file, read_sidecar(model_file))
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if scaler.is_enabled() and state["scaler"]:
        scaler.load_state_dict(state["scaler"])
    best_file = folder / state["best_file"]
    if restore_files:
        pairs = [(best_file, best_checkpoint), (model_file, last_checkpoint)]
        for source, target in pairs + [(_sidecar(a), _sidecar(b)) for a, b in pairs]:
            with atomic_path(target) as tmp:
                shutil.copyfile(source, tmp)
    progress = Progress(state["next_epoch"], state["best_acc"], state["best_epoch"], list(state["history"]))
    log.info("resuming from %s at epoch %d (best epoch %d, val acc %.4f)", folder, progress.next_epoch,
             progress.best_epoch, progress.best_acc)
    return progress


def clear(out_dir: Path) -> None:
    """Remove the resume folder once the run has finished."""
    shutil.rmtree(resume_dir(out_dir), ignore_errors=True)
