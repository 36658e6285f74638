"""Which checkpoint each run evaluates: trained by the workflow, or imported from the authors' release.

"Released" in this project means only this: the checkpoints the authors released (``pretrained.zip``).
The reconstructions DRCT-2M publishes are "published" (``reconstruction.published_check``).

``training.checkpoints: released`` (the ``eval_released`` preset) evaluates the authors' released
checkpoints without any training: ``training.released`` names the archive (``pretrained.zip``, a
``downloads[]`` entry) and, per run (train set x backbone x method), the ``.pth`` inside it. Every
run must have exactly one released file, so no row of a table can silently come from elsewhere.

Nothing is trained, so nothing needs the training reconstructions: only reconstruction jobs whose
output an evaluation protocol scores stay in the DAG (for DRCT-2M none: its DR subsets are
published). The train sets still say what each checkpoint was trained on (the tables label rows
with them).

Pure Python (no torch): imported by the Snakefile at parse time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drct.config import ConfigError
from drct.planning.runs import iter_runs


def released_checkpoints(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{run id: {"member": ...}}`` in released mode, ``{}`` otherwise; config mistakes raise ConfigError."""
    training = config["training"]
    if training.get("checkpoints", "train") != "released":
        return {}
    released = training.get("released")
    if not released:
        raise ConfigError("invalid configuration:\n  - 'training.released': required when training.checkpoints is 'released'")
    problems: list[str] = []
    if released["download"] not in {d["name"] for d in config["downloads"]}:
        problems.append(f"'training.released.download': {released['download']!r} is not a downloads[].name")
    entries: dict[tuple[str, str, str], dict[str, Any]] = {}
    for i, entry in enumerate(released["runs"]):
        key = (entry.get("method", "drct"), entry["backbone"], entry["train_set"])
        if key in entries:
            problems.append(f"'training.released.runs[{i}]': {key} is listed twice")
        entries[key] = {"member": entry["member"]}
    out: dict[str, dict[str, Any]] = {}
    runs = list(iter_runs(config))
    for run in runs:
        key = (run.method, run.backbone, run.train_set)
        if key not in entries:
            problems.append(
                f"'training.released.runs': no released checkpoint for method {run.method!r}, backbone "
                f"{run.backbone!r}, train set {run.train_set!r} (every run needs one; the authors released DRCT runs only)"
            )
        else:
            out[run.id] = entries[key]
    known = {(r.method, r.backbone, r.train_set) for r in runs}
    for i, entry in enumerate(released["runs"]):
        key = (entry.get("method", "drct"), entry["backbone"], entry["train_set"])
        if key not in known:
            problems.append(f"'training.released.runs[{i}]': {key} matches no run (methods x backbones x train sets)")
    if len(config["training"]["seeds"]) != 1:
        problems.append("'training.seeds': released checkpoints are one run each; give exactly one seed")
    problems += _sample_problems(config)
    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))
    return out


def evaluated_jobs(config: Mapping[str, Any], jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The reconstruction jobs whose output a protocol scores (test split); released mode runs only these."""
    scored = {
        (p["dataset"], c["generator"]) for p in config["evaluation"]["protocols"] for c in p["columns"]
    }
    return [j for j in jobs if j["split"] == "test" and (j["dataset"], j["output"]) in scored]


def _sample_problems(config: Mapping[str, Any]) -> list[str]:
    """Sample grids show training reconstructions; in released mode they exist only when published."""
    samples = config["evaluation"].get("samples", {})
    if not samples.get("pairs"):
        return []
    dropped = {(j["dataset"], j["output"]) for j in config["reconstruction"]["jobs"]}
    problems = []
    for train_set in config["training"]["train_sets"]:
        for group in ("real_rec", "fake_rec"):
            for name in train_set.get(group, []):
                if (train_set["dataset"], name) in dropped:
                    problems.append(
                        f"'evaluation.samples.pairs': train set {train_set['name']!r} shows reconstruction {name!r}, "
                        "which released mode does not compute; set pairs to 0"
                    )
    return problems
