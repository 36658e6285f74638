"""Cluster execution: every rule states its resources, the Slurm and local multi-GPU profiles, containers, GPU locks."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers.workflow import rule_blocks

from drct import device as gpu_slots

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PRESET = ROOT / "presets" / "genimage_intra.yaml"  # trains and recomputes reconstructions


def _rule_blocks() -> dict[str, str]:
    """``{rule name: its text}`` for every rule of rules/*.smk that runs a command."""
    return {name: text for name, (_, text) in rule_blocks().items() if "shell:" in text}


def test_every_rule_takes_its_resources_from_the_config() -> None:
    """threads, mem_mb, runtime and gpu of every command rule come from `resources.<its own name>`,
    which the schema gives a paper-scale default, so no profile has to carry per-rule constants."""
    blocks = _rule_blocks()
    assert {"acquire", "train_run", "score", "import_released", "fetch_weights"} <= set(blocks)
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    defaults = schema["properties"]["resources"]["properties"]
    wrong = {
        name: block for name, block in blocks.items()
        if f'threads: rule_threads("{name}")' not in block or f'**rule_resources("{name}"),' not in block
    }
    assert not wrong, f"rules whose resources do not come from resources.<rule>: {sorted(wrong)}"
    assert set(blocks) <= set(defaults), f"rules without a schema default: {sorted(set(blocks) - set(defaults))}"


def _dry_run(workdir: Path, *args: str, config: dict | None = None) -> subprocess.CompletedProcess:
    config_file = workdir / "config.yaml"
    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    config_file.write_text(yaml.safe_dump({**base, **(config or {})}, sort_keys=False))
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run(
        [str(BIN / "snakemake"), "-n", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir), *args],
        cwd=workdir, env=env, capture_output=True, text=True,
    )


def _job(output: str, rule: str) -> str:
    """The dry-run block of the first job of ``rule``."""
    start = output.index(f"rule {rule}:")
    return output[start : output.find("\n\n", start)]


def _resources(block: str) -> str:
    """The `resources:` line of a dry-run job block."""
    return block.split("resources:")[1].split("\n")[0]


SLURM_PROFILE = ROOT / "workflow" / "profiles" / "slurm"


def test_slurm_profile_queries_squeue_and_leaves_resources_to_the_config() -> None:
    """sacct needs Slurm accounting (without it every status query fails and Snakemake waits);
    threads and memory are the config's, so the profile holds no per-rule constants."""
    profile = yaml.safe_load((SLURM_PROFILE / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert profile["slurm-status-command"] == "squeue"
    assert not {"set-threads", "set-resources", "default-resources"} & set(profile)


def test_slurm_profile_submits_paper_scale_resources_for_a_preset(tmp_path: Path) -> None:
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="snakemake-executor-plugin-slurm not installed")
    result = _dry_run(tmp_path, "--workflow-profile", str(SLURM_PROFILE), "--cores", "64", "--configfile", str(PRESET))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "workflow specific profile" in result.stdout + result.stderr
    train = _job(result.stdout, "train_run")
    assert "mem_mb=64000" in train and "runtime=2880" in train and "gpu=1" in train
    assert "--threads 2" in train
    shard = _job(result.stdout, "reconstruct_shard")
    assert "gpu=1" in shard and "mem_mb=32000" in shard and "runtime=720" in shard
    assert "gpu=1" in _resources(_job(result.stdout, "score"))  # one job per run: clean and perturbed
    metrics = _job(result.stdout, "metrics")
    assert "gpu" not in _resources(metrics) and "mem_mb=4000" in metrics


def test_slurm_profile_asks_a_small_node_for_what_the_demo_needs(tmp_path: Path) -> None:
    """The demo on a 2-CPU node without GPUs: no job asks for a GPU or more than 4000 MB, and
    --max-threads caps the 4-thread reconstruction at the node's CPUs (Slurm would keep it pending)."""
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="snakemake-executor-plugin-slurm not installed")
    result = _dry_run(tmp_path, "--workflow-profile", str(SLURM_PROFILE), "--cores", "64", "--max-threads", "2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    jobs = [job for job in re.findall(r"^rule (\w+):\n(.*?)(?:\n\n|\Z)", result.stdout, re.S | re.M) if job[0] != "all"]
    assert len(jobs) > 40
    for rule, block in jobs:
        resources = dict(item.split("=", 1) for item in _resources(block).strip().split(", ") if "=" in item)
        assert "gpu" not in resources and "mem_mb" in resources, (rule, resources)
        assert int(resources["mem_mb"]) <= 4000, (rule, resources)
        threads = re.search(r"^    threads: (\d+)$", block, re.M)
        assert int(threads.group(1) if threads else 1) <= 2, (rule, block)
    assert re.search(r"^    threads: 2$", _job(result.stdout, "reconstruct_shard"), re.M)


def test_local_gpu_profile_and_ddp_training(tmp_path: Path) -> None:
    """Two GPUs per training run: the demo's resources.train_run.gpu 0 (CPU) becomes null, which
    means training.gpus_per_run GPUs."""
    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    resources = {**base["resources"], "train_run": {**base["resources"]["train_run"], "gpu": None}}
    config = {"training": {**base["training"], "gpus_per_run": 2}, "resources": resources}
    result = _dry_run(tmp_path, "--workflow-profile", str(ROOT / "workflow" / "profiles" / "local-gpu"),
                      "--resources", "gpu=4", "--cores", "16", config=config)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    train = _job(result.stdout, "train_run")
    assert "gpu=2" in train and "--nproc-per-node 2" in train and "--threads 8" in train


def test_container_option_puts_every_rule_in_the_image(tmp_path: Path) -> None:
    """With `container:` set, --sdm apptainer needs apptainer for every job; without it, nothing changes."""
    if shutil.which("apptainer") or shutil.which("singularity"):
        pytest.skip("apptainer is installed here: the missing-binary check below cannot be made")
    plain = _dry_run(tmp_path, "--sdm", "apptainer", "--quiet")
    assert plain.returncode == 0, plain.stderr[-2000:]
    boxed = _dry_run(tmp_path, "--sdm", "apptainer", "--quiet", config={"container": "docker://example.org/drct:1"})
    assert boxed.returncode != 0
    assert "apptainer or singularity command has to be available" in boxed.stdout + boxed.stderr


def test_gpu_locks_give_concurrent_jobs_different_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(gpu_slots, "_held", [])
    assert gpu_slots.claim_gpus(1, lock_dir=str(tmp_path), total=3) == [0]
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0"
    # another process (another Snakemake job) gets the next free GPUs while this one holds GPU 0
    code = (
        "import os; os.environ.pop('CUDA_VISIBLE_DEVICES', None); from drct import device as gpu_slots; "
        f"print(gpu_slots.claim_gpus(2, lock_dir={str(tmp_path)!r}, total=3), os.environ['CUDA_VISIBLE_DEVICES'])"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.split() == ["[1,", "2]", "1,2"]
    # already pinned (Slurm, torchrun workers) or no lock folder: nothing is done
    assert gpu_slots.claim_gpus(1, lock_dir=str(tmp_path), total=3) is None
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert gpu_slots.claim_gpus(1, lock_dir="", total=3) is None
    with pytest.raises(RuntimeError, match="needs 4 GPUs"):
        gpu_slots.claim_gpus(4, lock_dir=str(tmp_path), total=3)
    for fd in gpu_slots._held:
        os.close(fd)
