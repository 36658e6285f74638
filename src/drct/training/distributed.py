"""Multi-process (DDP) training that computes what one process with the whole global batch computes.

The authors trained on two GPUs with ``DataParallel``: one process, one global batch of 128 (Conv-B)
or 512 (UnivFD), so the contrastive loss saw every pair of the global batch. With
``DistributedDataParallel`` each process sees only its share; three things make N processes x B
images equal one process x N*B images, step for step:

1. **Same batches.** :class:`GlobalBatchSampler` draws the single-process order (one permutation per
   epoch from a seeded generator, identical on every rank), cuts it into global batches, and gives
   each rank an equal contiguous share of every global batch. The union of the shares is exactly the
   single-process batch. When the last global batch does not divide by the number of processes,
   its remainder (at most N-1 images per epoch) is left out under DDP, because all-gather needs
   equal shares; one process never drops anything.
2. **Gathered pairs.** The contrastive loss runs on embeddings gathered from every rank
   (pytorch-metric-learning's ``DistributedLossWrapper``): each rank computes the loss over all
   N*B embeddings, its own keeping their gradient, and multiplies it by N, so that DDP's gradient
   *average* over ranks becomes the gradient of the global-batch loss.
3. **Mean cross-entropy.** Each rank's cross-entropy is the mean over its B images; DDP averages
   the N equal-sized means, which is the mean over N*B.

Nothing else in the models depends on the batch (ConvNeXt uses LayerNorm, CLIP is frozen), so the
parameters after an optimizer step agree up to floating-point summation order
(``tests/test_ddp_equivalence.py`` checks it with two gloo processes on CPU).

Launch: ``drct train --nproc-per-node N ...`` re-executes itself under ``torchrun``; each process
then finds ``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` in its environment (:func:`init_from_env`).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from drct.device import resolve_device

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: rank 0 of 1 when not launched by torchrun."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(device: str | torch.device = "auto") -> tuple[DistContext, torch.device]:
    """Join the process group torchrun set up (NCCL on GPUs, gloo on CPU); a no-op for one process.

    Under torchrun each rank takes the GPU ``cuda:LOCAL_RANK``; ``device`` may be ``auto``,
    ``cuda`` or ``cpu`` (``cuda:1`` and the like name one GPU and make no sense for several ranks).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext(), resolve_device(device)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    wanted = resolve_device(device)
    if wanted.type == "cuda":
        if wanted.index is not None:
            raise ValueError(f"device {device!r} names one GPU; with {world_size} processes use 'auto' or 'cuda'")
        torch.cuda.set_device(local_rank)
        wanted, backend = torch.device("cuda", local_rank), "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    log.info("rank %d/%d (local %d) on %s, backend %s", rank, world_size, local_rank, wanted, backend)
    return DistContext(rank, world_size, local_rank), wanted


def shutdown(ctx: DistContext) -> None:
    if ctx.is_distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.is_distributed:
        dist.barrier()


def all_reduce_sum(values: Sequence[float], ctx: DistContext, device: torch.device) -> list[float]:
    """Sum a few numbers over ranks (float64, so counts stay exact); identity for one process."""
    if not ctx.is_distributed:
        return [float(v) for v in values]
    tensor = torch.tensor(list(values), dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def per_rank_batch(global_batch: int, ctx: DistContext) -> int:
    """``settings.batch_size`` is the global batch (the paper's 128 / 512); each rank takes an equal share."""
    if global_batch % ctx.world_size:
        raise ValueError(
            f"global batch size {global_batch} does not divide by {ctx.world_size} processes; "
            "choose a batch size that is a multiple of the GPU count"
        )
    return global_batch // ctx.world_size


def epoch_seed(seed: int, epoch: int) -> int:
    """A 32-bit seed for one epoch: shuffling, augmentation and dropout restart from it every epoch,
    so epoch ``e`` draws the same numbers whether or not training was interrupted before it."""
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1)[0])


class GlobalBatchSampler(Sampler[list[int]]):
    """Batches of dataset indices: the single-process global batches, this rank's share of each.

    ``shuffle``: one ``torch.randperm`` per epoch from a generator seeded by :meth:`set_seed`
    (the same on every rank). One process (``world_size=1``) gets the ordinary batches of
    ``global_batch`` with the last one short, as ``DataLoader(batch_size=..., drop_last=False)``.
    """

    def __init__(
        self,
        n: int,
        global_batch: int,
        *,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
        seed: int = 0,
    ) -> None:
        if global_batch < 1 or global_batch % world_size:
            raise ValueError(f"global batch {global_batch} must be a positive multiple of {world_size} processes")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside 0..{world_size - 1}")
        self.n, self.global_batch = n, global_batch
        self.rank, self.world_size = rank, world_size
        self.shuffle, self.seed = shuffle, seed

    def set_seed(self, seed: int) -> None:
        self.seed = seed

    def order(self) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.n)
        generator = torch.Generator()
        generator.manual_seed(self.seed)
        return torch.randperm(self.n, generator=generator)

    def global_batches(self) -> Iterator[list[int]]:
        order = self.order().tolist()
        for start in range(0, self.n, self.global_batch):
            yield order[start : start + self.global_batch]

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.global_batches():
            share = len(batch) // self.world_size
            if share == 0:
                continue
            yield batch[self.rank * share : (self.rank + 1) * share]

    def __len__(self) -> int:
        full, rest = divmod(self.n, self.global_batch)
        return full + (1 if rest >= self.world_size else 0)

    @property
    def dropped_per_epoch(self) -> int:
        """Images of the last global batch left out so every rank gets an equal share (0 for one process)."""
        return (self.n % self.global_batch) % self.world_size


class StridedEvalSampler(Sampler[list[int]]):
    """Evaluation batches of every ``world_size``-th image from ``rank``: each image scored once overall."""

    def __init__(self, n: int, batch_size: int, *, rank: int = 0, world_size: int = 1) -> None:
        self.indices = list(range(rank, n, world_size))
        self.batch_size = batch_size

    def __iter__(self) -> Iterator[list[int]]:
        for start in range(0, len(self.indices), self.batch_size):
            yield self.indices[start : start + self.batch_size]

    def __len__(self) -> int:
        return -(-len(self.indices) // self.batch_size)


def wrap_contrastive(loss: torch.nn.Module, ctx: DistContext) -> torch.nn.Module:
    """The contrastive loss over embeddings gathered from all ranks (scaled by N for DDP's average)."""
    if not ctx.is_distributed:
        return loss
    from pytorch_metric_learning.utils.distributed import DistributedLossWrapper

    return DistributedLossWrapper(loss, efficient=False)


def torchrun_command(nproc_per_node: int, argv: Sequence[str]) -> list[str]:
    """``python -m torch.distributed.run --standalone --nproc-per-node N -m drct.cli <argv>``."""
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc-per-node={nproc_per_node}", "-m", "drct.cli", *argv,
    ]


def relaunch_under_torchrun(nproc_per_node: int, argv: Sequence[str]) -> int:
    """Run ``drct <argv>`` as ``nproc_per_node`` processes; returns torchrun's exit status."""
    command = torchrun_command(nproc_per_node, argv)
    log.info("launching %d processes: %s", nproc_per_node, " ".join(command))
    return subprocess.run(command, check=False).returncode
