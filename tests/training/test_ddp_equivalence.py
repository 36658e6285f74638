"""Two DDP processes x B images give the parameters one process x 2B gives (gloo, CPU).

Compared after the optimizer steps, not through loss values: pytorch-metric-learning's
distributed wrapper multiplies the gathered contrastive loss by the world size so that DDP's
gradient average comes out right. A ConvNeXt trained end to end (Conv-B's case), augmentation off,
two AdamW steps (the first step of Adam moves every weight by about lr * sign(gradient); the second
also depends on the gradients' sizes). A control shows the comparison can fail: without gathering
the embeddings, each rank's contrastive loss only sees its own half batch and the weights differ.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers.manifests import DRCT_FOLDERS, write_manifest
from safetensors.torch import load_file

from drct.training.dataset import build_datasets
from drct.training.distributed import GlobalBatchSampler, epoch_seed
from drct.training.loss import DRCTLoss
from drct.training.model import build_model
from drct.training.settings import TrainSettings
from drct.training.train_run import build_optimizer, seed_everything, train

torch.set_num_threads(2)

# 12 training images, global batch 8: steps of 8 and 4 images; under DDP 4 + 4, then 2 + 2 per rank.
SETTINGS = TrainSettings(
    family="timm", model_name="convnext_atto", pretrained=False, freeze_backbone=False,
    real=["real"], fake=["sdv14"], real_rec=["real-rec"], fake_rec=["fake-rec"],
    batch_size=8, epochs=1, max_steps_per_epoch=2, device="cpu", image_size=32, augment=False,
)
TOLERANCE = {"rtol": 1e-4, "atol": 1e-6}


def _ddp_env() -> dict[str, str]:
    env = dict(os.environ)
    env["CUDA_VISIBLE_DEVICES"] = ""
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, torch.Tensor]]:
    root = tmp_path_factory.mktemp("ddp")
    manifest = write_manifest(root, DRCT_FOLDERS)
    train(manifest, root / "single", SETTINGS)
    command = [
        sys.executable, "-m", "drct.cli", "train-run", "--nproc-per-node", "2", "--threads", "2",
        "--manifest", str(manifest), "--settings", json.dumps(SETTINGS.to_dict()), "--out-dir", str(root / "ddp"),
    ]
    result = subprocess.run(command, env=_ddp_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    sidecar = json.loads((root / "ddp" / "last.json").read_text())
    assert sidecar["world_size"] == 2
    return {
        "single": load_file(str(root / "single" / "last.safetensors")),
        "ddp": load_file(str(root / "ddp" / "last.safetensors")),
        "local_only": _local_contrastive_steps(manifest),
    }


def _local_contrastive_steps(manifest: Path) -> dict[str, torch.Tensor]:
    """What DDP without gathering would compute: each rank's loss on its own share, gradients averaged."""
    seed_everything(SETTINGS.seed)
    model = build_model(SETTINGS)
    train_set, _ = build_datasets(manifest, SETTINGS, seed=SETTINGS.seed)
    optimizer = build_optimizer(model, SETTINGS)
    criterion = DRCTLoss.from_settings(SETTINGS)
    samplers = [GlobalBatchSampler(len(train_set), 8, rank=r, world_size=2, seed=epoch_seed(SETTINGS.seed, 0))
                for r in range(2)]
    seed_everything(epoch_seed(SETTINGS.seed, 0))
    model.train()
    for shares in list(zip(*samplers))[:2]:
        optimizer.zero_grad()
        for share in shares:
            images = torch.stack([train_set[i][0] for i in share])
            labels = torch.tensor([train_set[i][1] for i in share])
            (criterion(*model(images), labels) / 2).backward()
        optimizer.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.slow
def test_two_ranks_equal_one_process_with_the_global_batch(runs: dict[str, dict[str, torch.Tensor]]) -> None:
    single, ddp = runs["single"], runs["ddp"]
    assert single.keys() == ddp.keys()
    for key in single:
        torch.testing.assert_close(ddp[key], single[key], **TOLERANCE, msg=key)


@pytest.mark.slow  # the same two-rank torchrun run as the test above
def test_without_gathered_embeddings_the_parameters_differ(runs: dict[str, dict[str, torch.Tensor]]) -> None:
    single, local = runs["single"], runs["local_only"]
    differing = [k for k in single if not torch.allclose(local[k], single[k], **TOLERANCE)]
    assert len(differing) > len(single) // 4, f"only {differing} differ"


def test_global_batch_sampler_splits_the_single_process_batches() -> None:
    one = list(GlobalBatchSampler(10, 4, seed=3))
    two = [list(GlobalBatchSampler(10, 4, rank=r, world_size=2, seed=3)) for r in range(2)]
    assert [len(b) for b in one] == [4, 4, 2]
    assert [a + b for a, b in zip(*two)] == one
    three = [list(GlobalBatchSampler(11, 6, rank=r, world_size=3, seed=1)) for r in range(3)]
    # 11 = 6 + 5: the last global batch of 5 gives each of 3 ranks 1 image and leaves 2 out
    assert [len(b) for b in three[0]] == [2, 1]
    assert GlobalBatchSampler(11, 6, world_size=3).dropped_per_epoch == 2
    assert GlobalBatchSampler(11, 6).dropped_per_epoch == 0
