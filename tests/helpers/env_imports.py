"""Which packages each rule's conda env holds, and the import blocks that imitate that env here.

A rule's env (envs/<name>.yaml) is its pip list plus what those packages themselves require (read
from the installed packages' metadata, markers and extras honoured), plus conda's own ``pip`` and the
drct package, which the env's post-deploy script installs. Everything else that is installed in this
virtualenv is blocked for that rule's ``drct`` command (see tests/helpers/import_blocker.py).

Any demo run can be put under the blocks: ``blocked_environ(tmp_dir)`` gives the environment for the
``snakemake`` call.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from importlib import metadata
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
HELPERS = Path(__file__).resolve().parent
#: installed into every env outside its pip list: conda's pip, and drct by the post-deploy script
ALWAYS_PRESENT = {"pip", "drct-pipeline"}


def normalise(name: str) -> str:
    """PEP 503 name: what pip, metadata and the env files are compared by."""
    return re.sub(r"[-_.]+", "-", name).lower()


def rule_envs() -> dict[str, tuple[str, str]]:
    """``{rule: (env name, drct subcommand)}`` for every rule of rules/*.smk that has a conda env."""
    from helpers.workflow import rule_blocks

    found: dict[str, tuple[str, str]] = {}
    for name, (smk, body) in rule_blocks().items():
        env = re.search(r'conda:\s*\n\s*"[^"]*envs/(\w+)\.yaml"', body)
        if env is None:
            continue
        command = re.search(r"\bdrct ([a-z][\w-]*)", body)
        assert command, f"{smk.name}: rule {name} has an env but no `drct SUBCOMMAND` shell command"
        found[name] = (env.group(1), command.group(1))
    return found


def env_requirements(env: str) -> list[Requirement]:
    """The pip list of envs/<env>.yaml (hash options dropped)."""
    data = yaml.safe_load((ROOT / "envs" / f"{env}.yaml").read_text(encoding="utf-8"))
    pips = [d["pip"] for d in data["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pips) == 1, f"{env}.yaml: expected one pip section"
    return [Requirement(line.split(" --", 1)[0]) for line in pips[0]]


def closure(requirements: list[Requirement]) -> set[str]:
    """Normalised names of the required distributions and everything they require, recursively."""
    names: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(r, frozenset(r.extras)) for r in requirements]
    while todo:
        req, extras = todo.pop()
        name = normalise(req.name)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        names.add(name)
        try:
            requires = metadata.distribution(req.name).requires or []
        except metadata.PackageNotFoundError as error:
            raise AssertionError(f"{req.name} is in an env but not installed in this interpreter") from error
        for line in requires:
            dep = Requirement(line)
            if dep.marker is None or any(dep.marker.evaluate({"extra": e}) for e in (extras or {""})):
                todo.append((dep, frozenset(dep.extras)))
    return names


def blocks() -> dict[str, dict[str, list[str]]]:
    """Per drct subcommand: the top-level modules and the distributions its rule's env lacks."""
    installed = {normalise(d.metadata["Name"]) for d in metadata.distributions() if d.metadata["Name"]}
    owners = metadata.packages_distributions()
    per_env: dict[str, tuple[list[str], list[str]]] = {}
    result: dict[str, dict[str, list[str]]] = {"modules": {}, "distributions": {}, "envs": {}}
    for rule, (env, sub) in rule_envs().items():
        if env not in per_env:
            allowed = closure(env_requirements(env)) | ALWAYS_PRESENT
            modules = sorted(
                m for m, dists in owners.items()
                if m not in sys.stdlib_module_names and not any(normalise(d) in allowed for d in dists)
            )
            per_env[env] = (modules, sorted(installed - allowed))
        previous = result["envs"].get(sub)
        assert previous in (None, env), f"drct {sub} runs in envs {previous} and {env} (rule {rule})"
        result["envs"][sub] = env  # type: ignore[assignment]
        result["modules"][sub], result["distributions"][sub] = per_env[env]
    return result


def blocked_environ(workdir: Path, environ: dict[str, str] | None = None) -> dict[str, str]:
    """An environment in which every ``drct`` command sees only its rule's env; files go to workdir."""
    site = workdir / "import-blocker"
    site.mkdir(parents=True, exist_ok=True)
    shutil.copy(HELPERS / "import_blocker.py", site / "sitecustomize.py")
    blocks_file = site / "blocks.json"
    blocks_file.write_text(json.dumps(blocks(), indent=1), encoding="utf-8")
    env = dict(os.environ if environ is None else environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH", "")) if p)
    env["DRCT_IMPORT_BLOCKS"] = str(blocks_file)
    return env


def missing_env_packages(workdir: Path) -> str:
    """The steps of a run in ``workdir`` that failed on a package their env lacks, one line each."""
    with_env = rule_envs()
    missing = []
    for log in sorted((workdir / "logs").rglob("*.log")):
        found = re.search(r"ModuleNotFoundError: No module named '([\w.]+)'", log.read_text(errors="replace"))
        if found:
            step = log.relative_to(workdir / "logs").parts[1]
            missing.append(f"{step} (envs/{with_env.get(step, ('?',))[0]}.yaml): {found.group(1)}\n")
    return "".join(sorted(set(missing)))
