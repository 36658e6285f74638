"""Pin every environment from pyproject.toml's ranges in one resolution: ``make lock``.

Library users install ``drct-pipeline`` with the ranges of pyproject.toml. The pipeline's own
installs must be what was tested, so this script resolves those ranges once with pip (``pip install
--dry-run --ignore-installed --report``: the index pip is set up for, nothing installed) together
with the versions tested here (``[tool.drct.lock] tested``), and writes

* ``requirements/lock.txt``: every package of ``make demo``/``make test`` (dependencies plus the
  ``[tool.drct.lock] extras``), ``name==version --hash=sha256:...``, installed with ``--no-deps``;
* ``envs/<env>.yaml``: each rule group's conda env, its pip list being the packages named in
  ``[tool.drct.lock.envs]`` plus everything they require, pinned and hashed exactly as in the lock
  (a subset of one resolution, so every env agrees with the others and with ``make test``).

Hashes are those of the files pip picked for this interpreter: the lock is for CPython
``[tool.drct.lock] python`` on Linux x86_64, which is what is tested; elsewhere install with
``make demo LOCK=`` (ranges). Each file records the sha256 of its inputs so a test can tell a lock
that is out of date with pyproject.toml.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
try:
    from packaging.requirements import Requirement
except ImportError:  # a bare interpreter: pip's own copy of packaging does the same
    from pip._vendor.packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lock.txt"
ENVS = ROOT / "envs"
INPUTS_LINE = "# inputs-sha256: "


def normalise(name: str) -> str:
    """PEP 503 name, the key every package is compared by."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def settings(project: dict | None = None) -> dict:
    """The ``[tool.drct.lock]`` table: python, extras, tested pins, envs."""
    return (project or pyproject())["tool"]["drct"]["lock"]


def requirements(project: dict | None = None) -> list[str]:
    """The ranges ``make`` installs: dependencies plus the locked extras."""
    project = project or pyproject()
    extras = project["project"]["optional-dependencies"]
    return [*project["project"]["dependencies"], *(r for e in settings(project)["extras"] for r in extras[e])]


def inputs_digest(project: dict | None = None) -> str:
    """sha256 of everything the lock is computed from; it changes when any range or env list does."""
    project = project or pyproject()
    inputs = {"requirements": requirements(project), "lock": settings(project)}
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def read_pins(text: str) -> dict[str, tuple[str, str]]:
    """``{name: (version, hash option)}`` of ``name==version --hash=...`` lines (lock or env file)."""
    pins = {}
    for match in re.finditer(r"^[\s-]*([A-Za-z0-9][\w.-]*)==([^\s]+) (--hash=sha256:[0-9a-f]{64})$", text, re.M):
        pins[normalise(match.group(1))] = (match.group(2), match.group(3))
    return pins


def resolve(reqs: list[str], tested: list[str]) -> dict[str, dict]:
    """pip's resolution of reqs with the tested pins as constraints: ``{name: report item}``."""
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp, "tested.txt")
        constraints.write_text("\n".join(tested) + "\n", encoding="utf-8")
        report = Path(tmp, "report.json")
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
             "--report", str(report), "-c", str(constraints), *reqs],
            check=True,
        )
        items = json.loads(report.read_text(encoding="utf-8"))["install"]
    return {normalise(item["metadata"]["name"]): item for item in items}


def closure(names: list[str], resolved: dict[str, dict]) -> set[str]:
    """The named packages and everything they require in this resolution, markers and extras honoured."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(Requirement(n), frozenset(Requirement(n).extras)) for n in names]
    while todo:
        req, extras = todo.pop()
        name = normalise(req.name)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        for line in resolved[name]["metadata"].get("requires_dist", []):
            dep = Requirement(line)
            if dep.marker is None or any(dep.marker.evaluate({"extra": e}) for e in (extras or {""})):
                todo.append((dep, frozenset(dep.extras)))
    return {name for name, _ in seen}


def pin_line(name: str, item: dict) -> str:
    digest = item["download_info"]["archive_info"]["hashes"]["sha256"]
    return f"{name}=={item['metadata']['version']} --hash=sha256:{digest}"


def write_lock(resolved: dict[str, dict], digest: str, python: str) -> None:
    torch = resolved["torch"]["metadata"]["version"]
    header = [
        "# Generated by `make lock` (scripts/lock.py) from pyproject.toml's ranges: do not edit.",
        f"# For CPython {python} on Linux x86_64: `make demo`/`make test` install exactly these (--no-deps).",
        f"# torch {torch} here is the PyPI build for CUDA 13.0 (NVIDIA driver >= 580); it also runs on CPU.",
        f"{INPUTS_LINE}{digest}",
    ]
    lines = [pin_line(name, resolved[name]) for name in sorted(resolved)]
    LOCK.parent.mkdir(exist_ok=True)
    LOCK.write_text("\n".join(header + lines) + "\n", encoding="utf-8")


def write_env(env: str, names: list[str], resolved: dict[str, dict], digest: str, python: str) -> None:
    """Rewrite envs/<env>.yaml: its own leading comment kept, the pip list pinned from the resolution."""
    path = ENVS / f"{env}.yaml"
    old = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    comment = [line for line in old[: next((i for i, l in enumerate(old) if not l.startswith("#")), 0)]
               if not line.startswith(("# Pinned by", INPUTS_LINE))]
    pins = [pin_line(name, resolved[name]) for name in sorted(closure(names, resolved))]
    text = [
        *comment,
        f"# Pinned by `make lock` (scripts/lock.py) from pyproject.toml [tool.drct.lock.envs] {env}: "
        f"{', '.join(names)} and what they require. Do not edit the pip list.",
        f"{INPUTS_LINE}{digest}",
        "channels:",
        "  - conda-forge",
        "  - nodefaults",
        "dependencies:",
        f"  - python={python}",
        "  - pip",
        "  - pip:",
        *(f"      - {pin}" for pin in pins),
    ]
    path.write_text("\n".join(text) + "\n", encoding="utf-8")


def check_interpreter(python: str) -> None:
    """The hashes are for one interpreter and platform: refuse to lock or install for another."""
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if here != python or sys.platform != "linux" or platform.machine() != "x86_64":
        sys.exit(
            f"the lock is for CPython {python} on Linux x86_64, this is Python {here} on "
            f"{sys.platform} {platform.machine()}: use PYTHON=python{python}, or `make demo LOCK=` "
            "to install from pyproject.toml's ranges"
        )


def main(argv: list[str]) -> None:
    if sys.version_info < (3, 11):  # no tomllib to read the wanted version with: it is not this one
        check_interpreter("3.11")
    project = pyproject()
    lock = settings(project)
    check_interpreter(lock["python"])
    if argv == ["--check-interpreter"]:
        return
    digest = inputs_digest(project)
    resolved = resolve(requirements(project), lock["tested"])
    write_lock(resolved, digest, lock["python"])
    for env, names in lock["envs"].items():
        write_env(env, names, resolved, digest, lock["python"])
    print(f"{LOCK.relative_to(ROOT)}: {len(resolved)} packages; envs: {', '.join(lock['envs'])}")


if __name__ == "__main__":
    main(sys.argv[1:])
