"""TrainSettings: faithful defaults, strict from_dict, lossless to_dict round trip."""

from __future__ import annotations

import json

import pytest

from drct.training.settings import TrainSettings

DEMO = {
    "family": "timm",
    "model_name": "convnext_atto",
    "pretrained": False,
    "freeze_backbone": False,
    "batch_size": 4,
    "real": ["real"],
    "fake": ["stable-diffusion-v1-4"],
}


def test_defaults_are_the_authors_values() -> None:
    s = TrainSettings.from_dict(DEMO)
    assert (s.method, s.embedding_dim, s.num_classes, s.epochs) == ("drct", 1024, 2, 17)
    assert (s.lr, s.weight_decay, s.t_max) == (1e-4, 4e-5, 5)
    assert (s.ce_weight, s.con_weight, s.pos_margin, s.neg_margin) == (0.7, 0.3, 0.0, 1.0)
    assert (s.val_fraction, s.split_seed, s.image_size, s.augment) == (0.1, 2021, 224, True)
    assert s.amp == "auto" and s.max_steps_per_epoch is None


def test_unknown_key_is_rejected_by_name() -> None:
    with pytest.raises(ValueError, match="unknown training setting.*learning_rate"):
        TrainSettings.from_dict({**DEMO, "learning_rate": 1e-3})


def test_missing_required_key_is_named() -> None:
    values = {k: v for k, v in DEMO.items() if k != "batch_size"}
    with pytest.raises(ValueError, match="missing required training setting.*batch_size"):
        TrainSettings.from_dict(values)


def test_round_trip_through_json() -> None:
    s = TrainSettings.from_dict({**DEMO, "real_rec": ["real-rec"], "amp": False})
    again = TrainSettings.from_dict(json.loads(json.dumps(s.to_dict())))
    assert again == s
    assert again.to_dict()["real_rec"] == ["real-rec"]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"pretrained": "openai"}, "pretrained must be true/false"),
        ({"family": "open_clip", "pretrained": True}, "open_clip tag"),
        ({"method": "supcon"}, "method must be"),
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"fake": []}, "real and fake"),
        ({"real": "real"}, "list of generator names"),
    ],
)
def test_bad_values_are_explained(change: dict, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        TrainSettings.from_dict({**DEMO, **change})


def test_baseline_uses_real_and_fake_only() -> None:
    s = TrainSettings.from_dict({**DEMO, "method": "baseline", "real_rec": ["r"], "fake_rec": ["f"]})
    assert s.groups == {"real": ("real",), "fake": ("stable-diffusion-v1-4",)}
    d = TrainSettings.from_dict({**DEMO, "real_rec": ["r"], "fake_rec": ["f"]})
    assert list(d.groups) == ["real", "real_rec", "fake", "fake_rec"]
