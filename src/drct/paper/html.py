"""The paper's Markdown tables as small self-contained HTML pages, for Snakemake's report.

``snakemake --report`` shows images, PDFs and HTML files inside the report, but offers every other
file (a CSV, a Markdown table) only as a download link. So each table the paper rules write in
Markdown is also written as an HTML page, converted from that same Markdown: title, notes and the
printed numbers are identical, and the pipe tables become ``<table>`` elements (numbers right-
aligned, as in the Markdown's alignment row).

Only the Markdown this package writes is understood: ``#`` headings, paragraphs, ``**bold**`` and
backtick code spans, ``- `` lists and pipe tables with an alignment row. Anything else is kept as
escaped text in a paragraph, so nothing is dropped. No third-party library: the paper environment
stays pandas + matplotlib.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from drct.io import atomic_write_text

__all__ = ["markdown_page", "write_html"]

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; font-size: 14px; margin: 1em; color: #222; }
h1 { font-size: 1.25em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: 0.75em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; white-space: nowrap; }
th { background: #f2f2f2; }
tbody tr:nth-child(even) { background: #fafafa; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code { background: #f2f2f2; padding: 0 0.2em; }
""".strip()

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")
_ALIGN_CELL = re.compile(r"^:?-{3,}:?$")


def _inline(text: str) -> str:
    """Escaped text with the ``**bold**`` and backtick code spans this package writes; a lone ``*`` stays."""
    out = html.escape(text, quote=False)
    out = _CODE.sub(r"<code>\1</code>", out)
    return _BOLD.sub(r"<strong>\1</strong>", out)


def _cells(line: str) -> list[str]:
    """The cells of one pipe-table row; ``\\|`` is a literal bar inside a cell."""
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", body)]


def _table(rows: list[str]) -> str:
    """A pipe table as ``<table>``: first row the header, the alignment row sets right-aligned columns."""
    header = _cells(rows[0])
    body = rows[1:]
    right = [False] * len(header)
    if body and all(_ALIGN_CELL.match(c) for c in _cells(body[0])):
        right = [c.endswith(":") and not c.startswith(":") for c in _cells(body[0])]
        body = body[1:]

    def cls(i: int) -> str:
        return ' class="num"' if i < len(right) and right[i] else ""

    lines = ["<table>", "<thead><tr>" + "".join(f"<th{cls(i)}>{_inline(c)}</th>" for i, c in enumerate(header)) + "</tr></thead>",
             "<tbody>"]
    for row in body:
        lines.append("<tr>" + "".join(f"<td{cls(i)}>{_inline(c)}</td>" for i, c in enumerate(_cells(row))) + "</tr>")
    lines += ["</tbody>", "</table>"]
    return "\n".join(lines)


def _body(markdown: str) -> tuple[str, str | None]:
    """(HTML body, first ``#`` heading) of the Markdown, block by block."""
    out: list[str] = []
    title: str | None = None
    paragraph: list[str] = []
    items: list[str] = []
    table: list[str] = []

    def flush() -> None:
        if paragraph:
            out.append(f"<p>{_inline(' '.join(paragraph))}</p>")
            paragraph.clear()
        if items:
            out.append("<ul>\n" + "\n".join(f"<li>{_inline(i)}</li>" for i in items) + "\n</ul>")
            items.clear()
        if table:
            out.append(_table(table))
            table.clear()

    for raw in markdown.splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        if table and not stripped.startswith("|"):
            flush()
        if not stripped:
            flush()
        elif stripped.startswith("|"):
            if not table:
                flush()
            table.append(stripped)
        elif heading := re.match(r"^(#{1,6})\s+(.*)$", stripped):
            flush()
            level, text = len(heading.group(1)), heading.group(2)
            title = title or text
            out.append(f"<h{level}>{_inline(text)}</h{level}>")
        elif stripped.startswith("- "):
            if paragraph:
                flush()
            items.append(stripped[2:])
        elif items and line[:1].isspace():  # an indented line continues the list item above
            items[-1] += " " + stripped
        else:
            if items:
                flush()
            paragraph.append(stripped)
    flush()
    return "\n".join(out), title


def markdown_page(markdown: str, title: str | None = None) -> str:
    """A standalone HTML page (inline style, no script, nothing fetched) of this package's Markdown.

    ``title`` names the page; by default the Markdown's first heading.
    """
    body, heading = _body(markdown)
    name = html.escape(title or heading or "table", quote=False)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{name}</title>\n<style>\n{_STYLE}\n</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def write_html(markdown_path: Path, html_path: Path) -> Path:
    """Write the HTML page of a Markdown file this package wrote (atomically); return its path."""
    return atomic_write_text(Path(html_path), markdown_page(Path(markdown_path).read_text(encoding="utf-8")))
