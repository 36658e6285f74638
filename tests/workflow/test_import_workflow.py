"""`training.checkpoints: released` end to end on the demo: released-layout checkpoints in, tables out, no training.

The demo's two backbones are saved the way the authors' ContrastiveModels saves them (built in
tests/test_import_released.py), zipped like pretrained.zip and served through the same download
rule as any archive. The workflow imports them, scores the demo test sets and renders the tables;
nothing is trained and only the reconstructions a protocol scores (the demo's SD-DR test set) are
computed. The scores in predictions.csv must be the authors' own network's outputs, and
`drct predict` on the imported checkpoint must give the same scores for the same files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from helpers.authors_models import AuthorsClip, AuthorsTimm
from helpers.env_imports import blocked_environ, missing_env_packages

from drct.images import load_rgb
from drct.model_input import build_eval_transform

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MEMBERS = {
    "convb": "pretrained/DRCT-2M/sdv14/convnext_base_in22k_224_drct_amp_crop/14_acc0.9996.pth",
    "univfd": "pretrained/DRCT-2M/sdv14/clip-ViT-L-14_224_drct_amp_crop/13_acc0.9664.pth",
}


def _env() -> dict[str, str]:
    return dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", HF_HUB_OFFLINE="1")


def _released_config(workdir: Path) -> None:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["sources"]["released"] = {"base_url": "file:released-src", "description": "locally built release"}
    config["downloads"].append({"name": "drct-pretrained", "source": "released", "path": "pretrained.zip"})
    training = config["training"]
    training["checkpoints"] = "released"
    training["released"] = {
        "download": "drct-pretrained",
        "runs": [{"train_set": "sdv1", "backbone": b, "member": m.split("/", 2)[2]} for b, m in MEMBERS.items()],
    }
    for train_set in training["train_sets"]:
        train_set["methods"] = ["drct"]  # the authors released DRCT runs only
    # kept small: one dataset, one protocol, a short bootstrap, no studies
    config["datasets"] = [d for d in config["datasets"] if d["name"] == "demo-drct2m"]
    evaluation = config["evaluation"]
    evaluation["protocols"] = [p for p in evaluation["protocols"] if p["dataset"] == "demo-drct2m"]
    evaluation["bootstrap"] = {"replicates": 50, "level": 0.95, "seed": 0}
    evaluation.setdefault("robustness", {})["protocols"] = []
    evaluation.setdefault("format_control", {})["protocols"] = []
    evaluation["samples"] = {"pairs": 0}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture(scope="module")
def released_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.nn.Module]]:
    workdir = tmp_path_factory.mktemp("released")
    shutil.copytree(ROOT / "data" / "demo", workdir / "data" / "demo")
    # the first download of the test's own pretrained.zip records its checksum in the data lock:
    # in a copy here, never in the project's shipped data/data.lock.json
    shipped_lock = (ROOT / "data" / "data.lock.json").read_bytes()
    shutil.copy(ROOT / "data" / "data.lock.json", workdir / "data" / "data.lock.json")
    torch.manual_seed(11)
    theirs = {"convb": AuthorsTimm().eval(), "univfd": AuthorsClip().eval()}
    (workdir / "released-src").mkdir()
    with zipfile.ZipFile(workdir / "released-src" / "pretrained.zip", "w") as zf:
        for backbone, member in MEMBERS.items():
            path = workdir / f"{backbone}.pth"
            torch.save(theirs[backbone].state_dict(), path)
            zf.write(path, member)
            path.unlink()
    _released_config(workdir)
    result = subprocess.run(
        [str(BIN / "snakemake"), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir), "--cores", "2"],
        cwd=workdir, env=blocked_environ(workdir / "envs", _env()), capture_output=True, text=True,
    )  # each command sees only its rule's env: this is where import_released's env is checked
    if result.returncode != 0:
        missing = missing_env_packages(workdir)
        assert not missing, f"a step's env lacks a package it imports:\n{missing}"
        logs = "\n".join(f"--- {p}\n{p.read_text()[-2000:]}" for p in sorted((workdir / "logs").rglob("*.log")))
        pytest.fail(f"released DAG failed:\n{result.stderr[-5000:]}\n{logs}")
    assert (ROOT / "data" / "data.lock.json").read_bytes() == shipped_lock, "the run wrote into the project"
    seen = (workdir / "envs" / "import-blocker" / "blocks.json.seen").read_text()
    assert "import-released\t" in seen, "import-released ran restricted to its rule's env"
    return workdir, theirs


@pytest.mark.slow
def test_tables_come_from_released_checkpoints_without_training(released_run) -> None:
    workdir, _ = released_run
    out = workdir / "results" / "demo"
    assert not (out / "train").exists(), "released mode trains nothing"
    for backbone in MEMBERS:
        assert (out / "released" / backbone / f"drct-{backbone}-sdv1-seed0" / "best.safetensors").is_file()
    # only the scored reconstruction (SD-DR, test split) was computed, not the training ones
    assert sorted(p.name for p in (out / "reconstruction" / "demo-drct2m").iterdir()) == ["demo-sd-dr"]
    table = (out / "paper" / "intra" / "table.md").read_text()
    assert "DRCT/Conv-B" in table and "DRCT/UnivFD" in table


@pytest.mark.slow
def test_scores_are_the_authors_network_outputs(released_run) -> None:
    workdir, theirs = released_run
    for backbone, model in theirs.items():
        run = f"drct-{backbone}-sdv1-seed0"
        predictions = pd.read_csv(workdir / "results" / "demo" / "eval" / "intra" / run / "predictions.csv")
        manifest_dir = workdir / "results" / "demo" / "data"
        rows = predictions.iloc[[0, len(predictions) // 2, len(predictions) - 1]]
        transform = build_eval_transform(224)
        images = torch.stack([transform(image=load_rgb(manifest_dir / p))["image"] for p in rows["path"]])
        with torch.no_grad():
            expected = torch.softmax(model(images), dim=1)[:, 1].numpy()
        assert rows["score"].to_numpy() == pytest.approx(expected, abs=1e-5), backbone


@pytest.mark.slow
def test_drct_predict_on_the_imported_checkpoint_matches_evaluation(released_run, tmp_path: Path) -> None:
    workdir, _ = released_run
    run = "drct-convb-sdv1-seed0"
    predictions = pd.read_csv(workdir / "results" / "demo" / "eval" / "intra" / run / "predictions.csv").head(6)
    folder = tmp_path / "mine"
    folder.mkdir()
    for i, rel in enumerate(predictions["path"]):
        source = workdir / "results" / "demo" / "data" / rel
        shutil.copy(source, folder / f"{i:02d}{source.suffix}")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    out = tmp_path / "scores.csv"
    checkpoint = workdir / "results" / "demo" / "released" / "convb" / run / "best.safetensors"
    result = subprocess.run(
        [str(BIN / "drct"), "predict", str(folder), "--checkpoint", str(checkpoint), "--out", str(out), "--no-progress"],
        env=_env(), capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    scores = pd.read_csv(out)
    assert "broken.png" in result.stderr
    bad = scores[scores["status"] == "unreadable"]
    assert list(bad["path"].map(lambda p: Path(p).name)) == ["broken.png"] and bad["score"].isna().all()
    ok = scores[scores["status"] == "ok"].sort_values("path")
    assert ok["score"].to_numpy() == pytest.approx(predictions["score"].to_numpy(), abs=1e-6)
