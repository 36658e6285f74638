"""DIRE: the input (|image - reconstruction| in [-1, 1] scale, one crop), pairing, dataset, detector entry."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from drct.images import ImageReadError
from drct.training.dataset import Sample
from drct.training.dire import (
    DIRE_SIZE,
    DireCrop,
    MissingReconstructionError,
    align_to_reconstruction,
    dire_input,
    pair_with_reconstruction,
    random_origin,
    reconstruction_path,
)
from drct.training.dire_dataset import (
    DIRE_SPLIT_SEED,
    DireDataset,
    DireSample,
    build_dire_datasets,
    pair_samples,
    split_pair_folder,
)
from drct.training.split import split_folder

STEP = 1 / 127.5  # one grey level in [-1, 1] scale


def rgb(channel0: list[list[int]], channel1: list[list[int]] | None = None, channel2: list[list[int]] | None = None) -> np.ndarray:
    c0 = np.array(channel0, dtype=np.uint8)
    c1 = c0 if channel1 is None else np.array(channel1, dtype=np.uint8)
    c2 = c0 if channel2 is None else np.array(channel2, dtype=np.uint8)
    return np.stack([c0, c1, c2], axis=2)


def position_coded(height: int, width: int) -> np.ndarray:
    """Channel 0 = 20 * row, channel 1 = 20 * column, channel 2 = 0: a crop's pixels say where they came from."""
    rows, cols = np.mgrid[0:height, 0:width]
    return np.stack([20 * rows, 20 * cols, np.zeros_like(rows)], axis=2).astype(np.uint8)


# --- the DIRE input -----------------------------------------------------------------------------


def test_hand_computed_4x4_pair() -> None:
    image = rgb(
        [[255, 0, 10, 20], [30, 40, 50, 60], [70, 80, 90, 100], [110, 120, 130, 140]],
        [[128, 128, 128, 128], [0, 0, 0, 0], [255, 255, 255, 255], [7, 7, 7, 7]],
        [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16]],
    )
    reconstruction = rgb(
        [[0, 255, 10, 25], [30, 40, 50, 60], [70, 80, 90, 100], [110, 120, 130, 141]],
        [[127, 129, 128, 128], [0, 0, 0, 0], [255, 255, 255, 0], [7, 7, 7, 7]],
        [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16]],
    )
    out = dire_input(image, reconstruction, size=4)  # evaluation: centre crop of a 4 x 4 = everything
    assert out.dtype == torch.float32 and out.shape == (3, 4, 4)
    # |a - b| by hand, in grey levels; one grey level is 2 / 255 in [-1, 1] scale
    levels = torch.tensor([
        [[255, 255, 0, 5], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]],
        [[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 255], [0, 0, 0, 0]],
        [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
    ], dtype=torch.float64)
    torch.testing.assert_close(out, (levels * STEP).float(), rtol=0, atol=1e-7)
    assert out[0, 0, 0].item() == 2.0 and out[0, 0, 1].item() == 2.0  # white vs black: the full range
    assert out[0, 0, 3].item() == pytest.approx(0.0392157, abs=1e-7)  # 5 / 127.5
    # PIL images give the same tensor as arrays, and the order of the pair does not matter
    torch.testing.assert_close(dire_input(Image.fromarray(image), Image.fromarray(reconstruction), size=4), out)
    torch.testing.assert_close(dire_input(reconstruction, image, size=4), out)


def test_no_normalisation_identical_images_give_zero() -> None:
    image = position_coded(5, 5)
    assert torch.count_nonzero(dire_input(image, image.copy(), size=4)) == 0


def test_sizes_and_types_are_checked() -> None:
    with pytest.raises(ValueError, match=r"differ in size: 5x4 vs 4x4"):
        dire_input(np.zeros((4, 5, 3), np.uint8), np.zeros((4, 4, 3), np.uint8), size=4)
    with pytest.raises(ValueError, match="uint8"):
        dire_input(np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 3), np.uint8), size=4)


def test_training_crops_both_images_at_the_same_random_position() -> None:
    image = position_coded(12, 10)
    reconstruction = image + 30  # every pixel 30 levels brighter (at most 250): a constant difference iff the crops align
    zeros = np.zeros_like(image)
    origins = set()
    for seed in range(40):
        out = dire_input(image, reconstruction, size=4, rng=np.random.default_rng(seed))
        torch.testing.assert_close(out, torch.full((3, 4, 4), 30 * STEP), rtol=0, atol=1e-6)
        # against black, the DIRE of the position-coded image is the image itself: read the crop position
        crop = dire_input(image, zeros, size=4, rng=np.random.default_rng(seed))
        levels = torch.round(crop / STEP).to(torch.int64)
        top, left = int(levels[0, 0, 0]) // 20, int(levels[1, 0, 0]) // 20
        assert (top, left) == random_origin(12, 10, 4, np.random.default_rng(seed))
        expected = torch.from_numpy(image[top:top + 4, left:left + 4].transpose(2, 0, 1).astype(np.int64))
        assert torch.equal(levels, expected)
        origins.add((top, left))
    assert len(origins) > 10  # the position moves


def test_random_position_follows_albumentations_1_3() -> None:
    """top = int((H - size) * u), u in [0, 1): offsets 0 .. H - size - 1, never H - size (unless 0)."""
    rng = np.random.default_rng(0)
    tops = {random_origin(6, 4, 4, rng)[0] for _ in range(300)}
    assert tops == {0, 1}
    assert {random_origin(6, 4, 4, rng)[1] for _ in range(50)} == {0}
    rng = np.random.default_rng(5)
    u_top, u_left = rng.random(), rng.random()
    assert random_origin(300, 500, 224, np.random.default_rng(5)) == (int(76 * u_top), int(276 * u_left))


def test_evaluation_takes_the_centre_crop() -> None:
    image = position_coded(7, 9)
    out = dire_input(image, np.zeros_like(image), size=4)  # no rng: evaluation
    levels = torch.round(out / STEP).to(torch.int64)
    # centre of 7 x 9 for a 4 x 4 crop: top (7 - 4) // 2 = 1, left (9 - 4) // 2 = 2
    assert levels[0, :, 0].tolist() == [20, 40, 60, 80]  # rows 1..4
    assert levels[1, 0, :].tolist() == [40, 60, 80, 100]  # columns 2..5
    assert DireCrop(size=4, train=False, seed=1)(image, np.zeros_like(image)).equal(out)


def test_evaluation_matches_the_albumentations_pad_and_centre_crop() -> None:
    """The authors' eval transform (PadIfNeeded centred, CenterCrop, one call for both images), then the maths."""
    import albumentations as A
    import cv2

    rng = np.random.default_rng(1)
    for height, width in [(300, 260), (150, 400), (224, 224), (101, 99)]:
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        reconstruction = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        transform = A.Compose(
            [A.PadIfNeeded(224, 224, position="center", border_mode=cv2.BORDER_CONSTANT, fill=0),
             A.CenterCrop(224, 224)],
            additional_targets={"rec_image": "image"},
        )
        data = transform(image=image, rec_image=reconstruction)
        expected = np.abs((data["image"] / 127.5 - 1) - (data["rec_image"] / 127.5 - 1)).astype(np.float32)
        assert torch.equal(dire_input(image, reconstruction), torch.from_numpy(expected.transpose(2, 0, 1)))


def test_padding_is_centred_zero_padding_of_both_images() -> None:
    image = rgb([[255, 255, 255], [255, 255, 255]])  # 2 high, 3 wide
    out = dire_input(image, np.zeros_like(image), size=4, rng=np.random.default_rng(0))
    # height 2 -> 4: one row on top, one at the bottom; width 3 -> 4: none left, one right.
    # Padding is 0 in both images, so -1 in both, so 0 in the difference.
    expected = torch.tensor([[0, 0, 0, 0], [2, 2, 2, 0], [2, 2, 2, 0], [0, 0, 0, 0]], dtype=torch.float32)
    assert torch.equal(out, expected.expand(3, 4, 4))
    assert torch.equal(dire_input(image, np.zeros_like(image), size=4), out)  # evaluation: the same


def test_padding_one_side_and_cropping_the_other() -> None:
    image = position_coded(2, 12)
    out = dire_input(image, np.zeros_like(image), size=4, rng=np.random.default_rng(3))
    levels = torch.round(out / STEP).to(torch.int64)
    _, left = random_origin(4, 12, 4, np.random.default_rng(3))  # the padded height leaves no room: top 0
    # height 2 -> 4: padded row, image rows 0 and 1, padded row
    assert levels[1, 1, :].tolist() == levels[1, 2, :].tolist() == [20 * c for c in range(left, left + 4)]
    assert levels[0, 1, :].tolist() == [0] * 4 and levels[0, 2, :].tolist() == [20] * 4
    assert levels[:, 0, :].abs().sum() == 0 and levels[:, 3, :].abs().sum() == 0  # padded rows are 0
    assert out.shape == (3, 4, 4)


def test_difference_then_crop_is_crop_then_difference() -> None:
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (3, 9, 3), dtype=np.uint8)
    reconstruction = rng.integers(0, 256, (3, 9, 3), dtype=np.uint8)
    full = np.abs((image / 127.5 - 1) - (reconstruction / 127.5 - 1))  # difference first, on the whole image
    padded = np.zeros((5, 9, 3))  # then the zero padding the difference gets (0 in both images: 0)
    padded[1:4] = full
    top, left = random_origin(5, 9, 5, np.random.default_rng(8))
    expected = torch.from_numpy(padded[top:top + 5, left:left + 5].astype(np.float32).transpose(2, 0, 1))
    assert torch.equal(dire_input(image, reconstruction, size=5, rng=np.random.default_rng(8)), expected)


def test_dire_size_is_224() -> None:
    assert DIRE_SIZE == 224
    assert dire_input(np.zeros((10, 10, 3), np.uint8), np.zeros((10, 10, 3), np.uint8)).shape == (3, 224, 224)


# --- pairing ------------------------------------------------------------------------------------


def test_reconstruction_is_found_by_stem(tmp_path: Path) -> None:
    image = tmp_path / "images" / "cat.photo.jpg"
    assert reconstruction_path(image, tmp_path / "rec") == tmp_path / "rec" / "cat.photo.png"
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / "cat.photo.png").write_bytes(b"x")
    assert pair_with_reconstruction(image, tmp_path / "rec") == tmp_path / "rec" / "cat.photo.png"
    assert pair_with_reconstruction(image, lambda p: tmp_path / "rec") == tmp_path / "rec" / "cat.photo.png"


def test_missing_reconstruction_names_both_paths(tmp_path: Path) -> None:
    image = tmp_path / "images" / "dog.jpg"
    expected = tmp_path / "rec" / "dog.png"
    with pytest.raises(MissingReconstructionError, match=re.escape(str(image)) + ".*" + re.escape(str(expected))):
        pair_with_reconstruction(image, tmp_path / "rec")
    with pytest.raises(FileNotFoundError):  # a FileNotFoundError for callers that catch those
        pair_samples([Sample(str(image), 0, "real", "demo", "real")], tmp_path / "rec")


def test_align_crops_an_input_the_reconstruction_step_capped() -> None:
    image = position_coded(10, 6)
    aligned = align_to_reconstruction(image, (8, 6), max_side=8)  # height capped at 8: rows 1..8
    assert np.array_equal(aligned, image[1:9])
    assert align_to_reconstruction(image, (10, 6), max_side=8) is image
    with pytest.raises(ValueError, match="reconstruction is 6x7 but the image is 6x10"):
        align_to_reconstruction(image, (7, 6), max_side=8)


def test_dire_split_shuffles_once_with_seed_2023() -> None:
    """numpy's legacy RandomState(2023).shuffle of ten sorted names, once (the stream is stable across numpy versions)."""
    names = [f"{i:02d}.png" for i in (3, 1, 4, 0, 5, 9, 2, 6, 8, 7)]  # any order in: sorted first
    train, val = split_pair_folder(names)
    assert DIRE_SPLIT_SEED == 2023
    assert train == ["08.png", "02.png", "05.png", "00.png", "03.png", "04.png", "01.png", "09.png", "06.png"]
    assert val == ["07.png"]
    assert (train, val) != split_folder(names, 0.1, 2023)  # the image loaders' twice-shuffled split differs


# --- the dataset --------------------------------------------------------------------------------


def write_pairs(root: Path, n: int = 4, size: tuple[int, int] = (40, 48)) -> list[Sample]:
    """n images (alternating labels) under root/images and their 'reconstructions' (shifted pixels) under root/rec."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "rec").mkdir()
    samples = []
    for i in range(n):
        pixels = rng.integers(0, 200, (*size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "images" / f"{i:03d}.jpg", quality=95)
        Image.fromarray(pixels + rng.integers(0, 50, pixels.shape, dtype=np.uint8)).save(root / "rec" / f"{i:03d}.png")
        samples.append(Sample(str(root / "images" / f"{i:03d}.jpg"), i % 2, "real" if i % 2 == 0 else "fake", "demo", "g"))
    return samples


def read_all(dataset: DireDataset) -> list[tuple[torch.Tensor, int]]:
    return [dataset[i] for i in range(len(dataset))]


def test_dataset_pairs_and_is_deterministic_under_a_seed(tmp_path: Path) -> None:
    samples = write_pairs(tmp_path)
    train_a, val_a = build_dire_datasets(samples, samples, tmp_path / "rec", seed=7, size=16)
    train_b, _ = build_dire_datasets(samples, samples, tmp_path / "rec", seed=7, size=16)
    assert train_a.samples[1] == DireSample(samples[1].path, str(tmp_path / "rec" / "001.png"), 1)
    assert train_a.labels == [0, 1, 0, 1]
    first = read_all(train_a)
    assert all(t.shape == (3, 16, 16) and t.dtype == torch.float32 for t, _ in first)
    assert [label for _, label in first] == [0, 1, 0, 1]
    assert all(torch.equal(x, y) for (x, _), (y, _) in zip(first, read_all(train_b)))
    # the hook the training loop calls each epoch and in each worker restarts the same stream
    train_a.transform.set_random_seed(7)
    assert all(torch.equal(x, y) for (x, _), (y, _) in zip(first, read_all(train_a)))
    train_a.transform.set_random_seed(8)
    assert not all(torch.equal(x, y) for (x, _), (y, _) in zip(first, read_all(train_a)))
    # validation: centre crops, the same on every pass whatever the seed
    assert all(torch.equal(x, y) for (x, _), (y, _) in zip(read_all(val_a), read_all(val_a)))


def test_dataset_matches_the_dire_input_of_the_decoded_files(tmp_path: Path) -> None:
    from drct.images import load_rgb

    samples = write_pairs(tmp_path, n=1)
    dataset = DireDataset(pair_samples(samples, tmp_path / "rec"), DireCrop(16, train=False))
    expected = dire_input(load_rgb(samples[0].path), load_rgb(tmp_path / "rec" / "000.png"), size=16)
    assert torch.equal(dataset[0][0], expected)


def test_dataset_aligns_capped_inputs_and_names_mismatches(tmp_path: Path) -> None:
    samples = write_pairs(tmp_path, n=2, size=(12, 10))
    big = np.asarray(Image.open(samples[0].path).convert("RGB"))
    Image.fromarray(big[2:10, 1:9]).save(tmp_path / "rec" / "000.png")  # the reconstruction of the 8 x 8 centre crop
    dataset = DireDataset(pair_samples(samples, tmp_path / "rec"), DireCrop(8, train=False), max_side=8)
    assert torch.count_nonzero(dataset[0][0]) == 0  # compared on the crop that was reconstructed
    Image.fromarray(big[:5, :5]).save(tmp_path / "rec" / "001.png")
    with pytest.raises(ValueError, match=re.escape(samples[1].path) + ".*001.png.*do not match"):
        dataset[1]


def test_unreadable_image_or_reconstruction_raises_with_its_path(tmp_path: Path) -> None:
    samples = write_pairs(tmp_path, n=2)
    dataset = DireDataset(pair_samples(samples, tmp_path / "rec"), DireCrop(16, train=True, seed=0))
    Path(samples[0].path).write_bytes(b"not an image")
    with pytest.raises(ImageReadError, match=re.escape(samples[0].path)):
        dataset[0]
    (tmp_path / "rec" / "001.png").write_bytes(b"not a PNG either")
    with pytest.raises(ImageReadError, match=re.escape(str(tmp_path / "rec" / "001.png"))):
        dataset[1]


# --- the detector entry -------------------------------------------------------------------------


def test_detector_entry_is_resnet50_on_dire_input() -> None:
    from drct.detectors import dire as entry
    from drct.detectors.cnnspot import DETECTOR as CNNSPOT

    detector = entry.DETECTOR
    assert detector.input == "dire" and CNNSPOT.input == "image"
    assert (detector.family, detector.model_name, detector.pretrained) == (CNNSPOT.family, CNNSPOT.model_name, True)
    assert detector.image_size == entry.DIRE_SIZE == DIRE_SIZE
    assert (detector.method, detector.embedding_dim) == ("baseline", 0)
    assert "do not name" in detector.unspecified and "DIRE paper" in detector.unspecified


def test_detector_at_full_size_is_resnet50_with_a_two_class_fc() -> None:
    """torchvision's ResNet-50 has 25,557,032 parameters with its 1000-class fc (2048 x 1000 + 1000);
    the DIRE classifier swaps that fc for 2048 x 2 + 2."""
    from drct.detectors.dire import DETECTOR
    from drct.training.model import build_model
    from drct.training.settings import TrainSettings

    settings = TrainSettings.from_dict({
        **DETECTOR.settings(), "family": DETECTOR.family, "model_name": DETECTOR.model_name,
        "pretrained": DETECTOR.pretrained, "freeze_backbone": DETECTOR.freeze_backbone, "method": DETECTOR.method,
        "real": ["real"], "fake": ["sdv14"], "real_rec": ["real_rec"], "fake_rec": ["sdv14_rec"],
        "batch_size": DETECTOR.batch_size,
    })
    with torch.device("meta"):
        model = build_model(settings, load_pretrained=False)
    assert sum(p.numel() for p in model.parameters()) == 25_557_032 - (2048 * 1000 + 1000) + (2048 * 2 + 2)
    assert model.classifier.out_features == 2 and isinstance(model.embedding, torch.nn.Identity)


# --- settings, planning and the pipeline end to end ---------------------------------------------


def _dire_settings(**changes):
    from drct.detectors.dire import DETECTOR
    from drct.training.settings import TrainSettings

    values = {
        **DETECTOR.settings(), "family": DETECTOR.family, "model_name": DETECTOR.model_name, "pretrained": False,
        "freeze_backbone": False, "method": "baseline", "real": ["real"], "fake": ["sdv14"],
        "real_rec": ["real_rec"], "fake_rec": ["sdv14_rec"], "batch_size": 2,
    }
    return TrainSettings.from_dict({**values, **changes})


def test_settings_record_the_dire_input_and_need_one_reconstruction_per_generator() -> None:
    settings = _dire_settings()
    assert settings.input == "dire" and settings.to_dict()["input"] == "dire"  # in every checkpoint sidecar
    assert settings.groups == {"real": ("real",), "fake": ("sdv14",)}  # the reconstructions are pairs, not groups
    with pytest.raises(ValueError, match="one real_rec"):
        _dire_settings(real_rec=[])
    with pytest.raises(ValueError, match="baseline method"):
        _dire_settings(method="drct")


def _demo_config_with_dire(dr_model: str | None = "demo-sd") -> dict:
    from drct.config import load_yaml

    config = load_yaml(Path(__file__).resolve().parents[2] / "config.yaml")
    config["training"]["backbones"].append({"name": "dire", "detector": "dire"})
    if dr_model is not None:
        config["training"]["train_sets"][0]["dr_model"] = dr_model
    return config


def test_a_dire_train_set_must_name_its_dr_model() -> None:
    from drct.config import ConfigError, validate_config

    with pytest.raises(ConfigError, match=r"'training\.train_sets\[0\]\.dr_model': a DIRE backbone trains on 'sdv1'"):
        validate_config(_demo_config_with_dire(None))
    with pytest.raises(ConfigError, match=r"dr_model.*one of demo-sd; got 'sdv9'"):
        validate_config(_demo_config_with_dire("sdv9"))
    # no DIRE backbone: no dr_model needed (the demo's own config)
    from drct.config import load_yaml

    validate_config(load_yaml(Path(__file__).resolve().parents[2] / "config.yaml"))


def other_run(config: dict):
    from drct.planning.runs import iter_runs

    return next(r for r in iter_runs(config) if r.backbone == "convb")


def test_planning_derives_a_test_reconstruction_of_every_scored_generator() -> None:
    """The demo's two protocols with a DIRE run: intra scores flux, stable-diffusion, qwen-image, the
    SD-DR column (itself the output of the demo's real/test job, so reconstructed from that job's
    manifest) and the shared real set; cross scores its three GenImage-like generators. 5 + 3 = 8
    jobs, all test split, all by the train set's dr_model."""
    from drct.config import validate_config
    from drct.planning.dire import dire_jobs, dire_reconstructions, is_dire_run, studied_runs
    from drct.planning.jobs import active_jobs
    from drct.planning.runs import iter_runs, run_meta, train_settings

    config = validate_config(_demo_config_with_dire())
    jobs = dire_jobs(config, active_jobs(config))
    got = {(j["dataset"], j["source"]): (j["output"], j.get("from_job")) for j in jobs}
    assert got == {
        ("demo-drct2m", "flux"): ("dire-demo-sd--flux", None),
        ("demo-drct2m", "stable-diffusion"): ("dire-demo-sd--stable-diffusion", None),
        ("demo-drct2m", "qwen-image"): ("dire-demo-sd--qwen-image", None),
        ("demo-drct2m", "demo-sd-dr"): ("dire-demo-sd--demo-sd-dr", "demo-sd-dr"),
        ("demo-drct2m", "real"): ("dire-demo-sd--real", None),
        ("demo-genimage", "closed_api_models"): ("dire-demo-sd--closed_api_models", None),
        ("demo-genimage", "open_models_t2i"): ("dire-demo-sd--open_models_t2i", None),
        ("demo-genimage", "open_models_edit"): ("dire-demo-sd--open_models_edit", None),
    }
    assert {(j["model"], j["split"]) for j in jobs} == {("demo-sd", "test")}
    # published mode computes them too (no published dataset has reconstructions of its test fakes)
    assert len(dire_jobs(config, [])) == 8

    (run,) = [r for r in iter_runs(config) if is_dire_run(config, r)]
    intra = config["evaluation"]["protocols"][0]
    assert dire_reconstructions(config, run, intra)["real"] == "dire-demo-sd--real"
    assert run_meta(config, run)["dr_label"] == "SDv1" and run_meta(config, run)["backbone_label"] == "DIRE"
    assert run_meta(config, run)["input"] == "dire" and "input" not in run_meta(config, other_run(config))
    settings = train_settings(config, run)
    assert (settings["input"], settings["real_rec"], settings["fake_rec"]) == (
        "dire", ["real-rec-demo-sd"], ["fake-rec-demo-sd"])
    assert run not in studied_runs(config, intra) and len(studied_runs(config, intra)) == 4
    other = next(r for r in iter_runs(config) if r.backbone == "convb")
    assert dire_reconstructions(config, other, intra) == {}


def test_tables_label_dire_rows_with_their_dr_model(tmp_path: Path) -> None:
    import json

    from drct.paper.tables import load_runs

    metrics = tmp_path / "m.json"
    metrics.write_text(json.dumps({"run": "r", "generators": {"g": {"acc": 50.0}}, "mean": {"acc": 50.0}}))
    meta = [{"run": "r", "group": "baseline-dire-sdv2", "method": "baseline", "backbone_label": "DIRE",
             "dr_label": "SDv2", "seed": 0, "input": "dire"}]
    (run,) = load_runs([metrics], meta, {"g": "G"})
    assert (run.method, run.dr) == ("DIRE", "SDv2")


@pytest.mark.slow
def test_dire_trains_scores_and_predicts_end_to_end(tmp_path: Path) -> None:
    """Demo-sized, random weights: train on image / reconstruction pairs, score a protocol through
    the workflow's scorer with the planned reconstruction generators, and `drct predict` the same
    images with a folder of reconstructions: both pair identically, so the scores agree."""
    import json

    import pandas as pd
    from helpers.manifests import write_manifest

    from drct.evaluation.score import ProtocolTask, score_protocols
    from drct.predict import predict_paths
    from drct.training.train_run import train

    torch.set_num_threads(2)
    manifest = write_manifest(tmp_path, [
        ("demo", "real", "train", 0, 6), ("demo", "sdv14", "train", 1, 6),
        ("demo", "real_rec", "train", 1, 6), ("demo", "sdv14_rec", "train", 1, 6),
        ("demo", "real", "test", 0, 2), ("demo", "sdv14", "test", 1, 2),
        ("demo", "dire--real", "test", 1, 2), ("demo", "dire--sdv14", "test", 1, 2),
    ], size=48)
    settings = _dire_settings(epochs=1, max_steps_per_epoch=2, image_size=64, device="cpu", val_fraction=0.2)
    train(manifest, tmp_path / "run", settings)
    sidecar = json.loads((tmp_path / "run" / "best.json").read_text())
    assert sidecar["settings"]["input"] == "dire"
    assert set(sidecar["n_train"]) == {"real/demo:real", "fake/demo:sdv14"}

    checkpoint = tmp_path / "run" / "best.safetensors"
    task = ProtocolTask(name="intra", manifest=manifest, out=tmp_path / "predictions.csv", generators=["real", "sdv14"],
                        reconstructions={"real": "dire--real", "sdv14": "dire--sdv14"})
    score_protocols(checkpoint, [task], device="cpu")
    scored = pd.read_csv(tmp_path / "predictions.csv")
    assert len(scored) == 4 and scored["score"].between(0, 1).all()

    fakes = tmp_path / "images" / "demo" / "sdv14" / "test" / "1"
    with pytest.raises(MissingReconstructionError, match="reconstruct-shard"):
        predict_paths(checkpoint, [fakes], tmp_path / "p.csv", device="cpu", progress=False)
    frame = predict_paths(checkpoint, [fakes], tmp_path / "p.csv", device="cpu", progress=False,
                          reconstructions=tmp_path / "images" / "demo" / "dire--sdv14" / "test" / "1")
    assert (frame["status"] == "ok").all() and len(frame) == 2
    expected = scored[scored["generator"] == "sdv14"].sort_values("path")["score"].to_numpy()
    np.testing.assert_allclose(frame["score"].to_numpy(), expected, rtol=1e-5)
    bad = ProtocolTask(name="intra", manifest=manifest, out=tmp_path / "x.csv", generators=["real", "sdv14"],
                       reconstructions={"real": "dire--real"})
    with pytest.raises(MissingReconstructionError, match=r"generator\(s\) \['sdv14'\]"):
        score_protocols(checkpoint, [bad], device="cpu")

    # as the workflow scores: the reconstructions listed in their jobs' own manifests, not in the
    # dataset's (which then holds no DIRE rows): the same pairs, the same scores
    frame_all = pd.read_csv(manifest)
    dire_rows = frame_all["generator"].str.startswith("dire--")
    frame_all[~dire_rows].to_csv(tmp_path / "dataset.csv", index=False)
    rec_manifests = []
    for generator in ("dire--real", "dire--sdv14"):
        frame_all[frame_all["generator"] == generator].to_csv(tmp_path / f"{generator}.csv", index=False)
        rec_manifests.append(tmp_path / f"{generator}.csv")
    apart = ProtocolTask(name="intra", manifest=tmp_path / "dataset.csv", out=tmp_path / "apart.csv",
                         generators=["real", "sdv14"], reconstructions={"real": "dire--real", "sdv14": "dire--sdv14"},
                         reconstruction_manifests=tuple(rec_manifests))
    score_protocols(checkpoint, [apart], device="cpu")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "apart.csv").drop(columns=["path"]),
                                  scored.drop(columns=["path"]), rtol=1e-5)
    with pytest.raises(MissingReconstructionError, match="dire--real.csv"):
        score_protocols(checkpoint, [ProtocolTask(
            name="intra", manifest=tmp_path / "dataset.csv", out=tmp_path / "y.csv", generators=["real", "sdv14"],
            reconstructions={"real": "dire--real", "sdv14": "dire--sdv14"}, reconstruction_manifests=(rec_manifests[0],))],
            device="cpu")


def test_presets_train_dire_on_both_dr_models_and_no_other_baseline_on_sdv2() -> None:
    """drct2m_intra: the dire entry names [sdv1, sdv2] (sdv2 lists drct only); each run is labelled with its
    DR model, and each DR model reconstructs intra's 16 columns + the real set: 2 x 17 test jobs."""
    from drct.config import ConfigError, load_yaml, validate_config
    from drct.planning.dire import dire_jobs
    from drct.planning.jobs import active_jobs
    from drct.planning.runs import iter_runs, run_meta

    raw = load_yaml(Path(__file__).resolve().parents[2] / "presets" / "drct2m_intra.yaml")
    config = validate_config(raw)
    runs = list(iter_runs(config))
    dire = [r for r in runs if r.backbone == "dire"]
    assert [(r.method, r.train_set, run_meta(config, r)["dr_label"]) for r in dire] == [
        ("baseline", "sdv1", "SDv1"), ("baseline", "sdv2", "SDv2")]
    assert {r.backbone for r in runs if r.train_set == "sdv2"} == {"convb", "univfd", "dire"}
    assert {r.method for r in runs if r.train_set == "sdv2" and r.backbone != "dire"} == {"drct"}
    jobs = dire_jobs(config, active_jobs(config))
    assert len(jobs) == 34 and {j["model"] for j in jobs} == {"sdv1", "sdv2"}
    assert {j["output"] for j in jobs if j["source"] == "real"} == {"dire-sdv1--real", "dire-sdv2--real"}
    index = next(i for i, b in enumerate(raw["training"]["backbones"]) if b["name"] == "dire")
    raw["training"]["backbones"][index]["train_sets"] = ["sdv1", "sdv3"]
    with pytest.raises(ConfigError, match=rf"'training\.backbones\[{index}\]\.train_sets': 'sdv3' is not"):
        validate_config(raw)


def test_scoring_pairs_rows_by_generator_split_and_stem_and_names_the_missing() -> None:
    import pandas as pd

    from drct.evaluation.dire_score import pair_rows

    rows = pd.DataFrame({"generator": ["g", "g"], "split": ["test", "test"], "abspath": ["/a/x.jpg", "/a/y.jpg"]})
    manifest = pd.DataFrame({
        "generator": ["r", "r", "r", "other"], "split": ["test", "train", "test", "test"],
        "abspath": ["/r/x.png", "/r/y.png", None, "/o/y.png"], "status": ["ok", "ok", "failed", "ok"],
    })
    with pytest.raises(MissingReconstructionError, match=r"1 image\(s\) have no reconstruction: /a/y\.jpg"):
        pair_rows(rows, manifest, {"g": "r"}, "m.csv")  # y's only reconstruction is in the train split
    manifest.loc[1, "split"] = "test"
    assert pair_rows(rows, manifest, {"g": "r"}, "m.csv") == [("/a/x.jpg", "/r/x.png"), ("/a/y.jpg", "/r/y.png")]
    with pytest.raises(MissingReconstructionError, match=r"generator\(s\) \['g'\]"):
        pair_rows(rows, manifest, {}, "m.csv")
