"""A pinned local folder (drct.data.local) that changes after its snapshot: every change is found.

A same-size edit used to pass (only sizes were compared), and the manifest then carried a sha256
that contradicts the pinned snapshot. Now sizes and mtimes are compared, files whose mtime moved
are re-hashed, and the manifest's hashes are compared with the pin.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from PIL import Image

from drct.data.acquire import acquire
from drct.data.local import FolderChangedError, link_snapshot, read_snapshot
from drct.data.manifest import read_manifest
from drct.data.prepare import prepare_dataset
from drct.errors import DrctError

GENIMAGE = dict(layout="genimage", real_folder=None,
                generators={"sdv14": "stable_diffusion_v_1_4/imagenet_ai_0419_sdv4"})


def _png(color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def pinned(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """A tiny GenImage-like user folder, snapshotted and pinned; returns (folder, snapshot)."""
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "GenImage" / "stable_diffusion_v_1_4" / "imagenet_ai_0419_sdv4"
    for split in ("train", "val"):
        for cls, colour in (("ai", (200, 10, 10)), ("nature", (10, 200, 10))):
            path = root / split / cls / f"{cls}_0.png"
            path.parent.mkdir(parents=True)
            path.write_bytes(_png(colour))
    snapshot = tmp_path / "results" / "downloads" / "sdv14" / "stable_diffusion_v_1_4"
    acquire({"base_url": "file:GenImage"}, "stable_diffusion_v_1_4", snapshot,
            tmp_path / "data.lock.json", "genimage-sdv14")
    return root.parent, snapshot


def _same_size_edit(path: Path, *, keep_mtime: bool) -> None:
    """Replace ``path``'s pixels by others of exactly the same byte length."""
    before = path.stat()
    old = path.read_bytes()
    for colour in ((1, 2, 3), (4, 5, 6), (7, 8, 9), (90, 91, 92)):
        new = _png(colour)
        if len(new) == len(old) and new != old:
            break
    else:  # pragma: no cover - PNG of a flat colour: always the same length
        raise AssertionError("no same-size replacement found")
    path.write_bytes(new)
    if keep_mtime:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    else:  # a later mtime, also on filesystems with coarse timestamps
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 2_000_000_000))


def test_snapshot_records_size_and_mtime(pinned):
    folder, snapshot = pinned
    for rel, size, _sha, mtime_ns in read_snapshot(snapshot)["files"]:
        st = (folder / rel).stat()
        assert (size, mtime_ns) == (st.st_size, st.st_mtime_ns)


def test_same_size_edit_is_an_error_naming_the_file(pinned, tmp_path):
    folder, snapshot = pinned
    edited = folder / "imagenet_ai_0419_sdv4" / "val" / "ai" / "ai_0.png"
    _same_size_edit(edited, keep_mtime=False)
    with pytest.raises(FolderChangedError) as err:
        link_snapshot(snapshot, tmp_path / "staging" / "000")
    assert isinstance(err.value, DrctError)
    assert f"content changed (same size, modified since): {edited}" in str(err.value)
    assert "train" not in str(err.value)  # only the changed file is named
    assert not (tmp_path / "staging" / "000").exists()
    with pytest.raises(FolderChangedError):
        prepare_dataset([snapshot], "genimage", out_dir=tmp_path / "data", members=[None],
                        **GENIMAGE)
    assert not (tmp_path / "data" / "manifest.csv").exists()


def test_touched_but_unchanged_file_is_fine(pinned, tmp_path):
    folder, snapshot = pinned
    touched = folder / "imagenet_ai_0419_sdv4" / "train" / "nature" / "nature_0.png"
    st = touched.stat()
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    manifest = prepare_dataset([snapshot], "genimage", out_dir=tmp_path / "data",
                               members=[None], **GENIMAGE)
    pins = {sha for _rel, _size, sha, _m in read_snapshot(snapshot)["files"]}
    assert set(read_manifest(manifest)["sha256"]) == pins


def test_edit_that_keeps_the_mtime_is_caught_by_the_manifest_check(pinned, tmp_path):
    folder, snapshot = pinned
    edited = folder / "imagenet_ai_0419_sdv4" / "train" / "ai" / "ai_0.png"
    _same_size_edit(edited, keep_mtime=True)
    link_snapshot(snapshot, tmp_path / "linked")  # size and mtime agree: not re-hashed here
    with pytest.raises(FolderChangedError) as err:
        prepare_dataset([snapshot], "genimage", out_dir=tmp_path / "data", members=[None],
                        **GENIMAGE)
    assert f"content changed: {edited}" in str(err.value)
    assert not (tmp_path / "data" / "manifest.csv").exists()
    assert not list((tmp_path / "data").glob(".staging-*"))


def test_snapshot_without_mtimes_still_links(pinned, tmp_path):
    # snapshots written before mtimes were recorded: [rel, size, sha] entries still work
    _folder, snapshot = pinned
    lines = snapshot.read_text().splitlines()
    old = [lines[0]] + [json.dumps(json.loads(line.rstrip(","))[:3]) + ("," if line.endswith(",")
                                                                         else "")
                        for line in lines[1:-1]] + [lines[-1]]
    snapshot.write_text("\n".join(old) + "\n")
    assert all(len(f) == 3 for f in read_snapshot(snapshot)["files"])
    manifest = prepare_dataset([snapshot], "genimage", out_dir=tmp_path / "data",
                               members=[None], **GENIMAGE)
    assert len(read_manifest(manifest)) == 4
