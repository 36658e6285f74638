"""drct.data.extract: unsafe members refused (named), disk space checked, atomic extraction."""

from __future__ import annotations

import errno
import io
import stat
import tarfile
import zipfile
from collections import namedtuple
from pathlib import Path

import pytest

from drct.data import extract as extract_mod
from drct.data.extract import (
    BadArchiveError,
    InsufficientSpaceError,
    UnsafeArchiveError,
    safe_extract,
)
from drct.errors import DrctError

GOOD = {"top/a.txt": b"alpha", "top/sub/b.bin": b"\x00\x01" * 100, "top/c.png": b"not really"}


def _tar(path: Path, files: dict[str, bytes], mode: str = "w:gz",
         extra: list[tarfile.TarInfo] | None = None) -> Path:
    with tarfile.open(path, mode) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tf.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return path


def _zip(path: Path, files: dict[str, bytes], extra: list[zipfile.ZipInfo] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        for info in extra or []:
            zf.writestr(info, b"target")
    return path


def _tarinfo(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.size = 1 if kind == tarfile.REGTYPE else 0
    return info


def _check_tree(target: Path) -> None:
    for name, data in GOOD.items():
        assert (target / name).read_bytes() == data


@pytest.mark.parametrize("suffix,mode", [(".tar.gz", "w:gz"), (".tar.bz2", "w:bz2"),
                                         (".tar.xz", "w:xz"), (".tar", "w")])
def test_extracts_tar_variants(tmp_path, suffix, mode):
    archive = _tar(tmp_path / f"a{suffix}", GOOD, mode)
    target = safe_extract(archive, tmp_path / "out" / "data")
    _check_tree(target)
    assert [p.name for p in target.parent.iterdir()] == ["data"]  # no partial dir left


def test_extracts_zip(tmp_path):
    target = safe_extract(_zip(tmp_path / "a.zip", GOOD), tmp_path / "data")
    _check_tree(target)


@pytest.mark.parametrize("member", ["../evil", "top/../../evil", "/abs/evil", "C:/evil",
                                    "C:\\evil", "top\\..\\..\\evil"])
def test_tar_members_escaping_target_are_refused(tmp_path, member):
    archive = _tar(tmp_path / "bad.tar.gz", {**GOOD, member: b"pwned"})
    with pytest.raises(UnsafeArchiveError) as err:
        safe_extract(archive, tmp_path / "out" / "data")
    assert repr(member) in str(err.value)
    assert not (tmp_path / "out" / "data").exists()
    assert not (tmp_path / "evil").exists()
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("member", ["../evil", "/abs/evil", "C:\\evil"])
def test_zip_members_escaping_target_are_refused(tmp_path, member):
    archive = _zip(tmp_path / "bad.zip", {**GOOD, member: b"pwned"})
    with pytest.raises(UnsafeArchiveError) as err:
        safe_extract(archive, tmp_path / "out" / "data")
    assert repr(member) in str(err.value)
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("info,word", [
    (_tarinfo("top/link", tarfile.SYMTYPE, "/etc/passwd"), "symlink"),
    (_tarinfo("top/rel-link", tarfile.SYMTYPE, "a.txt"), "symlink"),
    (_tarinfo("top/hard", tarfile.LNKTYPE, "top/a.txt"), "hardlink"),
    (_tarinfo("top/dev", tarfile.CHRTYPE), "device"),
    (_tarinfo("top/fifo", tarfile.FIFOTYPE), "FIFO"),
])
def test_tar_links_and_devices_are_refused(tmp_path, info, word):
    archive = _tar(tmp_path / "bad.tar", GOOD, "w", extra=[info])
    with pytest.raises(UnsafeArchiveError, match=word) as err:
        safe_extract(archive, tmp_path / "data")
    assert repr(info.name) in str(err.value)
    assert not (tmp_path / "data").exists()


def test_zip_symlink_is_refused(tmp_path):
    info = zipfile.ZipInfo("top/link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = _zip(tmp_path / "bad.zip", GOOD, extra=[info])
    with pytest.raises(UnsafeArchiveError, match="symlink") as err:
        safe_extract(archive, tmp_path / "data")
    assert "'top/link'" in str(err.value)
    assert not (tmp_path / "data").exists()


def _fail_after_first_member(monkeypatch, error) -> None:
    """Extraction writes the first member, then ``error(dest / member)`` is raised."""
    real = extract_mod._extract_member
    calls = {"n": 0}

    def flaky(arc, member, dest):
        calls["n"] += 1
        if calls["n"] > 1:
            raise error(dest / member.name)
        real(arc, member, dest)

    monkeypatch.setattr(extract_mod, "_extract_member", flaky)


def test_crash_mid_extraction_is_never_taken_as_complete(tmp_path, monkeypatch):
    archive = _tar(tmp_path / "a.tar.gz", GOOD)
    target = tmp_path / "out" / "data"
    real = extract_mod._extract_member
    _fail_after_first_member(monkeypatch, lambda _: RuntimeError("simulated crash after 1 member"))
    with pytest.raises(RuntimeError, match="simulated crash"):
        safe_extract(archive, target)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []

    # a hard crash (kill -9) leaves a partial dir behind; the rerun removes it and redoes
    leftover = target.parent / ".data.partial-deadbeef"
    (leftover / "top").mkdir(parents=True)
    (leftover / "top" / "a.txt").write_bytes(b"half")
    monkeypatch.setattr(extract_mod, "_extract_member", real)
    assert safe_extract(archive, target) == target
    _check_tree(target)
    assert not leftover.exists()


def test_existing_target_is_returned_untouched(tmp_path):
    target = tmp_path / "data"
    target.mkdir()
    (target / "marker").write_text("done earlier")
    assert safe_extract(tmp_path / "does-not-matter.zip", target) == target
    assert [p.name for p in target.iterdir()] == ["marker"]


def test_not_enough_disk_space(tmp_path, monkeypatch):
    archive = _zip(tmp_path / "a.zip", {"big.bin": b"\x00" * 10_000})
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(extract_mod.shutil, "disk_usage", lambda p: usage(10**9, 0, 5_000))
    with pytest.raises(InsufficientSpaceError) as err:
        safe_extract(archive, tmp_path / "data", min_free_bytes_factor=1.5)
    assert "need 15000 bytes" in str(err.value) and "5000 bytes free" in str(err.value)
    assert not (tmp_path / "data").exists()


def test_not_an_archive(tmp_path):
    bogus = tmp_path / "a.zip"
    bogus.write_text("hello")
    with pytest.raises(ValueError, match="neither a zip nor"):
        safe_extract(bogus, tmp_path / "data")


# --- damaged archives: one clear DrctError naming the archive, nothing left behind -------------

NOISE = {f"top/f{i}.bin": bytes((i * 7 + j * 13) % 251 for j in range(20_000)) for i in range(4)}


def _truncated(path: Path, keep: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _assert_clean_failure(err, archive: Path, out: Path, *words: str) -> None:
    msg = str(err.value)
    assert isinstance(err.value, DrctError)
    assert str(archive) in msg and "rerun" in msg, msg
    for word in words:
        assert word in msg, msg
    assert not out.exists()


@pytest.mark.parametrize("keep", [0.5, 0.01])
def test_truncated_tar_gz_names_the_archive(tmp_path, keep):
    archive = _truncated(_tar(tmp_path / "a.tar.gz", NOISE), keep)
    out = tmp_path / "out" / "data"
    with pytest.raises(BadArchiveError) as err:
        safe_extract(archive, out)
    _assert_clean_failure(err, archive, out, "truncated or damaged", "delete it")
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_truncated_zip_is_called_truncated_not_a_non_archive(tmp_path):
    archive = _truncated(_zip(tmp_path / "a.zip", NOISE), 0.5)
    out = tmp_path / "out" / "data"
    with pytest.raises(BadArchiveError) as err:
        safe_extract(archive, out)
    _assert_clean_failure(err, archive, out, "starts like a zip file", "truncated or damaged")
    assert "neither" not in str(err.value)


def test_zip_with_bad_crc_names_the_archive_and_leaves_nothing(tmp_path):
    archive = _zip(tmp_path / "a.zip", NOISE)
    raw = bytearray(archive.read_bytes())
    second = raw.find(b"PK\x03\x04", 1)  # damage the 2nd member's data: the 1st is written first
    raw[second + 30 + len("top/f1.bin") + 100] ^= 0xFF
    archive.write_bytes(bytes(raw))
    out = tmp_path / "out" / "data"
    with pytest.raises(BadArchiveError) as err:
        safe_extract(archive, out)
    _assert_clean_failure(err, archive, out, "'top/f1.bin'", "CRC")
    assert list(out.parent.iterdir()) == []


def test_split_zip_volume_says_how_to_join_it(tmp_path):
    volume = tmp_path / "imagenet_ai_0419_sdv4.zip"
    volume.write_bytes(b"PK\x07\x08" + b"\x00" * 200)
    with pytest.raises(BadArchiveError, match="split .multi-volume. zip"):
        safe_extract(volume, tmp_path / "data")


def test_disk_full_during_extraction_is_a_clear_error_and_leaves_nothing(tmp_path, monkeypatch):
    archive = _tar(tmp_path / "a.tar.gz", GOOD)
    out = tmp_path / "out" / "data"
    _fail_after_first_member(
        monkeypatch, lambda path: OSError(errno.ENOSPC, "No space left on device", str(path)))
    with pytest.raises(InsufficientSpaceError) as err:
        safe_extract(archive, out)
    assert isinstance(err.value, DrctError) and err.value.errno == errno.ENOSPC
    assert str(archive) in str(err.value) and "Free space" in str(err.value)
    assert list(out.parent.iterdir()) == []  # the partial directory is gone


def test_data_errors_are_drct_errors_and_keep_their_old_bases():
    from drct.data.download import ChecksumError, DownloadError, LockMismatchError
    from drct.data.layout import LayoutError
    from drct.data.listing import ListingError, NotListedError
    from drct.data.prepare import CountMismatchError

    old_bases = {UnsafeArchiveError: ValueError, InsufficientSpaceError: OSError,
                 BadArchiveError: ValueError, DownloadError: RuntimeError,
                 ChecksumError: DownloadError, LockMismatchError: RuntimeError,
                 LayoutError: ValueError, CountMismatchError: ValueError,
                 ListingError: RuntimeError, NotListedError: LookupError}
    for cls, base in old_bases.items():
        assert issubclass(cls, DrctError) and issubclass(cls, base), cls
