"""`dvc metrics show` on the views of a demo-sized evaluation: one short row per run and protocol."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from drct.dvc.views import SUMMARY_KEYS, write_views

BIN = Path(sys.executable).parent
DVC = shutil.which("dvc", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
pytestmark = pytest.mark.skipif(DVC is None, reason="dvc is not installed (pip install -e '.[workflow]')")

#: The demo's protocols and generator columns, and its run names (the longest rows DVC prints).
PROTOCOLS = [
    {"name": "intra", "columns": [{"generator": g, "label": g} for g in ("flux", "stable-diffusion", "qwen-image", "demo-sd-dr")]},
    {"name": "cross", "columns": [{"generator": g, "label": g} for g in ("closed_api_models", "open_models_t2i", "open_models_edit")]},
]
RUNS = [f"{m}-{b}-sdv1-seed0" for m in ("baseline", "drct") for b in ("convb", "univfd")]


def _metrics(run: str, protocol: dict) -> dict:
    """A `drct metrics` output with every field it writes, per generator and as the mean."""
    values = {"acc": 42.31800766283524, "acc_ci": [32.5, 52.9], "ap": 0.7313997330511578, "auc": 0.4419714745801702,
              "fake_acc": 43.71980676328502, "oracle_acc": 78.69731800766283, "real_acc": 44.444444444444436}
    generators = {c["generator"]: {**values, "n_fake": 18, "n_real": 6, "oracle_threshold": 0.11} for c in protocol["columns"]}
    return {"run": run, "protocol": protocol["name"], "generators": generators, "mean": values,
            "bootstrap": {"level": 0.95, "replicates": 1000, "seed": 0}}


def test_metrics_show_prints_one_short_row_per_run(tmp_path: Path) -> None:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")

    def run(*args: str) -> str:
        result = subprocess.run(list(args), cwd=tmp_path, env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    run("git", "init", "-q")
    run("dvc", "init", "-q")
    files = []
    for protocol in PROTOCOLS:
        for name in RUNS:
            files.append(tmp_path / "eval" / protocol["name"] / name / "metrics.json")
            files[-1].parent.mkdir(parents=True)
            files[-1].write_text(json.dumps(_metrics(name, protocol)))
    write_views(files, PROTOCOLS, tmp_path / "results/demo/metrics", tmp_path / "results/demo/plots")
    (tmp_path / "dvc.yaml").write_text("metrics:\n  - results/demo/metrics\n")

    table = run("dvc", "metrics", "show").splitlines()
    assert table[0].split() == ["Path", *sorted(SUMMARY_KEYS)]
    assert len(table) == 1 + len(PROTOCOLS) * len(RUNS)
    assert max(map(len, table)) <= 150, "\n".join(table)  # was ~5,000 characters a line
    shown = json.loads(run("dvc", "metrics", "show", "--json"))
    data = next(iter(shown.values()))["data"]
    for values in data.values():
        assert values["data"] == {"acc": 42.31800766283524, "ap": 0.7313997330511578, "auc": 0.4419714745801702,
                                  "fake_acc": 43.71980676328502, "real_acc": 44.444444444444436}
