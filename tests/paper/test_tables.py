"""Paper tables: rounding, the paper's own Avgs reproduced, layout, markdown, figure, no torch."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from drct.paper.accuracy_bars import accuracy_figure
from drct.paper.render import render_protocol
from drct.paper.rounding import decimal_mean, format_cell
from drct.paper.tables import (
    PAPER_TABLES,
    aggregate_seeds,
    build_table,
    generator_columns,
    load_paper_table,
    merge_columns,
    our_rows_from_metrics,
    paper_avg,
    render_markdown,
    round_half_up,
)

# the reference folder lies beside the project's clone (../shared), as on the team's machines and in CI
SHARED_REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "paper_tables"


@pytest.mark.parametrize(
    ("value", "ndigits", "expected"),
    [
        (90.785, 2, "90.79"),  # half-up on the written value (binary 90.785 is 90.78499...)
        (0.125, 2, "0.13"),  # round() would give 0.12 (half to even)
        (2.675, 2, "2.68"),  # round(2.675, 2) == 2.67 in binary floating point
        (67.995, 2, "68.00"),  # the cross table's CLIP/RN50 Avg
        (100, 2, "100.00"),
        (100.0, 2, "100.00"),
        (-0.125, 2, "-0.13"),  # half away from zero
        (0.05, 1, "0.1"),
        (83.456875, 2, "83.46"),
        ("92.1", 2, "92.10"),
    ],
)
def test_round_half_up(value, ndigits, expected):
    assert round_half_up(value, ndigits) == expected


def test_round_half_up_rejects_nan_and_format_cell_blanks_it():
    with pytest.raises(ValueError):
        round_half_up(float("nan"))
    assert format_cell(float("nan")) == ""
    assert format_cell(None) == ""
    assert format_cell("SDv1") == "SDv1"


def _raw(name: str) -> pd.DataFrame:
    source = resources.files("drct.paper").joinpath("reference", f"{name}.csv")
    with source.open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, dtype=str, keep_default_na=False)


@pytest.mark.parametrize("name", sorted(PAPER_TABLES))
def test_every_printed_avg_is_reproduced(name):
    printed = _raw(name)
    table = load_paper_table(name)
    assert len(table) == len(printed) > 0
    for i, row in table.iterrows():
        assert round_half_up(paper_avg(row)) == printed.loc[i, "Avg"], (name, row["method"], row["DR"])


def test_float_mean_would_miss_one_printed_avg():
    """Why the decimal mean: the float mean of the cross table's CLIP/RN50 row rounds to 67.99."""
    row = load_paper_table("drct2m_to_genimage_cross").query("method == 'CLIP/RN50'").iloc[0]
    values = [row[c] for c in generator_columns(load_paper_table("drct2m_to_genimage_cross"))]
    assert round_half_up(sum(values) / len(values)) == "67.99"
    assert round_half_up(decimal_mean(values)) == "68.00" == _raw("drct2m_to_genimage_cross").Avg[2]


def test_biggan_correction_applied_and_noted():
    table = load_paper_table("genimage_intra")
    row = table[(table["method"] == "DRCT/Conv-B") & (table["DR"] == "SDv1")].iloc[0]
    assert row["BigGAN"] == 59.81
    assert "58.81" in row["notes"] and "59.81" in row["notes"]
    assert _raw("genimage_intra").query("method == 'DRCT/Conv-B'")["BigGAN"].item() == "58.81"


@pytest.mark.skipif(not SHARED_REFERENCE.is_dir(), reason="shared reference folder not on this machine")
@pytest.mark.parametrize("name", sorted(PAPER_TABLES))
def test_package_copy_matches_shared_reference(name):
    packaged = resources.files("drct.paper").joinpath("reference", f"{name}.csv").read_text(encoding="utf-8")
    assert packaged == (SHARED_REFERENCE / f"{name}.csv").read_text(encoding="utf-8")


def test_markdown_of_a_tiny_table():
    paper = pd.DataFrame([{"method": "A", "DR": "-", "G1": 90.785, "G2": 0.125, "Avg": 45.455, "notes": ""}])
    ours = [{"method": "DRCT/Conv-B", "DR": "SDv1", "G1": 100.0, "G2": 50.0}]  # Avg (100 + 50) / 2 = 75
    table = build_table(paper, ours, ["G1", "G2"], demo=False)
    assert list(table.columns) == ["source", "method", "DR", "G1", "G2", "Avg", "notes"]
    expected = (
        "| Source | Method | DR | G1 | G2 | Avg |\n"
        "| :--- | :--- | :--- | ---: | ---: | ---: |\n"
        "| paper | A | - | 90.79 | 0.13 | 45.46 |\n"
        "| ours | DRCT/Conv-B | SDv1 | 100.00 | 50.00 | 75.00 |\n"
    )
    assert render_markdown(table) == expected


def test_demo_columns_get_their_own_table_ours_first():
    paper = pd.DataFrame([{"method": "A", "DR": "-", "G1": 90.0, "G2": 80.0, "Avg": 85.0, "notes": "n"}])
    ours = [{"method": "Conv-B", "DR": "-", "G2": 70.0, "demo_gen": 60.0}]  # Avg 65
    table = build_table(paper, ours, ["G1", "G2"], demo=True)
    assert list(table.columns) == ["source", "method", "DR", "G1", "G2", "demo_gen", "Avg", "notes"]
    assert table["source"].tolist() == ["paper", "ours (demo)"]
    assert pd.isna(table.loc[0, "demo_gen"]) and pd.isna(table.loc[1, "G1"])
    expected = (
        "**ours (demo)**\n\n"
        "| Source | Method | DR | G2 | demo_gen | Avg |\n"
        "| :--- | :--- | :--- | ---: | ---: | ---: |\n"
        "| ours (demo) | Conv-B | - | 70.00 | 60.00 | 65.00 |\n"
        "\n**paper**\n\n"
        "| Source | Method | DR | G1 | G2 | Avg |\n"
        "| :--- | :--- | :--- | ---: | ---: | ---: |\n"
        "| paper | A | - | 90.00 | 80.00 | 85.00 |\n"
        "\nNotes:\n\n- A (-, paper): n\n"
    )
    assert render_markdown(table) == expected


def test_merge_columns_keeps_both_orders():
    assert merge_columns(["G1", "G2", "G3"], ["X", "G2", "Y"]) == ["G1", "X", "G2", "G3", "Y"]
    assert merge_columns(["G1", "G2"], ["G2", "G1"]) == ["G1", "G2"]  # conflicts: paper order wins
    assert merge_columns(["G1"], []) == ["G1"]


def test_demo_block_keeps_our_column_order():
    paper = pd.DataFrame([{"method": "A", "DR": "-", "G1": 1.0, "G2": 2.0, "G3": 3.0, "Avg": 2.0, "notes": ""}])
    ours = [{"method": "Conv-B", "DR": "-", "X": 10.0, "G2": 20.0, "Y": 30.0}]
    text = render_markdown(build_table(paper, ours, ["G1", "G2", "G3"], demo=True))
    assert "| Source | Method | DR | X | G2 | Y | Avg |" in text
    assert "| Source | Method | DR | G1 | G2 | G3 | Avg |" in text


def _write_metrics(path: Path, run: str, accs: dict[str, float]) -> Path:
    generators = {g: {"acc": a, "real_acc": a, "fake_acc": a, "auc": None, "ap": None, "n_real": 1, "n_fake": 1} for g, a in accs.items()}
    path.write_text(json.dumps({"run": run, "protocol": "p", "generators": generators, "mean": {}}))
    return path


RUNS_META = [
    {"run": "drct_convb_sd14", "group": "drct_convb_sd14", "seed": 0, "method": "drct", "backbone_label": "Conv-B",
     "dr_label": "SDv1"},
    {"run": "baseline_convb_sd14", "group": "baseline_convb_sd14", "seed": 0, "method": "baseline",
     "backbone_label": "Conv-B", "dr_label": "SDv1"},
]


def test_seeds_aggregate_by_the_group_in_the_runs_meta_not_by_the_run_id(tmp_path):
    """The group travels in the runs meta; ids that do not end in -seed<n> are never parsed apart."""
    meta = [
        {"run": "first", "group": "drct-convb", "seed": 1, "method": "drct", "backbone_label": "Conv-B", "dr_label": "SDv1"},
        {"run": "second", "group": "drct-convb", "seed": 2, "method": "drct", "backbone_label": "Conv-B", "dr_label": "SDv1"},
        {"run": "drct-convb-seed0", "group": "other", "seed": 0, "method": "drct", "backbone_label": "Conv-B",
         "dr_label": "SDv2"},
    ]
    files = [_write_metrics(tmp_path / f"{m['run']}.json", m["run"], {"sd14": acc}) for m, acc in zip(meta, (90, 80, 70))]
    rows = our_rows_from_metrics(files, meta, {"sd14": "SDv1.4"})
    assert rows["group"].tolist() == ["drct-convb", "drct-convb", "other"]
    means, stds = aggregate_seeds(rows)
    assert means["SDv1.4"].tolist() == [85.0, 70.0]
    assert len(means) == 2


def test_a_runs_meta_without_its_group_names_the_run(tmp_path):
    meta = [{"run": "r", "seed": 0, "method": "drct", "backbone_label": "Conv-B", "dr_label": "SDv1"}]
    with pytest.raises(KeyError, match="run 'r'.*'group'"):
        our_rows_from_metrics([_write_metrics(tmp_path / "r.json", "r", {"sd14": 1.0})], meta, {"sd14": "SDv1.4"})


def test_our_rows_from_metrics(tmp_path):
    files = [
        _write_metrics(tmp_path / "a.json", "drct_convb_sd14", {"sd14": 99.0, "sd15": 90.785}),
        _write_metrics(tmp_path / "b.json", "baseline_convb_sd14", {"sd14": 80.0, "sd15": 60.0}),
    ]
    rows = our_rows_from_metrics(files, RUNS_META, {"sd14": "SDv1.4", "sd15": "SDv1.5"})
    assert rows["method"].tolist() == ["DRCT/Conv-B", "Conv-B"]
    assert rows["DR"].tolist() == ["SDv1", "-"]  # baselines have no DR
    assert generator_columns(rows) == ["SDv1.4", "SDv1.5"]
    assert round_half_up(rows.loc[0, "Avg"]) == "94.89"  # (99 + 90.785) / 2 = 94.8925
    assert rows.loc[1, "Avg"] == 70.0
    with pytest.raises(KeyError):
        our_rows_from_metrics(files, RUNS_META[:1], {})


def test_our_columns_follow_the_config_not_the_sorted_json(tmp_path):
    # drct.io.write_json sorts keys, so metrics.json lists generators alphabetically
    path = tmp_path / "m.json"
    generators = {"zeta": {"acc": 1.0}, "alpha": {"acc": 2.0}, "extra": {"acc": 3.0}}
    path.write_text(json.dumps({"run": "drct_convb_sd14", "generators": generators}, sort_keys=True))
    rows = our_rows_from_metrics([path], RUNS_META, {"zeta": "Z", "alpha": "A"})
    assert generator_columns(rows) == ["Z", "A", "extra"]  # unmapped names last, kept as they are


def test_render_protocol_writes_table_and_figure(tmp_path):
    columns = generator_columns(load_paper_table("genimage_intra"))
    column_map = {f"g{i}": c for i, c in enumerate(columns)}
    accs = {f"g{i}": 50.0 + 5 * i for i in range(len(columns))}  # 50 .. 85, Avg 67.5
    files = [_write_metrics(tmp_path / "m.json", "drct_convb_sd14", accs)]
    paths = render_protocol("genimage_intra", files, RUNS_META, column_map, False, tmp_path / "out", "GenImage intra")
    md, csv, png, pdf = paths
    assert [p.name for p in paths] == [
        "genimage_intra.md", "genimage_intra.csv", "genimage_intra_accuracy.png", "genimage_intra_accuracy.pdf",
    ]
    text = md.read_text()
    assert text.startswith("# GenImage intra\n")
    assert "| ours | DRCT/Conv-B | SDv1 | 50.00 | 55.00 | 60.00 | 65.00 | 70.00 | 75.00 | 80.00 | 85.00 | 67.50 |" in text
    assert "| paper | DRCT/Conv-B | SDv1 | 94.63 | 99.88 | 99.82 | 61.78 | 65.92 | 99.91 | 74.88 | 59.81 | 82.08 |" in text
    printed = pd.read_csv(csv, dtype=str, keep_default_na=False)
    assert printed["source"].tolist()[-1] == "ours" and printed["Avg"].tolist()[-1] == "67.50"
    assert pdf.stat().st_size > 0
    with Image.open(png) as im:
        assert 800 <= im.width <= 4000 and 300 <= im.height <= 2500


def test_demo_figure_two_panels(tmp_path):
    paper = load_paper_table("drct2m_intra")
    ours = [
        {"method": "Conv-B", "DR": "-", "SDv1.5": 55.0, "Flux": 40.0},
        {"method": "DRCT/Conv-B", "DR": "SDv1", "SDv1.5": 80.0, "Flux": 70.0},
    ]
    table = build_table(paper, ours, generator_columns(paper), demo=True)
    png = tmp_path / "fig.png"
    accuracy_figure(table, png, None, "demo")
    assert png.stat().st_size > 10_000
    with Image.open(png) as im:
        im.verify()
    with Image.open(png) as im:
        assert 800 <= im.width <= 4000 and im.height > im.width / 3  # two stacked panels


def test_paper_package_imports_no_torch():
    code = (
        "import sys, drct.paper, drct.paper.rounding, drct.paper.tables, drct.paper.accuracy_bars, drct.paper.render; "
        "assert 'torch' not in sys.modules, 'drct.paper pulled in torch'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
