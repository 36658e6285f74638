"""LaTeX tables: the paper's marking (best bold, second underlined) and group headers, on hand-made tables."""

from __future__ import annotations

import pandas as pd

from drct.paper.latex import escape, group_spans, latex_table, latex_tabular, marks
from drct.paper.tables import (
    COLUMN_GROUPS,
    build_table,
    generator_columns,
    load_paper_table,
)


def test_marks_compare_printed_values():
    assert marks([90.0, 95.0, 80.0]) == ["second", "best", ""]
    # 99.994 and 99.99 print the same: both best; next distinct value is second
    assert marks([99.994, 99.99, 98.5, 97.0]) == ["best", "best", "second", ""]
    assert marks([50.0, float("nan"), 50.0]) == ["best", "", "best"]  # one distinct value: no second
    assert marks([float("nan")]) == [""]


def test_escape():
    assert escape("a_b & 50% #1") == r"a\_b \& 50\% \#1"


def test_tabular_of_a_hand_made_table():
    paper = pd.DataFrame([
        {"method": "CNNSpot", "DR": "-", "G1": 90.0, "G2": 60.0, "Avg": 75.0, "notes": ""},
        {"method": "DIRE", "DR": "SDv1", "G1": 95.5, "G2": 50.0, "Avg": 72.75, "notes": ""},
    ])
    ours = [{"method": "DRCT/Conv-B", "DR": "SDv1", "G1": 92.0, "G2": 70.0}]  # Avg 81
    table = build_table(paper, ours, ["G1", "G2"], demo=False)
    text = latex_tabular(table, ["G1", "G2"])
    lines = text.splitlines()
    assert lines[0] == r"\begin{tabular}{llccc}" and lines[1] == r"\toprule"
    assert r"Method & DR & G1 & G2 & Avg. \\" in lines
    # G1: 95.5 best, 92 second; G2: 70 best, 60 second; Avg: 81 best, 75 second
    assert r"CNNSpot & - & 90.00 & \underline{60.00} & \underline{75.00} \\" in lines
    assert r"DIRE & SDv1 & \textbf{95.50} & 50.00 & 72.75 \\" in lines
    assert r"DRCT/Conv-B & SDv1 & \underline{92.00} & \textbf{70.00} & \textbf{81.00} \\" in lines
    # a \midrule between the row blocks: no-DR detectors | DIRE | ours
    body = lines[lines.index(r"Method & DR & G1 & G2 & Avg. \\") + 2:]
    assert [line for line in body if line == r"\midrule"] == [r"\midrule"] * 2
    assert lines[-2:] == [r"\bottomrule", r"\end{tabular}"]


def test_std_cells_with_several_seeds():
    table = build_table(pd.DataFrame(columns=["method", "DR", "G1", "Avg", "notes"]),
                        [{"method": "UnivFD", "DR": "-", "G1": 80.0}], ["G1"], demo=False)
    std = pd.DataFrame({"G1": [1.234], "Avg": [1.234]}, index=table.index)
    assert r"UnivFD & - & \textbf{80.00$\pm$1.23} & \textbf{80.00$\pm$1.23} \\" in latex_tabular(table, ["G1"], std=std)


def test_table1_group_header():
    paper = load_paper_table("drct2m_intra")
    columns = generator_columns(paper)
    spans = group_spans(columns, COLUMN_GROUPS["drct2m_intra"])
    assert [(name, last - first + 1) for name, first, last in spans] == [
        ("SD Variants", 6), ("Turbo Variants", 2), ("LCM Variants", 2), ("ControlNet Variants", 3), ("DR Variants", 3),
    ]
    text = latex_tabular(build_table(paper, [], columns, demo=False), columns, groups=COLUMN_GROUPS["drct2m_intra"])
    assert r"\multicolumn{6}{c}{SD Variants}" in text and r"\cmidrule(lr){3-8}" in text
    assert r"\cmidrule(lr){16-18}" in text  # DR Variants: columns 14-16 after Method and DR
    # the paper's own marks in Table 1, SDv1.4 column: Conv-B's 100.0 bold, CLIP/RN50's 99.99 underlined
    assert r"Conv-B & - & \textbf{99.97} & \textbf{100.00}" in text
    assert r"CLIP/RN50 & - & 99.00 & \underline{99.99}" in text
    # columns that are not the paper's full set get no group header
    assert group_spans(["LDM", "FLUX"], COLUMN_GROUPS["drct2m_intra"]) is None
    assert group_spans(["SDv1.4", "SD-Turbo", "LDM"], COLUMN_GROUPS["drct2m_intra"]) is None  # SD split


def test_latex_table_wraps_each_tabular():
    text = latex_table([("(a)", "T1"), ("(b)", "T2")], "Cap_tion", "tab:x")
    assert text.count(r"\begin{table*}") == 2 and r"\label{tab:x-2}" in text
    assert r"\caption{Cap\_tion (a)}" in text and "booktabs" in text
