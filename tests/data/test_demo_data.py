"""Checks of the embedded demo dataset ``data/demo/drct-demo-v1.tar.gz``.

The archive is curated once by ``scripts/curate_demo_data.py`` and committed. These tests guard
what the pipeline and the demo's honesty rely on: every image is a 256x256 RGB PNG (no format
shortcut between classes), every image has a provenance row with a licence and a matching
sha256, the folder layout is the one the layout normaliser reads, and the real photos are split
by source photo (no photo in both train and test, none shared by the drct2m and genimage parts).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import tarfile
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from PIL import Image

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"
ARCHIVE = DEMO / "drct-demo-v1.tar.gz"
ROOT = "drct-demo-v1"
MAX_ARCHIVE_BYTES = 30 * 1024 * 1024
LICENSES = {
    "CC-BY-4.0",
    "CC-BY-SA-4.0",
    "CC-BY-2.0",
    "CC0-1.0",
    "Public-Domain",
    "BSD-3-Clause",
    "Matplotlib-License (PSF-based)",
    "MIT",
}
SOURCES_COLUMNS = [
    "archive_path",
    "source_package",
    "source_version",
    "source_kind",
    "path_in_package",
    "license",
    "generator_family",
    "crop",
    "sha256",
]
DRCT2M_RE = re.compile(
    r"^drct2m/(?P<gen>[a-z0-9]+(?:[.-][a-z0-9]+)*)/(?P<split>train2017|val2017)/[A-Za-z0-9_.-]+\.png$"
)
GENIMAGE_RE = re.compile(
    r"^genimage/(?P<subset>[A-Za-z0-9_.-]+)/(?P<split>train|val)/(?P<cls>ai|nature)/[A-Za-z0-9_.-]+\.png$"
)


@pytest.fixture(scope="module")
def demo() -> dict:
    """Read the archive once: member names, PNG bytes, SOURCES rows."""
    assert ARCHIVE.is_file(), f"{ARCHIVE} is missing: run scripts/curate_demo_data.py"
    pngs: dict[str, bytes] = {}
    others: dict[str, bytes] = {}
    with tarfile.open(ARCHIVE, "r:gz") as tar:
        for m in tar.getmembers():
            assert m.name == ROOT or m.name.startswith(ROOT + "/"), m.name
            assert not (m.issym() or m.islnk()), f"link in archive: {m.name}"
            if not m.isfile():
                continue
            rel = m.name[len(ROOT) + 1 :]
            data = tar.extractfile(m).read()
            (pngs if rel.endswith(".png") else others)[rel] = data
    rows = list(csv.DictReader(io.StringIO(others["SOURCES.csv"].decode("utf-8"))))
    return {
        "pngs": pngs,
        "others": others,
        "rows": rows,
        "sources_bytes": others["SOURCES.csv"],
    }


def test_archive_size_and_top_level(demo: dict) -> None:
    assert ARCHIVE.stat().st_size <= MAX_ARCHIVE_BYTES
    assert set(demo["others"]) == {"SOURCES.csv", "README.md"}


def test_readme_states_archive_sha256() -> None:
    sha = hashlib.sha256(ARCHIVE.read_bytes()).hexdigest()
    assert sha in (DEMO / "README.md").read_text(
        encoding="utf-8"
    ), "data/demo/README.md has a stale sha256"


def test_sources_copy_matches_archive(demo: dict) -> None:
    assert (DEMO / "SOURCES.csv").read_bytes() == demo["sources_bytes"]


def test_every_image_is_256_rgb_png(demo: dict) -> None:
    for rel, data in demo["pngs"].items():
        assert data[:8] == b"\x89PNG\r\n\x1a\n", rel
        with Image.open(io.BytesIO(data)) as im:
            assert im.format == "PNG", rel
            assert im.size == (256, 256), (rel, im.size)
            assert im.mode == "RGB", (rel, im.mode)
            im.load()


def test_sources_rows_match_images(demo: dict) -> None:
    rows = demo["rows"]
    assert list(rows[0])[: len(SOURCES_COLUMNS)] == SOURCES_COLUMNS
    by_path = {r["archive_path"]: r for r in rows}
    assert len(by_path) == len(rows), "duplicate archive_path in SOURCES.csv"
    assert set(by_path) == set(
        demo["pngs"]
    ), "SOURCES.csv and the archive list different images"
    for rel, data in demo["pngs"].items():
        row = by_path[rel]
        assert row["sha256"] == hashlib.sha256(data).hexdigest(), rel
        assert row["license"] in LICENSES, (rel, row["license"])
        assert row["source_kind"] in {"deb", "wheel"}, rel
        assert (
            row["source_package"] and row["source_version"] and row["path_in_package"]
        ), rel
        assert row["generator_family"], rel
        assert row["crop"] == "centre" or re.fullmatch(
            r"\d+,\d+,256,256", row["crop"]
        ), (rel, row["crop"])
    assert len({r["sha256"] for r in rows}) == len(rows), "two identical images"


def _place(rel: str) -> tuple[str, str, str, int]:
    """(part, generator/subset, split, label) of an image path; fails on any other layout."""
    m = DRCT2M_RE.match(rel)
    if m:
        return "drct2m", m["gen"], m["split"], int(m["gen"] != "real")
    m = GENIMAGE_RE.match(rel)
    assert m, f"unexpected path {rel}"
    return "genimage", m["subset"], m["split"], int(m["cls"] == "ai")


def test_labels_agree_with_sources(demo: dict) -> None:
    for row in demo["rows"]:
        _, _, _, label = _place(row["archive_path"])
        assert label == int(row["generator_family"] != "real"), row["archive_path"]
        if label == 0:
            assert row["source_package"] != "" and not row["source_package"].startswith(
                "comfyui"
            ), row
        else:
            assert row["source_package"].startswith(
                "comfyui-workflow-templates-media"
            ), row


def test_counts_per_folder(demo: dict) -> None:
    total = len(demo["pngs"])
    assert 150 <= total <= 250, total
    counts: Counter[tuple[str, str, str, int]] = Counter(
        _place(rel) for rel in demo["pngs"]
    )

    drct = {(g, s): n for (p, g, s, _), n in counts.items() if p == "drct2m"}
    assert 35 <= drct[("real", "train2017")] <= 60
    assert 20 <= drct[("real", "val2017")] <= 30
    generators = sorted({g for g, _ in drct if g != "real"})
    assert len(generators) >= 2, generators
    for g in generators:
        assert drct.get((g, "val2017"), 0) >= 8, g
        assert drct.get((g, "train2017"), 0) >= 1, g
    # one training generator with a clearly larger train split than the others
    train = sorted(
        ((drct.get((g, "train2017"), 0), g) for g in generators), reverse=True
    )
    assert train[0][0] >= 15 and train[0][0] >= 3 * train[1][0], train

    subsets = sorted({g for (p, g, _, _) in counts if p == "genimage"})
    assert 2 <= len(subsets) <= 4, subsets
    for sub in subsets:
        assert counts[("genimage", sub, "val", 1)] >= 6, sub
        assert counts[("genimage", sub, "val", 0)] >= 6, sub
        assert counts[("genimage", sub, "train", 1)] >= 3, sub
        assert counts[("genimage", sub, "train", 0)] >= 3, sub


def test_real_photos_split_by_source(demo: dict) -> None:
    """All crops of a source photo sit in one folder: no train/test or drct2m/genimage leakage."""
    folders: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in demo["rows"]:
        if row["generator_family"] == "real":
            folder = row["archive_path"].rsplit("/", 1)[0]
            folders[(row["source_package"], row["path_in_package"])].add(folder)
    assert folders
    spread = {src: f for src, f in folders.items() if len(f) > 1}
    assert not spread, f"photos used in several folders: {spread}"


def test_generated_sources_used_once(demo: dict) -> None:
    seen: Counter[tuple[str, str, str]] = Counter(
        (r["source_package"], r["source_version"], r["path_in_package"])
        for r in demo["rows"]
        if r["generator_family"] != "real"
    )
    assert [k for k, n in seen.items() if n > 1] == []
    # no generated image in both parts, even via a different package version (same source bytes)
    src_sha = Counter(
        r["source_sha256"] for r in demo["rows"] if r["generator_family"] != "real"
    )
    assert [k for k, n in src_sha.items() if n > 1] == []
