"""Where the demo's CPU time goes: imports of each `drct` command, and each rule's jobs.

Why: every DAG job is a new Python process, so a command that imports torch, timm, open_clip or
diffusers pays seconds before it does any work, once per job (and at paper scale once per shard
and per evaluation, on a cluster once per submitted job). This benchmark measures, per `drct`
command the DAG runs:

* ``import_s``: wall time of a fresh interpreter that only executes the command's imports (the
  handler's lazy imports in src/drct/cli/), minus a bare ``python -c pass``; median of ``--repeat``;
* ``heavy``: which heavy packages those imports bring into ``sys.modules``;

and, from a finished demo run's Snakemake ``benchmark:`` files (``logs/benchmarks/<experiment>/``),
per rule: jobs, summed wall ``s`` and ``cpu_time``; so work time = job time - import time.

``--run-demo`` first runs the demo DAG in a scratch copy of the project (nothing is written here)
and records its wall time, CPU time (the children's user+sys) and the load average around it.

    PATH=$PWD/.venv/bin:$PATH python benchmarks/startup/run.py --run-demo --out benchmarks/startup/results.json

A figure only compares with another measured at the same load: the machine's load is recorded.
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from drct.provenance import machine_info

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "torchvision", "timm", "open_clip", "diffusers", "transformers", "albumentations",
         "cv2", "sklearn", "skimage", "matplotlib", "seaborn", "pandas", "scipy")


def rule_commands() -> dict[str, str]:
    """Rule -> the `drct` subcommand its shell command runs (rules/*.smk)."""
    commands = {}
    for path in sorted((ROOT / "rules").glob("*.smk")):
        text = path.read_text()
        # `rule NAME:`, or a rule defined in a loop (rules/evaluate.smk): `name: group_rule("NAME", i)`
        starts = [(m.start(), m.group(1)) for m in re.finditer(r"^rule (\w+):", text, re.M)]
        starts += [(m.start(), m.group(1)) for m in re.finditer(r'group_rule\(\s*"(\w+)"', text)]
        starts.sort()
        for (start, name), (end, _) in zip(starts, [*starts[1:], (len(text), "")]):
            found = re.search(r'"drct ([a-z][a-z-]*)', text[start:end])
            if found:
                commands.setdefault(name, found.group(1))
    return commands


def command_imports() -> dict[str, list[str]]:
    """`drct` subcommand -> the import statements its handler (and the helpers it calls) runs."""
    imports = {}
    for path in sorted((ROOT / "src/drct/cli").glob("*.py")):
        tree = ast.parse(path.read_text())
        functions = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "add_command" and len(node.args) >= 3
                    and isinstance(node.args[1], ast.Constant) and isinstance(node.args[2], ast.Name)):
                handler = functions[node.args[2].id]
                called = [functions[n.id] for n in ast.walk(handler) if isinstance(n, ast.Name) and n.id in functions]
                statements = [ast.unparse(n) for f in (handler, *called) for n in ast.walk(f)
                              if isinstance(n, (ast.Import, ast.ImportFrom))]
                imports[node.args[1].value] = [f"import drct.cli.{path.stem}", *dict.fromkeys(statements)]
    return imports


def _timed(code: str) -> tuple[float, list[str]]:
    probe = code + f"\nimport sys, json\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return time.perf_counter() - start, json.loads(done.stdout.strip().splitlines()[-1])


def measure_imports(commands: list[str], repeat: int) -> dict[str, dict]:
    statements = command_imports()
    bare = statistics.median(_timed("pass")[0] for _ in range(repeat))
    out = {}
    for command in commands:
        code = "\n".join(statements[command])
        times, heavy = [], []
        for _ in range(repeat):
            seconds, heavy = _timed(code)
            times.append(seconds)
        out[command] = {"import_s": round(max(0.0, statistics.median(times) - bare), 2), "heavy": heavy}
    return out


def rule_benchmarks(workdir: Path, experiment: str) -> dict[str, dict]:
    """Per rule: jobs, summed wall seconds and CPU seconds from Snakemake's benchmark TSVs."""
    per_rule: dict[str, dict] = defaultdict(lambda: {"jobs": 0, "s": 0.0, "cpu_time": 0.0})
    for base in (workdir / "logs/benchmarks" / experiment, workdir / "logs/benchmarks"):
        for tsv in base.rglob("*.tsv"):
            rule = tsv.relative_to(base).parts[0]
            if rule == experiment:
                continue
            with open(tsv, newline="") as fh:
                for row in csv.DictReader(fh, delimiter="\t"):
                    entry = per_rule[rule]
                    entry["jobs"] += 1
                    entry["s"] += float(row["s"])
                    entry["cpu_time"] += float(row.get("cpu_time") or 0.0)
    return {rule: {k: round(v, 2) if isinstance(v, float) else v for k, v in e.items()} for rule, e in sorted(per_rule.items())}


def run_demo(workdir: Path) -> dict:
    """The demo DAG in a scratch copy: wall time, children's CPU time, load before and after."""
    ignore = shutil.ignore_patterns(".git", ".venv", "results", "logs", ".snakemake", "__pycache__", "*.egg-info")
    shutil.copytree(ROOT, workdir, ignore=ignore)
    (workdir / "results").mkdir(exist_ok=True)
    shutil.copy(ROOT / "results/README.md", workdir / "results/README.md")
    load_before = os.getloadavg()[0]
    before = os.times()
    start = time.perf_counter()
    subprocess.run([shutil.which("snakemake") or "snakemake", "--cores", "all", "--quiet", "all"], cwd=workdir,
                   check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "load_before": round(load_before, 2),
            "load_after": round(os.getloadavg()[0], 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-demo", action="store_true", help="run the demo DAG in a scratch copy first")
    parser.add_argument("--workdir", type=Path, default=ROOT, help="a finished demo run (without --run-demo)")
    parser.add_argument("--experiment", default="demo")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="write the figures here (JSON)")
    args = parser.parse_args(argv)

    record: dict = {"machine": machine_info()}
    with tempfile.TemporaryDirectory() as scratch:
        workdir = args.workdir
        if args.run_demo:
            workdir = Path(scratch) / "project"
            record["demo"] = run_demo(workdir)
        record["rules"] = rule_benchmarks(workdir, args.experiment)
    commands = rule_commands()
    used = sorted(set(commands.values()) | {"predict"})
    record["imports"] = measure_imports(used, args.repeat)
    for rule, entry in record["rules"].items():
        command = commands.get(rule)
        if command and entry["jobs"]:
            entry["command"] = command
            entry["import_s_total"] = round(record["imports"][command]["import_s"] * entry["jobs"], 1)
    record["totals"] = {
        "jobs": sum(e["jobs"] for e in record["rules"].values()),
        "job_s": round(sum(e["s"] for e in record["rules"].values()), 1),
        "job_cpu_s": round(sum(e["cpu_time"] for e in record["rules"].values()), 1),
        "import_s": round(sum(e.get("import_s_total", 0.0) for e in record["rules"].values()), 1),
    }
    print(f"{'rule':24} {'command':22} {'jobs':>4} {'job s':>8} {'cpu s':>8} {'import s/job':>12}  heavy imports")
    for rule, entry in record["rules"].items():
        command = entry.get("command", "")
        imports = record["imports"].get(command, {"import_s": 0.0, "heavy": []})
        print(f"{rule:24} {command:22} {entry['jobs']:>4} {entry['s']:>8.1f} {entry['cpu_time']:>8.1f} "
              f"{imports['import_s']:>12.2f}  {','.join(imports['heavy'])}")
    print(json.dumps(record["totals"]), json.dumps(record.get("demo", {})))
    if args.out:
        args.out.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
