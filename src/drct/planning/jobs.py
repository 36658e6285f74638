"""Which generators each dataset holds and which reconstruction jobs the DAG runs, from the config alone.

A generator of a dataset is either one of its subsets (plus ``real`` in the DRCT-2M layout) or the
output of a reconstruction job on it; train sets and protocols may name either.

Pure Python: imported by the Snakefile at parse time and by the config's cross-reference checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["active_jobs", "available_generators", "dataset_generator_names"]


def dataset_generator_names(dataset: Mapping[str, Any]) -> list[str]:
    """Generators a prepared dataset holds: ``real`` (drct2m layout) plus the configured subsets."""
    names = [g["name"] for g in dataset["generators"]]
    return (["real"] if dataset["layout"] == "drct2m" else []) + names


def active_jobs(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Reconstruction jobs the DAG runs: all of them in recompute mode, none in published mode."""
    recon = config["reconstruction"]
    return list(recon["jobs"]) if recon["mode"] == "recompute" else []


def available_generators(config: Mapping[str, Any], dataset_name: str) -> set[str]:
    """The dataset's own generators and the outputs of the reconstruction jobs on it."""
    dataset = next(d for d in config["datasets"] if d["name"] == dataset_name)
    outputs = {j["output"] for j in config["reconstruction"]["jobs"] if j["dataset"] == dataset_name}
    return set(dataset_generator_names(dataset)) | outputs
