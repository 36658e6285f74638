"""The training loop, as ``scripts/train_contrastive.py`` runs it, plus seeds and provenance.

Per epoch: train over the shuffled train split (AdamW, mixed precision on CUDA), step the cosine
schedule once, measure accuracy on the validation split (eval transform, fp32, argmax of the
logits), then write ``last`` and, when validation accuracy improved, ``best``.

Differences from the original, all deliberate:

- seeds: torch/numpy/random are seeded from ``settings.seed``, the DataLoader shuffles with a
  seeded generator and every worker reseeds the albumentations pipeline from it (the original
  set no training seed);
- ``best`` is written at the first epoch whatever its accuracy (the original starts from
  ``best_acc = 0.5`` and writes nothing while accuracy stays at or below 0.5);
- one GradScaler for the run (the original made a fresh one every epoch, restarting the loss
  scale at 65536 and so skipping a few steps at each epoch start);
- AdamW gets the trainable parameters only (the original passes all of them; frozen parameters
  never have gradients, so AdamW leaves them alone either way: same updates).
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, get_worker_info
from tqdm.auto import tqdm

from drct.io import atomic_write_text, sha256_file
from drct.provenance import git_commit, package_versions
from drct.training.checkpoint import (
    backbone_state,
    save_checkpoint,
    tensors_sha256,
    weights_kind,
)
from drct.training.dataset import ImageDataset, build_datasets, count_samples
from drct.training.loss import DRCTLoss
from drct.training.model import DRCTModel, build_model
from drct.training.settings import TrainSettings

log = logging.getLogger(__name__)

HISTORY_COLUMNS = ("epoch", "lr", "train_loss", "val_acc")


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_amp(amp: bool | str, device: torch.device) -> bool:
    """Mixed precision only on CUDA: ``"auto"`` turns it on there, and ``True`` on CPU is refused."""
    if amp == "auto":
        return device.type == "cuda"
    if amp and device.type != "cuda":
        raise ValueError("amp=true needs a CUDA device (the original trains in fp16 autocast on GPUs)")
    return bool(amp)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _seed_worker(worker_id: int) -> None:
    """Each DataLoader worker reseeds numpy/random and its copy of the albumentations pipeline.

    ``torch.initial_seed()`` in a worker is the loader's per-epoch base seed plus the worker id,
    drawn from the loader's seeded generator, so augmentations are reproducible and differ
    between workers and epochs.
    """
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)
    info = get_worker_info()
    if info is not None:
        transform = getattr(info.dataset, "transform", None)
        if hasattr(transform, "set_random_seed"):
            transform.set_random_seed(seed)


def build_optimizer(model: torch.nn.Module, settings: TrainSettings) -> torch.optim.AdamW:
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, settings: TrainSettings) -> torch.optim.lr_scheduler.CosineAnnealingLR:
    """CosineAnnealingLR(T_max) stepped once per epoch; past T_max it climbs back (period 2*T_max)."""
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings.t_max)


def make_loader(dataset: ImageDataset, settings: TrainSettings, shuffle: bool, device: torch.device, seed: int) -> DataLoader:
    generator = torch.Generator()
    generator.manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=settings.batch_size,
        shuffle=shuffle,
        num_workers=settings.num_workers,
        pin_memory=device.type == "cuda",
        drop_last=False,
        generator=generator,
        worker_init_fn=_seed_worker,
        persistent_workers=False,
    )


def _autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.float16)


def train_one_epoch(
    model: DRCTModel,
    loader: DataLoader,
    criterion: DRCTLoss,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    device: torch.device,
    amp: bool,
    max_steps: int | None = None,
    desc: str = "train",
) -> float:
    """One pass over ``loader``; returns the sample-weighted mean loss."""
    model.train()
    total, count = 0.0, 0
    steps = len(loader) if max_steps is None else min(len(loader), max_steps)
    bar = tqdm(loader, total=steps, desc=desc, leave=False, mininterval=5.0)
    for step, (images, labels) in enumerate(bar):
        if max_steps is not None and step >= max_steps:
            break
        images = images.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        with _autocast(device, amp):
            embedding, logits = model(images)
            loss = criterion(embedding, logits, labels)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        total += loss.item() * labels.shape[0]
        count += labels.shape[0]
        bar.set_postfix(loss=f"{total / count:.4f}", refresh=False)
    bar.close()
    return total / max(count, 1)


@torch.no_grad()
def evaluate_accuracy(
    model: DRCTModel, loader: DataLoader, device: torch.device, max_steps: int | None = None, desc: str = "val"
) -> float:
    """Fraction of validation images whose argmax class equals the label (fp32, as the original)."""
    model.eval()
    correct, count = 0, 0
    steps = len(loader) if max_steps is None else min(len(loader), max_steps)
    for step, (images, labels) in enumerate(tqdm(loader, total=steps, desc=desc, leave=False, mininterval=5.0)):
        if max_steps is not None and step >= max_steps:
            break
        _, logits = model(images.to(device, non_blocking=True))
        correct += (logits.argmax(dim=1).cpu() == labels).sum().item()
        count += labels.shape[0]
    return correct / count if count else math.nan


def _history_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row[k] for k in HISTORY_COLUMNS})
    return buffer.getvalue()


def train(
    manifest: Path, out_dir: Path, settings: TrainSettings, provenance: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Train one detector on ``manifest`` and write ``best``/``last`` checkpoints and ``history.csv`` to ``out_dir``.

    Returns a summary: best epoch and accuracy, last accuracy, sample counts and the paths written.
    """
    manifest, out_dir = Path(manifest), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(settings.device)
    amp = resolve_amp(settings.amp, device)
    seed_everything(settings.seed)

    model = build_model(settings).to(device)
    train_set, val_set = build_datasets(manifest, settings, seed=settings.seed)
    if len(train_set) == 0 or len(val_set) == 0:
        raise ValueError(f"empty split from {manifest}: {len(train_set)} train / {len(val_set)} val images")
    train_loader = make_loader(train_set, settings, shuffle=True, device=device, seed=settings.seed)
    val_loader = make_loader(val_set, settings, shuffle=False, device=device, seed=settings.seed)

    criterion = DRCTLoss.from_settings(settings)
    optimizer = build_optimizer(model, settings)
    scheduler = build_scheduler(optimizer, settings)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    frozen_digest = tensors_sha256(backbone_state(model)) if weights_kind(settings) == "head" else None

    record_base: dict[str, Any] = {
        "seed": settings.seed,
        "split_seed": settings.split_seed,
        "git_commit": git_commit(),
        "package_versions": package_versions(),
        "manifest": str(manifest),
        "manifest_sha256": sha256_file(manifest),
        "device": str(device),
        "amp": amp,
        "n_train": count_samples(train_set.samples),
        "n_val": count_samples(val_set.samples),
        "provenance": dict(provenance or {}),
    }
    log.info(
        "training %s %s on %d train / %d val images, device %s, amp %s",
        settings.method, settings.model_name, len(train_set), len(val_set), device, amp,
    )

    history: list[dict[str, Any]] = []
    best_acc, best_epoch = -math.inf, -1
    started = time.time()
    for epoch in range(settings.epochs):
        lr = optimizer.param_groups[0]["lr"]
        train_loss = train_one_epoch(
            model, train_loader, criterion, optimizer, scaler, device, amp,
            settings.max_steps_per_epoch, desc=f"epoch {epoch} train",
        )
        scheduler.step()
        val_acc = evaluate_accuracy(model, val_loader, device, settings.max_steps_per_epoch, desc=f"epoch {epoch} val")
        history.append({"epoch": epoch, "lr": lr, "train_loss": train_loss, "val_acc": val_acc})
        log.info("epoch %d: lr %.3e, train loss %.4f, val acc %.4f", epoch, lr, train_loss, val_acc)

        record = {**record_base, "epoch": epoch, "val_acc": val_acc, "elapsed_s": round(time.time() - started, 1)}
        if val_acc > best_acc or best_epoch < 0:
            best_acc, best_epoch = val_acc, epoch
            save_checkpoint(model, out_dir / "best.safetensors", settings, record, frozen_digest)
        save_checkpoint(
            model, out_dir / "last.safetensors", settings, {**record, "best_epoch": best_epoch}, frozen_digest
        )
        atomic_write_text(out_dir / "history.csv", _history_csv(history))

    return {
        "out_dir": str(out_dir),
        "best_epoch": best_epoch,
        "best_val_acc": best_acc,
        "last_val_acc": history[-1]["val_acc"],
        "epochs": settings.epochs,
        "n_train": len(train_set),
        "n_val": len(val_set),
        "weights": weights_kind(settings),
        "history": history,
    }
