"""The pinned environments agree with pyproject.toml's ranges, with each other and with `make lock`.

pyproject.toml keeps ranges for library users; `make lock` (scripts/lock.py) resolves them once into
requirements/lock.txt (the `make` install) and the pip lists of envs/*.yaml (the rules' conda envs).
Whether each env holds every package its rules import is tested by running them: test_env_imports.py.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest
import tomllib
import yaml
from helpers.env_imports import closure, env_requirements
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
ENVS = sorted((ROOT / "envs").glob("*.yaml"))
_spec = importlib.util.spec_from_file_location("drct_lock", ROOT / "scripts" / "lock.py")
lock = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lock)
PINNED = re.compile(r"^([A-Za-z0-9][\w.-]*)==(\S+) --hash=sha256:[0-9a-f]{64}$")


def _pyproject_requirements() -> dict[str, Requirement]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    reqs = [Requirement(r) for r in data["project"]["dependencies"]]
    return {lock.normalise(r.name): r for r in reqs}


def _env_pip_lines(path: Path) -> list[str]:
    env = yaml.safe_load(path.read_text(encoding="utf-8"))
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, f"{path.name}: expected one pip section"
    return pip_sections[0]


def _lock_pins() -> dict[str, tuple[str, str]]:
    return lock.read_pins(lock.LOCK.read_text(encoding="utf-8"))


def test_there_is_an_env_per_rule_group() -> None:
    assert {p.stem for p in ENVS} == {"data", "reconstruct", "train", "paper"} == set(lock.settings()["envs"])


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.name)
def test_every_env_package_is_pinned_with_a_hash_within_pyproject_ranges(path: Path) -> None:
    project = _pyproject_requirements()
    pins = {}
    for line in _env_pip_lines(path):
        match = PINNED.match(line)
        assert match, f"{path.name}: {line!r} is not `name==version --hash=sha256:...` (run `make lock`)"
        pins[lock.normalise(match.group(1))] = match.group(2)
    for name, version in pins.items():
        if name in project:
            assert project[name].specifier.contains(version, prereleases=True), (
                f"{path.name}: {name}=={version} but pyproject.toml says {project[name]}"
            )
    for name in lock.settings()["envs"][path.stem]:
        assert lock.normalise(name) in project, f"{path.name}: {name} is not a dependency in pyproject.toml"
        assert lock.normalise(name) in pins, f"{path.name}: {name} is named for the env but not pinned"


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.name)
def test_env_pins_are_the_locks(path: Path) -> None:
    """One resolution: every env pins what `make test` installs, version and hash alike."""
    locked = _lock_pins()
    for name, pin in lock.read_pins(path.read_text(encoding="utf-8")).items():
        assert locked.get(name) == pin, f"{path.name}: {name} {pin[0]} but the lock has {locked.get(name)}"


def test_lock_pins_every_requirement_within_its_range() -> None:
    locked = _lock_pins()
    for line in lock.requirements():
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate():
            continue
        name = lock.normalise(req.name)
        assert name in locked, f"{req} is not in requirements/lock.txt (run `make lock`)"
        assert req.specifier.contains(locked[name][0], prereleases=True), f"lock has {name}=={locked[name][0]}: {req}"
    text = lock.LOCK.read_text(encoding="utf-8")
    body = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert all(PINNED.match(line) for line in body), "every lock line is name==version --hash=sha256:..."


@pytest.mark.parametrize("path", [lock.LOCK, *ENVS], ids=lambda p: p.name)
def test_lock_is_in_sync_with_pyproject(path: Path) -> None:
    """Changing a range, an extra, the tested pins or an env's list without `make lock` fails here."""
    recorded = re.search(rf"^{lock.INPUTS_LINE}(\w+)$", path.read_text(encoding="utf-8"), re.M)
    assert recorded, f"{path.name} has no inputs line: run `make lock`"
    assert recorded.group(1) == lock.inputs_digest(), f"{path.name} is older than pyproject.toml: run `make lock`"


def test_lock_pins_the_tested_torch() -> None:
    locked = _lock_pins()
    assert lock.settings()["tested"] == ["torch==2.14.1", "torchvision==0.29.1"]
    assert (locked["torch"][0], locked["torchvision"][0]) == ("2.14.1", "0.29.1")


def test_inputs_digest_follows_pyproject() -> None:
    project = lock.pyproject()
    before = lock.inputs_digest(project)
    project["tool"]["drct"]["lock"]["envs"]["paper"].append("torch")
    assert lock.inputs_digest(project) != before
    project = lock.pyproject()
    project["project"]["dependencies"][0] = "torch>=2.5"
    assert lock.inputs_digest(project) != before


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.name)
def test_env_has_python_and_a_post_deploy_install(path: Path) -> None:
    env = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert f"python={lock.settings()['python']}" in env["dependencies"]
    script = path.with_name(f"{path.stem}.post-deploy.sh")
    assert script.exists(), f"{script.name} installs the drct package into the env"
    assert "pip install --no-deps" in script.read_text(encoding="utf-8")


def test_paper_env_has_no_torch() -> None:
    names = {lock.normalise(r.name) for r in env_requirements("paper")}
    assert not names & {"torch", "torchvision", "timm", "open-clip-torch", "diffusers"}


def test_torch_has_no_upper_bound() -> None:
    torch = _pyproject_requirements()["torch"]
    assert all(spec.operator in {">=", ">"} for spec in torch.specifier), torch


def test_every_rule_uses_an_existing_env_and_has_a_log() -> None:
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        text = smk.read_text(encoding="utf-8")
        for env in re.findall(r'conda:\s*\n\s*"([^"]+)"', text):
            assert (smk.parent / env).resolve().exists(), f"{smk.name}: {env} does not exist"


@pytest.mark.skipif(Path(sys.prefix).resolve() != (ROOT / ".venv").resolve(), reason="only in the .venv `make` built")
def test_make_installed_exactly_the_lock() -> None:
    """`make test` runs in the pinned set; each env's pins hold everything its packages require."""
    installed = {lock.normalise(d.metadata["Name"]): d.version for d in metadata.distributions()}
    locked = _lock_pins()
    if installed.get("torch") != locked["torch"][0]:
        pytest.skip("built with a torch of its own (make ... TORCH=...)")
    assert {n: v for n, (v, _) in locked.items()} == {n: installed.get(n) for n in locked}
    assert set(installed) - set(locked) <= {"pip", "drct-pipeline"}
    for path in ENVS:
        pins = lock.read_pins(path.read_text(encoding="utf-8"))
        assert closure(env_requirements(path.stem)) <= set(pins), f"{path.name} lacks a dependency"
