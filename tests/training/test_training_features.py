"""Frozen-feature caching: allowed only without augmentation, and then the same training as without it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers.manifests import DRCT_FOLDERS, write_manifest
from safetensors.torch import load_file

from drct.training.features import use_feature_cache
from drct.training.settings import TrainSettings
from drct.training.train_run import train

torch.set_num_threads(2)

FROZEN = TrainSettings(
    family="open_clip", model_name="ViT-Tiny-16-quickgelu", pretrained="", freeze_backbone=True,
    real=["real"], fake=["sdv14"], real_rec=["real-rec"], fake_rec=["fake-rec"],
    batch_size=4, epochs=2, device="cpu", augment=False,
)


def test_auto_caches_only_a_frozen_backbone_without_augmentation() -> None:
    assert use_feature_cache(FROZEN) is True
    assert use_feature_cache(FROZEN.replace(augment=True)) is False  # the authors' recipe: new pixels every epoch
    assert use_feature_cache(FROZEN.replace(freeze_backbone=False)) is False  # Conv-B: the backbone trains
    assert use_feature_cache(FROZEN, world_size=2) is False
    assert use_feature_cache(FROZEN.replace(cache_features=False)) is False
    with pytest.raises(ValueError, match="one process"):
        use_feature_cache(FROZEN.replace(cache_features=True), world_size=2)


def test_caching_with_augmentation_is_refused() -> None:
    with pytest.raises(ValueError, match="cache_features=true needs freeze_backbone=true and augment=false"):
        FROZEN.replace(augment=True, cache_features=True)


def test_cached_training_equals_uncached_training(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, DRCT_FOLDERS)
    cached = train(manifest, tmp_path / "cached", FROZEN.replace(cache_features=True))
    plain = train(manifest, tmp_path / "plain", FROZEN.replace(cache_features=False))
    assert cached["feature_cache"] is True and plain["feature_cache"] is False
    a, b = load_file(str(tmp_path / "cached" / "last.safetensors")), load_file(str(tmp_path / "plain" / "last.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6, msg=key)
    # the head actually moved: the comparison is not between two untouched initialisations
    init_head = train(manifest, tmp_path / "zero", FROZEN.replace(epochs=1, max_steps_per_epoch=1, lr=1e-12))
    z = load_file(str(Path(init_head["out_dir"]) / "last.safetensors"))
    assert not torch.allclose(z["classifier.weight"], a["classifier.weight"], atol=1e-5)
    assert [round(r["val_acc"], 6) for r in cached["history"]] == [round(r["val_acc"], 6) for r in plain["history"]]
