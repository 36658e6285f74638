"""Weights fetched ahead of time, then loaded with the hub offline: tested against a hub cache built here.

No network: a Hugging Face cache (HF_HOME/hub/models--org--name/{snapshots/<commit>,refs/main}) is
laid out from the demo's inpainting pipeline and a randomly initialised timm ConvNeXt, exactly as
the hub client would leave it after a download. `drct fetch-weights` must resolve them with
HF_HUB_OFFLINE=1 and record commits and checksums; the libraries must then load them offline.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch
import yaml
from safetensors.torch import save_file

from drct.config import load_yaml, validate_config
from drct.planning.weights import weights_spec
from drct.reconstruction.build_demo_model import build_demo_pipeline

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _cache_entry(hf_home: Path, repo_id: str, source: Path, commit: str = COMMIT) -> Path:
    repo = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    if source.is_dir():
        shutil.copytree(source, snapshot)
    else:
        snapshot.mkdir(parents=True)
        shutil.copy(source, snapshot / source.name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return snapshot


def _offline(hf_home: Path, *args: str, code: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HOME=str(hf_home), HF_HUB_OFFLINE="1", PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    command = [sys.executable, "-c", code] if code else [str(BIN / "drct"), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hub")
    hf_home = root / "hf_home"
    pipeline = build_demo_pipeline(root / "demo-pipeline", seed=0)
    torch.manual_seed(0)
    weights = root / "model.safetensors"
    save_file(timm.create_model("convnext_atto").state_dict(), str(weights))
    return {
        "hf_home": hf_home,
        "pipeline": Path(pipeline),
        "diffusers": _cache_entry(hf_home, "demo/tiny-inpaint", Path(pipeline)),
        "timm": _cache_entry(hf_home, "timm/convnext_atto.d2_in1k", weights),
        "weights": weights,
    }


@pytest.mark.slow
def test_fetch_offline_records_commits_and_checksums_then_libraries_load_offline(hub, tmp_path: Path) -> None:
    spec = [
        {"name": "reconstruction/demo", "kind": "diffusers", "model": "demo/tiny-inpaint", "revision": None},
        {"name": "reconstruction/pinned", "kind": "diffusers", "model": "demo/tiny-inpaint", "revision": COMMIT},
        {"name": "reconstruction/local", "kind": "diffusers", "model": str(hub["pipeline"])},
        {"name": "backbone/convb", "kind": "timm", "model": "convnext_atto"},
    ]
    record_path = tmp_path / "record.json"
    result = _offline(hub["hf_home"], "fetch-weights", "--spec", json.dumps(spec), "--out", str(record_path))
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(record_path.read_text())["models"]
    for name in ("reconstruction/demo", "reconstruction/pinned"):
        assert record[name]["commit"] == COMMIT and record[name]["source"] == "hub"
        unet = hub["pipeline"] / "unet" / "diffusion_pytorch_model.safetensors"
        assert record[name]["files"]["unet/diffusion_pytorch_model.safetensors"] == hashlib.sha256(unet.read_bytes()).hexdigest()
    assert record["reconstruction/local"]["source"] == "local" and record["reconstruction/local"]["commit"] is None
    assert record["backbone/convb"]["commit"] == COMMIT
    assert record["backbone/convb"]["files"]["model.safetensors"] == hashlib.sha256(hub["weights"].read_bytes()).hexdigest()

    # what the reconstruction and training jobs then do, with the hub still offline
    load = (
        "import torch, timm; from diffusers import AutoPipelineForInpainting;"
        f"AutoPipelineForInpainting.from_pretrained('demo/tiny-inpaint', revision='{COMMIT}');"
        "from safetensors.torch import load_file;"
        "m = timm.create_model('convnext_atto', pretrained=True);"
        f"w = load_file({str(hub['weights'])!r});"
        "assert all(torch.equal(m.state_dict()[k], v) for k, v in w.items() if k in m.state_dict()); print('ok')"
    )
    loaded = _offline(hub["hf_home"], code=load)
    assert loaded.returncode == 0 and loaded.stdout.strip().endswith("ok"), loaded.stderr[-3000:]


def test_a_model_missing_from_the_cache_is_named(hub, tmp_path: Path) -> None:
    spec = [{"name": "backbone/missing", "kind": "timm", "model": "convnext_femto"}]
    result = _offline(hub["hf_home"], "fetch-weights", "--spec", json.dumps(spec), "--out", str(tmp_path / "r.json"))
    assert result.returncode != 0 and "backbone/missing" in result.stderr and not (tmp_path / "r.json").exists()


def test_weights_spec_lists_what_each_preset_loads() -> None:
    intra = validate_config(load_yaml(ROOT / "presets" / "drct2m_intra.yaml"))
    # published reconstructions: no reconstruction job loads a model, but the published check does
    assert [(e["kind"], e["model"]) for e in weights_spec(intra, [], released=False)] == [
        ("diffusers", "stable-diffusion-v1-5/stable-diffusion-inpainting"),
        ("timm", "convnext_base.fb_in22k"), ("open_clip", "ViT-L-14-quickgelu"),
        # the paper's other detectors (src/drct/detectors/); GramNet trains from scratch; De-fake's
        # CLIP, DIRE's ResNet-50 (recorded per backbone, as CNNSpot's), De-fake's BLIP captioner
        ("timm", "resnet50.a1_in1k"), ("timm", "legacy_xception.tf_in1k"), ("open_clip", "RN50-quickgelu"),
        ("open_clip", "ViT-B-32-quickgelu"), ("timm", "resnet50.a1_in1k"),
        ("transformers", "Salesforce/blip-image-captioning-base")]
    without_check = copy.deepcopy(intra)
    del without_check["reconstruction"]["published_check"]
    assert [e["kind"] for e in weights_spec(without_check, [], released=False)] == [
        "timm", "open_clip", "timm", "timm", "open_clip", "open_clip", "timm", "transformers"]
    recompute = copy.deepcopy(intra)
    jobs = recompute["reconstruction"]["jobs"]
    assert {e["model"] for e in weights_spec(recompute, jobs, released=False) if e["kind"] == "diffusers"} == {
        "stable-diffusion-v1-5/stable-diffusion-inpainting", "stabilityai/stable-diffusion-2-inpainting",
        "diffusers/stable-diffusion-xl-1.0-inpainting-0.1"}
    assert weights_spec(intra, jobs, released=True) == [e for e in weights_spec(recompute, jobs, False) if e["kind"] == "diffusers"]
    demo = validate_config(load_yaml(ROOT / "config.yaml"))
    assert weights_spec(demo, demo["reconstruction"]["jobs"], released=False) == []  # built locally, random init


def test_prefetch_rule_runs_before_every_job_that_loads_weights(tmp_path: Path) -> None:
    preset = yaml.safe_load((ROOT / "presets" / "drct2m_intra.yaml").read_text())
    preset["weights"] = {"prefetch": True, "offline": True, "hf_home": "results/hf_home"}
    path = tmp_path / "prefetch.yaml"
    path.write_text(yaml.safe_dump(preset))
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run([str(BIN / "snakemake"), "-n", "--configfile", str(path)], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("rule fetch_weights:") == 1
    assert "HF_HUB_OFFLINE=0 drct fetch-weights" in result.stdout
    train = result.stdout[result.stdout.index("rule train_run:"):]
    assert "results/drct2m_intra/weights/record.json" in train[: train.index("\n\n")]
