"""The reconstructions DIRE runs are scored with: one test-split reconstruction job per scored generator.

A DIRE network classifies ``|image - reconstruction|``, so every test image a protocol scores with
a DIRE run needs its reconstruction by the run's DR model: the ``dr_model`` of the run's train set
(a ``reconstruction.models[].name``). The published datasets ship no reconstructions of their test
fakes (DRCT-2M: only its three DR subsets), so these jobs run in both reconstruction modes, through
the DAG's own ``reconstruct_shard`` / ``merge_reconstructions`` rules; their outputs join the
combined manifest under their own generator name (:func:`dire_output`), where the score step pairs
them with the images by file stem.

A scored generator that is itself the output of an active reconstruction job (the demo's SD-DR
column; DRCT-2M's DR columns in recompute mode) is reconstructed from that job's manifest, so the
pair is made of exactly the images that are scored.

DIRE runs stay out of the perturbation studies (:func:`studied_runs`): their input would need the
reconstruction of each perturbed image, which is not computed.

Pure Python: imported by the Snakefile at parse time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drct.planning.runs import Run, find, is_dire_backbone, runs_for_protocol

__all__ = ["dire_jobs", "dire_output", "dire_reconstructions", "dire_train_sets", "is_dire_run", "studied_runs"]


def is_dire_run(config: Mapping[str, Any], run: Run) -> bool:
    """The run trains a DIRE backbone (input: image minus its reconstruction)."""
    return is_dire_backbone(find(config["training"]["backbones"], run.backbone, "backbone"))


def dire_train_sets(config: Mapping[str, Any]) -> list[str]:
    """Names of the train sets some DIRE backbone trains on (config order): each needs a ``dr_model``."""
    from drct.planning.runs import table_runs

    used = {run.train_set for run in table_runs(config) if is_dire_run(config, run)}
    return [t["name"] for t in config["training"]["train_sets"] if t["name"] in used]


def dire_output(model: str, generator: str) -> str:
    """Generator name of the reconstructions of ``generator`` by ``model`` that DIRE scoring reads."""
    return f"dire-{model}--{generator}"


def _scored_generators(protocol: Mapping[str, Any]) -> list[str]:
    """A protocol's column generators plus its shared real set, in config order."""
    names = [c["generator"] for c in protocol["columns"]]
    if protocol["real_source"] == "shared":
        names.append(protocol["real_generator"])
    return list(dict.fromkeys(names))


def dire_reconstructions(config: Mapping[str, Any], run: Run, protocol: Mapping[str, Any]) -> dict[str, str]:
    """``{scored generator: generator of its reconstructions}`` for a DIRE run under a protocol ({} otherwise)."""
    if not is_dire_run(config, run):
        return {}
    model = find(config["training"]["train_sets"], run.train_set, "train set")["dr_model"]
    return {name: dire_output(model, name) for name in _scored_generators(protocol)}


def dire_jobs(config: Mapping[str, Any], active: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The test-split reconstruction jobs DIRE scoring needs, beyond the ``active`` jobs (each once).

    One per (protocol dataset, DR model of a DIRE run the protocol evaluates, scored generator).
    ``from_job``: the active job whose output is the scored generator, when there is one (its
    manifest lists the images, not the dataset's).
    """
    from drct.planning.ablations import evaluated_runs

    produced = {(j["dataset"], j["output"], j["split"]): j for j in active}
    jobs: dict[tuple[str, str, str], dict[str, Any]] = {}
    for protocol in config["evaluation"]["protocols"]:
        for run in evaluated_runs(config, protocol):
            for source, output in dire_reconstructions(config, run, protocol).items():
                key = (protocol["dataset"], output, "test")
                if key in jobs or key in produced:
                    continue
                model = find(config["training"]["train_sets"], run.train_set, "train set")["dr_model"]
                job = {"model": model, "dataset": protocol["dataset"], "source": source, "split": "test",
                       "output": output}
                upstream = produced.get((protocol["dataset"], source, "test"))
                if upstream is not None:
                    job["from_job"] = upstream["output"]
                jobs[key] = job
    return list(jobs.values())


def studied_runs(config: Mapping[str, Any], protocol: Mapping[str, Any]) -> list[Run]:
    """The runs of a protocol's perturbation studies: its runs without the DIRE ones."""
    return [run for run in runs_for_protocol(config, protocol) if not is_dire_run(config, run)]
