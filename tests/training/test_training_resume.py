"""Resuming: an interrupted run, resumed, ends with the files of an uninterrupted one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers.manifests import DRCT_FOLDERS, write_manifest
from safetensors.torch import load_file

from drct.training import train_run as loop
from drct.training.resume import RESUME_DIR, STATE_FILE
from drct.training.settings import TrainSettings
from drct.training.train_run import train

torch.set_num_threads(2)

# A fully trained ConvNeXt (AdamW moments on every weight) with augmentation on: a resumed run only
# matches if the optimizer state and the per-epoch random streams are restored.
SETTINGS = TrainSettings(
    family="timm", model_name="convnext_atto", pretrained=False, freeze_backbone=False,
    real=["real"], fake=["sdv14"], real_rec=["real-rec"], fake_rec=["fake-rec"],
    batch_size=4, epochs=2, device="cpu", image_size=32, augment=True,
)


class Interrupted(RuntimeError):
    pass


def _train_interrupted_in_epoch(manifest: Path, out: Path, monkeypatch: pytest.MonkeyPatch, epoch: int) -> None:
    """Train until the validation of ``epoch`` crashes, as a pre-empted job would (after training, before saving)."""
    real = loop.evaluate_accuracy
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        if calls["n"] == epoch:
            raise Interrupted(f"killed in epoch {epoch}")
        calls["n"] += 1
        return real(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(loop, "evaluate_accuracy", flaky)
        with pytest.raises(Interrupted):
            train(manifest, out, SETTINGS)


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_manifest(tmp_path_factory.mktemp("resume"), DRCT_FOLDERS)


@pytest.fixture(scope="module")
def uninterrupted(manifest: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("straight")
    train(manifest, out, SETTINGS)
    return out


def test_resumed_run_equals_uninterrupted_run(
    manifest: Path, uninterrupted: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    _train_interrupted_in_epoch(manifest, out, monkeypatch, 1)
    assert (out / RESUME_DIR / STATE_FILE).is_file()
    # Snakemake removes a failed job's declared outputs: resuming must put them back
    for name in ("best.safetensors", "best.json", "last.safetensors", "last.json", "history.csv"):
        (out / name).unlink()

    summary = train(manifest, out, SETTINGS)
    assert [row["epoch"] for row in summary["history"]] == [0, 1]
    assert not (out / RESUME_DIR).exists(), "the resume folder is removed once the run has finished"
    for name in ("last.safetensors", "best.safetensors"):
        ours, straight = _tensors(out / name), _tensors(uninterrupted / name)
        assert ours.keys() == straight.keys()
        assert all(torch.equal(ours[k], straight[k]) for k in ours), name
    assert (out / "history.csv").read_text() == (uninterrupted / "history.csv").read_text()


@pytest.mark.slow  # a third training run
def test_resuming_without_the_saved_optimizer_would_differ(
    manifest: Path, uninterrupted: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The equality above is not automatic: dropping the AdamW state on resume changes the weights."""
    out = tmp_path / "run"
    _train_interrupted_in_epoch(manifest, out, monkeypatch, 1)
    state = torch.load(out / RESUME_DIR / STATE_FILE, weights_only=True)
    state["optimizer"]["state"] = {}
    torch.save(state, out / RESUME_DIR / STATE_FILE)
    train(manifest, out, SETTINGS)
    ours, straight = _tensors(out / "last.safetensors"), _tensors(uninterrupted / "last.safetensors")
    assert not all(torch.equal(ours[k], straight[k]) for k in ours)


def test_resume_refuses_other_settings_and_no_resume_starts_afresh(
    manifest: Path, uninterrupted: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    _train_interrupted_in_epoch(manifest, out, monkeypatch, 1)
    with pytest.raises(ValueError, match="settings changed: lr"):
        train(manifest, out, SETTINGS.replace(lr=2e-4))
    # execution-only fields may change
    summary = train(manifest, out, SETTINGS.replace(num_workers=0, cache_features=False), resume=False)
    assert [row["epoch"] for row in summary["history"]] == [0, 1]
    ours, straight = _tensors(out / "last.safetensors"), _tensors(uninterrupted / "last.safetensors")
    assert all(torch.equal(ours[k], straight[k]) for k in ours)
