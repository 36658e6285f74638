"""Experiment configuration: loading and validation, with messages that say what to fix.

The JSON schema (``workflow/schemas/config.schema.yaml``) checks types and allowed values; the
checks below, one per config section, catch what a schema cannot (a train set naming a dataset that
does not exist, a published reconstruction the dataset does not ship, a path that leaves its
folder). Both run when the workflow starts, before any job, so a typo costs seconds rather than a
failed GPU job hours later. What the config *plans* (runs, jobs, perturbations, weights) is
:mod:`drct.planning`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from drct.detectors import DETECTORS, expand_backbone
from drct.errors import DrctError
from drct.paths import relative_path_problem
from drct.planning.jobs import available_generators, dataset_generator_names

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SCHEMA = PROJECT_ROOT / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(DrctError, ValueError):
    """The configuration is invalid; the message lists every problem, one per line."""


def load_yaml(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path]
    return "".join(parts).lstrip(".") or "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    """One line naming the key, what was found and what is allowed."""
    key = _key_path(error)
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extras = sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        where = "" if key == "<top level>" else f" under '{key}'"
        hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
        return f"unknown key(s) {', '.join(repr(e) for e in extras)}{where}{hint}"
    if error.validator == "required":
        return f"'{key}': {error.message}"
    if error.validator == "enum":
        return f"'{key}': {error.instance!r} is not allowed; use one of {', '.join(map(repr, error.validator_value))}"
    description = schema.get("description")
    tail = f" ({description})" if description else ""
    return f"'{key}': {error.message}{tail}"


def _with_defaults(validator_class: type) -> type:
    """A validator that fills in schema defaults, so code never repeats the schema's defaults."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):  # noqa: ANN001 - jsonschema hook
        if isinstance(instance, dict):
            for prop, subschema in properties.items():
                if isinstance(subschema, Mapping) and "default" in subschema:
                    instance.setdefault(prop, copy.deepcopy(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def validate_config(config: dict[str, Any], schema_path: str | Path = DEFAULT_SCHEMA) -> dict[str, Any]:
    """Return a validated copy of ``config`` with defaults filled in, or raise ConfigError.

    Every problem is reported, each naming its key, so a user fixes them in one pass.
    """
    schema = load_yaml(schema_path)
    config = expand_detectors(copy.deepcopy(dict(config)))
    validator_class = _with_defaults(jsonschema.Draft202012Validator)
    errors = sorted(validator_class(schema).iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    messages = [_describe(e) for e in errors]
    if not messages:
        messages = [problem for check in SECTION_CHECKS for problem in check(config)]
    if messages:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(messages))
    return config


def expand_detectors(config: dict[str, Any]) -> dict[str, Any]:
    """Fill in the backbone entries that name one of the paper's detectors (drct.detectors)."""
    backbones = config.get("training", {}).get("backbones") if isinstance(config.get("training"), dict) else None
    if isinstance(backbones, list):
        expanded = []
        for entry in backbones:
            if isinstance(entry, dict) and entry.get("detector") in DETECTORS:
                entry = expand_backbone(entry)
            expanded.append(entry)  # an unknown detector name is left for the schema to report
        config["training"]["backbones"] = expanded
    return config


def _duplicates(values: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    return sorted({v for v in values if v in seen or seen.add(v)})


#: a device name torch accepts that a config may ask for (``auto``: CUDA when present)
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:[0-9]+)?")


def _path_problem(key: str, value: str | None, within: str, *, file: bool = False) -> list[str]:
    """The message for a path-like value that would leave its folder (none for a good or absent value)."""
    if value is None:
        return []
    problem = relative_path_problem(value, file=file, within=within)
    return [f"'{key}': {value!r} {problem}"] if problem else []


def check_unique_names(config: dict[str, Any]) -> list[str]:
    """Names become folders and DAG wildcards: each must be unique within its list."""
    problems: list[str] = []
    for section, items in (
        ("downloads", config["downloads"]),
        ("datasets", config["datasets"]),
        ("reconstruction.models", config["reconstruction"]["models"]),
        ("training.backbones", config["training"]["backbones"]),
        ("training.train_sets", config["training"]["train_sets"]),
        ("evaluation.protocols", config["evaluation"]["protocols"]),
    ):
        for dup in _duplicates([item["name"] for item in items]):
            problems.append(f"'{section}': name {dup!r} is used more than once")
    return problems


def check_sources(config: dict[str, Any]) -> list[str]:
    """A source's listing file is written by the pipeline: it must stay inside the project."""
    problems: list[str] = []
    for name, source in config["sources"].items():
        problems += _path_problem(f"sources.{name}.listing", source.get("listing"), "the project folder", file=True)
    return problems


def check_downloads(config: dict[str, Any]) -> list[str]:
    """Each download names a source, and a path below it whose last part names the local file."""
    problems: list[str] = []
    for i, download in enumerate(config["downloads"]):
        if download["source"] not in config["sources"]:
            problems.append(
                f"'downloads[{i}].source': {download['source']!r} is not a key of 'sources' "
                f"({', '.join(sorted(config['sources']))})"
            )
        problems += _path_problem(f"downloads[{i}].path", download["path"], "the source's base_url", file=True)
    return problems


def check_datasets(config: dict[str, Any]) -> list[str]:
    """Archives name downloads; folders inside them stay inside them; generator names are unique."""
    problems: list[str] = []
    downloads = {d["name"] for d in config["downloads"]}
    for i, dataset in enumerate(config["datasets"]):
        for j, archive in enumerate(dataset["archives"]):
            if archive["download"] not in downloads:
                problems.append(
                    f"'datasets[{i}].archives[{j}].download': {archive['download']!r} is not a downloads[].name"
                )
            problems += _path_problem(f"datasets[{i}].archives[{j}].member", archive.get("member"), "the archive's root")
        if dataset["layout"] == "drct2m" and not dataset.get("real_folder"):
            problems.append(f"'datasets[{i}].real_folder': required for the drct2m layout")
        problems += _path_problem(f"datasets[{i}].real_folder", dataset.get("real_folder"), "the dataset root")
        for j, generator in enumerate(dataset["generators"]):
            problems += _path_problem(f"datasets[{i}].generators[{j}].folder", generator["folder"], "the dataset root")
        for dup in _duplicates([g["name"] for g in dataset["generators"]]):
            problems.append(f"'datasets[{i}].generators': name {dup!r} is used more than once")
        for dup in _duplicates([g["folder"] for g in dataset["generators"]]):
            problems.append(f"'datasets[{i}].generators': folder {dup!r} is used by more than one generator")
        problems += _path_problem(
            f"datasets[{i}].expected_counts", dataset.get("expected_counts"), "the project folder", file=True
        )
    return problems


def check_reconstruction(config: dict[str, Any]) -> list[str]:
    """Jobs name models, datasets and generators that exist; no two jobs write one output."""
    problems: list[str] = []
    datasets = {d["name"]: d for d in config["datasets"]}
    recon = config["reconstruction"]
    models = {m["name"] for m in recon["models"]}
    for i, model in enumerate(recon["models"]):
        if not model.get("build_demo") and not model.get("model"):
            problems.append(f"'reconstruction.models[{i}].model': required (a hub id or local folder) unless build_demo is true")
        if not _DEVICE.fullmatch(model["device"]):
            problems.append(
                f"'reconstruction.models[{i}].device': {model['device']!r} is not a device; use auto, cpu, cuda, cuda:<n> or mps"
            )
    for i, job in enumerate(recon["jobs"]):
        if job["model"] not in models:
            problems.append(f"'reconstruction.jobs[{i}].model': {job['model']!r} is not a reconstruction.models[].name")
        if job["dataset"] not in datasets:
            problems.append(f"'reconstruction.jobs[{i}].dataset': {job['dataset']!r} is not a datasets[].name")
            continue
        names = dataset_generator_names(datasets[job["dataset"]])
        if job["source"] not in names:
            problems.append(
                f"'reconstruction.jobs[{i}].source': {job['source']!r} is not a generator of dataset {job['dataset']!r}"
            )
        if recon["mode"] == "published" and job["output"] not in names:
            problems.append(
                f"'reconstruction.jobs[{i}].output': mode is 'published' but dataset {job['dataset']!r} "
                f"ships no generator {job['output']!r}; add it to the dataset or use mode 'recompute'"
            )
    for dup in _duplicates([f"{j['dataset']}/{j['output']}/{j['split']}" for j in recon["jobs"]]):
        problems.append(f"'reconstruction.jobs': {dup!r} is produced by more than one job")
    return problems + _published_check_problems(config)


def _published_check_problems(config: dict[str, Any]) -> list[str]:
    """The published-reconstruction check compares generators of one dataset with one of our models."""
    check = config["reconstruction"].get("published_check")
    if not check:
        return []
    problems: list[str] = []
    datasets = {d["name"]: d for d in config["datasets"]}
    if check["model"] not in {m["name"] for m in config["reconstruction"]["models"]}:
        problems.append(
            f"'reconstruction.published_check.model': {check['model']!r} is not a reconstruction.models[].name"
        )
    if check["dataset"] not in datasets:
        problems.append(f"'reconstruction.published_check.dataset': {check['dataset']!r} is not a datasets[].name")
    else:
        names = dataset_generator_names(datasets[check["dataset"]])
        for key in ("source", "published"):
            if check[key] not in names:
                problems.append(
                    f"'reconstruction.published_check.{key}': {check[key]!r} is not a generator of dataset "
                    f"{check['dataset']!r} ({', '.join(names)})"
                )
    return problems


def check_training(config: dict[str, Any]) -> list[str]:
    """Train sets name generators that exist; batches divide over the GPUs; released runs name their files."""
    problems: list[str] = []
    training = config["training"]
    datasets = {d["name"] for d in config["datasets"]}
    for i, train_set in enumerate(training["train_sets"]):
        if train_set["dataset"] not in datasets:
            problems.append(f"'training.train_sets[{i}].dataset': {train_set['dataset']!r} is not a datasets[].name")
            continue
        available = available_generators(config, train_set["dataset"])
        for group in ("real", "fake", "real_rec", "fake_rec"):
            for name in train_set.get(group, []):
                if name not in available:
                    problems.append(
                        f"'training.train_sets[{i}].{group}': generator {name!r} is neither in dataset "
                        f"{train_set['dataset']!r} nor produced by a reconstruction job"
                    )
        if "drct" in train_set["methods"] and not (train_set.get("real_rec") or train_set.get("fake_rec")):
            problems.append(f"'training.train_sets[{i}]': method drct needs real_rec and/or fake_rec generators")
    names = [t["name"] for t in training["train_sets"]]
    for i, backbone in enumerate(training["backbones"]):
        for name in backbone.get("train_sets", []):
            if name not in names:
                problems.append(f"'training.backbones[{i}].train_sets': {name!r} is not a training.train_sets[].name ({', '.join(names)})")
    problems += _dire_problems(config)
    gpus = training["gpus_per_run"]
    for i, backbone in enumerate(training["backbones"]):
        if backbone["batch_size"] % gpus:
            problems.append(
                f"'training.backbones[{i}].batch_size': {backbone['batch_size']} does not split evenly over "
                f"training.gpus_per_run = {gpus} processes; use a multiple of {gpus}"
            )
    device = training.get("settings", {}).get("device")
    if device is not None:
        if not _DEVICE.fullmatch(device):
            problems.append(f"'training.settings.device': {device!r} is not a device; use auto, cpu, cuda, cuda:<n> or mps")
        elif gpus > 1 and ":" in device:
            problems.append(
                f"'training.settings.device': {device!r} names one GPU but training.gpus_per_run is {gpus}; use auto or cuda"
            )
    released = training.get("released") or {}
    for i, entry in enumerate(released.get("runs", [])):
        problems += _path_problem(f"training.released.runs[{i}].member", entry["member"], "the archive's root", file=True)
    return problems


def check_captioning(config: dict[str, Any]) -> list[str]:
    """A De-fake backbone needs the captioning block; a hub captioner is pinned by revision."""
    captioned = [b["name"] for b in config["training"]["backbones"] if b["family"] == "defake"]
    captioning = config.get("captioning")
    if captioned and captioning is None:
        return [
            f"'training.backbones': {', '.join(map(repr, captioned))} (De-fake) read a BLIP caption per image: add a "
            "top-level 'captioning' block, e.g. captioning: {model: Salesforce/blip-image-captioning-base, revision: "
            "<commit>} (the demo: captioning: {build_demo: true})"
        ]
    if captioning is None or captioning.get("build_demo"):
        return []
    if not captioning.get("revision") and not Path(captioning["model"]).is_dir():
        return [f"'captioning.revision': required for the hub model {captioning['model']!r}: captions are training "
                "data, so pin the commit (e.g. drct.captioning.settings.DEFAULT_REVISION)"]
    return []
def _dire_problems(config: dict[str, Any]) -> list[str]:
    """A train set a DIRE backbone trains on names its DR model, and one reconstruction per image generator.

    DIRE reads each image with its reconstruction: training pairs ``real[i]`` with ``real_rec[i]`` and
    ``fake[i]`` with ``fake_rec[i]``, and every test image it scores is reconstructed by ``dr_model``
    (drct.planning.dire).
    """
    from drct.planning.dire import dire_train_sets

    models = [m["name"] for m in config["reconstruction"]["models"]]
    problems: list[str] = []
    for i, train_set in enumerate(config["training"]["train_sets"]):
        if train_set["name"] not in dire_train_sets(config):
            continue
        where = f"'training.train_sets[{i}]"
        if train_set.get("dr_model") not in models:
            problems.append(
                f"{where}.dr_model': a DIRE backbone trains on {train_set['name']!r}, so it must name the "
                f"reconstruction model of its real_rec / fake_rec (one of {', '.join(models)}; "
                f"got {train_set.get('dr_model')!r}): every test image DIRE scores is reconstructed by it"
            )
        for images, recs in (("real", "real_rec"), ("fake", "fake_rec")):
            if len(train_set.get(recs, [])) != len(train_set[images]):
                problems.append(
                    f"{where}.{recs}': a DIRE backbone trains on {train_set['name']!r}: give one {recs} "
                    f"generator per {images} generator (the reconstructions of its images, same order)"
                )
    return problems


def check_evaluation(config: dict[str, Any]) -> list[str]:
    """Protocols name generators and train sets that exist; studies name protocols that exist."""
    problems: list[str] = []
    evaluation = config["evaluation"]
    datasets = {d["name"] for d in config["datasets"]}
    train_set_names = {t["name"] for t in config["training"]["train_sets"]}
    for i, protocol in enumerate(evaluation["protocols"]):
        for key in ("generator", "label"):
            for dup in _duplicates([column[key] for column in protocol["columns"]]):
                problems.append(f"'evaluation.protocols[{i}].columns': {key} {dup!r} is used by more than one column")
        if protocol["dataset"] not in datasets:
            problems.append(f"'evaluation.protocols[{i}].dataset': {protocol['dataset']!r} is not a datasets[].name")
            continue
        available = available_generators(config, protocol["dataset"])
        for j, column in enumerate(protocol["columns"]):
            if column["generator"] not in available:
                problems.append(
                    f"'evaluation.protocols[{i}].columns[{j}].generator': {column['generator']!r} is neither in "
                    f"dataset {protocol['dataset']!r} nor produced by a reconstruction job"
                )
        if protocol["real_source"] == "shared" and protocol.get("real_generator") not in available:
            problems.append(
                f"'evaluation.protocols[{i}].real_generator': required when real_source is 'shared' "
                f"and must be a generator of dataset {protocol['dataset']!r}"
            )
        for name in protocol.get("train_sets", []):
            if name not in train_set_names:
                problems.append(f"'evaluation.protocols[{i}].train_sets': {name!r} is not a training.train_sets[].name")
    protocol_names = [p["name"] for p in evaluation["protocols"]]
    for section in ("robustness", "format_control"):
        for name in evaluation[section]["protocols"]:
            if name not in protocol_names:
                problems.append(
                    f"'evaluation.{section}.protocols': {name!r} is not an evaluation.protocols[].name "
                    f"({', '.join(protocol_names)})"
                )
        for dup in _duplicates(list(evaluation[section]["protocols"])):
            problems.append(f"'evaluation.{section}.protocols': {dup!r} is listed more than once")
    device = evaluation["device"]
    if not _DEVICE.fullmatch(device):
        problems.append(f"'evaluation.device': {device!r} is not a device; use auto, cpu, cuda, cuda:<n> or mps")
    return problems


def check_ablations(config: dict[str, Any]) -> list[str]:
    """The ablations name a backbone trained with drct, a train set with both kinds of
    reconstruction (the component rows add them one at a time) and a protocol that exist."""
    block = config.get("ablations")
    if not block:
        return []
    problems: list[str] = []
    backbones = {b["name"]: b for b in config["training"]["backbones"]}
    train_sets = {t["name"]: t for t in config["training"]["train_sets"]}
    protocols = [p["name"] for p in config["evaluation"]["protocols"]]
    backbone = backbones.get(block["backbone"])
    if backbone is None:
        problems.append(f"'ablations.backbone': {block['backbone']!r} is not a training.backbones[].name ({', '.join(backbones)})")
    elif "drct" not in backbone.get("methods", ["drct"]):
        problems.append(f"'ablations.backbone': {block['backbone']!r} is trained by {backbone['methods']} only; "
                        "the ablations train it with the drct method's data and loss")
    train_set = train_sets.get(block["train_set"])
    if train_set is None:
        problems.append(f"'ablations.train_set': {block['train_set']!r} is not a training.train_sets[].name ({', '.join(train_sets)})")
    elif not (train_set.get("real_rec") and train_set.get("fake_rec")):
        problems.append(f"'ablations.train_set': {block['train_set']!r} needs both real_rec and fake_rec generators "
                        "(the component rows add them one at a time)")
    if block["protocol"] not in protocols:
        problems.append(f"'ablations.protocol': {block['protocol']!r} is not an evaluation.protocols[].name ({', '.join(protocols)})")
    if not block.get("components") and not block.get("lambdas"):
        problems.append("'ablations': asks for nothing; set components: true and/or lambdas: [0.1, 0.3, ...]")
    return problems


#: The per-section checks :func:`validate_config` runs in turn, after the schema.
SECTION_CHECKS: tuple[Callable[[dict[str, Any]], list[str]], ...] = (
    check_unique_names,
    check_sources,
    check_downloads,
    check_datasets,
    check_reconstruction,
    check_training,
    check_captioning,
    check_evaluation,
    check_ablations,
)
