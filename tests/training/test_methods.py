"""Training methods (src/drct/methods.py) and the ablations' runs (src/drct/planning/ablations.py).

The component ablation's rows train on the groups their name says and with cross-entropy alone;
the lambda sweep's runs put lambda on the contrastive term and 1 - lambda on cross-entropy (the
authors' ``--alpha``); the authors' default is the ordinary DRCT run, not trained twice.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from drct.config import ConfigError, load_yaml, validate_config
from drct.methods import COMPONENT_ROWS, METHODS
from drct.planning.ablations import ablation_runs, ablation_spec, evaluated_runs, lambda_runs
from drct.planning.runs import Run, iter_runs, runs_for_protocol, train_settings
from drct.training.loss import DRCTLoss
from drct.training.settings import TrainSettings

ROOT = Path(__file__).resolve().parents[2]
ABLATIONS = {"backbone": "convb", "train_set": "sdv1", "protocol": "cross", "components": True,
             "lambdas": [0.1, 0.3, 0.7]}


def _config(**ablations) -> dict:
    config = load_yaml(ROOT / "config.yaml")
    config["ablations"] = {**ABLATIONS, **ablations}
    return validate_config(config)


def _settings(method: str, **extra) -> TrainSettings:
    return TrainSettings(method=method, family="timm", model_name="convnext_atto", pretrained=False,
                         freeze_backbone=False, batch_size=4, real=["r"], fake=["f"], real_rec=["rr"],
                         fake_rec=["fr"], **extra)


@pytest.mark.parametrize(
    ("method", "groups"),
    [
        ("ce-real-rec", {"real": ("r",), "real_rec": ("rr",)}),
        ("ce-real-rec-fake", {"real": ("r",), "real_rec": ("rr",), "fake": ("f",)}),
        ("ce-all", {"real": ("r",), "real_rec": ("rr",), "fake": ("f",), "fake_rec": ("fr",)}),
        ("drct", {"real": ("r",), "real_rec": ("rr",), "fake": ("f",), "fake_rec": ("fr",)}),
        ("baseline", {"real": ("r",), "fake": ("f",)}),
    ],
)
def test_each_method_trains_on_its_groups(method: str, groups: dict) -> None:
    assert _settings(method).groups == groups


def test_component_rows_add_one_component_each() -> None:
    """Each row has exactly one component more than the row before: a group, then the contrastive term."""
    previous = {"real"}
    for name in COMPONENT_ROWS:
        components = set(METHODS[name].groups) | ({"contrastive"} if METHODS[name].contrastive else set())
        assert previous < components and len(components - previous) == 1, name
        previous = components
    assert previous == {"real", "real_rec", "fake", "fake_rec", "contrastive"}


def test_an_unknown_method_is_named() -> None:
    with pytest.raises(ValueError, match="method must be one of drct, baseline, ce-real-rec"):
        _settings("ce-everything")


def test_ce_rows_use_cross_entropy_alone_and_drct_adds_the_weighted_contrastive_term() -> None:
    torch.manual_seed(0)
    embedding, logits = torch.randn(6, 8), torch.randn(6, 2)
    labels = torch.tensor([0, 1, 1, 0, 1, 1])
    ce = nn.functional.cross_entropy(logits, labels)
    assert torch.equal(DRCTLoss.from_settings(_settings("ce-all"))(embedding, logits, labels), ce)
    parts = DRCTLoss.from_settings(_settings("drct", ce_weight=0.3, con_weight=0.7)).components(embedding, logits, labels)
    assert parts["contrastive"] > 0
    assert torch.allclose(parts["loss"], 0.3 * ce + 0.7 * parts["contrastive"])


def test_ablation_runs_train_each_row_and_weight_once() -> None:
    config = _config()
    runs = list(iter_runs(config))
    ids = [run.id for run in runs]
    assert len(ids) == len(set(ids))
    ablations = [run.id for run in ablation_runs(config)]
    assert ablations == [
        "ce-real-rec-convb-sdv1-seed0", "ce-real-rec-fake-convb-sdv1-seed0", "ce-all-convb-sdv1-seed0",
        "drct-convb-sdv1-seed0",  # the last component row and lambda 0.3: the table run itself
        "drct-lambda0.1-convb-sdv1-seed0", "drct-lambda0.7-convb-sdv1-seed0",
    ]
    # the tables keep their rows; the ablations' protocol scores the ablation runs too
    intra, cross = config["evaluation"]["protocols"]
    table = [run.id for run in runs_for_protocol(config, cross)]
    assert "ce-all-convb-sdv1-seed0" not in table and "drct-lambda0.1-convb-sdv1-seed0" not in table
    assert [run.id for run in evaluated_runs(config, cross)] == table + [i for i in ablations if i not in table]
    assert [run.id for run in evaluated_runs(config, intra)] == [run.id for run in runs_for_protocol(config, intra)]


def test_lambda_runs_weigh_ce_by_one_minus_lambda() -> None:
    config = _config()
    by_value = {value: run for value, run in lambda_runs(config)}
    assert by_value[0.3] == Run("drct", "convb", "sdv1", 0)  # the authors' default: the drct run
    settings = TrainSettings.from_dict(train_settings(config, by_value[0.7]))
    assert (settings.method, settings.ce_weight, settings.con_weight) == ("drct", 0.3, 0.7)
    settings = TrainSettings.from_dict(train_settings(config, by_value[0.1]))
    assert (settings.ce_weight, settings.con_weight) == (0.9, 0.1)
    ce_row = TrainSettings.from_dict(train_settings(config, Run("ce-real-rec", "convb", "sdv1", 0)))
    assert ce_row.groups == {"real": ("real",), "real_rec": ("real-rec-demo-sd",)}


def test_a_changed_default_weight_is_the_drct_run_of_the_sweep() -> None:
    config = load_yaml(ROOT / "config.yaml")
    config["training"]["settings"]["con_weight"] = 0.5
    config["ablations"] = {**ABLATIONS, "lambdas": [0.3, 0.5]}
    by_value = {value: run for value, run in lambda_runs(validate_config(config))}
    assert by_value[0.5].con_weight is None and by_value[0.3].con_weight == 0.3


def test_ablation_spec_lists_each_row_with_its_components_and_lambda() -> None:
    spec = ablation_spec(_config())
    flags = [(r["method"], r["real_rec"], r["fake"], r["fake_rec"], r["contrastive"]) for r in spec["components"]]
    assert flags == [("ce-real-rec", True, False, False, False), ("ce-real-rec-fake", True, True, False, False),
                     ("ce-all", True, True, True, False), ("drct", True, True, True, True)]
    assert [(r["lambda"], r["run"]) for r in spec["lambdas"]] == [
        (0.1, "drct-lambda0.1-convb-sdv1-seed0"), (0.3, "drct-convb-sdv1-seed0"), (0.7, "drct-lambda0.7-convb-sdv1-seed0")]
    assert [c["generator"] for c in spec["columns"]] == ["closed_api_models", "open_models_t2i", "open_models_edit"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"backbone": "convnext"}, "'ablations.backbone': 'convnext' is not a training.backbones"),
        ({"protocol": "genimage"}, "'ablations.protocol': 'genimage' is not an evaluation.protocols"),
        ({"components": False, "lambdas": []}, "'ablations': asks for nothing"),
        ({"lambdas": [1.5]}, "lambdas"),
    ],
)
def test_bad_ablations_are_named(change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        _config(**change)


def test_ablations_need_both_reconstructions_and_a_drct_backbone() -> None:
    config = load_yaml(ROOT / "config.yaml")
    del config["training"]["train_sets"][0]["fake_rec"]
    config["training"]["backbones"].append({"name": "cnnspot", "detector": "cnnspot"})
    config["ablations"] = {**ABLATIONS, "backbone": "cnnspot"}
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    assert "'ablations.train_set': 'sdv1' needs both real_rec and fake_rec" in str(error.value)
    assert "'ablations.backbone': 'cnnspot' is trained by ['baseline'] only" in str(error.value)
