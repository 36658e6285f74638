"""Compare two runs' outputs file by file: are the tables, metrics and predictions identical?

A refactoring must not change what the pipeline computes. Run the demo before and after (two
clones, or one clone and a copy of its results), then:

    python scripts/compare_outputs.py BEFORE/results/demo AFTER/results/demo

Every file under the compared folders (eval/, perturbed/, paper/, metrics/, plots/ by default) is
compared by sha256; the script lists files only on one side and files that differ, and exits 1 if
there is any. Figures are compared too: they are written without timestamps, so they are
byte-identical when their data are.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

DEFAULT_FOLDERS = ("eval", "perturbed", "paper", "metrics", "plots")


def digests(root: Path, folders: tuple[str, ...]) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``root/<folder>`` for each folder."""
    found = {}
    for folder in folders:
        for path in sorted((root / folder).rglob("*")):
            if path.is_file():
                found[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def compare(before: Path, after: Path, folders: tuple[str, ...] = DEFAULT_FOLDERS) -> list[str]:
    """One line per difference; empty when both sides hold the same files with the same bytes."""
    old, new = digests(before, folders), digests(after, folders)
    problems = [f"only in {before}: {p}" for p in sorted(old.keys() - new.keys())]
    problems += [f"only in {after}: {p}" for p in sorted(new.keys() - old.keys())]
    problems += [f"differs: {p}" for p in sorted(old.keys() & new.keys()) if old[p] != new[p]]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--folders", nargs="+", default=list(DEFAULT_FOLDERS))
    args = parser.parse_args(argv)
    folders = tuple(args.folders)
    problems = compare(args.before, args.after, folders)
    for line in problems:
        print(line)
    print(f"{len(digests(args.after, folders))} files compared, {len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
