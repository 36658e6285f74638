"""Training runs from the config: their ids, settings and the labels the paper tables need.

A run is one method x backbone x train set at one seed. Its id names its folders, so it is built
here once; everything later steps need to know about a run (its seed, the seed-less configuration
it belongs to) travels with it in :func:`run_meta`, so no later step parses an id back apart.

Pure Python: imported by the Snakefile at parse time.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from drct.methods import METHODS

__all__ = ["Run", "find", "is_dire_backbone", "iter_runs", "run_meta", "runs_for_protocol", "table_runs", "train_settings"]


@dataclass(frozen=True)
class Run:
    """One training run: a method, a backbone and a train set, at one seed.

    ``con_weight`` is set only for a run of the lambda sweep (``ablations.lambdas``): the weight of
    the contrastive term, the cross-entropy's being ``1 - con_weight`` as in the authors'
    ``(1 - alpha) * CE + alpha * L_con``.
    """

    method: str
    backbone: str
    train_set: str
    seed: int
    con_weight: float | None = None

    @property
    def group(self) -> str:
        """The run's configuration without its seed: the seeds of one group aggregate into one table row."""
        variant = "" if self.con_weight is None else f"-lambda{self.con_weight:g}"
        return f"{self.method}{variant}-{self.backbone}-{self.train_set}"

    @property
    def id(self) -> str:
        return f"{self.group}-seed{self.seed}"


def iter_runs(config: Mapping[str, Any]) -> Iterator[Run]:
    """Every run of the config: the paper tables' runs (:func:`table_runs`), then the ablations'
    runs that are not among them (:mod:`drct.planning.ablations`)."""
    from drct.planning.ablations import ablation_runs

    seen = []
    for run in table_runs(config):
        seen.append(run)
        yield run
    for run in ablation_runs(config):
        if run not in seen:
            seen.append(run)
            yield run


def table_runs(config: Mapping[str, Any]) -> Iterator[Run]:
    """The runs of the paper tables: train sets x backbones x seeds, each train set's methods in its
    order (those the backbone accepts: a detector of the paper is trained its own way only).

    A backbone that names its ``train_sets`` trains on exactly those, with its own methods, whatever
    methods the train sets list: DIRE is trained by the baseline method on DR=SDv2 too, where the
    paper trains no other baseline."""
    training = config["training"]
    for train_set, backbone, seed in itertools.product(
        training["train_sets"], training["backbones"], training["seeds"]
    ):
        for method in _methods(backbone, train_set):
            yield Run(method, backbone["name"], train_set["name"], seed)


def _methods(backbone: Mapping[str, Any], train_set: Mapping[str, Any]) -> list[str]:
    """The methods ``backbone`` is trained with on ``train_set``."""
    if "train_sets" in backbone:  # its own list of train sets, its own methods
        if train_set["name"] not in backbone["train_sets"]:
            return []
        return list(backbone.get("methods", train_set["methods"]))
    accepted = backbone.get("methods", train_set["methods"])  # a detector: its own method only
    return [method for method in train_set["methods"] if method in accepted]


def runs_for_protocol(config: Mapping[str, Any], protocol: Mapping[str, Any]) -> list[Run]:
    """The runs a protocol evaluates: those of its train sets (all train sets when it names none)."""
    wanted = protocol.get("train_sets") or [t["name"] for t in config["training"]["train_sets"]]
    return [run for run in table_runs(config) if run.train_set in wanted]


def is_dire_backbone(backbone: Mapping[str, Any]) -> bool:
    """The backbone reads DIRE input (image minus its reconstruction): the DIRE detector's entry."""
    return backbone.get("settings", {}).get("input") == "dire"


def find(items: list[dict[str, Any]], name: str, what: str) -> dict[str, Any]:
    """The entry of a config list with this ``name`` (names were checked unique at validation)."""
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
    # DIRE reads each image with its reconstruction: the train set's reconstructions are its pairs, not groups
    paired = is_dire_backbone(backbone)
    settings.update(
        method=run.method,
        family=backbone["family"],
        model_name=backbone["model_name"],
        pretrained=backbone["pretrained"],
        freeze_backbone=backbone["freeze_backbone"],
        batch_size=backbone["batch_size"],
        real=list(train_set["real"]),
        fake=list(train_set["fake"]),
        real_rec=list(train_set.get("real_rec", [])) if METHODS[run.method].uses_reconstructions or paired else [],
        fake_rec=list(train_set.get("fake_rec", [])) if METHODS[run.method].uses_reconstructions or paired else [],
        seed=run.seed,
    )
    settings.update(backbone.get("settings", {}))  # the network's own: a detector's input size and defaults
    if run.con_weight is not None:  # a lambda-sweep run
        settings.update(ce_weight=round(1.0 - run.con_weight, 12), con_weight=run.con_weight)
    return settings


def run_meta(config: Mapping[str, Any], run: Run) -> dict[str, Any]:
    """What the paper needs to label a run's row and to aggregate its seeds (``group``, ``seed``)."""
    backbone = find(config["training"]["backbones"], run.backbone, "backbone")
    train_set = find(config["training"]["train_sets"], run.train_set, "train set")
    return {
        "run": run.id,
        "group": run.group,
        "method": run.method,
        "backbone_label": backbone["label"],
        # DRCT and DIRE rows name their DR model (the paper's "DIRE, SDv1"); other baselines do not
        "dr_label": train_set["label"] if run.method == "drct" or is_dire_backbone(backbone) else "-",
        "seed": run.seed,
        **({"input": "dire"} if is_dire_backbone(backbone) else {}),  # the tables give DIRE rows their DR label
    }
