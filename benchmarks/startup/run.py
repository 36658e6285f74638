"""Where the demo's time goes: imports against work, per `drct` command the DAG runs.

Why: every DAG job is a new Python process, so a command that imports torch, timm, open_clip or
diffusers pays seconds before it does any work, once per job (and at paper scale once per shard
and per evaluation, on a cluster once per submitted job). This benchmark runs the demo DAG of a
checkout (this one, or another one for a before/after comparison) in a scratch copy, with a shim
named ``drct`` first on PATH that runs each command under ``python -X importtime`` and records:

* per command: jobs, wall and CPU seconds (user+sys of the command's process tree), and the
  import seconds of each job (the sum of the top-level entries of ``-X importtime``: every import
  the process made, lazy ones inside functions included), so work = wall - import;
* per rule (where the checkout's rules have ``benchmark:`` files): jobs, wall and CPU seconds;
* the DAG: wall time, CPU time of every process under Snakemake, and the machine's 1-minute load
  average sampled every 5 s while it ran (a figure compares only with another at the same load);
* ``drct predict`` on a folder of ``--predict-images`` demo images with each trained checkpoint;
* for this checkout only, the statically listed imports of each command's handler and the heavy
  packages they bring (which imports are left to the job).

    PATH=$PWD/.venv/bin:$PATH python benchmarks/startup/run.py --label after \
        --out benchmarks/startup/results/after.json
    git worktree add /tmp/before bb33c19
    PATH=$PWD/.venv/bin:$PATH python benchmarks/startup/run.py --project /tmp/before --label before \
        --out benchmarks/startup/results/before.json
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
import threading
import time
from collections import defaultdict
from pathlib import Path

from drct.provenance import machine_info

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "torchvision", "timm", "open_clip", "diffusers", "transformers", "albumentations",
         "cv2", "sklearn", "skimage", "matplotlib", "seaborn", "pandas", "scipy")

# The shim: runs the real command in a child interpreter with -X importtime, forwards every other
# line of its stderr, and appends one JSON line per job to $DRCT_STARTUP_LOG.
SHIM = '''#!{python}
import json, os, resource, subprocess, sys, time
start = time.perf_counter()
code = "import sys; sys.argv[0] = 'drct'; from drct.cli import main; sys.exit(main())"
child = subprocess.Popen([sys.executable, "-X", "importtime", "-c", code, *sys.argv[1:]],
                         stderr=subprocess.PIPE, text=True, errors="replace")
import_us = 0
for line in child.stderr:
    if line.startswith("import time:"):
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit() and not parts[2][1:].startswith(" "):
            import_us += int(parts[1])  # a top-level import: its cumulative time holds its children
        continue
    sys.stderr.write(line)
returncode = child.wait()
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(os.environ["DRCT_STARTUP_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps({{"command": next((a for a in sys.argv[1:] if not a.startswith("-")), ""),
                          "wall_s": time.perf_counter() - start, "cpu_s": usage.ru_utime + usage.ru_stime,
                          "import_s": import_us / 1e6, "returncode": returncode}}) + "\\n")
sys.exit(returncode)
'''


def rule_commands() -> dict[str, str]:
    """Rule -> the `drct` subcommand its shell command runs (rules/*.smk of this checkout)."""
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
    """Per command of this checkout: the handler's imports in a fresh interpreter, minus a bare start."""
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
    base = workdir / "logs" / "benchmarks" / experiment
    for tsv in base.rglob("*.tsv"):
        parts = tsv.relative_to(base).parts
        rule = parts[0] if len(parts) > 1 else tsv.stem
        with open(tsv, newline="") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                entry = per_rule[rule]
                entry["jobs"] += 1
                entry["s"] += float(row["s"])
                entry["cpu_time"] += float(row.get("cpu_time") or 0.0)
    return {rule: {k: round(v, 2) if isinstance(v, float) else v for k, v in e.items()} for rule, e in sorted(per_rule.items())}


def per_command(log: Path) -> dict[str, dict]:
    """The shim's job lines summed per command."""
    out: dict[str, dict] = defaultdict(lambda: {"jobs": 0, "wall_s": 0.0, "cpu_s": 0.0, "import_s": 0.0})
    for line in log.read_text(encoding="utf-8").splitlines():
        job = json.loads(line)
        entry = out[job["command"]]
        entry["jobs"] += 1
        for key in ("wall_s", "cpu_s", "import_s"):
            entry[key] += job[key]
    for entry in out.values():
        entry["work_s"] = entry["wall_s"] - entry["import_s"]
        entry.update({k: round(v, 2) for k, v in entry.items() if isinstance(v, float)})
    return dict(sorted(out.items()))


class LoadSampler:
    """The 1-minute load average every ``every`` seconds while a command runs."""

    def __init__(self, every: float = 5.0) -> None:
        self.every, self.samples, self._stop = every, [os.getloadavg()[0]], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> dict:
        return {"before": round(self.samples[0], 2), "mean": round(statistics.fmean(self.samples), 2),
                "max": round(max(self.samples), 2), "after": round(self.samples[-1], 2)}


def timed_run(argv: list[str], cwd: Path, env: dict[str, str]) -> dict:
    """Run a command; its wall time, the CPU time of its process tree, and the load meanwhile."""
    before = os.times()
    with LoadSampler() as load:
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, check=True)
        wall = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "load": load.summary()}


def scratch_copy(project: Path, workdir: Path) -> None:
    ignore = shutil.ignore_patterns(".git", ".venv", "results", "logs", ".snakemake", "__pycache__", "*.egg-info",
                                    ".dvc", "dvc_plots")
    shutil.copytree(project, workdir, ignore=ignore)
    (workdir / "results").mkdir(exist_ok=True)


def shim_environ(workdir: Path, log: Path) -> dict[str, str]:
    """PATH with the shim first (then this interpreter's bin), the copy's own code on PYTHONPATH."""
    bin_dir = workdir / ".startup-shim"
    bin_dir.mkdir()
    shim = bin_dir / "drct"
    shim.write_text(SHIM.format(python=sys.executable), encoding="utf-8")
    shim.chmod(0o755)
    path = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {**os.environ, "PATH": path, "PYTHONPATH": str(workdir / "src"), "HF_HUB_OFFLINE": "1",
            "DRCT_STARTUP_LOG": str(log)}


def predict_folder(workdir: Path, experiment: str, count: int) -> Path:
    """The first ``count`` images (sorted by path) of the demo's DRCT-2M-like dataset, in one folder."""
    images = sorted(p for p in (workdir / "results" / "data").rglob("*")
                    if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".webp"} and "demo-drct2m" in p.parts)
    folder = workdir / "predict-images"
    folder.mkdir()
    for i, image in enumerate(images[:count]):
        shutil.copy(image, folder / f"{i:03d}{image.suffix.lower()}")
    return folder


def run_predict(workdir: Path, env: dict[str, str], experiment: str, count: int) -> dict[str, dict]:
    """`drct predict` once per trained checkpoint (our DRCT runs) on the same image folder."""
    folder = predict_folder(workdir, experiment, count)
    out = {}
    for checkpoint in sorted((workdir / "results" / experiment / "train").glob("*/*/best.safetensors")):
        log = workdir / f"predict-{checkpoint.parent.name}.jsonl"
        timing = timed_run(["drct", "predict", "--checkpoint", str(checkpoint), "--out", str(workdir / "p.csv"),
                            "--no-progress", "--threads", "2", str(folder)], workdir, {**env, "DRCT_STARTUP_LOG": str(log)})
        job = json.loads(log.read_text().splitlines()[-1])
        out[checkpoint.parent.name] = {"images": count, **timing, "import_s": round(job["import_s"], 2),
                                       "work_s": round(job["wall_s"] - job["import_s"], 2)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=ROOT, help="the checkout whose demo is run (default: this one)")
    parser.add_argument("--label", default="after", help="what this checkout is (before/after)")
    parser.add_argument("--experiment", default="demo")
    parser.add_argument("--predict-images", type=int, default=57)
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of the static import probe")
    parser.add_argument("--out", type=Path, default=None, help="write the figures here (JSON)")
    args = parser.parse_args(argv)

    record: dict = {"label": args.label, "machine": machine_info(),
                    "project_commit": subprocess.run(["git", "rev-parse", "HEAD"], cwd=args.project,
                                                     capture_output=True, text=True).stdout.strip()}
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch) / "project"
        scratch_copy(args.project, workdir)
        log = Path(scratch) / "jobs.jsonl"
        env = shim_environ(workdir, log)
        record["demo"] = timed_run(["snakemake", "--cores", "all", "--quiet", "all"], workdir, env)
        record["commands"] = per_command(log)
        record["rules"] = rule_benchmarks(workdir, args.experiment)
        record["predict"] = run_predict(workdir, env, args.experiment, args.predict_images)
    if args.project.resolve() == ROOT:
        commands = rule_commands()
        record["handler_imports"] = measure_imports(sorted(set(commands.values()) | {"predict"}), args.repeat)
    totals = {key: round(sum(e[key] for e in record["commands"].values()), 1) for key in ("wall_s", "cpu_s", "import_s")}
    record["totals"] = {"jobs": sum(e["jobs"] for e in record["commands"].values()), **totals}

    print(f"{'command':24} {'jobs':>4} {'wall s':>8} {'cpu s':>8} {'import s':>9} {'work s':>8}")
    for command, entry in record["commands"].items():
        print(f"{command:24} {entry['jobs']:>4} {entry['wall_s']:>8.1f} {entry['cpu_s']:>8.1f} "
              f"{entry['import_s']:>9.1f} {entry['work_s']:>8.1f}")
    print("totals", json.dumps(record["totals"]), "demo", json.dumps(record["demo"]))
    print("predict", json.dumps(record["predict"]))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
