"""Time `dvc status` (and the commit, push and checkout around it) on a tree of many small files.

Why: at paper scale the reconstruction phase writes about 2 million PNGs, one per image, under
``results/<experiment>/reconstruction/<dataset>/<output>/<split>/images/``, and dvc.yaml records
that folder as one output of the ``reconstruct`` stage. Issue 5 asks that DVC handle this
"without crawling", measured on a simulated tree of at least 200,000 small files in the layout
the pipeline writes; if loose files turn out too slow, a shard layout (e.g. tar files per
generator and split) would have to replace them.

What it does, in a scratch git + DVC repository (nothing is written in the project):

1. writes ``--files`` small files (random bytes, ``--size`` bytes each, named like the pipeline's
   PNGs) spread over the reconstruction jobs of ``presets/drct2m_intra.yaml`` in recompute mode
   (7 jobs: real train/test and fake-rec for SDv1 and SDv2, real test for SDXL), in the
   pipeline's folder layout, plus each job's manifest;
2. ``dvc commit``: records the folder as the output of a stage shaped like dvc.yaml's
   ``reconstruct`` stage (hashes every file, fills the cache, writes dvc.lock);
3. ``dvc status`` three ways: ``warm`` (right after the commit, DVC's state database knows every
   file), ``one-changed`` (one image rewritten: status must find it), ``cold`` (state database
   deleted, as on a fresh checkout or another machine: every file is read and hashed again);
4. ``dvc push`` to a local-folder remote, then in a fresh clone ``dvc pull`` followed by
   ``dvc status``: what a collaborator pays to get the reconstructions instead of recomputing.

Each ``dvc status`` is run ``--repeat`` times; wall times and the machine go to ``results.json``
(``--out`` elsewhere; ``--no-transfer`` skips step 4, for a second size that shows how status scales).

Run from the project root, with the project's environment on PATH:

    PATH=$PWD/.venv/bin:$PATH python benchmarks/dvc_status/run.py --files 200000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from drct.provenance import machine_info, tool_version

ROOT = Path(__file__).resolve().parents[2]

#: The reconstruction jobs of presets/drct2m_intra.yaml (dataset, output, split), with the share of
#: the files each gets: COCO train2017 (118,287) for the train jobs, val2017 (5,000) for the test
#: jobs, the generator's train split (118,287) for the fake-rec jobs.
JOBS: tuple[tuple[str, str, int], ...] = (
    ("stable-diffusion-inpainting", "train", 118_287),
    ("stable-diffusion-inpainting", "test", 5_000),
    ("fake-rec-stable-diffusion-v1-4", "train", 118_287),
    ("stable-diffusion-2-inpainting", "train", 118_287),
    ("stable-diffusion-2-inpainting", "test", 5_000),
    ("fake-rec-stable-diffusion-2-1", "train", 118_287),
    ("stable-diffusion-xl-1.0-inpainting-0.1", "test", 5_000),
)

DVC_YAML = """\
stages:
  reconstruct:
    cmd: "true"
    outs:
      - results/drct2m_intra/reconstruction:
          persist: true
"""


def _bin(name: str) -> str:
    return shutil.which(name, path=str(Path(sys.executable).parent)) or name


def _run(args: list[str], cwd: Path) -> tuple[float, str]:
    """Run a command, fail loudly, return (wall seconds, stdout)."""
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    started = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return elapsed, result.stdout


def write_tree(repo: Path, total: int, size: int) -> list[Path]:
    """``total`` files of ``size`` random bytes in the pipeline's layout; returns them."""
    weights = [n for _, _, n in JOBS]
    counts = [total * w // sum(weights) for w in weights]
    counts[0] += total - sum(counts)
    written: list[Path] = []
    for (output, split, _), count in zip(JOBS, counts):
        job = repo / "results" / "drct2m_intra" / "reconstruction" / "drct2m" / output / split
        images = job / "images"
        images.mkdir(parents=True)
        rows = ["path,status\n"]
        for i in range(count):
            path = images / f"{i:012d}.png"
            path.write_bytes(os.urandom(size))
            rows.append(f"images/{path.name},ok\n")
            written.append(path)
        (job / "manifest.csv").write_text("".join(rows), encoding="utf-8")
    return written


def _status_clean(out: str) -> bool:
    return "up to date" in out


def _time_status(repo: Path, repeat: int, expect_clean: bool) -> list[float]:
    times = []
    for _ in range(repeat):
        elapsed, out = _run([_bin("dvc"), "status"], repo)
        if _status_clean(out) != expect_clean:
            raise SystemExit(f"dvc status said {'changed' if expect_clean else 'clean'}:\n{out}")
        times.append(elapsed)
    return times


def _summary(times: list[float]) -> dict:
    return {"median_s": round(statistics.median(times), 2), "max_s": round(max(times), 2),
            "runs_s": [round(t, 2) for t in times]}


def benchmark(work: Path, files: int, size: int, repeat: int, transfer: bool = True) -> dict:
    repo, remote = work / "repo", work / "remote"
    repo.mkdir()
    git = _bin("git") if shutil.which("git") else "git"
    _run([git, "init", "-q"], repo)
    _run([_bin("dvc"), "init", "-q"], repo)
    _run([_bin("dvc"), "config", "core.analytics", "false"], repo)
    _run([_bin("dvc"), "remote", "add", "-d", "bench", str(remote)], repo)
    (repo / ".gitignore").write_text("/results/*\n", encoding="utf-8")
    (repo / "dvc.yaml").write_text(DVC_YAML, encoding="utf-8")

    started = time.perf_counter()
    written = write_tree(repo, files, size)
    results: dict = {"files": len(written), "file_bytes": size,
                     "write_tree_s": round(time.perf_counter() - started, 1)}

    results["commit_s"] = round(_run([_bin("dvc"), "commit", "-f", "reconstruct"], repo)[0], 1)
    _run([git, "add", "-A"], repo)
    _run([git, "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-qm", "tree"], repo)

    results["status_warm"] = _summary(_time_status(repo, repeat, expect_clean=True))

    changed = written[len(written) // 2]
    original = changed.read_bytes()
    changed.write_bytes(os.urandom(size))
    results["status_one_changed"] = _summary(_time_status(repo, repeat, expect_clean=False))
    changed.write_bytes(original)
    _time_status(repo, 1, expect_clean=True)  # back to clean, state refreshed

    cold = []
    for _ in range(repeat):
        shutil.rmtree(repo / ".dvc" / "tmp", ignore_errors=True)
        cold += _time_status(repo, 1, expect_clean=True)
    results["status_cold"] = _summary(cold)
    if not transfer:
        return results

    results["push_s"] = round(_run([_bin("dvc"), "push", "-q"], repo)[0], 1)
    clone = work / "clone"
    _run([git, "clone", "-q", str(repo), str(clone)], work)
    results["pull_s"] = round(_run([_bin("dvc"), "pull", "-q"], clone)[0], 1)
    results["status_after_pull"] = _summary(_time_status(clone, 1, expect_clean=True))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=256, help="bytes per file")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-transfer", action="store_true", help="skip push and pull (status scaling only)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results.json"))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="dvc-status-bench-"))
    try:
        results = benchmark(work, args.files, args.size, args.repeat, transfer=not args.no_transfer)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    record = {"command": " ".join(["python", "benchmarks/dvc_status/run.py", *sys.argv[1:]]),
              "results": results, "machine": {**machine_info(), "dvc": tool_version([_bin("dvc"), "--version"])}}
    args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
