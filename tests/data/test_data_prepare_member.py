"""A dataset's archive member must stay inside the extracted archive: prepare moves the images under it.

Before this check, ``member: /some/folder`` or ``../..`` made `prepare` move a user's images out of
any folder on the machine into ``results/data`` (and a later rerun could delete them).
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from PIL import Image

from drct.data.prepare import prepare_dataset
from drct.errors import DrctError
from drct.paths import UnsafePathError, inside


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buffer, format="PNG")
    return buffer.getvalue()


def _user_folder(root: Path) -> list[Path]:
    """A folder of the user's own images, laid out like a DRCT-2M subset (what a bad member could reach)."""
    files = []
    for split in ("train2017", "val2017"):
        folder = root / "real" / split
        folder.mkdir(parents=True)
        files.append(folder / "000000000001.png")
        files[-1].write_bytes(_png())
    return files


def _archive(path: Path) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        data = _png()
        for split in ("train2017", "val2017"):
            info = tarfile.TarInfo(f"inner/real/{split}/000000000002.png")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("kind", ["absolute", "dotdot"])
def test_a_member_outside_the_extracted_archive_is_refused_and_moves_nothing(tmp_path: Path, kind: str) -> None:
    user = tmp_path / "user-photos"
    files = _user_folder(user)
    archive = _archive(tmp_path / "a.tar.gz")
    out_dir = tmp_path / "results" / "data" / "d"
    # out_dir/.staging-x/extract/000 is the extraction folder: six levels up is tmp_path
    member = str(user) if kind == "absolute" else "../../../../../../user-photos"
    with pytest.raises(UnsafePathError, match="member") as info:
        prepare_dataset([archive], "d", "drct2m", out_dir, members=[member], generators={}, real_folder="real")
    assert isinstance(info.value, DrctError)
    assert all(f.is_file() for f in files)  # the user's images are where they were
    assert not (out_dir / "images").exists() and not (out_dir / "manifest.csv").exists()


def test_a_link_inside_the_extraction_that_leads_out_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "extract"
    base.mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(outside, base / "link")
    with pytest.raises(UnsafePathError, match="through a link"):
        inside(base, "link", "member")
    assert inside(base, "sub/dir", "member") == base / "sub" / "dir"


def test_a_member_inside_the_archive_is_used(tmp_path: Path) -> None:
    archive = _archive(tmp_path / "a.tar.gz")
    manifest = prepare_dataset([archive], "d", "drct2m", tmp_path / "out", members=["inner"], generators={},
                               real_folder="real", strict_counts=False)
    assert manifest.is_file()
    assert sorted(p.relative_to(tmp_path / "out" / "images").as_posix()
                  for p in (tmp_path / "out" / "images").rglob("*.png")) == [
        "real/test/000000000002.png", "real/train/000000000002.png"]
