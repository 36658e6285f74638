"""The De-fake pieces of planning and config: which datasets get captions, validation, weights, joins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from drct.captioning.join import captions_by_abspath, read_captions
from drct.captioning.settings import DEFAULT_REVISION, CaptionSettings
from drct.config import ConfigError, load_yaml, validate_config
from drct.planning.captions import caption_settings, captioned_datasets
from drct.planning.runs import iter_runs, train_settings
from drct.planning.weights import weights_spec
from drct.training.settings import TrainSettings

ROOT = Path(__file__).resolve().parents[2]
DEFAKE = {"name": "defake", "detector": "defake", "model_name": "ViT-Tiny-16-quickgelu", "pretrained": ""}


def demo(with_defake: bool = True, captioning: dict | None = None) -> dict:
    config = load_yaml(ROOT / "config.yaml")
    if with_defake:
        config["training"]["backbones"].append(dict(DEFAKE))
    if captioning is not None:
        config["captioning"] = captioning
    return config


def test_only_the_datasets_a_defake_run_reads_are_captioned() -> None:
    assert captioned_datasets(validate_config(demo(False))) == []
    config = validate_config(demo(captioning={"build_demo": True}))
    # trained on demo-drct2m (sdv1), scored under intra (demo-drct2m) and cross (demo-genimage)
    assert captioned_datasets(config) == ["demo-drct2m", "demo-genimage"]
    config["evaluation"]["protocols"] = [p for p in config["evaluation"]["protocols"] if p["name"] == "intra"]
    assert captioned_datasets(config) == ["demo-drct2m"]


def test_a_defake_backbone_without_a_captioning_block_says_what_to_add() -> None:
    with pytest.raises(ConfigError, match="add a top-level 'captioning' block"):
        validate_config(demo())


def test_a_hub_captioner_must_be_pinned() -> None:
    with pytest.raises(ConfigError, match="'captioning.revision': required"):
        validate_config(demo(captioning={"model": "Salesforce/blip-image-captioning-base", "revision": None}))
    config = validate_config(demo(captioning={}))  # defaults: BLIP-base at the pinned commit
    assert config["captioning"]["revision"] == DEFAULT_REVISION


def test_caption_settings_of_the_jobs_are_caption_settings() -> None:
    config = validate_config(demo(captioning={"build_demo": True, "shards": 3, "num_beams": 1}))
    settings = CaptionSettings.from_dict(caption_settings(config, "results/demo"))
    assert (settings.model, settings.revision, settings.num_beams) == ("results/demo/models/captioner", None, 1)
    hub = CaptionSettings.from_dict(caption_settings(validate_config(demo(captioning={})), "results/demo"))
    assert hub == CaptionSettings()  # the defaults are De-fake's decoding on the pinned BLIP


def test_defake_run_settings_are_defakes() -> None:
    config = validate_config(demo(captioning={"build_demo": True}))
    run = next(run for run in iter_runs(config) if run.backbone == "defake")
    settings = TrainSettings.from_dict(train_settings(config, run))
    assert settings.needs_captions and run.method == "baseline"
    assert (settings.lr, settings.epochs, settings.weight_decay, settings.augment, settings.embedding_dim) == (
        3e-4, 100, 0.0, False, 0)
    with pytest.raises(ValueError, match="augment: false"):
        settings.replace(augment=True)


def test_presets_fetch_blip_and_clip_vit_b_32_by_name() -> None:
    for preset in ("drct2m_intra", "genimage_intra", "drct2m_to_genimage"):
        config = validate_config(load_yaml(ROOT / "presets" / f"{preset}.yaml"))
        spec = {entry["name"]: entry for entry in weights_spec(config, [], released=False)}
        assert spec["captioner"] == {"name": "captioner", "kind": "transformers",
                                     "model": "Salesforce/blip-image-captioning-base", "revision": DEFAULT_REVISION}
        assert spec["backbone/defake"] == {"name": "backbone/defake", "kind": "open_clip",
                                           "model": "ViT-B-32-quickgelu", "pretrained": "openai"}
    demo_spec = weights_spec(validate_config(demo(captioning={"build_demo": True})), [], released=False)
    assert not [e for e in demo_spec if e["name"] in ("captioner", "backbone/defake")]  # built / random here


def test_captions_join_on_the_manifests_own_paths(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    manifest = pd.DataFrame({"path": ["images/a.png", "images/b.png", "images/c.png"], "dataset": "d",
                             "generator": "real", "split": "train", "label": 0, "bytes": 1, "width": 8, "height": 8,
                             "format": "PNG", "sha256": "0" * 64})
    manifest.to_csv(tmp_path / "manifest.csv", index=False)
    pd.DataFrame({"path": ["images/a.png", "images/c.png"], "caption": ["a cat", ""]}).to_csv(
        tmp_path / "captions.csv", index=False)
    assert read_captions(tmp_path / "captions.csv") == {"images/a.png": "a cat"}  # empty = missing
    joined = captions_by_abspath(tmp_path / "manifest.csv", tmp_path / "captions.csv")
    assert list(joined.values()) == ["a cat"] and Path(next(iter(joined))).name == "a.png"


def test_clip_preprocessing_resizes_the_shorter_side_then_crops_and_normalises() -> None:
    from drct.model_input import CLIP_MEAN, CLIP_STD, build_input_transform

    image = np.full((100, 300, 3), 255, dtype=np.uint8)
    image[:, 150:] = 0  # left half white, right half black: the centre crop holds both
    out = build_input_transform("defake", 50)(image=image)["image"]
    assert tuple(out.shape) == (3, 50, 50)  # 100x300 -> 50x150 -> centre 50x50
    white = [(1 - m) / s for m, s in zip(CLIP_MEAN, CLIP_STD)]
    black = [(0 - m) / s for m, s in zip(CLIP_MEAN, CLIP_STD)]
    assert out[:, 0, 0].tolist() == pytest.approx(white, abs=1e-5)
    assert out[:, 0, -1].tolist() == pytest.approx(black, abs=1e-5)
