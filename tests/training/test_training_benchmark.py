"""The training benchmark runs on CPU (CI): demo backbones, one timed step each, sane output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_training_benchmark_runs_on_the_demo_models(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "training" / "run.py"), "--models", "demo", "--batch", "2",
         "--steps", "1", "--warmup", "1", "--threads", "2", "--device", "cpu", "--out", str(out)],
        env=dict(os.environ, HF_HUB_OFFLINE="1"), capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["machine"]["device"] == "cpu" and report["machine"]["cpu_count"] >= 1
    rows = {r["model_name"]: r for r in report["results"]}
    assert set(rows) == {"convnext_atto", "ViT-Tiny-16-quickgelu"}
    assert all(r["train_step"]["images_per_s"] > 0 and r["train_step"]["images"] == 2 for r in rows.values())
    assert rows["convnext_atto"]["trained"] == "everything"
    assert rows["ViT-Tiny-16-quickgelu"]["cached_feature_head_step"]["images_per_s"] > 0
