"""DRCT training objective: weighted cross-entropy plus a margin-based contrastive loss.

The authors call ``(1 - alpha) * CrossEntropy(logits, y) + alpha * ContrastiveLoss(embedding, y)``
with ``alpha = 0.3`` and pytorch-metric-learning's ``ContrastiveLoss(pos_margin=0, neg_margin=1)``
left at its defaults. Those defaults decide the numbers, so they are spelled out here:

- distance: Euclidean distance between L2-normalised embeddings (``LpDistance(normalize_embeddings=
  True, p=2, power=1)``), i.e. *unsquared*;
- pairs: every ordered pair ``i != j`` of the batch; same label -> positive, different -> negative;
- terms: positive ``max(0, d - pos_margin)``, negative ``max(0, neg_margin - d)``;
- reduction: ``AvgNonZeroReducer``, the mean over the non-zero positive terms plus the mean over
  the non-zero negative terms (a group with no non-zero term contributes 0).

The paper's text shows the squared (Hadsell) form; the released code runs the form above.
The loss sees the whole batch handed to it: with several processes, gather embeddings first,
or the pairs differ from the authors' single-process (DataParallel) global batch.
"""

from __future__ import annotations

import torch
from pytorch_metric_learning import losses
from torch import nn

from drct.methods import METHODS
from drct.training.distributed import DistContext, wrap_contrastive
from drct.training.settings import TrainSettings


class DRCTLoss(nn.Module):
    """``ce_weight * CE + con_weight * contrastive`` (method "drct"), or CE alone (a method without
    the contrastive term: "baseline" and the component ablation's CE rows, :mod:`drct.methods`).

    ``forward`` returns the total; ``components`` returns the two terms as well, for logging.
    """

    def __init__(
        self,
        method: str = "drct",
        ce_weight: float = 0.7,
        con_weight: float = 0.3,
        pos_margin: float = 0.0,
        neg_margin: float = 1.0,
    ) -> None:
        super().__init__()
        self.method = method
        self.ce_weight = ce_weight
        self.con_weight = con_weight
        self.cross_entropy = nn.CrossEntropyLoss()
        self.contrastive: nn.Module = losses.ContrastiveLoss(pos_margin=pos_margin, neg_margin=neg_margin)
        self.world_size = 1  # > 1: the contrastive term comes back multiplied by it (gathered DDP loss)

    @classmethod
    def from_settings(cls, settings: TrainSettings, ctx: DistContext | None = None) -> DRCTLoss:
        """The loss of ``settings``; under DDP (``ctx`` with several ranks) the contrastive term
        runs on embeddings gathered from every rank (see :mod:`drct.training.distributed`)."""
        loss = cls(
            method=settings.method,
            ce_weight=settings.ce_weight,
            con_weight=settings.con_weight,
            pos_margin=settings.pos_margin,
            neg_margin=settings.neg_margin,
        )
        if ctx is not None and ctx.is_distributed:
            loss.contrastive = wrap_contrastive(loss.contrastive, ctx)
            loss.world_size = ctx.world_size
        return loss

    def components(
        self, embedding: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """``loss`` (what is differentiated), ``ce``, ``contrastive`` and ``reported``.

        ``reported`` is the loss of the global batch for logs: under DDP the gathered contrastive
        term is scaled by the world size (for DDP's gradient average), which ``reported`` undoes.
        """
        ce = self.cross_entropy(logits, labels)
        if not METHODS[self.method].contrastive:
            return {"loss": ce, "ce": ce, "contrastive": torch.zeros_like(ce), "reported": ce}
        con = self.contrastive(embedding, labels)
        loss = self.ce_weight * ce + self.con_weight * con
        reported = self.ce_weight * ce + self.con_weight * con / self.world_size
        return {"loss": loss, "ce": ce, "contrastive": con, "reported": reported}

    def forward(self, embedding: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.components(embedding, logits, labels)["loss"]


def drct_loss(
    embedding: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor, settings: TrainSettings
) -> torch.Tensor:
    """Functional form of :class:`DRCTLoss` for one batch."""
    return DRCTLoss.from_settings(settings)(embedding, logits, labels)
