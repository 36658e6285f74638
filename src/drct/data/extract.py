"""Safe, atomic extraction of tar (.gz/.bz2/.xz) and zip archives.

Archives come from the internet, so every member is checked *before* anything is written:
names that would land outside the target (``..``, absolute paths, Windows drive letters),
symlinks, hardlinks and device/FIFO members are refused with the member named. For tar the
standard-library ``filter="data"`` is used on top, where available (Python >= 3.11.4), as a
second line of defence. The sum of member sizes is checked against free disk space first, so a
200 GB archive fails in a second instead of after filling the disk.

Atomicity: members go to ``<parent>/.<target>.partial-<random>`` which is renamed onto
``target`` only after the last member, so an existing ``target`` is always complete and is
returned untouched; partial directories left by a crash are deleted and the extraction redone.

Failures a user can act on are :class:`drct.errors.DrctError` subclasses whose message names the
archive, what is wrong and what to do: a truncated or damaged archive (a short ``.tar.gz``, a zip
cut before its directory, a member with a bad CRC, a split zip volume) is a
:class:`BadArchiveError`, a full disk during extraction an :class:`InsufficientSpaceError`; in
every case the partial directory is removed, so no half-extracted output remains.
"""

from __future__ import annotations

import errno
import logging
import lzma
import os
import re
import secrets
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from drct.data.progress import bar
from drct.errors import DrctError

__all__ = [
    "BadArchiveError", "InsufficientSpaceError", "UnsafeArchiveError", "list_members",
    "safe_extract",
]

log = logging.getLogger(__name__)

_DRIVE = re.compile(r"^[A-Za-z]:")
#: first bytes -> what the file claims to be, to tell "damaged" from "not an archive at all"
_MAGIC = {b"PK\x03\x04": "zip", b"PK\x05\x06": "zip", b"PK\x07\x08": "split zip",
          b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz"}
_FULL = (errno.ENOSPC, errno.EDQUOT)
#: what reading a damaged archive raises: truncated compressed streams (EOFError), bad tar
#: headers, bad zip CRCs/headers, corrupt deflate/xz data, gzip/bz2 data errors (OSError)
_DAMAGE = (EOFError, tarfile.TarError, zipfile.BadZipFile, zlib.error, lzma.LZMAError, OSError)
_REDOWNLOAD = "delete it and rerun to download it again"


class UnsafeArchiveError(DrctError, ValueError):
    """A member would escape the target or is a link/device; nothing was extracted."""


class InsufficientSpaceError(DrctError, OSError):
    """Not enough free disk space for the extracted archive."""


class BadArchiveError(DrctError, ValueError):
    """The file is not a readable archive: truncated, damaged, a split volume or no archive."""


@dataclass(frozen=True)
class Member:
    """An archive member reduced to what the checks need; ``ref`` is the tar/zip info object."""

    name: str
    size: int
    is_dir: bool
    ref: object


def _check_name(name: str) -> None:
    """Refuse names that could resolve outside the target, whatever the OS conventions."""
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise UnsafeArchiveError(f"archive member {name!r} has an absolute path")
    parts = re.split(r"[\\/]+", name)
    if ".." in parts:
        raise UnsafeArchiveError(f"archive member {name!r} escapes the target directory (..)")
    if "\x00" in name:
        raise UnsafeArchiveError(f"archive member {name!r} contains a NUL byte")


def _tar_members(tf: tarfile.TarFile) -> Iterator[Member]:
    for info in tf.getmembers():
        _check_name(info.name)
        if info.issym() or info.islnk():
            kind = "symlink" if info.issym() else "hardlink"
            raise UnsafeArchiveError(
                f"archive member {info.name!r} is a {kind} (to {info.linkname!r}); links are refused"
            )
        if info.isdev() or info.isfifo():
            raise UnsafeArchiveError(f"archive member {info.name!r} is a device or FIFO")
        if not (info.isfile() or info.isdir()):
            raise UnsafeArchiveError(f"archive member {info.name!r} has unsupported type {info.type!r}")
        yield Member(info.name, info.size if info.isfile() else 0, info.isdir(), info)


def _zip_members(zf: zipfile.ZipFile) -> Iterator[Member]:
    for info in zf.infolist():
        _check_name(info.filename)
        mode = info.external_attr >> 16  # unix mode, 0 for archives made on Windows
        kind = stat.S_IFMT(mode)
        if kind == stat.S_IFLNK:
            raise UnsafeArchiveError(f"archive member {info.filename!r} is a symlink; links are refused")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise UnsafeArchiveError(f"archive member {info.filename!r} is a device or special file")
        yield Member(info.filename, 0 if info.is_dir() else info.file_size, info.is_dir(), info)


def _claims(archive: Path) -> str | None:
    """What the first bytes of ``archive`` say it is (zip, gzip ...), or None."""
    with open(archive, "rb") as fh:
        head = fh.read(8)
    return next((kind for magic, kind in _MAGIC.items() if head.startswith(magic)), None)


def _damaged(archive: Path, exc: BaseException, member: str | None = None) -> BadArchiveError:
    """One message for every way a damaged archive fails: which file, what, and what to do."""
    where = f" (member {member!r})" if member else ""
    what = str(exc) or type(exc).__name__
    return BadArchiveError(f"{archive} is truncated or damaged{where}: {what}; {_REDOWNLOAD}")


def _open(archive: Path) -> tarfile.TarFile | zipfile.ZipFile:
    """Open by content, not by suffix (downloads are often saved under neutral names)."""
    try:
        if zipfile.is_zipfile(archive):
            return zipfile.ZipFile(archive)
        if tarfile.is_tarfile(archive):
            return tarfile.open(archive, mode="r:*")
    except _DAMAGE as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise  # cannot read the file at all (missing, permission): its own message says so
        raise _damaged(archive, exc) from exc
    kind = _claims(archive)
    if kind == "split zip":
        raise BadArchiveError(
            f"{archive} is one volume of a split (multi-volume) zip, which cannot be read on its "
            "own: join the volumes (zip -s 0 first.zip --out whole.zip) and use that file, or "
            "extract them yourself and give the folder as a file: URL")
    if kind is not None:
        raise BadArchiveError(f"{archive} starts like a {kind} file but cannot be read as an "
                              f"archive: it is truncated or damaged; {_REDOWNLOAD}")
    raise BadArchiveError(f"{archive} is neither a zip nor a (gz/bz2/xz) tar archive; check the "
                          f"configured path, or {_REDOWNLOAD}")


def _read_members(archive: Path, arc: tarfile.TarFile | zipfile.ZipFile) -> list[Member]:
    """:func:`_members`, with a truncated archive (tar reads its whole stream here) named."""
    try:
        return _members(arc)
    except _DAMAGE as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise
        raise _damaged(archive, exc) from exc


def _members(arc: tarfile.TarFile | zipfile.ZipFile) -> list[Member]:
    if isinstance(arc, zipfile.ZipFile):
        return list(_zip_members(arc))
    return list(_tar_members(arc))


def list_members(archive: Path) -> list[Member]:
    """All members of ``archive``, each checked; raises UnsafeArchiveError on the first bad one."""
    archive = Path(archive)
    with _open(archive) as arc:
        return _read_members(archive, arc)


def _check_space(where: Path, needed: int, archive: Path) -> None:
    free = shutil.disk_usage(where).free
    if needed > free:
        raise InsufficientSpaceError(
            f"not enough disk space to extract {archive} into {where}: "
            f"need {needed} bytes, {free} bytes free"
        )


def _extract_member(arc: tarfile.TarFile | zipfile.ZipFile, member: Member, dest: Path) -> None:
    """Write one member below ``dest`` (names were checked beforehand)."""
    if isinstance(arc, zipfile.ZipFile):
        arc.extract(member.ref, dest)  # type: ignore[arg-type]
    elif hasattr(tarfile, "data_filter"):
        arc.extract(member.ref, dest, filter="data")  # type: ignore[arg-type]
    else:  # pragma: no cover - Python < 3.11.4; our own checks above still apply
        arc.extract(member.ref, dest)  # type: ignore[arg-type]


def _inside(path: Path, root: Path) -> bool:
    """Final guard after the name checks: the real path of ``path`` lies under ``root``."""
    real_root = os.path.realpath(root)
    return os.path.commonpath([os.path.realpath(path), real_root]) == real_root


def _extraction_error(archive: Path, where: Path, member: str, exc: BaseException) -> Exception:
    """The clear error for a member that failed to extract (``exc`` itself when unexpected)."""
    if isinstance(exc, getattr(tarfile, "FilterError", ())):
        return UnsafeArchiveError(f"{archive}: archive member {member!r} refused: {exc}")
    if isinstance(exc, OSError) and exc.errno in _FULL:
        full = InsufficientSpaceError(
            f"the disk filled up while extracting {archive} into {where} (at member {member!r}): "
            f"{os.strerror(exc.errno)}; the partial extraction was removed. Free space there (or "
            "point the results folder at a larger disk) and rerun")
        full.errno = exc.errno  # still recognisable as ENOSPC/EDQUOT by errno
        return full
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc  # permission, read-only folder ...: the OSError names the path already
    return _damaged(archive, exc, member)


def safe_extract(archive: Path, target: Path, *, min_free_bytes_factor: float = 1.1) -> Path:
    """Extract ``archive`` into the directory ``target`` safely and atomically; return ``target``.

    An existing ``target`` is taken as complete (only a finished extraction is renamed there).
    Raises :class:`UnsafeArchiveError` naming the first unsafe member (before writing anything),
    :class:`InsufficientSpaceError` when ``sum(member sizes) * min_free_bytes_factor``
    exceeds the free space of ``target``'s filesystem or the disk fills up during extraction,
    and :class:`BadArchiveError` for a truncated or damaged archive. On any failure nothing is
    left of the extraction.
    """
    archive, target = Path(archive), Path(target)
    if target.exists():
        log.info("%s already extracted, leaving it untouched", target)
        return target
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    for leftover in parent.glob(f".{target.name}.partial-*"):
        log.warning("removing leftover partial extraction %s", leftover)
        shutil.rmtree(leftover, ignore_errors=True)

    with _open(archive) as arc:
        members = _read_members(archive, arc)  # every member checked before anything is written
        needed = int(sum(m.size for m in members) * min_free_bytes_factor)
        _check_space(parent, needed, archive)
        partial = parent / f".{target.name}.partial-{secrets.token_hex(6)}"
        partial.mkdir()
        try:
            for member in bar(members, desc=f"extract {archive.name}", unit="file"):
                if not _inside(partial / member.name, partial):
                    raise UnsafeArchiveError(f"archive member {member.name!r} escapes the target")
                try:
                    _extract_member(arc, member, partial)
                except _DAMAGE as exc:
                    raise _extraction_error(archive, parent, member.name, exc) from exc
            os.replace(partial, target)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    log.info("extracted %d members of %s into %s", len(members), archive, target)
    return target
