"""Running the workflow in a test: Snakemake from the test's interpreter, in a folder of its own."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def snakemake_command(workdir: Path, *args: str) -> list[str]:
    """The workflow of this clone run in ``workdir`` (`-s <clone>/Snakefile --directory <workdir>`)."""
    return [str(BIN / "snakemake"), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir), *args]


def snakemake_env(**extra: str) -> dict[str, str]:
    return dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", HF_HUB_OFFLINE="1", **extra)


def snakemake(workdir: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
    return subprocess.run(snakemake_command(workdir, *args), cwd=workdir, env=snakemake_env(**extra_env),
                          capture_output=True, text=True)


def demo_workdir(path: Path) -> Path:
    """A run folder holding only the demo's config.yaml: everything shipped with the workflow (the
    demo archive, expected counts, data lock) must be found in the clone, wherever the run is."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "config.yaml", path / "config.yaml")
    return path


def failure_report(name: str, workdir: Path, result: subprocess.CompletedProcess | None, log: str = "") -> str:
    logs = "\n".join(f"--- {p}\n{p.read_text()[-3000:]}" for p in sorted((workdir / "logs").rglob("*.log")))
    if result is not None:
        log = log or (result.stdout + result.stderr)
    return f"{name} run failed:\n{log[-6000:]}\n{logs[-8000:]}"


# `rule NAME:`, or a rule defined in a loop (rules/evaluate.smk): `rule:` ... `name: group_rule("NAME", i)`
RULE = re.compile(r"^rule (\w+):|^(\s+)rule:\n(?:\2\s.*\n)*?\2\s+name:\s*\n?\s*group_rule\(\"(\w+)\"", re.MULTILINE)


def rule_blocks() -> dict[str, tuple[Path, str]]:
    """Every rule of rules/*.smk (loop-defined ones by their first name), with its file and its text
    up to the next statement at its level."""
    blocks: dict[str, tuple[Path, str]] = {}
    for path in sorted((ROOT / "rules").glob("*.smk")):
        text = path.read_text()
        for match in RULE.finditer(text):
            rest = text[match.end() :]
            indent = match.group(2) or ""  # a loop's rule ends at the next statement of the loop
            end = re.search(rf"\n(?!{indent}\s)(?=\S|{indent}\S)", rest)
            blocks[match.group(1) or match.group(3)] = (path, rest[: end.start()] if end else rest)
    return blocks


def job_stats(log: str) -> dict[str, int]:
    """Snakemake's "Job stats" table of a run: rule -> jobs."""
    block = log[log.index("Job stats:"):].split("\n\n")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.MULTILINE)}


def copy_finished_run(run: Path, workdir: Path) -> None:
    """Copy a finished run's results and Snakemake records into ``workdir`` (which holds its config)
    and mark them current with `snakemake --touch`, as after `dvc pull` (docs/dvc.md): the records
    name inputs outside the folder by relative path, which changes with the folder's depth."""
    for folder in ("results", ".snakemake"):
        shutil.copytree(run / folder, workdir / folder, symlinks=True)
    shutil.rmtree(workdir / ".snakemake" / "locks", ignore_errors=True)
    touched = snakemake(workdir, "--touch", "--cores", "1")
    assert touched.returncode == 0, failure_report("touch", workdir, touched)


def run_on_top_of_demo(demo: Path, workdir: Path, edit_config, *targets: str) -> tuple[dict[str, int], dict[str, str]]:
    """Run the workflow in ``workdir`` on a copy of the finished demo run ``demo`` whose config
    ``edit_config`` changed (it edits the loaded config in place): the copy is marked current with
    `snakemake --touch`, as after `dvc pull`, so only what the change adds is computed. Each command
    runs restricted to its rule's conda env (tests/helpers/import_blocker.py). Returns the run's job
    stats and the blocker's environment (``DRCT_IMPORT_BLOCKS`` + ``.seen`` lists what ran restricted).
    """
    import yaml
    from helpers.env_imports import blocked_environ, missing_env_packages

    workdir.mkdir(parents=True)
    shutil.copy(demo / "config.yaml", workdir / "config.yaml")
    copy_finished_run(demo, workdir)
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    edit_config(config)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    env = blocked_environ(workdir.parent / "envs")
    result = snakemake(workdir, "--cores", "2", *targets,
                       PYTHONPATH=env["PYTHONPATH"], DRCT_IMPORT_BLOCKS=env["DRCT_IMPORT_BLOCKS"])
    assert result.returncode == 0, missing_env_packages(workdir) + failure_report(workdir.name, workdir, result)
    return job_stats(result.stdout + result.stderr), env
