"""Which datasets get BLIP captions, and the captioning settings of the DAG's jobs (De-fake).

Captions are computed only where a De-fake run needs them: the datasets it trains on and the
datasets of the protocols that score it. No De-fake run, no caption job. Pure config, imported by
the Snakefile at parse time (nothing here loads a model).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drct.planning.runs import Run, find, iter_runs

__all__ = ["CAPTIONED_FAMILIES", "caption_settings", "captioned_datasets", "captioner_path", "run_needs_captions"]

#: backbone families whose network reads a caption per image (drct.training.settings.CAPTIONED_FAMILIES)
CAPTIONED_FAMILIES = ("defake",)
#: where a demo captioner (captioning.build_demo) is built, under the experiment's results folder
DEMO_CAPTIONER = "models/captioner"


def run_needs_captions(config: Mapping[str, Any], run: Run) -> bool:
    """Whether the run's backbone reads captions (De-fake)."""
    return find(config["training"]["backbones"], run.backbone, "backbone")["family"] in CAPTIONED_FAMILIES


def captioned_datasets(config: Mapping[str, Any]) -> list[str]:
    """The datasets (config order) whose images a captioned run trains on or is scored on."""
    from drct.planning.ablations import evaluated_runs

    runs = [run for run in iter_runs(config) if run_needs_captions(config, run)]
    if not runs:
        return []
    wanted = {find(config["training"]["train_sets"], run.train_set, "train set")["dataset"] for run in runs}
    for protocol in config["evaluation"]["protocols"]:
        if any(run in runs for run in evaluated_runs(config, protocol)):
            wanted.add(protocol["dataset"])
    return [d["name"] for d in config["datasets"] if d["name"] in wanted]


def captioner_path(config: Mapping[str, Any], out: str) -> str:
    """Hub id or local folder of the captioner; the demo's is built under ``out`` (the experiment's folder)."""
    captioning = config["captioning"]
    return f"{out}/{DEMO_CAPTIONER}" if captioning.get("build_demo") else captioning["model"]


def caption_settings(config: Mapping[str, Any], out: str) -> dict[str, Any]:
    """``drct.captioning.settings.CaptionSettings`` fields of the caption jobs (JSON on the command line)."""
    settings = {k: v for k, v in config["captioning"].items() if k not in ("build_demo", "shards")}
    settings["model"] = captioner_path(config, out)
    if config["captioning"].get("build_demo"):
        settings["revision"] = None  # a local folder built by the workflow: nothing to pin
    return settings
