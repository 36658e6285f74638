"""drct.data.counts: the expected-counts files (committed ones included) and the per-subset report."""

from __future__ import annotations

from pathlib import Path

import pytest

from drct.data.counts import (
    Expected,
    compare_counts,
    describe_mismatch,
    load_expected_counts,
    parse_expected_counts,
    resolve_counts_path,
)

ROOT = Path(__file__).resolve().parents[2]


def test_committed_files_parse_and_cover_the_presets():
    import yaml

    drct2m = load_expected_counts(ROOT / "data/expected_counts/drct2m.yaml")
    real = {(e.split, e.count, e.status) for e in drct2m if e.generator == "real"}
    assert real == {("train", 118287, "verified"), ("test", 5000, "verified")}  # COCO 2017
    assert {e.status for e in drct2m if e.generator != "real"} == {"best-known"}
    genimage = load_expected_counts(ROOT / "data/expected_counts/genimage.yaml")
    assert {e.status for e in genimage} == {"best-known"} and {e.label for e in genimage} == {0, 1}
    for preset in ("drct2m_intra", "genimage_intra", "drct2m_to_genimage"):
        config = yaml.safe_load((ROOT / "presets" / f"{preset}.yaml").read_text())
        for dataset in config["datasets"]:
            expected = load_expected_counts(ROOT / dataset["expected_counts"])
            names = {g["name"] for g in dataset["generators"]} | (
                {"real"} if dataset["layout"] == "drct2m" else set())
            assert {e.generator for e in expected} == names, (preset, dataset["name"])
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for dataset in config["datasets"]:  # the demo's counts: checked for real by the demo run
        expected = load_expected_counts(ROOT / dataset["expected_counts"])
        assert {e.status for e in expected} == {"verified"}


def test_compare_counts_reports_every_mismatch_per_subset_and_label():
    rows = ([{"generator": "sdv14", "split": "train", "label": 1}] * 3
            + [{"generator": "sdv14", "split": "train", "label": 0}] * 2
            + [{"generator": "sdv14", "split": "test", "label": 1}]
            + [{"generator": "extra", "split": "test", "label": 1}])
    expected = parse_expected_counts({
        "format": "drct-expected-counts/1",
        "generators": {"sdv14": {"status": "best-known", "source": "paper",
                                 "train": {"real": 2, "fake": 4}, "test": 1}},
    })
    report = compare_counts(rows, expected)
    lines = [describe_mismatch(r) for r in report.to_dict("records") if not r["ok"]]
    assert lines == ["sdv14/train (fake): expected 4 images (best-known), found 3",
                     "extra/test: found 1 images, not in expected_counts"]
    assert report["ok"].tolist() == [True, False, True, False]


def test_plain_mapping_means_verified_and_bad_files_are_named(tmp_path):
    assert parse_expected_counts({"real": {"train": 3}}) == [Expected("real", "train", None, 3, "verified")]
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: drct-expected-counts/1\ngenerators:\n  g: {status: guessed, train: 1}\n")
    with pytest.raises(ValueError, match="bad.yaml.*guessed"):
        load_expected_counts(bad)
    bad.write_text("g: {train: {ai: 1}}\n")
    with pytest.raises(ValueError, match="real/fake"):
        load_expected_counts(bad)


def test_paths_resolve_against_the_project_when_not_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rel = "data/expected_counts/drct2m.yaml"
    assert resolve_counts_path(rel, ROOT) == ROOT / rel
    (tmp_path / "data/expected_counts").mkdir(parents=True)
    (tmp_path / rel).write_text("real: {train: 1}\n")
    assert resolve_counts_path(rel, ROOT) == Path(rel)  # a local copy wins
