"""The whole demo DAG, from download to tables, in a folder of its own (the session's demo run); then nothing to do.

This is the test a researcher's first `make demo` stands on. It takes a few minutes on 2 cores.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers.html_tables import tables_of
from helpers.workflow import job_stats, snakemake
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
#: CSV columns the printed tables leave out (notes follow the table as a list; the rest is for machines)
TABLE_ONLY = ["notes", "group", "avg_like_for_like", "shared_columns"]


def report_results(report: str) -> dict:
    """The results a Snakemake report embeds (`var results = {...}`): path -> name, labels, mime type, data URI."""
    start = report.index("var results = ", report.index('<script id="results">')) + len("var results = ")
    return json.JSONDecoder().raw_decode(report[start:])[0]


def embedded_page(data_uri: str) -> str:
    """The file behind an embedded report result's `data:...;base64,...` URI."""
    return base64.b64decode(data_uri.split(";base64,", 1)[1]).decode("utf-8")


@pytest.mark.slow
def test_demo_dag_runs_end_to_end(demo_run) -> None:
    workdir, elapsed = demo_run.workdir, demo_run.elapsed
    print(f"demo DAG: {elapsed:.0f} s")
    # run as `snakemake -s <clone>/Snakefile --directory <elsewhere>` from a folder holding only
    # config.yaml: the demo archive, expected counts and data lock were found in the clone
    assert not (workdir / "data").exists() and not (workdir / "Snakefile").exists()
    out = workdir / "results" / "demo"
    for protocol in ("intra", "cross"):
        table = (out / "paper" / protocol / "table.md").read_text()
        assert "ours (demo)" in table
        assert "DRCT/Conv-B" in table and "DRCT/UnivFD" in table
        with Image.open(out / "paper" / protocol / "table_accuracy.png") as figure:
            assert figure.width > 400 and figure.height > 200
    metrics = json.loads(next((out / "eval" / "intra").glob("drct-convb-*/metrics.json")).read_text())
    assert set(metrics["generators"]) >= {"demo-sd-dr"}
    predictions = pd.read_csv(next((out / "eval" / "intra").glob("drct-convb-*/predictions.csv")))
    assert predictions["score"].between(0, 1).all()
    assert set(predictions["label"]) == {0, 1}


@pytest.mark.slow
def test_paper_outputs_studies_and_report(demo_run) -> None:
    """Every table and figure of issue 6, the robustness and format-control rules, the HTML report."""
    workdir = demo_run.workdir
    paper = workdir / "results" / "demo" / "paper"
    for protocol in ("intra", "cross"):
        for name in ("table.tex", "comparison.md", "comparison.csv", "metrics.md", "heatmap.png", "difference.png",
                     "roc.png", "pr.png", "heatmap.pdf"):
            assert (paper / protocol / name).stat().st_size > 0, (protocol, name)
        assert "not like for like" in (paper / protocol / "comparison.md").read_text()  # demo columns differ
        roc = pd.read_csv(next((workdir / "results" / "demo" / "eval" / protocol).glob("*/roc.csv")))
        assert list(roc.columns) == ["generator", "fpr", "tpr", "threshold"]
    metrics = json.loads(next((workdir / "results" / "demo" / "eval" / "intra").glob("*/metrics.json")).read_text())
    assert metrics["bootstrap"] == {"replicates": 1000, "level": 0.95, "seed": 0}
    low, high = metrics["mean"]["acc_ci"]
    assert low <= metrics["mean"]["acc"] <= high and "oracle_acc" in metrics["mean"]
    robustness = (paper / "intra" / "robustness.md").read_text()
    assert "## JPEG quality" in robustness and "| Method | DR | clean | 60 | 95 |" in robustness
    fmt = pd.read_csv(paper / "intra" / "format_bias.csv", dtype=str, keep_default_na=False)
    assert (fmt["all PNG: ACC change"] == "0.00").all()  # lossless: the raw scores again
    with Image.open(paper / "samples" / "sdv1.png") as grid:
        assert grid.width > 600
    result = snakemake(workdir, "--report", "report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (workdir / "report.html").read_text(errors="replace")
    for caption in ("oracle-threshold accuracy", "Format-bias control", "framework figure"):
        assert caption in html, caption
    # every result is shown in the page: figures as images, tables as HTML tables (a CSV is only a link)
    results = report_results(html)
    assert {r["mime_type"] for r in results.values()} == {"image/png", "text/html"}
    pages = {(r["labels"].get("protocol"), r["name"]): embedded_page(r["data_uri"]) for r in results.values()
             if r["mime_type"] == "text/html"}
    for protocol in ("intra", "cross"):
        assert {name for p, name in pages if p == protocol} >= {"table.html", "comparison.html", "metrics.html"}
        for name in ("table", "comparison"):
            printed = pd.read_csv(paper / protocol / f"{name}.csv", dtype=str, keep_default_na=False)
            rows = [row for table in tables_of(pages[(protocol, f"{name}.html")]).tables for row in table]
            for _, line in printed.iterrows():  # each printed row is a row of the page's tables, cells in order
                cells = [c for c in line.drop(labels=TABLE_ONLY, errors="ignore") if c != ""]
                assert any(cells == [c for c in row if c != ""] for row in rows), (protocol, name, cells)
    assert {name for p, name in pages if p == "intra"} >= {"robustness.html", "format_bias.html"}


@pytest.mark.slow
def test_paper_rules_need_only_evaluation_outputs(demo_run) -> None:
    """Forcing every paper rule schedules nothing upstream: their inputs are all evaluation outputs."""
    workdir = demo_run.workdir
    paper_rules = ["tables", "robustness", "format_bias", "sample_grid"]
    result = snakemake(workdir, "-n", "--quiet", "rules", "--forcerun", *paper_rules)
    assert result.returncode == 0, result.stderr
    scheduled = set(job_stats(result.stdout)) - {"total"}
    assert scheduled <= {*paper_rules, "all"}, scheduled


@pytest.mark.slow
def test_second_run_has_nothing_to_do(demo_run) -> None:
    workdir = demo_run.workdir
    result = snakemake(workdir, "-n", "--cores", "2")
    assert result.returncode == 0, result.stderr
    assert "Nothing to be done" in result.stdout + result.stderr


@pytest.mark.slow
def test_reconstructions_are_listed_and_real(demo_run) -> None:
    workdir = demo_run.workdir
    manifests = sorted((workdir / "results" / "demo" / "reconstruction").rglob("*/manifest.csv"))
    assert len(manifests) == 3
    for manifest in manifests:
        frame = pd.read_csv(manifest)
        assert len(frame) > 0
        assert (frame["status"] == "ok").all(), frame[frame["status"] != "ok"]
        first = manifest.parent / frame["path"].iloc[0]
        with Image.open(first) as image:
            assert image.format == "PNG"
