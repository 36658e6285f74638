"""The DRCT loss on a hand-computed 4-sample batch (expected values worked out below, not by the code)."""

from __future__ import annotations

import math

import pytest
import torch

from drct.training.loss import DRCTLoss, drct_loss
from drct.training.settings import TrainSettings

# labels y = [0, 0, 1, 1]
LABELS = torch.tensor([0, 0, 1, 1])
# Embeddings; after L2 normalisation: e0=(1,0,0), e1=(0,1,0), e2=(0.6,0.8,0), e3=(0,0,1).
EMBEDDINGS = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [3.0, 4.0, 0.0], [0.0, 0.0, 3.0]])
# Logits chosen so softmax probabilities are 1/2, 3/4, 1/4.
LOGITS = torch.tensor([[0.0, 0.0], [math.log(3), 0.0], [0.0, math.log(3)], [math.log(3), 0.0]])

# Cross-entropy, per sample:
#   s0: p(y=0) = 1/2            -> ln 2      = 0.693147
#   s1: p(y=0) = 3/4            -> ln(4/3)   = 0.287682
#   s2: p(y=1) = 3/4            -> ln(4/3)   = 0.287682
#   s3: p(y=1) = 1/4            -> ln 4      = 1.386294
#   mean = (7 ln 2 - 2 ln 3) / 4 = (4.852030 - 2.197225) / 4 = 0.6637014
CE = 0.6637014216
# Contrastive (pytorch-metric-learning defaults: unsquared Euclidean distance of normalised
# embeddings; pos term d - 0, neg term max(0, 1 - d); mean over non-zero terms of each kind):
#   positive pairs: (0,1) d = sqrt(1 + 1) = sqrt 2;  (2,3) d = sqrt(.36 + .64 + 1) = sqrt 2
#       -> mean = sqrt 2 = 1.4142136
#   negative pairs: (0,2) d = sqrt(.16 + .64) = sqrt .8 = 0.8944272 -> 1 - d = 0.1055728
#                   (1,2) d = sqrt(.36 + .04) = sqrt .4 = 0.6324555 -> 1 - d = 0.3675445
#                   (0,3), (1,3) d = sqrt 2 > 1 -> 0 (excluded from the mean)
#       -> mean = (0.1055728 + 0.3675445) / 2 = 0.2365586
#   (ordered pairs count each unordered pair twice, which leaves both means unchanged)
#   contrastive = 1.4142136 + 0.2365586 = 1.6507722
CON = 1.6507722009
# total = 0.7 * 0.6637014 + 0.3 * 1.6507722 = 0.4645910 + 0.4952317 = 0.9598227
TOTAL = 0.9598226554


def test_components_match_hand_computation() -> None:
    total = DRCTLoss()(EMBEDDINGS, LOGITS, LABELS)
    comps = DRCTLoss().components(EMBEDDINGS, LOGITS, LABELS)
    assert comps["ce"].item() == pytest.approx(CE, abs=1e-5)
    assert comps["contrastive"].item() == pytest.approx(CON, abs=1e-5)
    assert total.item() == pytest.approx(TOTAL, abs=1e-5)


def test_functional_form_uses_settings_weights() -> None:
    settings = TrainSettings(
        family="timm", model_name="convnext_atto", pretrained=False, freeze_backbone=False,
        real=["r"], fake=["f"], batch_size=4,
    )
    assert drct_loss(EMBEDDINGS, LOGITS, LABELS, settings).item() == pytest.approx(TOTAL, abs=1e-5)
    baseline = settings.replace(method="baseline")
    assert drct_loss(EMBEDDINGS, LOGITS, LABELS, baseline).item() == pytest.approx(CE, abs=1e-5)


def test_gradient_flows_to_embeddings() -> None:
    emb = EMBEDDINGS.clone().requires_grad_(True)
    DRCTLoss()(emb, LOGITS, LABELS).backward()
    assert emb.grad is not None and emb.grad.abs().sum() > 0
