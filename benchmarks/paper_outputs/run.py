"""Paper-scale cost of the steps after prediction: `drct metrics` per run and `drct tables` per protocol.

Target (issue 6): at DRCT-2M size (Table 1: 5,000 COCO val2017 reals shared by 16 columns of 5,000
fakes each, 6 runs), computing one run's metrics (per-column metrics, oracle accuracy, 1,000-replicate
bootstrap of ACC and Avg, ROC/PR points) takes **under 30 s**, and rendering every table and figure
of the protocol **under 60 s**, on the project's 2-core CPU machine, so the paper phase never needs a
GPU or a large machine.

Synthetic predictions (seeded): reals ~ Beta(2, 5), fakes ~ Beta(5, 2) per column with a column-
dependent shift, so curves and intervals are non-trivial. Writes results.json beside this script.

    .venv/bin/python benchmarks/paper_outputs/run.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from drct.evaluation.bootstrap import BootstrapSettings
from drct.evaluation.metrics import json_ready
from drct.evaluation.summary import protocol_summary
from drct.io import write_csv, write_json
from drct.paper.render import render_paper

HERE = Path(__file__).resolve().parent
COLUMNS = ["LDM", "SDv1.4", "SDv1.5", "SDv2", "SDXL", "SDXL-Refiner", "SD-Turbo", "SDXL-Turbo", "LCM-SDv1.5",
           "LCM-SDXL", "SDv1-Ctrl", "SDv2-Ctrl", "SDXL-Ctrl", "SDv1-DR", "SDv2-DR", "SDXL-DR"]
RUNS = [("drct", "Conv-B", "SDv1"), ("baseline", "Conv-B", "-"), ("drct", "Conv-B", "SDv2"),
        ("drct", "UnivFD", "SDv1"), ("baseline", "UnivFD", "-"), ("drct", "UnivFD", "SDv2")]
N_PER_SET = 5000


def predictions(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = [pd.DataFrame({"generator": "real", "label": 0, "split": "test", "score": rng.beta(2, 5, N_PER_SET)})]
    for i, column in enumerate(COLUMNS):
        scores = np.clip(rng.beta(5, 2, N_PER_SET) - 0.02 * i, 0, 1)
        parts.append(pd.DataFrame({"generator": f"g{i}", "label": 1, "split": "test", "score": scores}))
    return pd.concat(parts, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    protocol = {"name": "intra", "real_source": "shared", "real_generator": "real",
                "columns": [{"generator": f"g{i}", "label": c} for i, c in enumerate(COLUMNS)]}
    meta = [{"run": f"{m}-{b.lower()}-{d.lower()}-seed0", "group": f"{m}-{b.lower()}-{d.lower()}", "method": m, "backbone_label": b,
             "dr_label": d if m == "drct" else "-", "seed": 0} for m, b, d in RUNS]
    meta = [dict(m, run=m["run"].replace("--", "-")) for m in meta]
    metrics_times, render_times = [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = {"metrics": [], "roc": [], "pr": []}
        for repeat in range(args.repeats):
            for k, m in enumerate(meta):
                preds = predictions(seed=k)
                start = time.perf_counter()
                result, roc, pr = protocol_summary(preds, protocol, m["run"], BootstrapSettings(1000, 0.95, 0))
                folder = root / m["run"]
                write_json(folder / "metrics.json", json_ready(result))
                write_csv(roc, folder / "roc.csv")
                write_csv(pr, folder / "pr.csv")
                metrics_times.append(time.perf_counter() - start)
                if repeat == 0:
                    for name, ext in (("metrics", "json"), ("roc", "csv"), ("pr", "csv")):
                        files[name].append(folder / f"{name}.{ext}")
            start = time.perf_counter()
            render_paper("drct2m_intra", files["metrics"], files["roc"], files["pr"], meta,
                         {f"g{i}": c for i, c in enumerate(COLUMNS)}, False, root / "paper", "Table 1 benchmark")
            render_times.append(time.perf_counter() - start)
        sizes = {p.name: p.stat().st_size for p in (files["roc"][0], files["pr"][0])}
    results = {
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
                    "processor": platform.processor() or platform.machine()},
        "load_average_at_end": os.getloadavg(),
        "scale": {"reals": N_PER_SET, "columns": len(COLUMNS), "fakes_per_column": N_PER_SET, "runs": len(meta)},
        "metrics_per_run_s": {"median": statistics.median(metrics_times), "max": max(metrics_times),
                              "all": metrics_times},
        "render_protocol_s": {"median": statistics.median(render_times), "max": max(render_times), "all": render_times},
        "curve_csv_bytes_per_run": sizes,
        "targets_s": {"metrics_per_run": 30, "render_protocol": 60},
    }
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: results[k] for k in ("metrics_per_run_s", "render_protocol_s", "curve_csv_bytes_per_run")},
                     indent=2))


if __name__ == "__main__":
    main()
