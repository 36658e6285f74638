"""Config validation: every bad key or value is reported with its key and what is allowed."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from drct.config import ConfigError, iter_runs, train_settings, validate_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [ROOT / "config.yaml", *sorted((ROOT / "presets").glob("*.yaml"))]


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture
def demo() -> dict:
    return _load(ROOT / "config.yaml")


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_are_valid(path: Path) -> None:
    validate_config(_load(path))


def _error(config: dict) -> str:
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    return str(info.value)


def test_unknown_top_level_key_is_named(demo: dict) -> None:
    demo["trainng"] = {}
    message = _error(demo)
    assert "'trainng'" in message
    assert "allowed keys" in message and "training" in message


def test_unknown_nested_key_is_named_with_its_path(demo: dict) -> None:
    demo["training"]["settings"]["learning_rate"] = 0.1
    message = _error(demo)
    assert "'learning_rate'" in message
    assert "under 'training.settings'" in message
    assert "lr" in message  # the allowed spelling is listed


def test_bad_enum_value_names_key_and_choices(demo: dict) -> None:
    demo["reconstruction"]["models"][0]["scheduler"] = "euler"
    message = _error(demo)
    assert "'reconstruction.models[0].scheduler'" in message
    assert "'euler' is not allowed" in message
    assert "'default'" in message and "'ddim'" in message


def test_wrong_type_names_key(demo: dict) -> None:
    demo["reconstruction"]["shards"] = "two"
    message = _error(demo)
    assert "'reconstruction.shards'" in message
    assert "'two' is not of type 'integer'" in message


def test_missing_required_key_is_named(demo: dict) -> None:
    del demo["evaluation"]["protocols"][0]["columns"]
    message = _error(demo)
    assert "'evaluation.protocols[0]'" in message
    assert "'columns' is a required property" in message


def test_every_problem_is_reported_at_once(demo: dict) -> None:
    demo["reconstruction"]["shards"] = 0
    demo["training"]["seeds"] = []
    message = _error(demo)
    assert "'reconstruction.shards'" in message
    assert "'training.seeds'" in message


def test_cross_reference_to_missing_generator(demo: dict) -> None:
    demo["training"]["train_sets"][0]["fake"] = ["no-such-generator"]
    message = _error(demo)
    assert "'training.train_sets[0].fake'" in message
    assert "'no-such-generator'" in message


def test_released_check_names_are_cross_checked(demo: dict) -> None:
    good = {"model": "demo-sd", "dataset": "demo-drct2m", "source": "real", "released": "flux"}
    validate_config({**demo, "reconstruction": {**demo["reconstruction"], "released_check": good}})
    demo["reconstruction"]["released_check"] = {**good, "model": "sdv9", "released": "sdv1-dr"}
    message = _error(demo)
    assert "'reconstruction.released_check.model': 'sdv9'" in message
    assert "'reconstruction.released_check.released': 'sdv1-dr' is not a generator" in message
    assert "source" not in message


def test_published_mode_needs_the_dataset_to_ship_the_outputs(demo: dict) -> None:
    demo["reconstruction"]["mode"] = "published"
    message = _error(demo)
    assert "mode is 'published'" in message


def test_defaults_are_filled_from_the_schema(demo: dict) -> None:
    for model in demo["reconstruction"]["models"]:
        model.pop("guidance_scale", None)
        model.pop("seed", None)
    config = validate_config(demo)
    assert config["reconstruction"]["models"][0]["guidance_scale"] == 7.5
    assert config["reconstruction"]["models"][0]["seed"] == 2023


def test_validation_does_not_mutate_its_input(demo: dict) -> None:
    before = copy.deepcopy(demo)
    validate_config(demo)
    assert demo == before


def test_baseline_runs_get_no_reconstructions(demo: dict) -> None:
    config = validate_config(demo)
    runs = list(iter_runs(config))
    baseline = next(r for r in runs if r.method == "baseline")
    drct = next(r for r in runs if r.method == "drct")
    assert train_settings(config, baseline)["real_rec"] == []
    assert train_settings(config, baseline)["fake_rec"] == []
    assert train_settings(config, drct)["real_rec"]


def test_datasets_with_one_name_are_defined_identically_everywhere() -> None:
    """Prepared datasets live in results/data/<name>/, shared by presets: one name, one definition."""
    seen: dict[str, tuple[Path, dict]] = {}
    for path in CONFIGS:
        for dataset in _load(path)["datasets"]:
            if dataset["name"] in seen:
                other_path, other = seen[dataset["name"]]
                assert dataset == other, f"{dataset['name']} differs between {other_path.name} and {path.name}"
            else:
                seen[dataset["name"]] = (path, dataset)
