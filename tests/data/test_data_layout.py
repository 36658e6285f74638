"""drct.data.layout: DRCT-2M and GenImage trees normalised into <generator>/<split>/..."""

from __future__ import annotations

from pathlib import Path

import pytest

from drct.data.layout import LayoutError, normalise


def _touch(path: Path, data: bytes = b"img") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _drct2m_tree(root: Path) -> None:
    for folder in ("real", "sd14", "sd15"):
        for split in ("train2017", "val2017"):
            for i in range(2):
                _touch(root / folder / split / f"00000000{i}.png")
    _touch(root / "sd14" / "train2017" / "000000000009.JPG")  # upper-case extension is fine
    _touch(root / "sd14" / "train2017" / "notes.txt")
    _touch(root / "sd14" / "train2017" / ".DS_Store")
    _touch(root / "sd14" / "train2017" / "__MACOSX" / "._000000000000.png")
    _touch(root / "unused" / "train2017" / "x.png")  # folders not asked for are ignored


def test_drct2m_layout(tmp_path, caplog):
    root, out = tmp_path / "extract", tmp_path / "images"
    _drct2m_tree(root)
    with caplog.at_level("WARNING"):
        rows = normalise(root, "drct2m", out, generators={"sd14": "sd14", "sd15": "sd15"},
                         real_folder="real")
    assert len(rows) == 14
    by_path = {Path(r["path"]).relative_to(out).as_posix(): r for r in rows}
    assert by_path["sd14/train/000000000009.JPG"] == {
        "generator": "sd14", "split": "train", "label": 1,
        "path": str(out / "sd14/train/000000000009.JPG"), "image": True}
    assert by_path["real/test/000000001.png"]["label"] == 0
    assert {(r["generator"], r["split"], r["label"]) for r in rows} == {
        (g, s, 0 if g == "real" else 1) for g in ("real", "sd14", "sd15") for s in ("train", "test")}
    # moved, not copied; the non-image is moved too and listed (image False) for validation to
    # quarantine, and logged; hidden files and __MACOSX stay behind without a row
    assert not (root / "sd14" / "train2017" / "000000000.png").exists()
    assert by_path["sd14/train/notes.txt"]["image"] is False
    assert [p for p, r in by_path.items() if not r["image"]] == ["sd14/train/notes.txt"]
    assert "notes.txt" in caplog.text and "1 files are not of an image type" in caplog.text
    assert not any("DS_Store" in p or "MACOSX" in p for p in by_path)
    assert rows == sorted(rows, key=lambda r: r["path"])


def test_drct2m_modelscope_variant_and_separate_coco_trees(tmp_path):
    """Generator split folders one level deeper; real images from COCO train2017/, val2017/
    archives extracted to two separate roots."""
    fakes, coco_train, coco_val = tmp_path / "x0", tmp_path / "x1", tmp_path / "x2"
    for split in ("train2017", "val2017"):
        _touch(fakes / "stable-diffusion-v1-4" / "stable-diffusion-v1-4" / split / "1.png")
    _touch(coco_train / "train2017" / "1.jpg")
    _touch(coco_val / "val2017" / "2.jpg")
    out = tmp_path / "images"
    rows = normalise([fakes, coco_train, coco_val], "drct2m", out,
                     generators={"stable-diffusion-v1-4":
                                 "stable-diffusion-v1-4/stable-diffusion-v1-4"},
                     real_folder=".")
    got = sorted((r["generator"], r["split"], r["label"],
                  Path(r["path"]).relative_to(out).as_posix()) for r in rows)
    assert got == [
        ("real", "test", 0, "real/test/2.jpg"),
        ("real", "train", 0, "real/train/1.jpg"),
        ("stable-diffusion-v1-4", "test", 1, "stable-diffusion-v1-4/test/1.png"),
        ("stable-diffusion-v1-4", "train", 1, "stable-diffusion-v1-4/train/1.png"),
    ]


def test_missing_folders_are_all_listed(tmp_path):
    root = tmp_path / "extract"
    _touch(root / "sd14" / "train2017" / "1.png")
    _touch(root / "real" / "train2017" / "1.png")
    with pytest.raises(LayoutError) as err:
        normalise(root, "drct2m", tmp_path / "images",
                  generators={"sd14": "sd14", "sdxl": "sdxl"}, real_folder="real")
    msg = str(err.value)
    for missing in ("sd14/val2017", "sdxl/train2017", "sdxl/val2017", "real/val2017"):
        assert missing in msg
    assert "wrong layout" in msg and "sd14" in msg  # top-level contents shown
    assert (root / "sd14" / "train2017" / "1.png").exists()  # nothing moved


def test_explicit_split_mapping(tmp_path):
    root = tmp_path / "extract"
    _touch(root / "g" / "training" / "1.png")
    _touch(root / "g" / "testing" / "2.png")
    rows = normalise(root, "drct2m", tmp_path / "images", generators={"g": "g"},
                     real_folder=None, splits={"training": "train", "testing": "test"})
    assert sorted(r["split"] for r in rows) == ["test", "train"]


def _genimage_tree(root: Path, subsets: dict[str, str]) -> None:
    for subdir in subsets.values():
        for split in ("train", "val"):
            for cls in ("ai", "nature"):
                _touch(root / subdir / split / cls / f"{cls}_{split}_0.PNG")
                _touch(root / subdir / split / cls / f"{cls}_{split}_1.JPEG")


def test_genimage_layout(tmp_path):
    subsets = {"SDv1.4": "stable_diffusion_v_1_4/imagenet_ai_0419_sdv4",
               "BigGAN": "BigGAN/imagenet_ai_0419_biggan"}
    root, out = tmp_path / "extract", tmp_path / "images"
    _genimage_tree(root, subsets)
    _touch(root / "BigGAN" / "imagenet_ai_0419_biggan" / "val" / "ai" / "readme.md")
    rows = normalise(root, "genimage", out, generators=subsets, real_folder=None)
    assert len(rows) == 17 and [r["path"] for r in rows if not r["image"]] == [
        str(out / "BigGAN/test/ai/readme.md")]
    rel = {Path(r["path"]).relative_to(out).as_posix(): r for r in rows}
    r = rel["SDv1.4/test/nature/nature_val_0.PNG"]
    assert (r["generator"], r["split"], r["label"]) == ("SDv1.4", "test", 0)
    r = rel["BigGAN/train/ai/ai_train_1.JPEG"]
    assert (r["generator"], r["split"], r["label"]) == ("BigGAN", "train", 1)
    assert all((r["label"] == 1) == ("/ai/" in p) for p, r in rel.items())


def test_genimage_missing_class_folder(tmp_path):
    subsets = {"ADM": "ADM/imagenet_ai_0508_adm"}
    root = tmp_path / "extract"
    _touch(root / "ADM/imagenet_ai_0508_adm/train/ai/1.png")
    _touch(root / "ADM/imagenet_ai_0508_adm/train/nature/1.png")
    _touch(root / "ADM/imagenet_ai_0508_adm/val/ai/1.png")
    with pytest.raises(LayoutError, match="ADM/imagenet_ai_0508_adm/val/nature"):
        normalise(root, "genimage", tmp_path / "images", generators=subsets, real_folder=None)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown layout"):
        normalise(tmp_path, "imagenet", tmp_path / "o", generators={}, real_folder=None)
    with pytest.raises(ValueError, match="real_folder"):
        normalise(tmp_path, "genimage", tmp_path / "o", generators={"a": "a"}, real_folder="r")
    with pytest.raises(ValueError, match="reserved"):
        normalise(tmp_path, "drct2m", tmp_path / "o", generators={"real": "x"}, real_folder="r")
    with pytest.raises(ValueError, match="relative path"):
        normalise(tmp_path, "drct2m", tmp_path / "o", generators={"a": "../a"}, real_folder=None)
