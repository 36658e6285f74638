"""`drct predict` like a detector toolkit: CSV on stdout, and the authors' released weights by name.

The released archive is served by the loopback server in ModelScope's layout (FakeModelScope),
built here in the authors' layout with a demo-size ConvNeXt; a copy of the shipped
``eval_released`` preset points its ``convb`` backbone at that network (``--released-config``).
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from helpers.authors_models import AuthorsTimm as AuthorsConvNeXt
from helpers.authors_release import pretrained_zip
from helpers.data_server import FakeModelScope
from PIL import Image

import drct.training.import_released as import_module
from drct import device
from drct.cli import main
from drct.config import load_yaml
from drct.images import load_rgb
from drct.model_input import build_eval_transform
from drct.predict import OUTPUT_COLUMNS
from drct.released import DEFAULT_CONFIG, released_table
from drct.training.checkpoint import save_checkpoint
from drct.training.model import DEMO_OPEN_CLIP_MODEL, DEMO_TIMM_MODEL, build_model
from drct.training.settings import TrainSettings

torch.set_num_threads(2)

NAME = "drct-convb-sdv1"
MEMBER = "DRCT-2M/sdv14/convnext_base_in22k_224_drct_amp_crop/14_acc0.9996.pth"


@pytest.fixture(autouse=True)
def no_gpu_signal(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CUDA_VISIBLE_DEVICES", device.CLAIMED_ENV, device.GPUS_ENV, "DRCT_GPU_LOCK_DIR", "DRCT_CACHE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(3)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (40, 36, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    return folder


def test_csv_goes_to_stdout_without_out_and_nothing_else(images: Path, tmp_path: Path) -> None:
    settings = TrainSettings(family="timm", model_name=DEMO_TIMM_MODEL, pretrained=False, freeze_backbone=False,
                             real=["real"], fake=["sdv14"], batch_size=4, image_size=48)
    torch.manual_seed(1)
    checkpoint = save_checkpoint(build_model(settings), tmp_path / "best.safetensors", settings, {"epoch": 0})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "drct.cli", "predict", str(images), "--checkpoint", str(checkpoint)]
    piped = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert piped.returncode == 0, piped.stderr[-2000:]
    assert "scored 3 of 4 images -> stdout" in piped.stderr and "not scored" in piped.stderr
    assert main(["predict", str(images), "--checkpoint", str(checkpoint), "--no-progress",
                 "--out", str(tmp_path / "file.csv")]) == 0
    assert piped.stdout == (tmp_path / "file.csv").read_text(), "stdout holds exactly the CSV --out writes"
    frame = pd.read_csv(io.StringIO(piped.stdout))
    assert list(frame.columns) == list(OUTPUT_COLUMNS) and len(frame) == 4


def test_released_names_come_from_the_preset() -> None:
    table = released_table()
    preset = load_yaml(DEFAULT_CONFIG)["training"]["released"]["runs"]
    assert len(table) == len(preset) == 6
    assert table[NAME].member == MEMBER
    assert table[NAME].settings["model_name"] == "convnext_base.fb_in22k"
    assert table["drct-univfd-sdv2"].settings["model_name"] == "ViT-L-14-quickgelu"
    assert {e.download["path"] for e in table.values()} == {"pretrained.zip"}


def _demo_preset(tmp_path: Path) -> Path:
    """The shipped preset with demo-size networks in place of ConvNeXt-B and CLIP ViT-L/14."""
    config = copy.deepcopy(load_yaml(DEFAULT_CONFIG))
    for backbone in config["training"]["backbones"]:
        if backbone["family"] == "timm":
            backbone.update(model_name=DEMO_TIMM_MODEL, pretrained=False)
        else:
            backbone.update(model_name=DEMO_OPEN_CLIP_MODEL, pretrained="")
    config["training"]["settings"] = {"image_size": 64}
    path = tmp_path / "released-demo.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_released_checkpoint_is_downloaded_imported_once_and_scores(
    server, images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.manual_seed(11)
    theirs = AuthorsConvNeXt().eval()
    archive = pretrained_zip({f"pretrained/{MEMBER}": theirs})  # a unique ending of the member path is enough
    hub = FakeModelScope(server)
    hub.add("pretrained.zip", archive)
    route = hub.resolve_path("pretrained.zip")
    server.state.drop_once.add(route)  # the connection drops half-way: the download resumes
    config, cache = _demo_preset(tmp_path), tmp_path / "cache"
    argv = ["predict", str(images), "--released", NAME, "--released-config", str(config), "--cache", str(cache),
            "--source-url", server.base, "--no-progress"]

    assert main([*argv, "--out", str(tmp_path / "first.csv")]) == 0
    gets = [r for r in server.state.requests if r["path"] == route]
    assert len(gets) == 2 and gets[1]["range"] == f"bytes={len(archive) // 2}-", "resumed, not restarted"
    lock = json.loads((cache / "data.lock.json").read_text())["entries"]["drct-pretrained"]
    assert lock["sha256"] == hashlib.sha256(archive).hexdigest()
    (checkpoint,) = (cache / "released" / NAME).glob("*/best.safetensors")
    sidecar = json.loads(checkpoint.with_suffix(".json").read_text())
    assert sidecar["imported_from"]["member"] == MEMBER and sidecar["epoch"] == 14

    # the released model's P(fake) is the authors' network's softmax on the evaluation input
    first = pd.read_csv(tmp_path / "first.csv")
    assert first["status"].tolist().count("ok") == 3
    transform = build_eval_transform(64)
    for path, score in zip(first["path"], first["score"]):
        if Path(path).name == "broken.jpg":
            continue
        x = transform(image=load_rgb(Path(path)))["image"].unsqueeze(0)
        with torch.no_grad():
            expected = torch.softmax(theirs(x), dim=1)[0, 1].item()
        assert score == pytest.approx(expected, abs=1e-5)

    # second run: no request to the server, no import; CSV on stdout
    answered = len(server.state.requests)
    monkeypatch.setattr(import_module, "import_released", lambda *a, **k: pytest.fail("imported twice"))
    capsys.readouterr()
    assert main(argv) == 0
    assert len(server.state.requests) == answered
    assert capsys.readouterr().out == (tmp_path / "first.csv").read_text()


def test_released_errors_are_one_line(server, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, cache = _demo_preset(tmp_path), tmp_path / "cache"
    common = ["--released-config", str(config), "--cache", str(cache), "--source-url", server.base, "--no-progress"]
    assert main(["predict", str(images), "--released", "convnext-sdv1", *common]) == 1
    err = capsys.readouterr().err
    assert "not a released checkpoint" in err and NAME in err and "drct-univfd-genimage-sdv14" in err
    # a mirror serving other bytes than the hub lists: kept aside, nothing imported
    hub = FakeModelScope(server)
    torch.manual_seed(2)
    listed = pretrained_zip({MEMBER: AuthorsConvNeXt()})
    hub.add("pretrained.zip", listed)
    corrupted = bytearray(listed)
    corrupted[len(listed) // 2] ^= 0xFF  # same size, one byte flipped
    server.state.files[hub.resolve_path("pretrained.zip")] = bytes(corrupted)
    assert main(["predict", str(images), "--released", NAME, *common]) == 1
    err = capsys.readouterr().err
    assert "drct predict: error:" in err and "sha256" in err
    assert not list(cache.glob("released/*/*/best.safetensors")) and not (cache / "downloads" / "pretrained.zip").exists()
    assert list((cache / "downloads").glob("pretrained.zip.bad*")), "the bytes are kept aside, not deleted"
    with pytest.raises(SystemExit, match="either --checkpoint FILE or --released NAME"):
        main(["predict", str(images), "--released", NAME, "--checkpoint", "x.safetensors"])
