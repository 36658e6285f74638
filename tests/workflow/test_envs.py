"""The conda envs of the rule groups agree with pyproject.toml, and every rule names an existing env."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
ENVS = sorted((ROOT / "envs").glob("*.yaml"))


def _pyproject_requirements() -> dict[str, Requirement]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    reqs = [Requirement(r) for r in data["project"]["dependencies"]]
    return {r.name.lower().replace("_", "-"): r for r in reqs}


def _env_pip_requirements(path: Path) -> list[Requirement]:
    env = yaml.safe_load(path.read_text(encoding="utf-8"))
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, f"{path.name}: expected one pip section"
    return [Requirement(r) for r in pip_sections[0]]


def test_there_is_an_env_per_rule_group() -> None:
    assert {p.stem for p in ENVS} == {"data", "reconstruct", "train", "paper"}


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.name)
def test_env_requirements_match_pyproject(path: Path) -> None:
    project = _pyproject_requirements()
    for req in _env_pip_requirements(path):
        name = req.name.lower().replace("_", "-")
        assert name in project, f"{path.name}: {req.name} is not a dependency in pyproject.toml"
        assert req.specifier == project[name].specifier, (
            f"{path.name}: {req} but pyproject.toml says {project[name]}"
        )


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.name)
def test_env_has_python_and_a_post_deploy_install(path: Path) -> None:
    env = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert any(isinstance(d, str) and d.startswith("python=") for d in env["dependencies"])
    script = path.with_name(f"{path.stem}.post-deploy.sh")
    assert script.exists(), f"{script.name} installs the drct package into the env"
    assert "pip install --no-deps" in script.read_text(encoding="utf-8")


def test_paper_env_has_no_torch() -> None:
    names = {r.name for r in _env_pip_requirements(ROOT / "envs" / "paper.yaml")}
    assert not names & {"torch", "torchvision", "timm", "open_clip_torch", "diffusers"}


def test_torch_has_no_upper_bound() -> None:
    torch = _pyproject_requirements()["torch"]
    assert all(spec.operator in {">=", ">"} for spec in torch.specifier), torch


def test_every_rule_uses_an_existing_env_and_has_a_log() -> None:
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        text = smk.read_text(encoding="utf-8")
        for env in re.findall(r'conda:\s*\n\s*"([^"]+)"', text):
            assert (smk.parent / env).resolve().exists(), f"{smk.name}: {env} does not exist"
