"""Time `snakemake -n` on the full DRCT-2M preset with a synthetic manifest of the real size.

Why: the paper-scale dataset has about 2.3 million images (COCO train+val and 18 generated sets
of 123,287 images each). A DAG with one job per image would take Snakemake minutes to hours to
build; this pipeline shards by subset/split and by a count-independent hash, so the DAG must stay
small and fast whatever the data size. Target (issue 4): under 60 s on the project's 2-core machine.

What it does, in a scratch directory (nothing is written in the project):

1. ``empty``: ``snakemake -n`` with no data at all (a fresh clone);
2. ``data-present``: the data steps' outputs exist at full size: a synthetic ``manifest.csv`` and
   ``manifest.valid.csv`` with one row per image of ``data/expected_counts/drct2m.yaml``
   (2,342,453 rows), ``counts.csv``, an empty ``quarantine.csv`` and placeholder archives, with
   modification times in pipeline order, so Snakemake sees the data steps as done;
3. ``data-present-recompute``: the same with ``reconstruction.mode: recompute`` (7 jobs x 64
   shards = 448 reconstruction jobs).

Each case is run ``--repeat`` times; the median and maximum wall time, the job count, and the
machine are written to ``results.json`` (and printed).

Run from the project root, with the project's environment on PATH:

    PATH=$PWD/.venv/bin:$PATH python benchmarks/snakemake_dag/run.py --repeat 3
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from drct.provenance import machine_info, tool_version

ROOT = Path(__file__).resolve().parents[2]
PRESET = ROOT / "presets" / "drct2m_intra.yaml"
HEADER = "dataset,generator,split,label,path,bytes,width,height,format,sha256,jpeg_quality\n"


def _snakemake() -> str:
    return shutil.which("snakemake", path=str(Path(sys.executable).parent)) or "snakemake"


def write_synthetic_manifest(path: Path, counts_file: Path) -> int:
    """One row per expected image (COCO-id-like names, fake sha256), streamed to disk."""
    from drct.data.counts import load_expected_counts

    expected = load_expected_counts(counts_file)
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(HEADER)
        for e in expected:
            label = 0 if e.generator == "real" else 1
            fmt, ext, quality = ("JPEG", "jpg", "95") if label == 0 else ("PNG", "png", "")
            lines = []
            for i in range(e.count):
                sha = f"{(n + i) * 2654435761 % (1 << 64):016x}" * 4
                lines.append(f"drct2m,{e.generator},{e.split},{label},images/{e.generator}/{e.split}/"
                             f"{i:012d}.{ext},123456,512,512,{fmt},{sha},{quality}\n")
            fh.writelines(lines)
            n += e.count
    return n


def prepare_data(work: Path, config: dict) -> int:
    """Full-size data-step outputs with mtimes in pipeline order (archives < manifest < valid)."""
    downloads = work / "results" / "downloads"
    for d in config["downloads"]:
        archive = downloads / d["name"] / d["path"].rsplit("/", 1)[-1]
        archive.parent.mkdir(parents=True, exist_ok=True)
        archive.touch()
    data = work / "results" / "data" / "drct2m"
    data.mkdir(parents=True, exist_ok=True)
    rows = write_synthetic_manifest(data / "manifest.csv", ROOT / "data/expected_counts/drct2m.yaml")
    (data / "counts.csv").write_text("generator,split,label,expected,found,status,ok,source\n")
    shutil.copyfile(data / "manifest.csv", data / "manifest.valid.csv")
    (data / "quarantine.csv").write_text(HEADER.rstrip("\n") + ",reason,detail\n")
    stamp = time.time() - 3600
    ordered = [*sorted(downloads.rglob("*.zip")), data / "counts.csv", data / "manifest.csv",
               data / "manifest.valid.csv", data / "quarantine.csv"]
    for i, path in enumerate(ordered):
        os.utime(path, (stamp + i, stamp + i))
    return rows


def dry_run(work: Path, configfile: Path) -> tuple[float, int]:
    """Seconds for one `snakemake -n` and the number of jobs it planned."""
    cmd = [_snakemake(), "-n", "--quiet", "rules", "--snakefile", str(ROOT / "Snakefile"),
           "--directory", str(work), "--configfile", str(configfile)]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(result.stdout[-3000:] + result.stderr[-3000:])
    total = re.search(r"^total\s+(\d+)$", result.stdout, re.M)
    return elapsed, int(total.group(1)) if total else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results.json"))
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()

    config = yaml.safe_load(PRESET.read_text())
    scratch = Path(tempfile.mkdtemp(prefix="drct-dag-bench-"))
    results: dict = {"preset": "presets/drct2m_intra.yaml", "target_seconds": 60, "cases": {}}
    try:
        recompute = dict(config, reconstruction=dict(config["reconstruction"], mode="recompute"))
        (scratch / "recompute.yaml").write_text(yaml.safe_dump(recompute))
        cases = [("empty", scratch / "empty", PRESET),
                 ("data-present", scratch / "data", PRESET),
                 ("data-present-recompute", scratch / "data", scratch / "recompute.yaml")]
        (scratch / "empty").mkdir()
        start = time.perf_counter()
        rows = prepare_data(scratch / "data", config)
        size = (scratch / "data/results/data/drct2m/manifest.csv").stat().st_size
        print(f"synthetic manifest: {rows} rows, {size / 2**20:.0f} MiB "
              f"(written in {time.perf_counter() - start:.0f} s)", flush=True)
        results["manifest_rows"], results["manifest_mib"] = rows, round(size / 2**20)
        for name, work, configfile in cases:
            times, jobs = [], 0
            for _ in range(args.repeat):
                seconds, jobs = dry_run(work, configfile)
                times.append(seconds)
            results["cases"][name] = {"jobs": jobs, "seconds_median": round(statistics.median(times), 2),
                                      "seconds_max": round(max(times), 2),
                                      "seconds_all": [round(t, 2) for t in times]}
            print(f"{name:24s} {jobs:4d} jobs  median {statistics.median(times):6.2f} s  "
                  f"max {max(times):6.2f} s", flush=True)
    finally:
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    results["machine"] = {**machine_info(), "snakemake": tool_version([_snakemake(), "--version"])}
    results["recorded"] = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    results["under_target"] = all(c["seconds_max"] < 60 for c in results["cases"].values())
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if results["under_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
