"""Config validation: every bad key or value is reported with its key and what is allowed."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from drct.config import ConfigError, validate_config
from drct.errors import DrctError
from drct.planning.runs import iter_runs, run_meta, train_settings

ROOT = Path(__file__).resolve().parents[2]
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


def test_published_check_names_are_cross_checked(demo: dict) -> None:
    good = {"model": "demo-sd", "dataset": "demo-drct2m", "source": "real", "published": "flux"}
    validate_config({**demo, "reconstruction": {**demo["reconstruction"], "published_check": good}})
    demo["reconstruction"]["published_check"] = {**good, "model": "sdv9", "published": "sdv1-dr"}
    message = _error(demo)
    assert "'reconstruction.published_check.model': 'sdv9'" in message
    assert "'reconstruction.published_check.published': 'sdv1-dr' is not a generator" in message
    assert "source" not in message


def test_the_old_released_check_key_is_refused(demo: dict) -> None:
    """"released" means the authors' released checkpoints only; the reconstruction check is published_check."""
    demo["reconstruction"]["released_check"] = {"model": "demo-sd", "dataset": "demo-drct2m", "released": "flux"}
    message = _error(demo)
    assert "'released_check'" in message and "published_check" in message


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


def test_config_errors_are_drct_errors_and_value_errors(demo: dict) -> None:
    """The CLI reports DrctError as one line; ValueError keeps older callers' except clauses working."""
    demo["reconstruction"]["shards"] = 0
    with pytest.raises(ConfigError) as info:
        validate_config(demo)
    assert isinstance(info.value, DrctError) and isinstance(info.value, ValueError)


# --- path-like values: relative, no '..', a file name where a file is meant (checked at workflow start) ---

def _with(demo: dict, where: str, value: str) -> dict:
    """``demo`` with one path-like value replaced; ``where`` names it as the messages do."""
    if where == "member":
        demo["datasets"][0]["archives"][0]["member"] = value
    elif where == "downloads":
        demo["downloads"][0]["path"] = value
    elif where == "folder":
        demo["datasets"][0]["generators"][0]["folder"] = value
    elif where == "real_folder":
        demo["datasets"][0]["real_folder"] = value
    elif where == "expected_counts":
        demo["datasets"][0]["expected_counts"] = value
    elif where == "listing":
        next(iter(demo["sources"].values()))["listing"] = value
    return demo


PATH_KEYS = {
    "member": "'datasets[0].archives[0].member'",
    "downloads": "'downloads[0].path'",
    "folder": "'datasets[0].generators[0].folder'",
    "real_folder": "'datasets[0].real_folder'",
    "expected_counts": "'datasets[0].expected_counts'",
}


@pytest.mark.parametrize("where", sorted(PATH_KEYS))
@pytest.mark.parametrize(("value", "reason"), [
    ("/etc", "is absolute"),
    ("../../home", "contains '..'"),
    ("a/../../b", "contains '..'"),
    ("a//b", "has an empty part"),
    ("a\\b", "contains '\\'"),
    ("C:\\data", "is absolute"),
])
def test_path_values_that_leave_their_folder_stop_the_workflow(demo: dict, where: str, value: str, reason: str) -> None:
    assert demo["datasets"][0]["layout"] == "drct2m"
    message = _error(_with(demo, where, value))
    assert f"{PATH_KEYS[where]}: {value!r} {reason}" in message


@pytest.mark.parametrize("where", ["downloads", "expected_counts"])
def test_a_file_path_must_end_in_a_file_name(demo: dict, where: str) -> None:
    message = _error(_with(demo, where, "archives/"))
    assert f"{PATH_KEYS[where]}: 'archives/' has an empty part" in message
    message = _error(_with(demo, where, "archives/."))
    assert f"{PATH_KEYS[where]}: 'archives/.' names no file" in message


def test_a_listing_file_stays_in_the_project(demo: dict) -> None:
    name = next(iter(demo["sources"]))
    message = _error(_with(demo, "listing", "/tmp/listing.json"))
    assert f"'sources.{name}.listing': '/tmp/listing.json' is absolute" in message


def test_the_dataset_root_itself_is_a_valid_real_folder(demo: dict) -> None:
    validate_config(_with(demo, "real_folder", "."))


def test_a_released_checkpoint_member_stays_in_its_archive() -> None:
    preset = _load(ROOT / "presets" / "eval_released.yaml")
    preset["training"]["released"]["runs"][0]["member"] = "../escape.pth"
    message = _error(preset)
    assert "'training.released.runs[0].member': '../escape.pth' contains '..'" in message


# --- values that used to fail only inside a job (or never) stop the workflow at start ---

def test_duplicate_training_seeds_are_refused(demo: dict) -> None:
    demo["training"]["seeds"] = [0, 1, 0]
    message = _error(demo)
    assert "'training.seeds'" in message and "non-unique" in message


@pytest.mark.parametrize("section", ["robustness", "format_control"])
def test_a_study_naming_an_unknown_protocol_stops_at_start(demo: dict, section: str) -> None:
    demo["evaluation"].setdefault(section, {})["protocols"] = ["no-such-protocol"]
    message = _error(demo)
    assert f"'evaluation.{section}.protocols': 'no-such-protocol' is not an evaluation.protocols[].name" in message


def test_a_protocol_column_used_twice_is_refused(demo: dict) -> None:
    columns = demo["evaluation"]["protocols"][0]["columns"]
    columns.append(dict(columns[0]))
    message = _error(demo)
    assert "'evaluation.protocols[0].columns': generator" in message
    assert "'evaluation.protocols[0].columns': label" in message


def test_two_generators_in_one_folder_are_refused(demo: dict) -> None:
    generators = demo["datasets"][0]["generators"]
    generators.append({**generators[0], "name": "copy"})
    message = _error(demo)
    assert f"'datasets[0].generators': folder {generators[0]['folder']!r} is used by more than one generator" in message


def test_a_batch_that_does_not_split_over_the_gpus_is_refused(demo: dict) -> None:
    demo["training"]["gpus_per_run"] = 3
    demo["training"]["backbones"][0]["batch_size"] = 4
    message = _error(demo)
    assert "'training.backbones[0].batch_size': 4 does not split evenly over training.gpus_per_run = 3" in message


@pytest.mark.parametrize(("key", "set_device"), [
    ("'training.settings.device'", lambda c, d: c["training"].setdefault("settings", {}).update(device=d)),
    ("'evaluation.device'", lambda c, d: c["evaluation"].update(device=d)),
    ("'reconstruction.models[0].device'", lambda c, d: c["reconstruction"]["models"][0].update(device=d)),
])
def test_a_device_torch_cannot_use_is_refused(demo: dict, key: str, set_device) -> None:
    set_device(demo, "gpu0")
    assert f"{key}: 'gpu0' is not a device" in _error(demo)


def test_one_named_gpu_for_several_training_processes_is_refused(demo: dict) -> None:
    demo["training"]["gpus_per_run"] = 2
    for backbone in demo["training"]["backbones"]:
        backbone["batch_size"] = 2 * (backbone["batch_size"] // 2 or 1)
    demo["training"].setdefault("settings", {})["device"] = "cuda:1"
    assert "'training.settings.device': 'cuda:1' names one GPU but training.gpus_per_run is 2" in _error(demo)


def test_a_train_set_without_real_or_fake_generators_is_refused(demo: dict) -> None:
    demo["training"]["train_sets"][0]["real"] = []
    assert "'training.train_sets[0].real'" in _error(demo)


# --- planning: run ids and what travels with them ---

def test_run_ids_and_their_meta_carry_the_group_and_seed(demo: dict) -> None:
    config = validate_config(demo)
    for run in iter_runs(config):
        meta = run_meta(config, run)
        assert run.id == f"{run.method}-{run.backbone}-{run.train_set}-seed{run.seed}"  # ids unchanged
        assert meta["run"] == run.id and meta["seed"] == run.seed
        assert meta["group"] == f"{run.method}-{run.backbone}-{run.train_set}"


def test_planning_and_config_import_no_heavy_libraries() -> None:
    """The Snakefile imports these at parse time: no torch & co., so the DAG never depends on them."""
    code = (
        "import sys, pkgutil, importlib, drct.planning, drct.config\n"
        "for m in pkgutil.iter_modules(drct.planning.__path__): importlib.import_module('drct.planning.' + m.name)\n"
        "import drct.device, drct.data.sources\n"
        "heavy = {'torch', 'timm', 'open_clip', 'diffusers', 'pandas', 'albumentations'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout
