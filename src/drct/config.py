"""Experiment configuration: schema validation with messages that say what to fix, and derived names.

The JSON schema (``workflow/schemas/config.schema.yaml``) checks types and allowed values; the
cross-reference checks below catch what a schema cannot (a train set naming a dataset that does
not exist, a published reconstruction the dataset does not ship). Both run when the workflow
starts, before any job, so a typo costs seconds rather than a failed GPU job hours later.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SCHEMA = PROJECT_ROOT / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
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
    config = copy.deepcopy(dict(config))
    validator_class = _with_defaults(jsonschema.Draft202012Validator)
    errors = sorted(validator_class(schema).iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    messages = [_describe(e) for e in errors]
    if not messages:
        messages = _cross_reference_errors(config)
    if messages:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(messages))
    return config


def _duplicates(values: list[str]) -> list[str]:
    seen: set[str] = set()
    return sorted({v for v in values if v in seen or seen.add(v)})


def _cross_reference_errors(config: dict[str, Any]) -> list[str]:
    """Checks that need more than one part of the config at once."""
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

    downloads = {d["name"]: d for d in config["downloads"]}
    for i, download in enumerate(config["downloads"]):
        if download["source"] not in config["sources"]:
            problems.append(
                f"'downloads[{i}].source': {download['source']!r} is not a key of 'sources' "
                f"({', '.join(sorted(config['sources']))})"
            )
    datasets = {d["name"]: d for d in config["datasets"]}
    for i, dataset in enumerate(config["datasets"]):
        for j, archive in enumerate(dataset["archives"]):
            if archive["download"] not in downloads:
                problems.append(
                    f"'datasets[{i}].archives[{j}].download': {archive['download']!r} is not a downloads[].name"
                )
        if dataset["layout"] == "drct2m" and not dataset.get("real_folder"):
            problems.append(f"'datasets[{i}].real_folder': required for the drct2m layout")
        for dup in _duplicates([g["name"] for g in dataset["generators"]]):
            problems.append(f"'datasets[{i}].generators': name {dup!r} is used more than once")

    recon = config["reconstruction"]
    models = {m["name"] for m in recon["models"]}
    for i, model in enumerate(recon["models"]):
        if not model.get("build_demo") and not model.get("model"):
            problems.append(f"'reconstruction.models[{i}].model': required (a hub id or local folder) unless build_demo is true")
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
    check = recon.get("released_check")
    if check:
        if check["model"] not in models:
            problems.append(
                f"'reconstruction.released_check.model': {check['model']!r} is not a reconstruction.models[].name"
            )
        if check["dataset"] not in datasets:
            problems.append(f"'reconstruction.released_check.dataset': {check['dataset']!r} is not a datasets[].name")
        else:
            names = dataset_generator_names(datasets[check["dataset"]])
            for key in ("source", "released"):
                if check[key] not in names:
                    problems.append(
                        f"'reconstruction.released_check.{key}': {check[key]!r} is not a generator of dataset "
                        f"{check['dataset']!r} ({', '.join(names)})"
                    )

    for i, train_set in enumerate(config["training"]["train_sets"]):
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

    train_set_names = {t["name"] for t in config["training"]["train_sets"]}
    for i, protocol in enumerate(config["evaluation"]["protocols"]):
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
    return problems


def dataset_generator_names(dataset: Mapping[str, Any]) -> list[str]:
    """Generators a prepared dataset holds: ``real`` (drct2m layout) plus the configured subsets."""
    names = [g["name"] for g in dataset["generators"]]
    return (["real"] if dataset["layout"] == "drct2m" else []) + names


def active_jobs(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Reconstruction jobs the DAG runs: all of them in recompute mode, none in published mode."""
    recon = config["reconstruction"]
    return list(recon["jobs"]) if recon["mode"] == "recompute" else []


def available_generators(config: Mapping[str, Any], dataset_name: str) -> set[str]:
    dataset = next(d for d in config["datasets"] if d["name"] == dataset_name)
    outputs = {j["output"] for j in config["reconstruction"]["jobs"] if j["dataset"] == dataset_name}
    return set(dataset_generator_names(dataset)) | outputs


@dataclass(frozen=True)
class Run:
    """One training run: a method, a backbone and a train set, at one seed."""

    method: str
    backbone: str
    train_set: str
    seed: int

    @property
    def id(self) -> str:
        return f"{self.method}-{self.backbone}-{self.train_set}-seed{self.seed}"


def iter_runs(config: Mapping[str, Any]) -> Iterator[Run]:
    training = config["training"]
    for train_set, backbone, seed in itertools.product(
        training["train_sets"], training["backbones"], training["seeds"]
    ):
        for method in train_set["methods"]:
            yield Run(method, backbone["name"], train_set["name"], seed)


def runs_for_protocol(config: Mapping[str, Any], protocol: Mapping[str, Any]) -> list[Run]:
    wanted = protocol.get("train_sets") or [t["name"] for t in config["training"]["train_sets"]]
    return [run for run in iter_runs(config) if run.train_set in wanted]


def find(items: list[dict[str, Any]], name: str, what: str) -> dict[str, Any]:
    for item in items:
        if item["name"] == name:
            return item
    raise KeyError(f"no {what} named {name!r}")


def train_settings(config: Mapping[str, Any], run: Run) -> dict[str, Any]:
    """The ``drct.training.TrainSettings`` fields for one run, as a plain dict (JSON on the command line)."""
    training = config["training"]
    backbone = find(training["backbones"], run.backbone, "backbone")
    train_set = find(training["train_sets"], run.train_set, "train set")
    settings = dict(training.get("settings", {}))
    settings.update(
        method=run.method,
        family=backbone["family"],
        model_name=backbone["model_name"],
        pretrained=backbone["pretrained"],
        freeze_backbone=backbone["freeze_backbone"],
        batch_size=backbone["batch_size"],
        real=list(train_set["real"]),
        fake=list(train_set["fake"]),
        real_rec=list(train_set.get("real_rec", [])) if run.method == "drct" else [],
        fake_rec=list(train_set.get("fake_rec", [])) if run.method == "drct" else [],
        seed=run.seed,
    )
    return settings


def run_meta(config: Mapping[str, Any], run: Run) -> dict[str, Any]:
    """What the tables need to label a run's row the way the paper does."""
    backbone = find(config["training"]["backbones"], run.backbone, "backbone")
    train_set = find(config["training"]["train_sets"], run.train_set, "train set")
    return {
        "run": run.id,
        "method": run.method,
        "backbone_label": backbone["label"],
        "dr_label": train_set["label"] if run.method == "drct" else "-",
        "seed": run.seed,
    }
