"""The paper's other detectors (src/drct/detectors/): entries, config, full-size networks, end to end.

Each detector trains with the pipeline's own training loop and is scored by the same code as
evaluation (`drct predict` shares the scorer), here on a few images of the embedded demo data with
random weights: one epoch of two steps, then predictions for the test images.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers.manifests import write_demo_manifest

from drct.config import ConfigError, load_yaml, validate_config
from drct.detectors import DETECTORS, expand_backbone
from drct.planning.runs import iter_runs, run_meta, train_settings
from drct.planning.weights import TIMM_WEIGHTS_OF_OWN_NETWORKS, weights_spec
from drct.training.model import DEMO_OPEN_CLIP_MODEL, build_model
from drct.training.settings import TrainSettings

ROOT = Path(__file__).resolve().parents[2]
torch.set_num_threads(2)


def _config_with(*entries: dict) -> dict:
    config = load_yaml(ROOT / "config.yaml")
    config["training"]["backbones"].extend(entries)
    if any(DETECTORS.get(e.get("detector")) and DETECTORS[e["detector"]].needs_captions for e in entries):
        config["captioning"] = {}  # De-fake reads captions: the pinned BLIP by default
    config["training"]["train_sets"][0]["dr_model"] = "demo-sd"  # DIRE's test reconstructions (drct.planning.dire)
    return config


def test_every_detector_is_a_valid_backbone_trained_its_own_way() -> None:
    config = validate_config(_config_with(*({"name": name, "detector": name} for name in DETECTORS)))
    runs = {run.backbone: run for run in iter_runs(config) if run.backbone in DETECTORS}
    assert set(runs) == set(DETECTORS)
    assert {run.method for run in runs.values()} == {"baseline"}  # the demo's train set also asks for drct
    for name, run in runs.items():
        detector = DETECTORS[name]
        settings = TrainSettings.from_dict(train_settings(config, run))
        assert (settings.family, settings.model_name, settings.image_size, settings.embedding_dim) == (
            detector.family, detector.model_name, detector.image_size, detector.embedding_dim)
        assert settings.lr == detector.defaults["lr"]
        assert settings.input == detector.input
        meta = run_meta(config, run)
        # the paper's "CNNSpot, -" row; DIRE's rows name their DR model ("DIRE, SDv1")
        dr = "SDv1" if detector.input == "dire" else "-"
        assert (meta["backbone_label"], meta["dr_label"]) == (detector.label, dr)


def test_an_entry_overrides_its_detector_and_typos_are_named() -> None:
    record = expand_backbone({"name": "cnn", "detector": "cnnspot", "batch_size": 8, "settings": {"epochs": 2}})
    assert record["batch_size"] == 8 and record["settings"]["epochs"] == 2 and record["settings"]["lr"] == 1e-3
    with pytest.raises(ConfigError, match=r"'epoch' under 'training\.backbones\[2\]\.settings'"):
        validate_config(_config_with({"name": "cnn", "detector": "cnnspot", "settings": {"epoch": 2}}))
    with pytest.raises(ConfigError, match="detector"):
        validate_config(_config_with({"name": "x", "detector": "no-such-detector"}))


def test_pretrained_weights_are_fetched_by_the_names_the_networks_load() -> None:
    from drct.training.networks import f3net, gramnet

    assert TIMM_WEIGHTS_OF_OWN_NETWORKS == {"gramnet": gramnet.IMAGENET_TIMM_NAME, "f3net": f3net.IMAGENET_TIMM_NAME}
    config = validate_config(_config_with(*({"name": name, "detector": name} for name in DETECTORS)))
    spec = {entry["name"]: entry for entry in weights_spec(config, [], released=False)}
    assert spec["backbone/cnnspot"] == {"name": "backbone/cnnspot", "kind": "timm", "model": "resnet50.a1_in1k"}
    assert spec["backbone/f3net"]["model"] == "legacy_xception.tf_in1k"
    assert spec["backbone/clip_rn50"] == {"name": "backbone/clip_rn50", "kind": "open_clip",
                                          "model": "RN50-quickgelu", "pretrained": "openai"}
    assert "backbone/gramnet" not in spec  # trained from scratch, as the authors build it
    assert spec["backbone/defake"] == {"name": "backbone/defake", "kind": "open_clip",
                                       "model": "ViT-B-32-quickgelu", "pretrained": "openai"}
    assert spec["captioner"]["kind"] == "transformers" and spec["captioner"]["revision"]


def test_cnnspot_at_full_size_is_resnet50_with_a_two_class_fc() -> None:
    """torchvision's ResNet-50 has 25,557,032 parameters with its 1000-class fc (2048 x 1000 + 1000);
    CNNSpot swaps that fc for 2048 x 2 + 2."""
    config = validate_config(_config_with({"name": "cnnspot", "detector": "cnnspot"}))
    run = next(r for r in iter_runs(config) if r.backbone == "cnnspot")
    settings = TrainSettings.from_dict(train_settings(config, run))
    with torch.device("meta"):
        model = build_model(settings, load_pretrained=False)
    assert sum(p.numel() for p in model.parameters()) == 25_557_032 - (2048 * 1000 + 1000) + (2048 * 2 + 2)


@pytest.mark.slow
def test_clip_rn50_at_full_size_is_clips_rn50_image_tower_with_a_two_class_linear() -> None:
    """OpenAI's CLIP RN50 image tower has 38,316,896 parameters (open_clip's model profile: 38.32 M
    image, 102.01 M in all); the authors' CLIPModelV2 puts Linear(1024, 2) on it and keeps no text tower.
    Built on the CPU with random weights (open_clip moves a built model to a device, so not on meta)."""
    config = validate_config(_config_with({"name": "clip_rn50", "detector": "clip_rn50"}))
    run = next(r for r in iter_runs(config) if r.backbone == "clip_rn50")
    settings = TrainSettings.from_dict(train_settings(config, run))
    model = build_model(settings, load_pretrained=False)
    counts = {name: sum(p.numel() for p in child.parameters()) for name, child in model.named_children()}
    assert counts["backbone"] == 38_316_896
    assert counts["classifier"] == 1024 * 2 + 2
    assert sum(p.numel() for p in model.parameters()) == 38_316_896 + 1024 * 2 + 2


# small sizes where the network allows it (F3Net's filters and CLIP RN50's attention pool fix theirs)
SMALL = {"cnnspot": 64, "gramnet": 64, "clip_rn50": 224, "f3net": 299, "defake": 224}


@pytest.mark.slow
# DIRE reads image / reconstruction pairs: its end-to-end test is in tests/training/test_dire.py
@pytest.mark.parametrize("name", sorted(n for n, d in DETECTORS.items() if d.input == "image"))
def test_detector_trains_and_scores_end_to_end(name: str, tmp_path: Path) -> None:
    from drct.predict import predict_paths
    from drct.training.train_run import train

    detector = DETECTORS[name]
    # the first images of the embedded demo's real and FLUX folders (its DRCT-2M SDv1.4 stand-in)
    manifest = write_demo_manifest(tmp_path, [("real", "train", 0, 6), ("flux", "train", 1, 6),
                                              ("real", "test", 0, 2), ("flux", "test", 1, 2)])
    captioned = detector.needs_captions  # De-fake: the demo CLIP, captions from the tiny demo BLIP
    settings = TrainSettings.from_dict({
        **detector.settings(), "family": detector.family,
        "model_name": DEMO_OPEN_CLIP_MODEL if captioned else detector.model_name,
        "pretrained": "" if detector.family in ("open_clip", "defake") else False,
        "freeze_backbone": detector.freeze_backbone,
        "method": detector.method, "real": ["real"], "fake": ["flux"], "batch_size": 2, "epochs": 1,
        "max_steps_per_epoch": 2, "image_size": SMALL[name], "device": "cpu", "val_fraction": 0.2,
    })
    options, provenance, captions = {}, None, None
    if captioned:
        from drct.captioning.build_demo_captioner import build_demo_captioner
        from drct.captioning.caption_shard import caption_manifest, merge_captions
        from drct.captioning.settings import CaptionSettings

        captioner = build_demo_captioner(tmp_path / "captioner")
        caption_settings = CaptionSettings(model=str(captioner), revision=None, num_beams=1, max_length=12,
                                           batch_size=8, device="cpu")
        caption_manifest(manifest, tmp_path / "shard.csv", caption_settings, shard=0, num_shards=1)
        captions = merge_captions([tmp_path / "shard.csv"], tmp_path / "captions.csv")
        provenance = {"captioner": caption_settings.to_dict()}
        options = {"captioner": captioner}
    summary = train(manifest, tmp_path / "run", settings, provenance,
                    captions=tmp_path / "captions.csv" if captioned else None)
    sidecar = json.loads((tmp_path / "run" / "best.json").read_text())
    assert sidecar["settings"]["family"] == detector.family and summary["epochs"] == 1
    if captioned:
        assert sidecar["provenance"]["captioner"]["model"] == str(tmp_path / "captioner")
        # an image whose random caption is empty is dropped and counted, never trained on silently
        dropped = sidecar["captions_dropped"]
        assert summary["n_train"] + summary["n_val"] + dropped["train"] + dropped["val"] == 12
        assert len(captions) + dropped["train"] + dropped["val"] >= 12
    frame = predict_paths(tmp_path / "run" / "best.safetensors", [tmp_path / "images" / "demo" / "flux" / "test"],
                          tmp_path / "predictions.csv", device="cpu", progress=False, **options)
    assert len(frame) == 2 and (frame["status"] == "ok").all()
    assert frame["score"].between(0, 1).all()
