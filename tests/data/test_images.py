"""drct.images: one decoder, one list of image types, one pixel limit, for every step.

Each test builds its small files here. The steps compared are preparation (layout + manifest),
validation, training/evaluation decoding and ``drct predict``'s folder search.
"""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from drct.data.layout import normalise
from drct.data.manifest import build_manifest, read_manifest, write_manifest
from drct.data.validate import check_image, validate_manifest
from drct.failures import EnvironmentFailure
from drct.images import IMAGE_SUFFIXES, MAX_PIXELS, ImageReadError, load_rgb
from drct.predict import collect_images


def _png16(path: Path, values: np.ndarray) -> Path:
    Image.fromarray(values.astype(np.uint16)).save(path)  # PIL writes a 16-bit greyscale PNG
    return path


def test_16_bit_greyscale_is_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 255, 256, 32768, 65280, 65535]], dtype=np.uint16)
    path = _png16(tmp_path / "deep.png", values)
    assert Image.open(path).mode.startswith("I")
    rgb = load_rgb(path)
    assert rgb.shape == (1, 6, 3) and rgb.dtype == np.uint8
    # the high byte, as cv2.imread (the authors' reader) returns it; convert("RGB") gave 0,255,255,...
    assert rgb[0, :, 0].tolist() == [0, 0, 1, 128, 255, 255]
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
    assert check_image(path) is None


def test_gif_is_an_image_for_preparation_validation_and_predict(tmp_path: Path) -> None:
    source = tmp_path / "extract"
    for split in ("train2017", "val2017"):
        folder = source / "gen" / split
        folder.mkdir(parents=True)
        Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(folder / "a.png")
    gif = source / "gen" / "train2017" / "b.gif"
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).convert("P").save(gif)
    rows = normalise(source, "drct2m", tmp_path / "images", generators={"gen": "gen"})
    moved = [r for r in rows if r["path"].endswith("b.gif")]
    assert len(moved) == 1 and moved[0]["image"], "a .gif must be an image for preparation too"
    assert check_image(moved[0]["path"]) is None
    assert load_rgb(moved[0]["path"]).shape == (8, 8, 3)
    assert Path(moved[0]["path"]) in collect_images([tmp_path / "images"])
    assert ".gif" in IMAGE_SUFFIXES


def test_the_decoder_uses_our_pixel_limit_not_pils_global(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PIL's own guard (2 x 89.5 MP by default) used to stop training on images validation accepted
    (up to 200 MP). Shown small: with PIL's global guard lowered, validation and the decoder must still
    agree, because both apply :data:`MAX_PIXELS` themselves."""
    path = tmp_path / "wide.png"
    Image.fromarray(np.zeros((50, 60, 3), np.uint8)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # PIL raises above 2000 px: 3000 here
    assert check_image(path) is None
    assert load_rgb(path).shape == (50, 60, 3)
    assert MAX_PIXELS == 200_000_000


def test_validation_and_decoder_agree_on_either_side_of_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "img.png"
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(path)  # 2000 pixels
    assert check_image(path, max_pixels=2000) is None
    assert load_rgb(path, max_pixels=2000).shape == (40, 50, 3)
    reason, detail = check_image(path, max_pixels=1999)
    assert reason == "decompression_bomb" and "2000" in detail
    with pytest.raises(ImageReadError, match="img.png.*2000 pixels"):
        load_rgb(path, max_pixels=1999)


def test_every_file_left_out_is_in_quarantine_with_its_reason(tmp_path: Path) -> None:
    """Preparation used to skip a non-image file silently (neither manifest nor quarantine)."""
    source = tmp_path / "extract"
    for split in ("train2017", "val2017"):
        folder = source / "gen" / split
        folder.mkdir(parents=True)
        Image.fromarray(np.full((8, 8, 3), 30, np.uint8)).save(folder / "ok.png")
    (source / "gen" / "train2017" / "notes.txt").write_text("not an image")
    (source / "gen" / "val2017" / "scan.xcf").write_bytes(b"gimp")
    (source / "gen" / "val2017" / "broken.jpg").write_bytes(b"\xff\xd8\xff nothing")
    data = tmp_path / "data"
    rows = normalise(source, "drct2m", data / "images", generators={"gen": "gen"})
    write_manifest(build_manifest(rows, "d", data), data / "manifest.csv")
    n_valid, n_bad = validate_manifest(data / "manifest.csv", data / "valid.csv", data / "quarantine.csv")
    assert (n_valid, n_bad) == (2, 3)
    quarantine = read_manifest(data / "quarantine.csv")
    reasons = dict(zip(quarantine["path"].map(lambda p: Path(p).name), quarantine["reason"]))
    assert reasons == {"notes.txt": "unsupported_type", "scan.xcf": "unsupported_type", "broken.jpg": "not_an_image"}
    assert quarantine.set_index("reason").loc["unsupported_type", "detail"].str.contains("not an image type").all()
    assert set(read_manifest(data / "valid.csv")["path"].map(lambda p: Path(p).name)) == {"ok.png"}


def _failing_open(monkeypatch: pytest.MonkeyPatch, victim: str, exc: BaseException) -> None:
    """``Image.open`` raises ``exc`` for the file named ``victim`` (a machine failure while reading it)."""
    real_open = Image.open

    def fake_open(fp, *args, **kwargs):
        if Path(str(fp)).name == victim:
            raise exc
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", fake_open)


@pytest.mark.parametrize("exc", [OSError(errno.EIO, "Input/output error"), MemoryError(),
                                 OSError(errno.ENOSPC, "No space left on device")])
def test_a_machine_failure_is_not_a_bad_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc) -> None:
    path = tmp_path / "fine.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)
    _failing_open(monkeypatch, "fine.png", exc)
    with pytest.raises(EnvironmentFailure, match="fine.png"):
        load_rgb(path)
    with pytest.raises(EnvironmentFailure, match="fine.png"):
        check_image(path)  # used to become a quarantined "decode_error" row


def test_validation_stops_instead_of_quarantining_on_a_machine_failure(tmp_path: Path, monkeypatch) -> None:
    data = tmp_path / "data"
    folder = data / "images"
    folder.mkdir(parents=True)
    rows = []
    for name in ("a.png", "b.png"):
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(folder / name)
        rows.append({"generator": "g", "split": "test", "label": 1, "path": str(folder / name)})
    write_manifest(build_manifest(rows, "d", data), data / "manifest.csv")
    _failing_open(monkeypatch, "b.png", OSError(errno.EIO, "Input/output error"))
    with pytest.raises(EnvironmentFailure, match="b.png"):
        validate_manifest(data / "manifest.csv", data / "valid.csv", data / "quarantine.csv")
    assert not (data / "valid.csv").exists() and not (data / "quarantine.csv").exists()


def test_manifest_header_read_does_not_hide_a_machine_failure(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "x.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)
    _failing_open(monkeypatch, "x.png", MemoryError())
    with pytest.raises(EnvironmentFailure, match="x.png"):
        build_manifest([{"generator": "g", "split": "test", "label": 1, "path": str(path)}], "d", tmp_path)
