"""DVC's metric and plot views of the evaluation outputs, and the workspace check before `download`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from drct.cli import main
from drct.dvc.views import (
    ACCURACY_COLUMNS,
    ROC_COLUMNS,
    SUMMARY_KEYS,
    accuracy_table,
    roc_table,
    summary,
    write_views,
)
from drct.dvc.workspace import foreign_entries

PROTOCOLS = [
    {"name": "intra", "columns": [{"generator": "flux", "label": "FLUX"}, {"generator": "sd", "label": "SD"}]},
    {"name": "cross", "columns": [{"generator": "midj", "label": "Midjourney"}]},
]


def _metrics(run: str, protocol: str, generators: dict) -> dict:
    """A `drct metrics` output: per-generator numbers, their mean, intervals (lists) and names."""
    mean = {"acc": sum(g["acc"] for g in generators.values()) / len(generators), "acc_ci": [40.0, 60.0],
            "real_acc": 50.0, "fake_acc": 61.0, "auc": 0.55, "ap": 0.6, "oracle_acc": 90.0}
    return {"run": run, "protocol": protocol, "generators": generators, "mean": mean,
            "bootstrap": {"resamples": 1000, "seed": 0}}


def _gen(acc: float, **extra) -> dict:
    return {"acc": acc, "real_acc": 50.0, "fake_acc": 2 * acc - 50.0, "auc": 0.5, "ap": 0.6,
            "n_real": 25, "n_fake": 8, "acc_ci": [acc - 5, acc + 5], **extra}


def test_summary_is_the_mean_blocks_headline_numbers_only() -> None:
    metrics = _metrics("r", "intra", {"flux": _gen(70.0), "sd": _gen(60.0)})
    assert summary(metrics) == {"acc": 65.0, "real_acc": 50.0, "fake_acc": 61.0, "auc": 0.55, "ap": 0.6}
    assert tuple(summary(metrics)) == SUMMARY_KEYS
    # an undefined AUC (one class only) is left out, never written as a number DVC would diff
    metrics["mean"].update(auc=math.nan, ap=None)
    assert set(summary(metrics)) == {"acc", "real_acc", "fake_acc"}


def test_summary_refuses_files_without_a_mean_block() -> None:
    with pytest.raises(ValueError, match="no 'mean' block"):
        summary({"run": "r", "generators": {"flux": _gen(1.0)}})


def test_accuracy_table_follows_the_protocol_columns_and_labels() -> None:
    metrics = _metrics("r", "intra", {"sd": _gen(60.0), "flux": _gen(70.0), "zzz-extra": _gen(55.0)})
    table = accuracy_table(metrics, PROTOCOLS[0]["columns"])
    assert list(table.columns) == list(ACCURACY_COLUMNS)
    assert list(table["generator"]) == ["flux", "sd", "zzz-extra"]  # protocol order, then the rest
    assert list(table["label"]) == ["FLUX", "SD", "zzz-extra"]
    assert table.loc[0, "acc"] == 70.0 and table.loc[1, "fake_acc"] == 70.0


def test_accuracy_table_refuses_metrics_without_generators() -> None:
    with pytest.raises(ValueError, match="no generators"):
        accuracy_table({"run": "r", "generators": {}}, PROTOCOLS[0]["columns"])


def test_views_are_named_by_the_run_and_protocol_each_file_states(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    # the file names say nothing: the views must follow the content
    a.write_text(json.dumps(_metrics("drct-convb-sdv1-seed0", "cross", {"midj": _gen(80.0)})))
    b.write_text(json.dumps(_metrics("baseline-convb-sdv1-seed0", "intra", {"flux": _gen(70.0), "sd": _gen(60.0)})))
    written = write_views([a, b], PROTOCOLS, tmp_path / "metrics", tmp_path / "plots")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        "metrics/cross/drct-convb-sdv1-seed0.json",
        "metrics/intra/baseline-convb-sdv1-seed0.json",
        "plots/accuracy/cross/drct-convb-sdv1-seed0.csv",
        "plots/accuracy/intra/baseline-convb-sdv1-seed0.csv",
    ]
    # one flat row per run for `dvc metrics show`: the Avg numbers, no generator, interval or count
    view = json.loads((tmp_path / "metrics/intra/baseline-convb-sdv1-seed0.json").read_text())
    assert view == {"acc": 65.0, "real_acc": 50.0, "fake_acc": 61.0, "auc": 0.55, "ap": 0.6}
    plot = pd.read_csv(tmp_path / "plots/accuracy/cross/drct-convb-sdv1-seed0.csv")
    assert plot.to_dict("records") == [{"generator": "midj", "label": "Midjourney", "acc": 80.0, "real_acc": 50.0,
                                        "fake_acc": 110.0, "auc": 0.5, "ap": 0.6}]


def _roc() -> pd.DataFrame:
    """ROC points as `drct metrics` writes them: per generator, in curve order; end points lack a threshold."""
    return pd.DataFrame({
        "generator": ["sd", "sd", "sd", "flux", "flux"],
        "fpr": [0.0, 0.0, 1.0, 0.0, 1.0],
        "tpr": [0.0, 0.5, 1.0, 0.0, 1.0],
        "threshold": [math.nan, 0.7, 0.1, math.nan, 0.2],
    })


def test_roc_table_labels_and_ranks_each_curve_in_protocol_order() -> None:
    table = roc_table(_roc(), PROTOCOLS[0]["columns"])
    assert list(table.columns) == list(ROC_COLUMNS)
    assert list(table["generator"]) == ["flux", "flux", "sd", "sd", "sd"]
    assert list(table["label"]) == ["FLUX", "FLUX", "SD", "SD", "SD"]
    assert list(table["point"]) == [0, 1, 0, 1, 2]
    assert list(table["tpr"]) == [0.0, 1.0, 0.0, 0.5, 1.0]  # each curve keeps its order


def test_roc_table_refuses_other_tables() -> None:
    with pytest.raises(ValueError, match="lacks columns"):
        roc_table(pd.DataFrame({"generator": ["sd"], "recall": [1.0]}), PROTOCOLS[0]["columns"])


def test_roc_views_pair_with_the_metrics_files(tmp_path: Path) -> None:
    metrics, roc = tmp_path / "metrics.json", tmp_path / "roc.csv"
    metrics.write_text(json.dumps(_metrics("r", "intra", {"flux": _gen(70.0), "sd": _gen(60.0)})))
    _roc().to_csv(roc, index=False)
    write_views([metrics], PROTOCOLS, tmp_path / "m", tmp_path / "p", roc_files=[roc])
    written = pd.read_csv(tmp_path / "p/roc/intra/r.csv")
    assert list(written["label"]) == ["FLUX", "FLUX", "SD", "SD", "SD"]
    with pytest.raises(ValueError, match="one per run"):
        write_views([metrics], PROTOCOLS, tmp_path / "m", tmp_path / "p", roc_files=[roc, roc])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"generators": {"flux": {"acc": 1.0}}, "protocol": "intra"}, "no 'run' field"),
        (_metrics("r", "unknown", {"flux": _gen(1.0)}), "protocol 'unknown' is not one of"),
    ],
)
def test_views_refuse_files_they_cannot_place(tmp_path: Path, content: dict, message: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=message):
        write_views([path], PROTOCOLS, tmp_path / "metrics", tmp_path / "plots")


def test_views_refuse_the_same_run_twice(tmp_path: Path) -> None:
    paths = []
    for name in ("a", "b"):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(_metrics("r", "intra", {"flux": _gen(1.0)})))
    with pytest.raises(ValueError, match="given twice"):
        write_views(paths, PROTOCOLS, tmp_path / "metrics", tmp_path / "plots")


def test_dvc_views_command(tmp_path: Path) -> None:
    path, roc = tmp_path / "metrics.json", tmp_path / "roc.csv"
    path.write_text(json.dumps(_metrics("r", "intra", {"flux": _gen(70.0), "sd": _gen(60.0)})))
    _roc().to_csv(roc, index=False)
    assert main(["dvc-views", "--metrics", str(path), "--roc", str(roc), "--protocols", json.dumps(PROTOCOLS),
                 "--metrics-dir", str(tmp_path / "m"), "--plots-dir", str(tmp_path / "p")]) == 0
    for view in ("m/intra/r.json", "p/accuracy/intra/r.csv", "p/roc/intra/r.csv"):
        assert (tmp_path / view).is_file(), view


def _workspace(tmp_path: Path, data: list[str], downloads: list[str]) -> tuple[Path, Path]:
    data_dir, downloads_dir = tmp_path / "results/data", tmp_path / "results/downloads"
    for name in data:
        (data_dir / name).mkdir(parents=True)
    for name in downloads:
        (downloads_dir / name).mkdir(parents=True)
    return data_dir, downloads_dir


CONFIG = {"experiment": "paper", "datasets": [{"name": "drct2m"}], "downloads": [{"name": "coco-val2017"}]}


def test_foreign_entries_names_what_the_config_does_not_define(tmp_path: Path) -> None:
    data_dir, downloads_dir = _workspace(tmp_path, ["drct2m", "demo-drct2m"], ["coco-val2017", "demo"])
    (data_dir / "notes.txt").write_text("a loose file is no dataset")
    assert foreign_entries(CONFIG, data_dir, downloads_dir) == [data_dir / "demo-drct2m", downloads_dir / "demo"]


def test_foreign_entries_accepts_an_empty_or_matching_workspace(tmp_path: Path) -> None:
    assert foreign_entries(CONFIG, tmp_path / "none", tmp_path / "none2") == []
    data_dir, downloads_dir = _workspace(tmp_path, ["drct2m"], ["coco-val2017"])
    assert foreign_entries(CONFIG, data_dir, downloads_dir) == []


def test_check_workspace_stops_a_second_experiment_in_the_same_clone(tmp_path: Path) -> None:
    data_dir, downloads_dir = _workspace(tmp_path, ["demo-drct2m"], [])
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps(CONFIG))  # JSON is YAML
    args = ["check-workspace", "--config", str(config), "--data-dir", str(data_dir), "--downloads-dir", str(downloads_dir)]
    with pytest.raises(SystemExit, match="demo-drct2m") as stopped:
        main(args)
    assert "own clone" in str(stopped.value)
    (data_dir / "demo-drct2m").rename(data_dir / "drct2m")
    assert main(args) == 0
