"""Training throughput (images/s) per backbone, through the training loop's own step function.

Measures :func:`drct.training.train_run.train_one_epoch` (forward, 0.7 CE + 0.3 contrastive loss,
backward, AdamW step; AMP on CUDA) on in-memory random images, so image decoding and augmentation
are left out: this is the model's cost, the ceiling a DataLoader must keep up with. For a frozen
backbone (UnivFD) it also measures the head step on cached features (``cache_features``, possible
only without augmentation), which is what a cached epoch costs after one feature pass.

Backbones (``--models``):

- ``demo``: the demo's models (timm ``convnext_atto``, open_clip ``ViT-Tiny-16-quickgelu``);
- ``full``: the paper's networks with random weights built from the published configs
  (timm ``convnext_base``, open_clip ``ViT-L-14-quickgelu``): the same FLOPs as the pretrained
  ones, no download.

    python benchmarks/training/run.py --models demo full --out benchmarks/training/results/cpu.json

On CPU the full models are slow (seconds per image): keep ``--steps`` small. On a GPU use the
paper's per-GPU batch (``--batch 64`` for Conv-B, 256 for UnivFD).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, TensorDataset

from drct.io import write_json
from drct.provenance import device_info, machine_info, package_versions
from drct.training.distributed import GlobalBatchSampler
from drct.training.features import HeadOnly
from drct.device import resolve_device
from drct.training.train_run import build_optimizer, resolve_amp, train_one_epoch
from drct.training.loss import DRCTLoss
from drct.training.model import DEMO_OPEN_CLIP_MODEL, DEMO_TIMM_MODEL, build_model
from drct.training.settings import TrainSettings

GROUPS = dict(real=["real"], fake=["fake"], real_rec=["real-rec"], fake_rec=["fake-rec"])
BACKBONES = {
    "demo": [
        ("Conv-B (demo: convnext_atto)", dict(family="timm", model_name=DEMO_TIMM_MODEL, pretrained=False,
                                               freeze_backbone=False)),
        ("UnivFD (demo: ViT-Tiny-16-quickgelu)", dict(family="open_clip", model_name=DEMO_OPEN_CLIP_MODEL,
                                                       pretrained="", freeze_backbone=True)),
    ],
    "full": [
        ("Conv-B (convnext_base, random weights)", dict(family="timm", model_name="convnext_base", pretrained=False,
                                                         freeze_backbone=False)),
        ("UnivFD (ViT-L-14-quickgelu, random weights)", dict(family="open_clip", model_name="ViT-L-14-quickgelu",
                                                              pretrained="", freeze_backbone=True)),
    ],
}


def _loader(inputs: torch.Tensor, labels: torch.Tensor, batch: int) -> DataLoader:
    return DataLoader(TensorDataset(inputs, labels), batch_sampler=GlobalBatchSampler(len(labels), batch, seed=0))


def _rate(step_model, loader, criterion, optimizer, scaler, device, amp, steps: int, warmup: int) -> dict[str, float]:
    train_one_epoch(step_model, loader, criterion, optimizer, scaler, device, amp, max_steps=warmup, desc="warm-up")
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    train_one_epoch(step_model, loader, criterion, optimizer, scaler, device, amp, max_steps=steps, desc="timed")
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    images = steps * loader.batch_sampler.global_batch
    return {"images_per_s": round(images / seconds, 3), "seconds": round(seconds, 3), "images": images}


def bench_backbone(label: str, spec: dict[str, Any], batch: int, steps: int, warmup: int, device: torch.device) -> dict:
    settings = TrainSettings(**spec, **GROUPS, batch_size=batch, augment=False, device=str(device))
    amp = resolve_amp(settings.amp, device)
    torch.manual_seed(0)
    model = build_model(settings, load_pretrained=False).to(device)
    n = batch * (steps + warmup)
    images = torch.randn(n, 3, settings.image_size, settings.image_size)
    labels = torch.arange(n) % 2
    criterion = DRCTLoss.from_settings(settings)
    optimizer = build_optimizer(model, settings)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    result = {
        "backbone": label, "model_name": settings.model_name, "trained": "head only" if settings.freeze_backbone
        else "everything", "batch": batch, "amp": amp,
        "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
        "train_step": _rate(model, _loader(images.to(device), labels.to(device), batch), criterion, optimizer,
                            scaler, device, amp, steps, warmup),
    }
    if settings.freeze_backbone:
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            features = model.backbone(images[: batch].to(device)).float()
        cached = features.repeat((n + batch - 1) // batch, 1)[:n]
        head_steps = max(steps, 50)
        cached = cached.repeat((head_steps + warmup) * batch // n + 1, 1)[: (head_steps + warmup) * batch]
        result["cached_feature_head_step"] = _rate(
            HeadOnly(model), _loader(cached, torch.arange(len(cached)) % 2, batch), criterion, optimizer, scaler,
            device, amp, head_steps, warmup,
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=sorted(BACKBONES), default=["demo"])
    parser.add_argument("--family", choices=["timm", "open_clip"], default=None,
                        help="only this backbone family (timm = Conv-B, open_clip = UnivFD); default both")
    parser.add_argument("--batch", type=int, default=8, help="images per step")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per backbone")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="write the results here (JSON)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    results = []
    for group in args.models:
        for label, spec in BACKBONES[group]:
            if args.family and spec["family"] != args.family:
                continue
            row = bench_backbone(label, spec, args.batch, args.steps, args.warmup, device)
            results.append(row)
            cached = row.get("cached_feature_head_step", {}).get("images_per_s")
            print(f"{label}: {row['train_step']['images_per_s']} images/s"
                  + (f"; cached-feature head {cached} images/s" if cached else ""), flush=True)
    report = {"what": "training images/s, drct.training.train_run.train_one_epoch on in-memory random 224-px images",
              "machine": {**machine_info(), **device_info(device), "packages": package_versions()}, "results": results}
    if args.out:
        write_json(args.out, report)
    else:
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
