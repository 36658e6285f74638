"""The paper's ablations from the DAG on the demo data: component table, lambda table and plot.

The demo config plus an ``ablations`` block, as presets/drct2m_to_genimage.yaml has one, run on top
of the session's demo run (its results copied in and marked current with `snakemake --touch`, as
after `dvc pull`): only the ablations' own runs are trained and scored, and the drct run of the demo
is reused as the last component row and as lambda 0.3. Each command runs restricted to its rule's
conda env (tests/helpers/import_blocker.py), which is where the ablation rules' env is checked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from helpers.workflow import run_on_top_of_demo
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
ABLATIONS = {"backbone": "convb", "train_set": "sdv1", "protocol": "cross", "components": True, "lambdas": [0.3, 0.7]}


@pytest.fixture(scope="module")
def ablated(demo_run, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    workdir = tmp_path_factory.mktemp("ablations") / "run"
    jobs, env = run_on_top_of_demo(demo_run.workdir, workdir, lambda config: config.update(ablations=ABLATIONS),
                                   "ablation_components", "ablation_lambda")
    seen = Path(env["DRCT_IMPORT_BLOCKS"] + ".seen").read_text()
    assert "ablation\t" in seen and "train-run\t" in seen, "the ablation jobs ran restricted to their envs"
    return workdir, jobs


@pytest.mark.slow
def test_only_the_ablation_runs_are_trained_and_scored(ablated) -> None:
    _, jobs = ablated
    # ce-real-rec, ce-real-rec-fake, ce-all and lambda 0.7; drct (last component row, lambda 0.3) exists
    assert jobs == {"train_run": 4, "score_2": 4, "metrics_2": 4, "ablation_components": 1,
                    "ablation_lambda": 1, "total": 14}


@pytest.mark.slow
def test_component_table_rows_come_from_their_runs(ablated, demo_run) -> None:
    workdir, _ = ablated
    out = workdir / "results" / "demo"
    table = pd.read_csv(out / "paper" / "ablations" / "components.csv")
    assert list(table["method"]) == ["ce-real-rec", "ce-real-rec-fake", "ce-all", "drct"]
    for _, row in table.iterrows():
        metrics = json.loads((out / "eval" / "cross" / row["run"] / "metrics.json").read_text())
        assert row["Closed APIs"] == pytest.approx(metrics["generators"]["closed_api_models"]["acc"])
    # the drct row is the demo's own run, not retrained
    assert (out / "eval" / "cross" / "drct-convb-sdv1-seed0" / "metrics.json").read_bytes() == (
        demo_run.workdir / "results" / "demo" / "eval" / "cross" / "drct-convb-sdv1-seed0" / "metrics.json").read_bytes()
    # each row trained on its groups only (the checkpoint's record of its training images)
    trained = {m: set(json.loads((out / "train" / "convb" / f"{m}-convb-sdv1-seed0" / "best.json").read_text())["n_train"])
               for m in table["method"]}
    assert trained["ce-real-rec"] == {"real/demo-drct2m:real", "real_rec/demo-drct2m:real-rec-demo-sd"}
    assert trained["ce-real-rec-fake"] == trained["ce-real-rec"] | {"fake/demo-drct2m:flux"}
    assert trained["ce-all"] == trained["drct"] == trained["ce-real-rec-fake"] | {"fake_rec/demo-drct2m:fake-rec-demo-sd"}
    markdown = (out / "paper" / "ablations" / "components.md").read_text()
    assert "Paper Avg" in markdown and "not in the reference folder" in markdown


@pytest.mark.slow
def test_lambda_sweep_trains_with_its_weight_and_draws_the_plot(ablated) -> None:
    workdir, _ = ablated
    out = workdir / "results" / "demo"
    settings = json.loads((out / "train" / "convb" / "drct-lambda0.7-convb-sdv1-seed0" / "best.json").read_text())["settings"]
    assert (settings["ce_weight"], settings["con_weight"]) == (0.3, 0.7)
    table = pd.read_csv(out / "paper" / "ablations" / "lambda.csv")
    assert list(table["lambda"]) == [0.3, 0.7]
    assert list(table["run"]) == ["drct-convb-sdv1-seed0", "drct-lambda0.7-convb-sdv1-seed0"]
    with Image.open(out / "paper" / "ablations" / "lambda.png") as image:
        assert image.width > 300
    assert (out / "paper" / "ablations" / "lambda.pdf").stat().st_size > 0
