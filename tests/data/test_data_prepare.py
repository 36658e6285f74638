"""drct.data.prepare: archives -> images/ + manifest.csv, atomically, with count checks; and the
whole data chain download -> prepare -> validate on a demo-like archive."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from drct.data import prepare as prepare_mod
from drct.data.download import fetch_locked, load_lock
from drct.data.layout import LayoutError
from drct.data.manifest import read_manifest
from drct.data.prepare import CountMismatchError, prepare_dataset
from drct.data.validate import validate_manifest


def _png(fmt: str = "PNG", color=(1, 2, 3)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, format=fmt)
    return buf.getvalue()


def _demo_files() -> dict[str, bytes]:
    files = {}
    d = "drct-demo-v1/drct2m"
    for folder, fmt, ext in (("real", "JPEG", "jpg"), ("sd14", "PNG", "png"), ("sdxl", "PNG", "png")):
        for split, n in (("train2017", 3), ("val2017", 2)):
            for i in range(n):
                files[f"{d}/{folder}/{split}/{i:012d}.{ext}"] = _png(fmt, (i, 10, 20))
    files[f"{d}/README.txt"] = b"demo"
    files[f"{d}/sd14/train2017/license.txt"] = b"not an image"
    g = "drct-demo-v1/genimage/ADM/imagenet_ai_0508_adm"
    for split in ("train", "val"):
        for cls in ("ai", "nature"):
            files[f"{g}/{split}/{cls}/x.png"] = _png()
    files["drct-demo-v1/genimage/ADM/imagenet_ai_0508_adm/val/ai/bad.png"] = b"\x89PNG broken"
    return files


def _tar_gz(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


DRCT2M = dict(layout="drct2m", members=["drct-demo-v1/drct2m"],
              generators={"sd14": "sd14", "sdxl": "sdxl"}, real_folder="real")
COUNTS = {g: {"train": 3, "test": 2} for g in ("real", "sd14", "sdxl")}


@pytest.fixture
def demo_archive(tmp_path):
    return _tar_gz(tmp_path / "drct-demo-v1.tar.gz", _demo_files())


def test_prepare_drct2m(demo_archive, tmp_path):
    out = tmp_path / "data" / "demo-drct2m"
    manifest = prepare_dataset([demo_archive], "demo-drct2m", out_dir=out,
                               expected_counts=COUNTS, **DRCT2M)
    assert manifest == out / "manifest.csv"
    assert sorted(p.name for p in out.iterdir()) == ["counts.csv", "images", "manifest.csv"]  # no staging
    df = read_manifest(manifest)
    assert len(df) == 16 and set(df["dataset"]) == {"demo-drct2m"}  # 15 images + license.txt
    assert df["path"].str.startswith("images/").all()
    assert all(Path(p).is_file() for p in df["abspath"])
    assert set(df.loc[df["generator"] == "real", "label"]) == {0}
    assert set(df.loc[df["generator"] != "real", "label"]) == {1}
    # the non-image is listed (for validation to quarantine as unsupported_type), not counted
    assert df.loc[df["path"].str.endswith(".txt"), "format"].isna().all()
    assert df["path"].str.endswith(".txt").sum() == 1

    # complete result: a rerun does nothing (not even reading the archive)
    stamp = manifest.stat().st_mtime_ns
    assert prepare_dataset([tmp_path / "gone.tar.gz"], "demo-drct2m", out_dir=out, **DRCT2M) == manifest
    assert manifest.stat().st_mtime_ns == stamp


def test_prepare_genimage_from_same_archive(demo_archive, tmp_path):
    manifest = prepare_dataset(
        [demo_archive], "demo-genimage", "genimage", tmp_path / "gi",
        members=["drct-demo-v1/genimage"], generators={"ADM": "ADM/imagenet_ai_0508_adm"},
        real_folder=None, expected_counts={"ADM": {"train": 2, "test": 3}})
    df = read_manifest(manifest)
    assert sorted(df["path"]) == [
        "images/ADM/test/ai/bad.png", "images/ADM/test/ai/x.png", "images/ADM/test/nature/x.png",
        "images/ADM/train/ai/x.png", "images/ADM/train/nature/x.png"]
    assert df.set_index("path").loc["images/ADM/test/nature/x.png", "label"] == 0


def test_count_mismatches_are_all_reported(demo_archive, tmp_path, caplog):
    wrong = {"real": {"train": 3, "test": 5}, "sd14": {"train": 4, "test": 2}}
    out = tmp_path / "strict"
    with pytest.raises(CountMismatchError) as err:
        prepare_dataset([demo_archive], "d", out_dir=out, expected_counts=wrong, **DRCT2M)
    msg = str(err.value)
    assert "real/test: expected 5 images (verified), found 2" in msg
    assert "sd14/train: expected 4 images (verified), found 3" in msg
    assert "sdxl/train: found 3 images, not in expected_counts" in msg
    assert list(out.iterdir()) == []  # nothing half-done left behind

    with caplog.at_level("WARNING"):
        manifest = prepare_dataset([demo_archive], "d", out_dir=tmp_path / "lenient",
                                   expected_counts=wrong, strict_counts=False, **DRCT2M)
    assert manifest.exists() and "real/test: expected 5 images (verified), found 2" in caplog.text
    report = pd.read_csv(tmp_path / "lenient" / "counts.csv")
    assert report.loc[~report["ok"], ["generator", "split"]].apply(tuple, axis=1).tolist() == [
        ("real", "test"), ("sd14", "train"), ("sdxl", "test"), ("sdxl", "train")]


def test_interrupted_prepare_is_redone_cleanly(demo_archive, tmp_path, monkeypatch):
    out = tmp_path / "data"

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("simulated interruption while hashing")

    monkeypatch.setattr(prepare_mod, "build_manifest", crash)
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset([demo_archive], "d", out_dir=out, **DRCT2M)
    assert not (out / "manifest.csv").exists() and not (out / "images").exists()
    monkeypatch.undo()

    # a kill -9 would leave a staging dir and maybe an images/ without manifest
    (out / ".staging-dead" / "images").mkdir(parents=True)
    (out / "images" / "stale").mkdir(parents=True)
    manifest = prepare_dataset([demo_archive], "d", out_dir=out, expected_counts=COUNTS, **DRCT2M)
    assert sorted(p.name for p in out.iterdir()) == ["counts.csv", "images", "manifest.csv"]
    assert not (out / "images" / "stale").exists()
    assert len(read_manifest(manifest)) == 16  # 15 images + license.txt (listed for quarantine)


def test_several_archives_fakes_plus_coco(tmp_path):
    fakes = tmp_path / "stable-diffusion-v1-4.zip"
    with zipfile.ZipFile(fakes, "w") as zf:
        for split in ("train2017", "val2017"):
            zf.writestr(f"stable-diffusion-v1-4/{split}/000000000001.png", _png())
    coco = []
    for split in ("train2017", "val2017"):
        coco.append(tmp_path / f"{split}.zip")
        with zipfile.ZipFile(coco[-1], "w") as zf:
            zf.writestr(f"{split}/000000000001.jpg", _png("JPEG"))
    manifest = prepare_dataset(
        [fakes, *coco], "drct2m", "drct2m", tmp_path / "out", members=[None, None, None],
        generators={"SDv1.4": "stable-diffusion-v1-4"}, real_folder=".",
        expected_counts={"SDv1.4": {"train": 1, "test": 1}, "real": {"train": 1, "test": 1}})
    df = read_manifest(manifest)
    assert sorted(zip(df["generator"], df["split"], df["label"])) == [
        ("SDv1.4", "test", 1), ("SDv1.4", "train", 1), ("real", "test", 0), ("real", "train", 0)]


def test_wrong_member_is_a_layout_error(demo_archive, tmp_path):
    with pytest.raises(LayoutError, match="no folder 'drct-demo-v2/drct2m'.*drct-demo-v1"):
        prepare_dataset([demo_archive], "d", "drct2m", tmp_path / "o",
                        members=["drct-demo-v2/drct2m"], generators={"a": "a"}, real_folder=None)


def test_download_prepare_validate_chain(demo_archive, tmp_path, monkeypatch):
    """The demo path end to end: file: URL -> lock -> extract -> manifest -> validation."""
    monkeypatch.chdir(tmp_path)
    lock = tmp_path / "workflow" / "data.lock.json"
    dest = tmp_path / "downloads" / "drct-demo-v1.tar.gz"
    sha = fetch_locked(f"file:{demo_archive.name}", dest, lock, "drct-demo-v1", progress=False)
    assert load_lock(lock)["drct-demo-v1"]["sha256"] == sha
    manifest = prepare_dataset(
        [dest], "demo-genimage", "genimage", tmp_path / "data" / "demo-genimage",
        members=["drct-demo-v1/genimage"], generators={"ADM": "ADM/imagenet_ai_0508_adm"},
        real_folder=None)
    n_valid, n_bad = validate_manifest(manifest, tmp_path / "v" / "valid.csv",
                                       tmp_path / "v" / "quarantine.csv")
    assert (n_valid, n_bad) == (4, 1)
    q = read_manifest(tmp_path / "v" / "quarantine.csv")
    assert q.loc[0, "path"].endswith("images/ADM/test/ai/bad.png")
    assert q.loc[0, "reason"] in ("not_an_image", "truncated", "decode_error")
