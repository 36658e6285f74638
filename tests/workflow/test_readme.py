"""The README's step table is the map a newcomer follows: rule -> `drct` command -> module.

It is hand-written, so these tests hold it to the code: every rule it names is defined in the rule
file it names and runs the command it names, every command is a registered subcommand whose
handler imports its work from the module it names, every module is a file under src/, and every
fine-grained rule (one with a `shell:`) of rules/*.smk has a row, so a renamed or added rule
cannot leave the table behind. Only source text is read (no torch, diffusers or timm import).
"""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

import pytest
from helpers.workflow import rule_blocks

from drct.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
HEADER = ["step", "rule file", "rules", "drct command", "module", "outputs"]
CODE = re.compile(r"`([^`\n]+)`")


def step_table(text: str) -> list[dict[str, list[str]]]:
    """Rows of the table whose header is HEADER: per column, the `code` spans of the cell."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if _cells(line) == HEADER]
    assert len(starts) == 1, f"README.md needs exactly one table with the header {' | '.join(HEADER)}"
    rows = []
    for line in lines[starts[0] + 2 :]:
        if not line.startswith("|"):
            break
        cells = _cells(line)
        assert len(cells) == len(HEADER), f"README step table: {len(cells)} cells in {line!r}"
        rows.append({name: CODE.findall(cell) for name, cell in zip(HEADER, cells)})
    return rows


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else []


def has_shell(block: str) -> bool:
    """A rule that runs something (a job of its own), as opposed to an aggregate target."""
    return re.search(r"^\s+(shell|run|script|notebook|wrapper):", block, re.MULTILINE) is not None


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("drct has no subcommands")


def handler_imports() -> dict[str, set[str]]:
    """Per subcommand: the modules its handler in src/drct/cli/ imports from (read with ast)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "src" / "drct" / "cli").glob("*.py")):
        tree = ast.parse(path.read_text())
        functions = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
        for call in ast.walk(tree):
            if not (isinstance(call, ast.Call) and getattr(call.func, "id", None) == "add_command"):
                continue
            name, handler = call.args[1], call.args[2]
            assert isinstance(name, ast.Constant) and isinstance(handler, ast.Name), ast.dump(call)
            found[name.value] = {
                node.module
                for node in ast.walk(functions[handler.id])
                if isinstance(node, ast.ImportFrom) and node.module
            }
    return found


def module_file(module: str) -> Path | None:
    base = ROOT / "src" / Path(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@pytest.fixture(scope="module")
def rows() -> list[dict[str, list[str]]]:
    return step_table(README.read_text())


def test_table_has_rows_with_one_name_per_cell(rows):
    assert len(rows) >= 20
    for row in rows:
        for column in ("rule file", "rules", "drct command", "module"):
            assert len(row[column]) == 1, f"README step table, {column}: expected one `name`, got {row[column]}"


def test_every_rule_named_exists_in_its_rule_file(rows):
    blocks = rule_blocks()
    for row in rows:
        (rule,), (rule_file,) = row["rules"], row["rule file"]
        assert (ROOT / rule_file).is_file(), f"README step table: no file {rule_file}"
        assert rule in blocks, f"README step table: no `rule {rule}:` in rules/*.smk"
        assert blocks[rule][0] == ROOT / rule_file, f"rule {rule} is in {blocks[rule][0].name}, not {rule_file}"


def test_every_command_named_is_registered_and_run_by_its_rule(rows):
    registered = subcommands(build_parser())
    blocks = rule_blocks()
    for row in rows:
        (rule,), (command,) = row["rules"], row["drct command"]
        assert command.startswith("drct "), f"README step table: {command!r} is not a `drct` command"
        name = command.split()[1]
        assert name in registered, f"README step table: `drct {name}` is not a subcommand ({sorted(registered)})"
        if rule in blocks:
            assert re.search(rf"\bdrct {re.escape(name)}\b", blocks[rule][1]), f"rule {rule} does not run `drct {name}`"


def test_every_module_named_is_a_file_and_the_handler_imports_it(rows):
    imports = handler_imports()
    for row in rows:
        (module,), (command,) = row["module"], row["drct command"]
        assert module_file(module) is not None, f"README step table: {module} is no file under src/"
        name = command.split()[1]
        assert module in imports.get(name, set()), (
            f"README step table: the handler of `drct {name}` imports from {sorted(imports.get(name, ()))}, "
            f"not {module}"
        )


def test_every_fine_grained_rule_has_a_row(rows):
    named = {rule for row in rows for rule in row["rules"]}
    missing = sorted(rule for rule, (_, block) in rule_blocks().items() if has_shell(block) and rule not in named)
    assert not missing, f"rules with a shell command missing from the README step table: {missing}"


def test_every_aggregate_target_is_named_in_the_readme():
    text = README.read_text()
    named = set(CODE.findall(text))
    missing = sorted(rule for rule, (_, block) in rule_blocks().items() if not has_shell(block) and rule not in named)
    assert not missing, f"aggregate targets of rules/*.smk not named in the README: {missing}"


def test_methods_table_lists_every_detector_with_its_source_and_input_size():
    """README's Methods table has a row per detector entry, naming its source and input size."""
    from drct.detectors import DETECTORS

    text = README.read_text()
    section = text[text.index("## Methods"):text.index("## Cluster")]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[1:-1]]
            for line in section.splitlines() if line.startswith("| ") and not line.startswith("| row")}
    for detector in DETECTORS.values():
        row = rows[detector.label]
        assert row[2].startswith("authors' code") == detector.source.startswith("authors' code"), detector.name
        assert row[3] == str(detector.image_size), detector.name
        assert detector.model_name in row[1] or detector.family in ("gramnet", "f3net"), detector.name
