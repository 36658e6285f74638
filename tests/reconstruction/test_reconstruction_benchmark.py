"""The reconstruction benchmark runs on CPU (CI) and its baseline and model builders are right.

1. ``benchmarks/reconstruction/run.py --model demo`` end to end: both paths timed, every output finite
   and not constant, the two paths within the stated tolerance, a speedup reported.
2. The re-created authors' loop equals ``drct.reconstruction.pipeline.reconstruct_image`` (CFG on,
   batch of one) image for image: the two are written independently, so this checks both.
3. The full-size configs build (on the meta device: no memory) into networks with the published
   parameter counts of SD1 / SD2 / SDXL inpainting.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks" / "reconstruction"
sys.path.insert(0, str(BENCH))

import authors_loop
import full_size

# run.py under a unique name: other benchmarks have a run.py too
_spec = importlib.util.spec_from_file_location("drct_reconstruction_benchmark_run", BENCH / "run.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

from drct.reconstruction import ReconstructionSettings
from drct.reconstruction.build_demo_model import build_demo_pipeline
from drct.reconstruction.pipeline import load_pipeline, reconstruct_image


@pytest.mark.slow
def test_gpu_checks_script_runs_the_benchmarks_on_the_demo_models(tmp_path: Path) -> None:
    """``SMOKE=1 benchmarks/gpu_checks.sh`` (the script the GPU figures come from) on CPU: its
    reconstruction step runs ``run.py --model demo`` (4 images, 2 steps, batch 2), its training step
    the training benchmark."""
    result = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_checks.sh"), str(tmp_path / "out")], cwd=ROOT,
        # the script calls `python3`: this interpreter's, as on the GPU machine the one with torch
        env=dict(os.environ, SMOKE="1", DRCT_BENCH_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="2",
                 PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"),
        capture_output=True, text=True, timeout=900, check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    training = json.loads((tmp_path / "out" / "training_demo.json").read_text())
    assert [r["train_step"]["images_per_s"] > 0 for r in training["results"]] == [True]  # --family timm: Conv-B only
    report = json.loads((tmp_path / "out" / "reconstruction_demo.json").read_text())
    for path in ("ours", "authors"):
        assert report[path]["images"] == 4 and report[path]["images_per_s"] > 0 and report[path]["seconds"] > 0
    assert report["ours"]["batch_size"] == 2 and report["ours"]["skip_cfg"] is True
    assert report["ours"]["padded_size_groups"] == {"64x64": 2, "64x48": 2}  # grouping exercised
    assert report["ours"]["pipeline_calls"] == 2 and report["authors"]["pipeline_calls"] == 4
    assert report["speedup"] > 0 and report["target_speedup"] is None and "speedup_without_authors_gc" in report
    agreement = report["agreement"]
    assert agreement["all_finite"] and agreement["all_not_constant"] and agreement["all_within_tolerance"]
    assert agreement["tolerance"] == bench.TOLERANCE["float32"]
    assert len(agreement["per_image"]) == 4
    for row in agreement["per_image"]:
        assert row["finite"] and row["not_constant"] and row["within_tolerance"]
        assert row["output_size"] == row["input_size"]
    assert report["outputs_ok"] is True
    assert report["weights"]["kind"] == "random"
    assert report["machine"]["device"] == "cpu" and report["machine"]["cpu_count"] >= 1


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    torch.set_num_threads(2)
    return build_demo_pipeline(tmp_path_factory.mktemp("bench-demo") / "demo", seed=0, sample_size=32)


@pytest.mark.slow  # runs the demo pipeline through two loops
def test_authors_loop_matches_reconstruct_image(demo_dir: Path) -> None:
    """Authors' loop (global reseed, no generator, unpadded mask) vs ours with CFG on, one image per call."""
    settings = ReconstructionSettings(model=str(demo_dir), steps=2, device="cpu", skip_cfg=False)
    images = bench.make_images(4, 48)  # 48x48, 43x45, 48x40, 46x35: padding on both sides, two padded sizes
    ours_pipe = load_pipeline(settings)
    ours = [reconstruct_image(ours_pipe, image, settings) for image in images]
    authors_pipe = authors_loop.load_authors_pipeline(str(demo_dir), sdxl=False, device="cpu", dtype=torch.float32)
    with authors_loop.cudnn_flags_restored():
        authors = authors_loop.run_authors_loop(authors_pipe, images, steps=2, progress=False)
    tolerance = bench.TOLERANCE["float32"]
    for image, a, b in zip(images, ours, authors, strict=True):
        assert a.size == b.size == image.size
        x, y = np.asarray(a), np.asarray(b)
        assert np.abs(x.astype(int) - y.astype(int)).max() <= tolerance["max_abs_diff"]
        assert bench.psnr_db(x, y) >= tolerance["min_psnr_db"]
        assert bench.not_constant(x)


def test_authors_preprocessing_is_the_original_geometry() -> None:
    rgb = np.arange(1030 * 1037 * 3, dtype=np.uint64).reshape(1030, 1037, 3).astype(np.uint8)
    padded, mask, (height, width) = authors_loop.prepare_like_authors(rgb)
    assert (height, width) == (1024, 1024) and padded.shape == (1024, 1024, 3)  # centre crop, 1024 is a multiple of 8
    np.testing.assert_array_equal(padded, rgb[3:1027, 6:1030])  # offsets (1030-1024)//2, (1037-1024)//2
    small = np.full((37, 45, 3), 200, dtype=np.uint8)
    padded, mask, (height, width) = authors_loop.prepare_like_authors(small)
    assert padded.shape == (40, 48, 3) and (height, width) == (37, 45)
    assert padded[37:].max() == 0 and padded[:, 45:].max() == 0 and padded[:37, :45].min() == 200
    assert mask.shape == (37, 45, 3) and mask.max() == 0  # unpadded size, all zeros
    assert [authors_loop.round_up_to_multiple(v) for v in (8, 9, 15, 16)] == [8, 16, 16, 16]


def test_compare_outputs_flags_constant_and_distant_images() -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    flat = Image.new("RGB", (16, 16), (200, 10, 10))  # uniform colour: constant, though its channels differ
    other = Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    result = bench.compare_outputs([noise, flat, noise], [noise, flat, other], [True, True, False], [True, True, True],
                                   [noise, flat, noise], bench.TOLERANCE["float32"])
    rows = result["per_image"]
    assert rows[0]["psnr_db"] == "inf" and rows[0]["within_tolerance"] and rows[0]["not_constant"]
    assert not rows[1]["not_constant"]
    assert not rows[2]["finite"] and not rows[2]["within_tolerance"] and rows[2]["psnr_db"] < 20
    assert not result["all_finite"] and not result["all_not_constant"] and not result["all_within_tolerance"]
    assert math.isclose(bench.psnr_db(np.zeros((2, 2)), np.full((2, 2), 255)), 0.0)


def test_image_sizes_share_and_split_padded_sizes() -> None:
    settings = ReconstructionSettings(model="-")
    for size in (64, 512, 1024):
        sizes = bench.image_sizes(size)
        padded = [bench.padded_size(w, h, settings) for w, h in sizes]
        assert padded[0] == padded[1] == (size, size) and padded[2] == padded[3] != padded[0]
        assert sizes[1] != sizes[0] and sizes[3] != sizes[2]  # unpadded sizes differ: padding exercised
    batches = bench.plan_batches(bench.make_images(6, 64), ReconstructionSettings(model="-", batch_size=2))
    assert batches == [[0, 1], [4, 5], [2, 3]]


@pytest.mark.parametrize("model", sorted(full_size.MODELS))
def test_full_size_configs_have_the_published_parameter_counts(model: str) -> None:
    assert full_size.parameter_counts(model) == full_size.PUBLISHED_PARAMETERS[model]


def test_full_size_configs_name_the_published_architectures() -> None:
    configs = {model: full_size.load_configs(model) for model in full_size.MODELS}
    for cfg in configs.values():
        assert cfg["unet"]["in_channels"] == 9 and cfg["unet"]["out_channels"] == 4  # inpainting UNets
        assert cfg["vae"]["latent_channels"] == 4 and len(cfg["vae"]["block_out_channels"]) == 4
    assert [configs[m]["scheduler"]["_class_name"] for m in ("sd1", "sd2", "sdxl")] == [
        "DDIMScheduler", "PNDMScheduler", "EulerDiscreteScheduler"]
    sd2_text = configs["sd2"]["text_encoder"]
    assert sd2_text["num_hidden_layers"] == 23 and sd2_text["hidden_size"] == 1024
    assert configs["sdxl"]["text_encoder_2"]["architectures"] == ["CLIPTextModelWithProjection"]
    assert configs["sd2"]["tokenizer"]["pad_token"] == "!" and configs["sdxl"]["tokenizer_2"]["pad_token"] == "!"
    assert configs["sd1"]["tokenizer"]["pad_token"] == "<|endoftext|>"
    assert configs["sdxl"]["model_index"]["force_zeros_for_empty_prompt"] is True


_PUBLISHED_CONFIGS = full_size.load_configs


def _shrunk_sd1_configs() -> dict:
    """SD1's published configs with every width cut down, so the real build path runs in seconds."""
    configs = _PUBLISHED_CONFIGS("sd1")
    configs["unet"].update(block_out_channels=[32, 32, 64, 64], cross_attention_dim=32, attention_head_dim=4,
                           norm_num_groups=8, layers_per_block=1)
    configs["vae"].update(block_out_channels=[8, 8, 16, 16], norm_num_groups=8, layers_per_block=1)
    configs["text_encoder"].update(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                   projection_dim=32)
    return configs


def test_random_build_is_saved_atomically_replaced_and_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(full_size, "load_configs", lambda model: _shrunk_sd1_configs())
    target = tmp_path / "sd1-build"
    full_size.build_random_pipeline("sd1", target, seed=0)
    first = sorted(p.relative_to(target) for p in target.rglob("*") if p.is_file())
    assert (target / full_size.BUILD_MARKER).is_file() and (target / "tokenizer" / "merges.txt").is_file()
    full_size.build_random_pipeline("sd1", target, seed=0)  # a rebuild replaces the old folder whole
    assert sorted(p.relative_to(target) for p in target.rglob("*") if p.is_file()) == first
    assert [p.name for p in tmp_path.iterdir()] == ["sd1-build"], "temporary folders left behind"
    pipe = load_pipeline(ReconstructionSettings(model=str(target), device="cpu"))
    assert type(pipe.scheduler).__name__ == "DDIMScheduler" and pipe.unet.config.in_channels == 9
