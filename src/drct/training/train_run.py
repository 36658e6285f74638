"""The training loop, as ``scripts/train_contrastive.py`` runs it, plus seeds, resuming and DDP.

Per epoch: train over the shuffled train split (AdamW, mixed precision on CUDA), step the cosine
schedule once, measure accuracy on the validation split (eval transform, fp32, argmax of the
logits), then write ``last`` and, when validation accuracy improved, ``best``.

Differences from the original, all deliberate:

- seeds: every epoch restarts torch/numpy/random, the shuffling and the albumentations pipeline
  from ``(settings.seed, epoch)`` (the original set no training seed); a DataLoader worker reseeds
  its copy of the pipeline from the loader's per-epoch seed;
- ``best`` is written at the first epoch whatever its accuracy (the original starts from
  ``best_acc = 0.5`` and writes nothing while accuracy stays at or below 0.5);
- one GradScaler for the run (the original made a fresh one every epoch, restarting the loss
  scale at 65536 and so skipping a few steps at each epoch start);
- AdamW gets the trainable parameters only (the original passes all of them; frozen parameters
  never have gradients, so AdamW leaves them alone either way: same updates).

Execution features that do not change the numbers:

- resuming (:mod:`drct.training.resume`): an interrupted run continues after its last finished
  epoch, with optimizer, schedule and GradScaler state, and ends with the files an uninterrupted
  run writes;
- several processes (``torchrun``, :mod:`drct.training.distributed`): ``settings.batch_size`` is the
  global batch, split evenly over the ranks, with the contrastive loss on gathered embeddings, so
  N GPUs x B equals one GPU x N*B;
- feature caching (:mod:`drct.training.features`): a frozen backbone without augmentation is run
  once over the images instead of once per epoch.
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
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, get_worker_info
from tqdm.auto import tqdm

from drct.io import atomic_write_text, sha256_file
from drct.provenance import git_commit, package_versions
from drct.training import resume as resume_state
from drct.training.checkpoint import (
    backbone_state,
    save_checkpoint,
    tensors_sha256,
    weights_kind,
)
from drct.training.dataset import build_captioned_datasets, build_datasets, count_samples
from drct.training.distributed import (
    DistContext,
    GlobalBatchSampler,
    StridedEvalSampler,
    all_reduce_sum,
    barrier,
    epoch_seed,
    init_from_env,
    per_rank_batch,
    shutdown,
)
from drct.training.features import HeadOnly, compute_features, use_feature_cache
from drct.training.loss import DRCTLoss
from drct.training.model import build_model, to_device
from drct.training.settings import TrainSettings

log = logging.getLogger(__name__)

HISTORY_COLUMNS = ("epoch", "lr", "train_loss", "val_acc")


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


def make_loader(
    dataset: Dataset, batch_sampler: torch.utils.data.Sampler, settings: TrainSettings, device: torch.device, seed: int
) -> DataLoader:
    """A loader over ``batch_sampler``'s batches; its generator (worker seeds) is reseeded per epoch."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    return DataLoader(
        dataset,
        batch_sampler=batch_sampler,
        num_workers=settings.num_workers,
        pin_memory=device.type == "cuda",
        generator=generator,
        worker_init_fn=_seed_worker,
        persistent_workers=False,
    )


def start_epoch(seed: int, epoch: int, loader: DataLoader, dataset: Dataset) -> None:
    """Restart every random stream of ``epoch`` from ``(seed, epoch)``: shuffling, augmentation, dropout."""
    s = epoch_seed(seed, epoch)
    seed_everything(s)
    sampler = loader.batch_sampler
    if hasattr(sampler, "set_seed"):
        sampler.set_seed(s)
    loader.generator.manual_seed(s)
    transform = getattr(dataset, "transform", None)
    if hasattr(transform, "set_random_seed"):
        transform.set_random_seed(s)


def _autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.float16)


def train_one_epoch(
    model: torch.nn.Module,
    loader: DataLoader,
    criterion: DRCTLoss,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    device: torch.device,
    amp: bool,
    max_steps: int | None = None,
    desc: str = "train",
    ctx: DistContext = DistContext(),
) -> float:
    """One pass over ``loader``; returns the sample-weighted mean loss over all ranks.

    ``model`` maps a batch to ``(embedding, logits)``: the DRCT model, its DDP wrapper, or the
    head alone when features are cached.
    """
    model.train()
    total, count = 0.0, 0
    steps = len(loader) if max_steps is None else min(len(loader), max_steps)
    bar = tqdm(loader, total=steps, desc=desc, leave=False, mininterval=5.0, disable=not ctx.is_main)
    for step, (inputs, labels) in enumerate(bar):
        if max_steps is not None and step >= max_steps:
            break
        inputs = to_device(inputs, device)
        labels = torch.as_tensor(labels).to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        with _autocast(device, amp):
            embedding, logits = model(inputs)
            parts = criterion.components(embedding, logits, labels)
        scaler.scale(parts["loss"]).backward()
        scaler.step(optimizer)
        scaler.update()
        total += parts["reported"].item() * labels.shape[0]
        count += labels.shape[0]
        bar.set_postfix(loss=f"{total / count:.4f}", refresh=False)
    bar.close()
    total, count = all_reduce_sum([total, count], ctx, device)
    return total / max(count, 1)


@torch.no_grad()
def evaluate_accuracy(
    model: torch.nn.Module,
    loader: DataLoader,
    device: torch.device,
    max_steps: int | None = None,
    desc: str = "val",
    ctx: DistContext = DistContext(),
) -> float:
    """Fraction of validation images whose argmax class equals the label (fp32, as the original).

    Under DDP each rank scores its own images and the counts are summed.
    """
    model.eval()
    correct, count = 0, 0
    steps = len(loader) if max_steps is None else min(len(loader), max_steps)
    for step, (inputs, labels) in enumerate(
        tqdm(loader, total=steps, desc=desc, leave=False, mininterval=5.0, disable=not ctx.is_main)
    ):
        if max_steps is not None and step >= max_steps:
            break
        _, logits = model(to_device(inputs, device))
        correct += (logits.argmax(dim=1).cpu() == torch.as_tensor(labels)).sum().item()
        count += len(labels)
    correct, count = all_reduce_sum([correct, count], ctx, device)
    return correct / count if count else math.nan


def _history_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row[k] for k in HISTORY_COLUMNS})
    return buffer.getvalue()


def train(
    manifest: Path,
    out_dir: Path,
    settings: TrainSettings,
    provenance: dict[str, Any] | None = None,
    *,
    resume: bool = True,
    captions: Path | None = None,
) -> dict[str, Any]:
    """Train one detector on ``manifest`` and write ``best``/``last`` checkpoints and ``history.csv`` to ``out_dir``.

    ``resume``: continue from ``out_dir/resume/`` when an earlier attempt left one (see
    :mod:`drct.training.resume`); ``False`` starts afresh and replaces it. Launched by torchrun,
    every rank calls this; rank 0 writes the files. ``captions``: the ``path, caption`` CSV of the
    manifest's images, required by a captioned family (De-fake); images without one are dropped and
    counted in the sidecar (``captions_dropped``). Returns a summary: best epoch and accuracy,
    last accuracy, sample counts and the paths written.
    """
    manifest, out_dir = Path(manifest), Path(out_dir)
    if settings.needs_captions and captions is None:
        raise ValueError(f"family {settings.family!r} reads a caption per image: pass the captions CSV "
                         "(drct train-run --captions, written by drct merge-captions)")
    ctx, device = init_from_env(settings.device)
    try:
        return _train(manifest, out_dir, settings, provenance, resume, ctx, device,
                      Path(captions) if captions is not None and settings.needs_captions else None)
    finally:
        shutdown(ctx)


def _train(
    manifest: Path,
    out_dir: Path,
    settings: TrainSettings,
    provenance: dict[str, Any] | None,
    resume: bool,
    ctx: DistContext,
    device: torch.device,
    captions: Path | None = None,
) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    amp = resolve_amp(settings.amp, device)
    local_batch = per_rank_batch(settings.batch_size, ctx)
    seed_everything(settings.seed)

    model = build_model(settings).to(device)
    captions_record: dict[str, Any] = {}
    if captions is not None:
        train_set, val_set, dropped = build_captioned_datasets(manifest, settings, captions)
        captions_record = {"captions": str(captions), "captions_sha256": sha256_file(captions),
                           "captions_dropped": dropped}
    else:
        train_set, val_set = build_datasets(manifest, settings, seed=settings.seed)
    if len(train_set) == 0 or len(val_set) == 0:
        raise ValueError(f"empty split from {manifest}: {len(train_set)} train / {len(val_set)} val images")
    n_train, n_val = len(train_set), len(val_set)
    counts = {"n_train": count_samples(train_set.samples), "n_val": count_samples(val_set.samples)}

    cached = use_feature_cache(settings, ctx.world_size)
    if cached:
        # the features of a frozen backbone on un-augmented images never change: compute them once
        train_set = compute_features(model, train_set, device, batch_size=local_batch, autocast=amp,
                                     num_workers=settings.num_workers, desc="train features")
        val_set = compute_features(model, val_set, device, batch_size=local_batch, autocast=False,
                                   num_workers=settings.num_workers, desc="val features")
    step_model: torch.nn.Module = HeadOnly(model) if cached else model
    if ctx.is_distributed:
        step_model = DistributedDataParallel(step_model, device_ids=[device.index] if device.type == "cuda" else None)
    eval_model: torch.nn.Module = HeadOnly(model) if cached else model

    train_sampler = GlobalBatchSampler(n_train, settings.batch_size, rank=ctx.rank, world_size=ctx.world_size,
                                       shuffle=True, seed=settings.seed)
    if train_sampler.dropped_per_epoch:
        log.info("DDP: the last global batch leaves out %d image(s) per epoch so the %d ranks get equal shares",
                 train_sampler.dropped_per_epoch, ctx.world_size)
    train_loader = make_loader(train_set, train_sampler, settings, device, settings.seed)
    val_loader = make_loader(
        val_set, StridedEvalSampler(n_val, local_batch, rank=ctx.rank, world_size=ctx.world_size),
        settings, device, settings.seed,
    )

    criterion = DRCTLoss.from_settings(settings, ctx)
    optimizer = build_optimizer(model, settings)
    scheduler = build_scheduler(optimizer, settings)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    frozen_digest = tensors_sha256(backbone_state(model)) if weights_kind(settings) == "head" else None
    manifest_sha256 = sha256_file(manifest)
    best_path, last_path = out_dir / "best.safetensors", out_dir / "last.safetensors"

    progress = resume_state.Progress()
    state = resume_state.load_state(out_dir, settings, manifest_sha256) if resume else None
    if not resume and ctx.is_main:
        resume_state.clear(out_dir)
    barrier(ctx)
    if state is not None:
        progress = resume_state.restore(
            out_dir, state, model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler,
            best_checkpoint=best_path, last_checkpoint=last_path, restore_files=ctx.is_main,
        )
        if ctx.is_main:
            atomic_write_text(out_dir / "history.csv", _history_csv(progress.history))

    record_base: dict[str, Any] = {
        "seed": settings.seed,
        "split_seed": settings.split_seed,
        "git_commit": git_commit(),
        "package_versions": package_versions(),
        "manifest": str(manifest),
        "manifest_sha256": manifest_sha256,
        "device": str(device),
        "amp": amp,
        "world_size": ctx.world_size,
        "feature_cache": cached,
        **counts,
        **captions_record,
        "provenance": dict(provenance or {}),
    }
    if ctx.is_main:
        log.info(
            "training %s %s on %d train / %d val images, device %s x %d, amp %s, feature cache %s, from epoch %d",
            settings.method, settings.model_name, n_train, n_val, device, ctx.world_size, amp, cached,
            progress.next_epoch,
        )

    started = time.time()
    for epoch in range(progress.next_epoch, settings.epochs):
        lr = optimizer.param_groups[0]["lr"]
        start_epoch(settings.seed, epoch, train_loader, train_set)
        train_loss = train_one_epoch(
            step_model, train_loader, criterion, optimizer, scaler, device, amp,
            settings.max_steps_per_epoch, desc=f"epoch {epoch} train", ctx=ctx,
        )
        scheduler.step()
        val_acc = evaluate_accuracy(eval_model, val_loader, device, settings.max_steps_per_epoch,
                                    desc=f"epoch {epoch} val", ctx=ctx)
        progress.history.append({"epoch": epoch, "lr": lr, "train_loss": train_loss, "val_acc": val_acc})
        progress.next_epoch = epoch + 1
        if ctx.is_main:
            log.info("epoch %d: lr %.3e, train loss %.4f, val acc %.4f", epoch, lr, train_loss, val_acc)
            record = {**record_base, "epoch": epoch, "val_acc": val_acc, "elapsed_s": round(time.time() - started, 1)}
            if val_acc > progress.best_acc or progress.best_epoch < 0:
                progress.best_acc, progress.best_epoch = val_acc, epoch
                save_checkpoint(model, best_path, settings, record, frozen_digest)
            last_record = {**record, "best_epoch": progress.best_epoch}
            save_checkpoint(model, last_path, settings, last_record, frozen_digest)
            atomic_write_text(out_dir / "history.csv", _history_csv(progress.history))
            resume_state.save_state(
                out_dir, model=model, settings=settings, record=last_record, optimizer=optimizer, scheduler=scheduler,
                scaler=scaler, progress=progress, best_checkpoint=best_path, manifest_sha256=manifest_sha256,
                backbone_sha256=frozen_digest,
            )
        elif val_acc > progress.best_acc or progress.best_epoch < 0:
            progress.best_acc, progress.best_epoch = val_acc, epoch
        barrier(ctx)

    if ctx.is_main:
        resume_state.clear(out_dir)
    history = progress.history
    return {
        "out_dir": str(out_dir),
        "best_epoch": progress.best_epoch,
        "best_val_acc": progress.best_acc,
        "last_val_acc": history[-1]["val_acc"] if history else math.nan,
        "epochs": settings.epochs,
        "n_train": n_train,
        "n_val": n_val,
        "weights": weights_kind(settings),
        "world_size": ctx.world_size,
        "feature_cache": cached,
        "history": history,
    }
