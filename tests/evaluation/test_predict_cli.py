"""`drct predict`: files and folders in, P(fake) per image out (CSV/JSON), unreadable images listed."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from helpers.manifests import DRCT_FOLDERS, write_manifest

from drct.cli import main
from drct.evaluation.score import score
from drct.predict import collect_images, predict_paths
from drct.training.checkpoint import save_checkpoint
from drct.training.model import build_model
from drct.training.settings import TrainSettings

torch.set_num_threads(2)

SETTINGS = TrainSettings(
    family="timm", model_name="convnext_atto", pretrained=False, freeze_backbone=False,
    real=["real"], fake=["sdv14"], batch_size=4, image_size=48,
)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("predict")
    manifest = write_manifest(root, DRCT_FOLDERS + [("demo", "sdv14", "test", 1, 3)], size=40)
    torch.manual_seed(5)
    checkpoint = root / "best.safetensors"
    save_checkpoint(build_model(SETTINGS), checkpoint, SETTINGS, {"epoch": 0, "val_acc": 0.5})
    return manifest, checkpoint


def test_scores_equal_the_evaluation_step(setup: tuple[Path, Path], tmp_path: Path) -> None:
    """Same model, preprocessing (pad 40 px to 48, centre crop) and softmax as `drct evaluate`."""
    manifest, checkpoint = setup
    evaluated = score(checkpoint, manifest, tmp_path / "eval.csv", split="test", batch_size=2)
    files = [manifest.parent / p for p in evaluated["path"]]
    frame = predict_paths(checkpoint, files, tmp_path / "mine.csv", batch_size=3, progress=False)
    assert list(frame["path"]) == [str(f) for f in files]
    assert frame["score"].to_numpy() == pytest.approx(evaluated["score"].to_numpy(), abs=1e-6)
    assert (frame["prediction"] == frame["score"].gt(0.5).map({True: "fake", False: "real"})).all()
    assert pd.read_csv(tmp_path / "mine.csv")["score"].to_numpy() == pytest.approx(frame["score"].to_numpy())


def test_folders_json_and_unreadable_images(setup: tuple[Path, Path], tmp_path: Path) -> None:
    manifest, checkpoint = setup
    folder = manifest.parent / "images" / "demo" / "sdv14" / "test"
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff truncated")
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image; folders are searched for image suffixes only")
    out = tmp_path / "scores.json"
    assert main(["predict", str(folder), str(broken), str(tmp_path), "--checkpoint", str(checkpoint),
                 "--out", str(out), "--no-progress", "--batch-size", "2"]) == 0
    rows = json.loads(out.read_text())
    assert len(rows) == 4, "3 images of the folder + broken.jpg once (named and found in the folder)"
    by_name = {Path(r["path"]).name: r for r in rows}
    assert by_name["broken.jpg"]["status"] == "unreadable" and by_name["broken.jpg"]["score"] is None
    assert "cannot read image" in by_name["broken.jpg"]["error"]
    assert all(0 <= r["score"] <= 1 and r["status"] == "ok" for n, r in by_name.items() if n != "broken.jpg")
    assert "notes.txt" not in by_name


def test_bad_inputs_are_named(setup: tuple[Path, Path], tmp_path: Path) -> None:
    _, checkpoint = setup
    with pytest.raises(FileNotFoundError, match="nowhere.png"):
        collect_images([tmp_path / "nowhere.png"])
    broken = tmp_path / "only.png"
    broken.write_bytes(b"nope")
    with pytest.raises(SystemExit, match="no image could be read"):
        main(["predict", str(broken), "--checkpoint", str(checkpoint), "--out", str(tmp_path / "x.csv"), "--no-progress"])
    with pytest.raises(ValueError, match=".csv or .json"):
        main(["predict", str(broken), "--checkpoint", str(checkpoint), "--out", str(tmp_path / "x.txt"), "--no-progress"])


def test_a_machine_failure_stops_predict_instead_of_an_unreadable_row(
    setup: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a fault of one image becomes an ``unreadable`` row; out of memory or an I/O error stops the job."""
    from PIL import Image

    from drct.failures import EnvironmentFailure

    manifest, checkpoint = setup
    folder = manifest.parent / "images" / "demo" / "sdv14" / "test"
    victim = sorted(folder.rglob("*.png"))[1].name
    real_open = Image.open

    def fake_open(fp, *args, **kwargs):
        if Path(str(fp)).name == victim:
            raise MemoryError()
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", fake_open)
    with pytest.raises(EnvironmentFailure, match=victim):
        predict_paths(checkpoint, [folder], tmp_path / "out.csv", batch_size=2, progress=False)
    assert not (tmp_path / "out.csv").exists()


def test_an_authors_pth_or_a_missing_checkpoint_is_named(setup: tuple[Path, Path], tmp_path: Path) -> None:
    """Used to be ``SafetensorError: header too large`` (or a bare FileNotFoundError), no file name."""
    from drct.errors import DrctError
    from drct.training.checkpoint import CheckpointError

    manifest, checkpoint = setup
    image = next((manifest.parent / "images").rglob("*.png"))
    authors = tmp_path / "sdv14_ConvB_13_acc0.9664.pth"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, authors)
    authors.with_suffix(".json").write_text(checkpoint.with_suffix(".json").read_text())  # even with a sidecar
    for bad, expected in [(authors, "is not one of our checkpoints"), (tmp_path / "nowhere.safetensors", "no such checkpoint")]:
        with pytest.raises(CheckpointError, match=expected) as caught:
            predict_paths(bad, [image], tmp_path / "o.csv", progress=False)
        assert isinstance(caught.value, DrctError) and str(bad) in str(caught.value)
    with pytest.raises(CheckpointError, match=r"import-released"):
        score(authors, manifest, tmp_path / "eval.csv", split="test")
    authors.with_suffix(".json").unlink()
    with pytest.raises(CheckpointError, match="not one of our checkpoints.*import-released"):
        score(authors, manifest, tmp_path / "eval.csv", split="test")
