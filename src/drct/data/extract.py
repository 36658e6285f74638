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
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import stat
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

__all__ = ["UnsafeArchiveError", "InsufficientSpaceError", "safe_extract", "list_members"]

log = logging.getLogger(__name__)

# tqdm in a Snakemake log file (not a terminal): one line every 30 s, not ten per second
_MININTERVAL = 1.0 if sys.stderr.isatty() else 30.0

_DRIVE = re.compile(r"^[A-Za-z]:")


class UnsafeArchiveError(ValueError):
    """A member would escape the target or is a link/device; nothing was extracted."""


class InsufficientSpaceError(OSError):
    """Not enough free disk space for the extracted archive."""


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


def _open(archive: Path) -> tarfile.TarFile | zipfile.ZipFile:
    """Open by content, not by suffix (downloads are often saved under neutral names)."""
    if zipfile.is_zipfile(archive):
        return zipfile.ZipFile(archive)
    if tarfile.is_tarfile(archive):
        return tarfile.open(archive, mode="r:*")
    raise ValueError(f"{archive} is neither a zip nor a (gz/bz2/xz) tar archive")


def _members(arc: tarfile.TarFile | zipfile.ZipFile) -> list[Member]:
    if isinstance(arc, zipfile.ZipFile):
        return list(_zip_members(arc))
    return list(_tar_members(arc))


def list_members(archive: Path) -> list[Member]:
    """All members of ``archive``, each checked; raises UnsafeArchiveError on the first bad one."""
    with _open(Path(archive)) as arc:
        return _members(arc)


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


def safe_extract(archive: Path, target: Path, *, min_free_bytes_factor: float = 1.1) -> Path:
    """Extract ``archive`` into the directory ``target`` safely and atomically; return ``target``.

    An existing ``target`` is taken as complete (only a finished extraction is renamed there).
    Raises :class:`UnsafeArchiveError` naming the first unsafe member (before writing anything)
    and :class:`InsufficientSpaceError` when ``sum(member sizes) * min_free_bytes_factor``
    exceeds the free space of ``target``'s filesystem.
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
        members = _members(arc)  # every member checked before anything is written
        needed = int(sum(m.size for m in members) * min_free_bytes_factor)
        _check_space(parent, needed, archive)
        partial = parent / f".{target.name}.partial-{secrets.token_hex(6)}"
        partial.mkdir()
        try:
            for member in tqdm(members, desc=f"extract {archive.name}", unit="file", leave=False,
                               mininterval=_MININTERVAL):
                if not _inside(partial / member.name, partial):
                    raise UnsafeArchiveError(f"archive member {member.name!r} escapes the target")
                _extract_member(arc, member, partial)
            os.replace(partial, target)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    log.info("extracted %d members of %s into %s", len(members), archive, target)
    return target
