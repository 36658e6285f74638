"""The paper's two ablations as runs of the DAG: the component table and the lambda sweep.

Both train one backbone on one train set and are read under one protocol (the paper: Conv-B on
DRCT-2M SDv1.4, tested on GenImage), from the config's ``ablations`` block:

* ``components: true``: one run per row of :data:`drct.methods.COMPONENT_ROWS` (real + real-rec,
  then + fake, + fake-rec, + the contrastive term = DRCT itself);
* ``lambdas: [...]``: one DRCT run per weight of the contrastive term. A value equal to the run's
  own ``con_weight`` (0.3 by default) is the ordinary DRCT run, not trained twice.

The runs are ordinary runs (trained, scored and measured by the same rules); they are scored
under the ablation's protocol only, without the perturbation studies, and they are not rows of
the paper tables (:func:`drct.planning.runs.runs_for_protocol`). Pure Python (Snakefile).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drct.methods import COMPONENT_ROWS, CONTRASTIVE_WEIGHT, METHODS
from drct.planning.runs import Run, find, runs_for_protocol

__all__ = ["ablation_runs", "ablation_spec", "component_runs", "default_con_weight", "evaluated_runs", "lambda_runs"]


def _block(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return config.get("ablations") or {}


def default_con_weight(config: Mapping[str, Any], backbone: str) -> float:
    """The contrastive weight a DRCT run of ``backbone`` trains with when nothing sweeps it."""
    settings = {**config["training"].get("settings", {}),
                **find(config["training"]["backbones"], backbone, "backbone").get("settings", {})}
    return float(settings.get("con_weight", CONTRASTIVE_WEIGHT))


def component_runs(config: Mapping[str, Any]) -> list[Run]:
    """The component table's runs, row by row, each at every seed."""
    block = _block(config)
    if not block.get("components"):
        return []
    return [Run(m, block["backbone"], block["train_set"], seed)
            for m in COMPONENT_ROWS for seed in config["training"]["seeds"]]


def lambda_runs(config: Mapping[str, Any]) -> list[tuple[float, Run]]:
    """(lambda, run) per value of the sweep at every seed, in the config's order."""
    block = _block(config)
    if not block.get("lambdas"):
        return []
    default = default_con_weight(config, block["backbone"])
    return [
        (float(value), Run("drct", block["backbone"], block["train_set"], seed,
                           con_weight=None if float(value) == default else float(value)))
        for value in block["lambdas"] for seed in config["training"]["seeds"]
    ]


def ablation_runs(config: Mapping[str, Any]) -> list[Run]:
    """Every run the ablations need, each once, components first."""
    runs = component_runs(config) + [run for _, run in lambda_runs(config)]
    return list(dict.fromkeys(runs))


def evaluated_runs(config: Mapping[str, Any], protocol: Mapping[str, Any]) -> list[Run]:
    """The runs scored under ``protocol``: its table runs, plus the ablation runs when it is the
    ablations' protocol."""
    runs = runs_for_protocol(config, protocol)
    if _block(config).get("protocol") == protocol["name"]:
        runs += [run for run in ablation_runs(config) if run not in runs]
    return runs


def ablation_spec(config: Mapping[str, Any]) -> dict[str, Any]:
    """What ``drct ablations`` needs besides the metrics files: titles, the protocol's columns and,
    per run, its row (the components it trains with, or its lambda)."""
    block = _block(config)
    protocol = find(config["evaluation"]["protocols"], block["protocol"], "protocol")
    backbone = find(config["training"]["backbones"], block["backbone"], "backbone")
    train_set = find(config["training"]["train_sets"], block["train_set"], "train set")
    components = []
    for run in component_runs(config):
        m = METHODS[run.method]
        components.append({"run": run.id, "group": run.group, "seed": run.seed, "method": run.method,
                           **{group: group in m.groups for group in ("real_rec", "fake", "fake_rec")},
                           "contrastive": m.contrastive})
    lambdas = [{"run": run.id, "group": f"lambda{value:g}", "seed": run.seed, "lambda": value}
               for value, run in lambda_runs(config)]
    return {
        "title": f"{backbone['label']} trained on {train_set['label']} ({train_set['dataset']}), "
                 f"tested on {protocol.get('title', protocol['name'])}",
        "demo": config["demo"],
        "columns": protocol["columns"],
        "components": components,
        "lambdas": lambdas,
    }

