"""score(): a real checkpoint (tiny timm backbone, random weights) scored over a small manifest.

The expected scores are computed independently: zero-pad / centre-crop / normalise by hand in
numpy, then softmax of the loaded model's logits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers.manifests import write_rows_manifest
from PIL import Image

from drct.evaluation.score import PREDICTION_COLUMNS, score
from drct.images import ImageReadError
from drct.training.checkpoint import load_model, save_checkpoint
from drct.training.model import build_model
from drct.training.settings import TrainSettings

IMAGE_SIZE = 64  # read from the sidecar by score(); not the 224 default, to prove it is used
MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    settings = TrainSettings(
        family="timm", model_name="convnext_atto", pretrained=False, freeze_backbone=False,
        embedding_dim=16, real=("real",), fake=("A",), batch_size=2, image_size=IMAGE_SIZE,
    )
    model = build_model(settings, load_pretrained=False).eval()
    path = tmp_path_factory.mktemp("run") / "best.safetensors"
    save_checkpoint(model, path, settings, {"epoch": 0, "val_acc": 0.5})
    return path


def _image(path: Path, height: int, width: int, seed: int) -> np.ndarray:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return pixels


def _by_hand(pixels: np.ndarray, size: int) -> torch.Tensor:
    """Zero-pad centred to ``size``, centre-crop ``size``, ImageNet-normalise; all offsets even here."""
    h, w, _ = pixels.shape
    ph, pw = max(size - h, 0), max(size - w, 0)
    padded = np.pad(pixels, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    h, w, _ = padded.shape
    top, left = (h - size) // 2, (w - size) // 2
    crop = padded[top : top + size, left : left + size].astype(np.float64) / 255.0
    return torch.from_numpy(((crop - MEAN) / STD).astype(np.float32)).permute(2, 0, 1)


def test_predict_scores_filters_and_writes(tmp_path, checkpoint):
    root = tmp_path / "data"
    specs = [  # generator, split, label, height, width, status
        ("real", "test", 0, 40, 50, "ok"),  # padded on both sides
        ("A", "test", 1, 100, 80, "ok"),  # cropped
        ("A", "test", 1, 64, 64, "ok"),
        ("B", "test", 1, 70, 70, "ok"),  # generator not asked for
        ("A", "train", 1, 64, 64, "ok"),  # other split
    ]
    pixels, rows = {}, []
    for i, (gen, split, label, h, w, status) in enumerate(specs):
        rel = f"imgs/{gen}_{split}_{i}.png"
        pixels[rel] = _image(root / rel, h, w, seed=i)
        rows.append({"dataset": "d", "generator": gen, "split": split, "label": label, "path": rel, "status": status})
    rows.append({"dataset": "d", "generator": "A", "split": "test", "label": 1, "path": "", "status": "failed"})
    manifest = write_rows_manifest(root, rows)

    out_csv = tmp_path / "eval" / "predictions.csv"
    out = score(checkpoint, manifest, out_csv, generators=["A", "real"], batch_size=2, device="cpu")

    assert list(out.columns) == list(PREDICTION_COLUMNS)
    assert out["path"].tolist() == ["imgs/real_test_0.png", "imgs/A_test_1.png", "imgs/A_test_2.png"]
    assert out["label"].tolist() == [0, 1, 1]
    assert (out["split"] == "test").all()

    model, _ = load_model(checkpoint, "cpu")
    batch = torch.stack([_by_hand(pixels[p], IMAGE_SIZE) for p in out["path"]])
    with torch.inference_mode():
        expected = torch.softmax(model(batch)[1], dim=1)[:, 1].numpy()
    np.testing.assert_allclose(out["score"].to_numpy(), expected, rtol=0, atol=1e-5)

    written = pd.read_csv(out_csv)
    assert list(written.columns) == list(PREDICTION_COLUMNS)
    np.testing.assert_allclose(written["score"].to_numpy(), out["score"].to_numpy(), rtol=0, atol=1e-12)


def test_unreadable_image_raises_with_its_path(tmp_path, checkpoint):
    root = tmp_path / "data"
    _image(root / "imgs/ok.png", 64, 64, seed=1)
    (root / "imgs/broken.png").write_bytes(b"not a png")
    manifest = write_rows_manifest(root, [
        {"dataset": "d", "generator": "A", "split": "test", "label": 1, "path": "imgs/ok.png", "status": "ok"},
        {"dataset": "d", "generator": "A", "split": "test", "label": 1, "path": "imgs/broken.png", "status": "ok"},
    ])
    with pytest.raises(ImageReadError, match="broken.png"):
        score(checkpoint, manifest, tmp_path / "p.csv", device="cpu")
    assert not (tmp_path / "p.csv").exists()


def test_missing_generator_raises(tmp_path, checkpoint):
    root = tmp_path / "data"
    _image(root / "imgs/ok.png", 64, 64, seed=1)
    manifest = write_rows_manifest(root, [
        {"dataset": "d", "generator": "A", "split": "test", "label": 1, "path": "imgs/ok.png", "status": "ok"},
    ])
    with pytest.raises(ValueError, match="'real'"):
        score(checkpoint, manifest, tmp_path / "p.csv", generators=["A", "real"], device="cpu")


def test_score_perturbed_scores_each_perturbation_through_the_same_path(tmp_path, checkpoint):
    from drct.evaluation.perturb import Perturbation, apply_perturbation
    from drct.evaluation.score import PERTURBED_COLUMNS, score_perturbed

    root = tmp_path / "data"
    pixels, rows = {}, []
    for i, (gen, label, h, w) in enumerate([("real", 0, 80, 100), ("A", 1, 120, 90)]):
        rel = f"imgs/{gen}_{i}.png"
        pixels[rel] = _image(root / rel, h, w, seed=10 + i)
        rows.append({"dataset": "d", "generator": gen, "split": "test", "label": label, "path": rel, "status": "ok"})
    manifest = write_rows_manifest(root, rows)

    clean = score(checkpoint, manifest, tmp_path / "clean.csv", device="cpu")
    perturbations = [Perturbation("png"), Perturbation("scale", 0.5), Perturbation("jpeg", 60)]
    out = score_perturbed(checkpoint, manifest, tmp_path / "p.csv", perturbations, batch_size=1, device="cpu")
    assert list(out.columns) == list(PERTURBED_COLUMNS)
    assert out["perturbation"].tolist() == ["png", "png", "scale-0.5", "scale-0.5", "jpeg-60", "jpeg-60"]
    assert out["strength"].iloc[2] == 0.5 and np.isnan(out["strength"].iloc[0])
    # PNG is lossless: the same scores as the unperturbed run
    np.testing.assert_allclose(out["score"].iloc[:2], clean["score"], rtol=0, atol=1e-6)
    # resize happens on the full image, before pad / centre crop: computed by hand
    model, _ = load_model(checkpoint, "cpu")
    for name, perturbation in (("scale-0.5", perturbations[1]), ("jpeg-60", perturbations[2])):
        batch = torch.stack([_by_hand(apply_perturbation(pixels[p], perturbation), IMAGE_SIZE) for p in clean["path"]])
        with torch.inference_mode():
            expected = torch.softmax(model(batch)[1], dim=1)[:, 1].numpy()
        np.testing.assert_allclose(out.loc[out["perturbation"] == name, "score"], expected, rtol=0, atol=1e-5)
    # the single-perturbation path of score() gives the same scores
    single = score(checkpoint, manifest, tmp_path / "s.csv", device="cpu", perturbation=perturbations[1])
    np.testing.assert_allclose(single["score"], out.loc[out["perturbation"] == "scale-0.5", "score"], atol=1e-6)


def test_a_machine_failure_during_evaluation_is_not_an_image_error(tmp_path, checkpoint, monkeypatch):
    import errno

    from drct.failures import EnvironmentFailure

    root = tmp_path / "data"
    _image(root / "imgs/a.png", 64, 64, seed=1)
    _image(root / "imgs/b.png", 64, 64, seed=2)
    manifest = write_rows_manifest(root, [
        {"dataset": "d", "generator": "A", "split": "test", "label": 1, "path": f"imgs/{n}", "status": "ok"}
        for n in ("a.png", "b.png")
    ])
    real_open = Image.open

    def fake_open(fp, *args, **kwargs):
        if Path(str(fp)).name == "b.png":
            raise OSError(errno.EIO, "Input/output error")
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", fake_open)
    with pytest.raises(EnvironmentFailure, match="b.png.*input/output error"):
        score(checkpoint, manifest, tmp_path / "p.csv", device="cpu")
    assert not (tmp_path / "p.csv").exists()


def test_all_unreadable_images_are_named_at_once(tmp_path, checkpoint):
    root = tmp_path / "data"
    _image(root / "imgs/ok.png", 64, 64, seed=1)
    rows = [{"dataset": "d", "generator": "A", "split": "test", "label": 1, "path": "imgs/ok.png", "status": "ok"}]
    for name in ("x.png", "y.png"):
        (root / "imgs" / name).write_bytes(b"nope")
        rows.append({"dataset": "d", "generator": "A", "split": "test", "label": 1, "path": f"imgs/{name}", "status": "ok"})
    with pytest.raises(ImageReadError, match=r"2 image\(s\)(.|\n)*x.png(.|\n)*y.png"):
        score(checkpoint, write_rows_manifest(root, rows), tmp_path / "p.csv", device="cpu")
