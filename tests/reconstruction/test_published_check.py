"""Published-reconstruction check: sampling, PSNR/SSIM, failures, and the three `drct` commands end to end.

The "published" images are made here the way the authors' script made DRCT-2M's DR subsets: a plain
``StableDiffusionInpaintPipeline.from_pretrained`` call per image, the global RNG reseeded with 2023
before each, no generator, all-zero mask at the unpadded size, empty prompt, guidance 7.5, zero
padding to a multiple of 8 and the output cropped back. Everything runs on the tiny random-weight
demo pipeline, 2 steps, on CPU; metric values are worked out by hand.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from drct.cli import main
from drct.data.manifest import build_manifest, write_manifest
from drct.reconstruction.build_demo_model import build_demo_pipeline
from drct.reconstruction.published_check import (
    compare_pair,
    psnr,
    sample_stems,
    select_sample,
    ssim,
)

STEPS = 2
SOURCE, PUBLISHED = "real", "stable-diffusion-inpainting"
# COCO-like ids; what each one's published image is
EXACT = ["000000000139", "000000000285"]
JPEG50 = "000000000632"  # the published image re-encoded as JPEG q50: lower PSNR for this image only
SMALLER = "000000000724"  # one pixel column short: size mismatch
CORRUPT = "000000000776"  # not an image
MISSING = "000000000785"  # listed, then deleted
OURS_FAIL = "000000000802"  # the real image itself is unreadable: our reconstruction fails
REAL_ONLY = "000000000872"  # no published counterpart: never sampled
PUBLISHED_ONLY = "000000000885"  # no real image: never sampled
SAMPLED = sorted([*EXACT, JPEG50, SMALLER, CORRUPT, MISSING, OURS_FAIL])


@pytest.fixture(autouse=True)
def _offline(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("DRCT_GPU_LOCK_DIR", raising=False)  # no GPU lock in tests


def random_image(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 255, width * height * 3).reshape(height, width, 3)
    return Image.fromarray(np.clip(base + rng.normal(0, 40, base.shape), 0, 255).astype(np.uint8))


def authors_reconstruction(pipe, image: Image.Image) -> Image.Image:
    """The authors' call (data/diffusion_rec.py), written independently of drct.reconstruction."""
    width, height = image.size
    padded = Image.new("RGB", (math.ceil(width / 8) * 8, math.ceil(height / 8) * 8))
    padded.paste(image, (0, 0))
    torch.manual_seed(2023)
    out = pipe(
        prompt="",
        image=padded,
        mask_image=Image.new("L", image.size, 0),
        height=padded.height,
        width=padded.width,
        num_inference_steps=STEPS,
        guidance_scale=7.5,
    ).images[0]
    return out.crop((0, 0, width, height))


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    torch.set_num_threads(2)
    return build_demo_pipeline(tmp_path_factory.mktemp("demo") / "sd-inpaint-demo", seed=0, sample_size=32)


@pytest.fixture(scope="module")
def dataset(demo_dir, tmp_path_factory) -> Path:
    """A DRCT-2M-like dataset folder: COCO-like JPEGs and the "published" DR PNGs; returns its valid manifest."""
    from diffusers import StableDiffusionInpaintPipeline

    pipe = StableDiffusionInpaintPipeline.from_pretrained(str(demo_dir), safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    root = tmp_path_factory.mktemp("drct2m")
    real_dir, published_dir = root / "images" / SOURCE / "test", root / "images" / PUBLISHED / "test"
    real_dir.mkdir(parents=True)
    published_dir.mkdir(parents=True)
    rows = []
    for i, stem in enumerate([*EXACT, JPEG50, SMALLER, CORRUPT, MISSING, REAL_ONLY]):
        image = random_image(20 + 3 * i, 16 + 2 * i, seed=i)
        image.save(real_dir / f"{stem}.jpg", quality=95)
        rows.append({"generator": SOURCE, "split": "test", "label": 0, "path": f"images/{SOURCE}/test/{stem}.jpg"})
        if stem == REAL_ONLY:
            continue
        with Image.open(real_dir / f"{stem}.jpg") as stored:  # what the pipeline reads: the decoded JPEG
            published = authors_reconstruction(pipe, stored.convert("RGB"))
        target = published_dir / f"{stem}.png"
        if stem == JPEG50:
            buffer = io.BytesIO()
            published.save(buffer, format="JPEG", quality=50)
            published = Image.open(buffer).convert("RGB")
        if stem == SMALLER:
            published = published.crop((0, 0, published.width - 1, published.height))
        if stem == CORRUPT:
            target.write_bytes(b"\x89PNG\r\n\x1a\nnot an image")
        else:
            published.save(target)
        rows.append({"generator": PUBLISHED, "split": "test", "label": 1, "path": f"images/{PUBLISHED}/test/{stem}.png"})
    (real_dir / f"{OURS_FAIL}.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    random_image(24, 16, seed=99).save(published_dir / f"{OURS_FAIL}.png")
    random_image(24, 16, seed=98).save(published_dir / f"{PUBLISHED_ONLY}.png")
    rows += [
        {"generator": SOURCE, "split": "test", "label": 0, "path": f"images/{SOURCE}/test/{OURS_FAIL}.jpg"},
        {"generator": PUBLISHED, "split": "test", "label": 1, "path": f"images/{PUBLISHED}/test/{OURS_FAIL}.png"},
        {"generator": PUBLISHED, "split": "test", "label": 1, "path": f"images/{PUBLISHED}/test/{PUBLISHED_ONLY}.png"},
    ]
    manifest = root / "manifest.valid.csv"
    write_manifest(build_manifest(rows, "drct2m", root), manifest)
    (published_dir / f"{MISSING}.png").unlink()  # gone after the manifest was written
    return manifest


@pytest.fixture(scope="module")
def check_run(dataset, demo_dir, tmp_path_factory) -> Path:
    """The three commands the rules run, in order; returns the check's folder."""
    out = tmp_path_factory.mktemp("released_check")
    check = {"model": "demo", "dataset": "drct2m", "source": SOURCE, "published": PUBLISHED, "split": "test",
             "sample": 100, "seed": 0}
    settings = {"model": str(demo_dir), "steps": STEPS, "device": "cpu"}
    main(["published-check-sample", "--manifest", str(dataset), "--source", SOURCE, "--published", PUBLISHED,
          "--split", "test", "-n", "100", "--seed", "0", "--out", str(out / "sample.csv")])
    main(["reconstruct-shard", "--manifest", str(out / "sample.csv"), "--settings", json.dumps(settings),
          "--source", SOURCE, "--split", "test", "--output-name", "demo-published-check",
          "--images-dir", str(out / "ours" / "images"), "--threads", "2", "--out", str(out / "ours" / "manifest.csv"),
          "--provenance", str(out / "ours" / "provenance.json")])
    main(["published-check-compare", "--sample", str(out / "sample.csv"), "--ours", str(out / "ours" / "manifest.csv"),
          "--check", json.dumps(check), "--provenance", str(out / "ours" / "provenance.json"),
          "--out-csv", str(out / "comparison.csv"), "--out-json", str(out / "summary.json"),
          "--out-md", str(out / "report.md")])
    return out


# --- end to end -----------------------------------------------------------------------------------


def read_comparison(folder: Path, **kwargs) -> pd.DataFrame:
    return pd.read_csv(folder / "comparison.csv", dtype={"stem": str}, **kwargs)  # COCO ids: keep the zeros


def test_sample_holds_only_stems_with_both_images(check_run) -> None:
    sample = pd.read_csv(check_run / "sample.csv")
    stems = {gen: sorted(Path(p).stem for p in rows["path"]) for gen, rows in sample.groupby("generator")}
    assert stems == {SOURCE: SAMPLED, PUBLISHED: SAMPLED}


def test_our_reconstruction_equals_the_authors_call(check_run) -> None:
    frame = read_comparison(check_run).set_index("stem")
    assert sorted(frame.index) == SAMPLED
    for stem in EXACT:
        assert frame.loc[stem, "status"] == "ok", frame.loc[stem, "reason"]
        assert frame.loc[stem, "psnr"] >= 40  # equal up to float noise (inf when bit-identical)
        assert frame.loc[stem, "ssim"] >= 0.999
        assert (check_run / frame.loc[stem, "ours_path"]).is_file()  # paths relative to the CSV
        assert (check_run / frame.loc[stem, "published_path"]).is_file()


def test_a_perturbed_released_image_scores_lower_for_that_image_only(check_run) -> None:
    frame = read_comparison(check_run).set_index("stem")
    assert frame.loc[JPEG50, "status"] == "ok"
    assert frame.loc[JPEG50, "psnr"] < 35
    assert frame.loc[JPEG50, "ssim"] < frame.loc[EXACT, "ssim"].min()


def test_failures_are_rows_with_their_reason(check_run) -> None:
    frame = read_comparison(check_run, keep_default_na=False).set_index("stem")
    expected = {
        SMALLER: "size mismatch: ours",
        CORRUPT: "published: unreadable",
        MISSING: "published: missing file",
        OURS_FAIL: "ours: unreadable image",
    }
    for stem, reason in expected.items():
        assert frame.loc[stem, "status"] == "failed"
        assert reason in frame.loc[stem, "reason"], frame.loc[stem, "reason"]
        assert frame.loc[stem, "psnr"] == ""
    assert set(frame.index[frame["status"] == "ok"]) == {*EXACT, JPEG50}


def test_summary_and_report(check_run, demo_dir) -> None:
    summary = json.loads((check_run / "summary.json").read_text())
    assert (summary["n_sampled"], summary["n_compared"], summary["n_failed"]) == (7, 3, 4)
    assert {f["stem"] for f in summary["failed"]} == {SMALLER, CORRUPT, MISSING, OURS_FAIL}
    frame = read_comparison(check_run)
    ok = frame[frame["status"] == "ok"]
    assert summary["psnr_db"]["min"] == pytest.approx(ok["psnr"].min())
    assert summary["ssim"]["mean"] == pytest.approx(ok["ssim"].mean())
    assert summary["n_identical"] == int(np.isinf(ok["psnr"]).sum())
    finite = ok["psnr"].replace(math.inf, np.nan).dropna()  # identical images add MSE 0
    mean_mse = sum(255**2 / 10 ** (v / 10) for v in finite) / len(ok)
    assert summary["psnr_pooled_db"] == pytest.approx(10 * math.log10(255**2 / mean_mse))
    assert (summary["device"], summary["dtype"], summary["gpu"]) == ("cpu", "float32", None)
    assert summary["model"]["source"] == "local" and summary["model"]["model"] == str(demo_dir)
    assert summary["settings"]["steps"] == STEPS
    assert summary["check"]["published"] == PUBLISHED
    report = (check_run / "report.md").read_text()
    assert "## Not compared" in report and CORRUPT in report and JPEG50 in report


# --- metrics, by hand -----------------------------------------------------------------------------


def test_psnr_by_hand() -> None:
    zeros = np.zeros((8, 8, 3), dtype=np.uint8)
    assert psnr(zeros, zeros + 1) == pytest.approx(20 * math.log10(255), abs=1e-9)  # 48.13 dB
    assert psnr(zeros, zeros + 1) == pytest.approx(48.1308, abs=1e-4)
    assert psnr(zeros, zeros + 255) == pytest.approx(0.0)
    assert psnr(zeros, zeros) == math.inf
    half = zeros.copy()
    half[:4] = 2  # half the pixels off by 2: MSE 2
    assert psnr(zeros, half) == pytest.approx(10 * math.log10(255**2 / 2))


def test_ssim_by_hand() -> None:
    a = np.full((16, 16, 3), 100, dtype=np.uint8)
    assert ssim(a, a) == pytest.approx(1.0)
    c1 = (0.01 * 255) ** 2  # constant images: only the luminance term differs from 1
    assert ssim(a, a + 1) == pytest.approx((2 * 100 * 101 + c1) / (100**2 + 101**2 + c1), abs=1e-9)


def test_compare_pair_size_and_small_images(tmp_path) -> None:
    random_image(16, 12, seed=1).save(tmp_path / "a.png")
    random_image(16, 11, seed=1).save(tmp_path / "b.png")
    random_image(5, 5, seed=1).save(tmp_path / "tiny.png")
    result = compare_pair(str(tmp_path / "a.png"), str(tmp_path / "b.png"))
    assert result["status"] == "failed" and result["reason"] == "size mismatch: ours 16x12, published 16x11"
    same = compare_pair(str(tmp_path / "a.png"), str(tmp_path / "a.png"))
    assert (same["status"], same["psnr"], same["ssim"]) == ("ok", math.inf, pytest.approx(1.0))
    tiny = compare_pair(str(tmp_path / "tiny.png"), str(tmp_path / "tiny.png"))
    assert tiny["status"] == "failed" and tiny["reason"].startswith("ssim:")
    both = compare_pair("", str(tmp_path / "nope.png"))
    assert both["reason"].startswith("ours: no file; published: missing file")


# --- sampling -------------------------------------------------------------------------------------


def test_sample_is_deterministic_and_order_free() -> None:
    stems = [f"{i:012d}" for i in range(50)]
    first = sample_stems(stems, 10, seed=0)
    assert first == sample_stems(list(reversed(stems)), 10, seed=0) == sorted(first)
    assert len(first) == 10 and set(first) <= set(stems)
    assert sample_stems(stems, 10, seed=1) != first
    assert sample_stems(stems[:3], 10, seed=0) == stems[:3]


def test_select_sample_takes_only_common_unambiguous_stems() -> None:
    def row(generator: str, path: str, split: str = "test") -> dict:
        return {"generator": generator, "split": split, "path": path}

    manifest = pd.DataFrame([
        row("real", "r/a.jpg"), row("real", "r/b.jpg"), row("real", "r/c.jpg"), row("real", "r/d.jpg"),
        row("real", "r/dup.jpg"), row("real", "r/dup.png"), row("real", "t/e.jpg", split="train"),
        row("dr", "d/a.png"), row("dr", "d/b.png"), row("dr", "d/dup.png"), row("dr", "d/e.png"), row("dr", "d/x.png"),
        row("other", "o/z.png"),
    ])
    sample = select_sample(manifest, source="real", published="dr", split="test", n=10, seed=0)
    assert sorted(sample["path"]) == ["d/a.png", "d/b.png", "r/a.jpg", "r/b.jpg"]
    one = select_sample(manifest, source="real", published="dr", split="test", n=1, seed=0)
    assert len(one) == 2 and one["path"].map(lambda p: Path(p).stem).nunique() == 1
    with pytest.raises(ValueError, match="nothing to compare"):
        select_sample(manifest, source="real", published="other", split="test", n=5, seed=0)
    with pytest.raises(ValueError, match="no published images"):
        select_sample(manifest, source="real", published="dr", split="train", n=5, seed=0)


def test_comparison_code_imports_no_torch() -> None:
    """The comparison runs wherever the files are: importing it must not pull in torch."""
    import subprocess
    import sys

    code = "import sys, drct.reconstruction.published_check; assert 'torch' not in sys.modules, 'torch imported'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
