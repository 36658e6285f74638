"""Each paper-table preset plans an "ours" row for every row of its paper table.

The tables label a run by its method and backbone label and, for DRCT and DIRE runs, its train
set's DR label (drct.planning.runs.run_meta -> drct.paper.tables.method_label); a paper row
without a planned run of the same label would be left without "ours" beside it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from drct.config import load_yaml, validate_config
from drct.paper.tables import load_paper_table, method_label
from drct.planning.runs import run_meta, runs_for_protocol

PRESETS = Path(__file__).resolve().parents[2] / "presets"
#: the presets that train (eval_released imports the authors' released DRCT checkpoints only)
TRAINING_PRESETS = ["drct2m_intra.yaml", "drct2m_to_genimage.yaml", "genimage_intra.yaml"]


def planned_rows(config: dict, protocol: dict) -> set[tuple[str, str]]:
    metas = [run_meta(config, run) for run in runs_for_protocol(config, protocol)]
    return {(method_label(m["method"], m["backbone_label"]), m["dr_label"]) for m in metas}


@pytest.mark.parametrize("preset", TRAINING_PRESETS)
def test_every_paper_row_has_a_planned_run(preset: str) -> None:
    config = validate_config(load_yaml(PRESETS / preset))
    tabled = [p for p in config["evaluation"]["protocols"] if p.get("paper_table")]
    assert tabled, f"{preset} renders no paper table"
    for protocol in tabled:
        paper = load_paper_table(protocol["paper_table"])
        wanted = {(str(method), str(dr)) for method, dr in zip(paper["method"], paper["DR"])}
        planned = planned_rows(config, protocol)
        assert wanted - planned == set(), f"{preset} {protocol['name']}: paper rows without a run of ours"
        assert planned - wanted == set(), f"{preset} {protocol['name']}: runs of ours the paper has no row for"


def test_the_presets_cover_the_three_paper_tables() -> None:
    tables = {p["paper_table"] for preset in TRAINING_PRESETS
              for p in validate_config(load_yaml(PRESETS / preset))["evaluation"]["protocols"] if p.get("paper_table")}
    assert tables == {"drct2m_intra", "drct2m_to_genimage_cross", "genimage_intra"}
