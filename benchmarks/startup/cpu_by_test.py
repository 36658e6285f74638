"""A pytest plugin that records each test's CPU seconds, its subprocesses' included.

Wall time per test (``--durations``) hides what the suite really spends on 2 CPUs: a test waiting
for the session's demo run looks long and costs nothing, and one DAG test's jobs compete with the
other worker's. This records, per test (setup, call and teardown together), the worker's own CPU
seconds and those of every subprocess it waited for (``os.times``: children's user + system, which
include their own waited-for children, so a Snakemake run counts with all its jobs). Jobs that a
Slurm daemon runs are not our descendants and are not counted.

    DRCT_TEST_CPU=/tmp/cpu .venv/bin/python -m pytest -p benchmarks.startup.cpu_by_test -n auto ...
    python benchmarks/startup/cpu_by_test.py /tmp/cpu          # per file, largest first

Each worker appends one JSON line per test to ``$DRCT_TEST_CPU/<worker>.jsonl``.
"""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict
from pathlib import Path

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    folder = os.environ.get("DRCT_TEST_CPU")
    before = os.times()
    yield
    if not folder:
        return
    after = os.times()
    record = {"test": item.nodeid, "wall_s": round(after.elapsed - before.elapsed, 2),
              "self_cpu_s": round(after.user + after.system - before.user - before.system, 2),
              "children_cpu_s": round(after.children_user + after.children_system
                                      - before.children_user - before.children_system, 2)}
    Path(folder).mkdir(parents=True, exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(Path(folder) / f"{worker}.jsonl", "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")


def summarise(folder: Path, top: int = 30) -> str:
    """Per test file: tests, wall, own CPU, subprocess CPU; largest total CPU first."""
    files: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0])
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            row = files[record["test"].split("::")[0]]
            row[0] += 1
            row[1] += record["wall_s"]
            row[2] += record["self_cpu_s"]
            row[3] += record["children_cpu_s"]
    rows = sorted(files.items(), key=lambda kv: -(kv[1][2] + kv[1][3]))
    total = [sum(r[i] for _, r in rows) for i in range(4)]
    lines = ["| file | tests | wall s | own CPU s | subprocess CPU s | CPU s |", "|---|---:|---:|---:|---:|---:|"]
    for name, (n, wall, own, sub) in rows[:top]:
        lines.append(f"| {name} | {n} | {wall:.0f} | {own:.0f} | {sub:.0f} | {own + sub:.0f} |")
    rest = rows[top:]
    if rest:
        lines.append(f"| {len(rest)} other files | {sum(r[0] for _, r in rest)} | {sum(r[1] for _, r in rest):.0f} | "
                     f"{sum(r[2] for _, r in rest):.0f} | {sum(r[3] for _, r in rest):.0f} | "
                     f"{sum(r[2] + r[3] for _, r in rest):.0f} |")
    lines.append(f"| all | {total[0]:.0f} | {total[1]:.0f} | {total[2]:.0f} | {total[3]:.0f} | {total[2] + total[3]:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(summarise(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 30))
