"""The HTML pages of the paper's Markdown tables, which `snakemake --report` shows in the page."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from helpers.html_tables import tables_of

from drct.paper.html import markdown_page, write_html
from drct.paper.tables import write_table

MARKDOWN = """# Table 1 <ours>

Accuracy (%) at P(fake) > 0.5. `raw files`: as stored;
**Oracle ACC is not a result**.

**ours (demo)**

| Source | Method | DR | FLUX | Avg |
| :--- | :--- | :--- | ---: | ---: |
| ours (demo) | DRCT/Conv-B | SDv1 | 36.36 ± 1.20 | 46.32 |
| ours (demo) | a \\| b | - | 24.24 | 79.11‡ |

## all JPEG q95

| Method | ACC |
| :--- | ---: |
| Conv-B | 45.61 |

- *: outside our 95 % bootstrap interval.
- ‡: not like for like.
"""


def test_markdown_page_turns_every_pipe_table_into_an_html_table() -> None:
    page = markdown_page(MARKDOWN)
    parsed = tables_of(page)
    assert parsed.tables == [
        [["Source", "Method", "DR", "FLUX", "Avg"],
         ["ours (demo)", "DRCT/Conv-B", "SDv1", "36.36 ± 1.20", "46.32"],
         ["ours (demo)", "a | b", "-", "24.24", "79.11‡"]],
        [["Method", "ACC"], ["Conv-B", "45.61"]],
    ]
    # the alignment row is no table row: it right-aligns the numeric columns
    assert parsed.right[:5] == [[False], [False], [False], [True], [True]]
    assert "| :---" not in page and "---:" not in page


def test_markdown_page_keeps_title_notes_and_markup_escaped() -> None:
    page = markdown_page(MARKDOWN)
    assert "<title>Table 1 &lt;ours&gt;</title>" in page and "<h1>Table 1 &lt;ours&gt;</h1>" in page
    assert "<h2>all JPEG q95</h2>" in page
    assert "P(fake) &gt; 0.5. <code>raw files</code>: as stored; <strong>Oracle ACC is not a result</strong>." in page
    assert "<p><strong>ours (demo)</strong></p>" in page
    assert "<li>*: outside our 95 % bootstrap interval.</li>" in page and "<li>‡: not like for like.</li>" in page
    assert "<script" not in page and "http" not in page  # self-contained: nothing runs, nothing is fetched


def test_unknown_markdown_is_kept_as_text() -> None:
    page = markdown_page("> a quote\n1. first\n")
    assert "<p>&gt; a quote 1. first</p>" in page


def test_paper_table_html_holds_the_printed_cells(tmp_path: Path) -> None:
    """The paper-layout table written by `write_table` and its page: the same cells, in the same order."""
    table = pd.DataFrame({
        "source": ["paper", "ours (demo)"], "method": ["Conv-B", "DRCT/Conv-B"], "DR": ["-", "SDv1"],
        "LDM": [99.97, float("nan")], "FLUX": [float("nan"), 36.355], "Avg": [79.105, 36.355], "notes": ["", ""],
    })
    md, csv = tmp_path / "table.md", tmp_path / "table.csv"
    write_table(table, md, csv, title="Demo table", preamble="Accuracy (%).")
    page = write_html(md, tmp_path / "table.html").read_text(encoding="utf-8")
    parsed = tables_of(page).tables
    printed = pd.read_csv(csv, dtype=str, keep_default_na=False)
    cells = [row[3:] for t in parsed for row in t[1:]]
    assert ["99.97", "79.11"] in cells and ["36.36", "36.36"] in cells  # half-up, as printed in the CSV
    assert set(printed["Avg"]) == {row[-1] for row in cells}
    assert re.search(r"<h1>Demo table</h1>", page)
