"""A job given a GPU that torch cannot use fails with a message naming why, instead of running on the CPU.

On this CPU-only machine ``CUDA_VISIBLE_DEVICES=0`` plays the GPU a scheduler allocated: torch then
reports no CUDA, exactly like a node whose driver is too old for torch's CUDA build.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch

from drct import device
from drct.cli import main
from drct.errors import DrctError

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine where torch sees no CUDA")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No allocation signal unless a test sets one; no command named (the CLI sets it per process)."""
    for name in ("CUDA_VISIBLE_DEVICES", device.CLAIMED_ENV, device.GPUS_ENV, "DRCT_GPU_LOCK_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(device, "_job_command", None)


def test_nothing_allocated_auto_is_the_cpu_as_before() -> None:
    assert device.resolve_device("auto") == torch.device("cpu")
    assert device.gpu_allocation() is None


@pytest.mark.parametrize("value", ["", "-1", "NoDevFiles"])
def test_visible_devices_that_name_no_gpu_are_not_an_allocation(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", value)
    assert device.resolve_device("auto") == torch.device("cpu")


def test_allocated_gpu_without_cuda_fails_naming_device_driver_and_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setattr(device.shutil, "which", lambda name: None)  # no driver tools on this node
    with pytest.raises(DrctError) as caught:
        device.resolve_device("auto")
    message = str(caught.value)
    for part in ("'auto'", "CUDA_VISIBLE_DEVICES=0", "no nvidia-smi", f"torch {torch.__version__}",
                 f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU-only", "device: cpu",
                 "Install a torch build"):
        assert part in message, (part, message)
    with pytest.raises(DrctError, match="'cuda:1'"):
        device.resolve_device("cuda:1")
    # asking for the CPU on purpose is always allowed
    assert device.resolve_device("cpu") == torch.device("cpu")


def test_driver_version_comes_from_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 470.82.01\necho 470.82.01\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2")
    with pytest.raises(DrctError, match=r"NVIDIA driver: 470\.82\.01;"):
        device.resolve_device("auto")
    fake.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver' >&2\nexit 9\n")
    assert device.driver_version().startswith("nvidia-smi failed (NVIDIA-SMI has failed")


def test_gpu_claimed_by_the_lock_is_not_an_allocation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """claim_gpus picks a GPU because the machine has one: a CPU-only torch keeps running the demo."""
    monkeypatch.setattr(device, "_held", [])
    assert device.claim_gpus(1, lock_dir=str(tmp_path), total=2) == [0]
    try:
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "0"
        assert device.resolve_device("auto") == torch.device("cpu")
    finally:
        for fd in device._held:
            os.close(fd)


def test_gpu_resource_of_the_command_is_an_allocation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(device.GPUS_ENV, "reconstruct-shard=0,train-run=2,score=1,score-perturbed=0")
    device.set_job_command("score-perturbed")
    assert device.resolve_device("auto") == torch.device("cpu")
    device.set_job_command("score")
    with pytest.raises(DrctError, match=r"gpu resource is 1 \(DRCT_GPUS="):
        device.resolve_device("auto")
    assert device.gpu_allocation("train-run", {device.GPUS_ENV: "score=1,train-run=2"}).startswith("its gpu resource is 2")
    assert device.gpu_allocation("predict", {device.GPUS_ENV: "1"}) is not None, "one number applies to every command"
    assert device.gpu_allocation("predict", {device.GPUS_ENV: "score=1"}) is None


def test_cli_gpu_command_reports_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """The check runs before the checkpoint is read: a GPU job fails in seconds, not after days on the CPU."""
    image = tmp_path / "a.png"
    image.write_bytes(b"")
    argv = ["predict", str(image), "--checkpoint", str(tmp_path / "none.safetensors"), "--no-progress",
            "--out", str(tmp_path / "out.csv")]
    monkeypatch.setenv(device.GPUS_ENV, "predict=1")
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("drct predict: error: device 'auto': this job was given a GPU (its gpu resource is 1")
    assert "CUDA_VISIBLE_DEVICES=<unset>" in err
    assert not (tmp_path / "out.csv").exists()
