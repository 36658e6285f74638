"""User-provided local folders as download targets: verified and pinned, then linked, never moved.

GenImage has no scriptable public URL and its archives are split multi-volume zips
(``imagenet_ai_0419_sdv4.zip`` + ``.z01`` ...) that Python cannot read, so many users hold it
already extracted. A ``file:`` URL that names a *folder* is therefore accepted: the download
step writes a *folder snapshot* (JSON: every regular file's relative path, size, sha256 and
modification time, plus a digest over paths, sizes and hashes) as the download's output, and
that digest is pinned in the lock file exactly like an archive's sha256, so a later run on a
changed folder is an error. The prepare step then links the snapshot's files into its staging
area (hard links on the same filesystem, copies otherwise, after a disk-space check) instead of
extracting, so layout normalisation (which moves files) never touches the user's folder.
Symlinks inside the folder are refused, as in archives.

A folder can change after its snapshot was taken, so it is checked twice: :func:`link_snapshot`
compares every file's size and mtime with the snapshot and re-hashes those whose mtime moved
(a same-size edit), and after the manifest has hashed every image anyway, :func:`check_pinned`
compares those hashes with the snapshot's (which also catches an edit that kept the mtime, or
one made while the step ran, since a hard link *is* the user's file). Either way a
:class:`FolderChangedError` names the changed files, so the manifest never contradicts the pin.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import secrets
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drct.data.extract import InsufficientSpaceError, UnsafeArchiveError
from drct.data.progress import bar
from drct.errors import DrctError
from drct.io import atomic_write_text, sha256_file

__all__ = [
    "FOLDER_FORMAT", "FolderChangedError", "check_pinned", "is_folder_snapshot", "link_snapshot",
    "pinned_hashes", "read_snapshot", "snapshot_folder",
]

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

_SHOWN = 20  # changed files listed in one error; the rest are counted
FOLDER_FORMAT = "drct-folder/1"
_MAGIC = b'{"format": "' + FOLDER_FORMAT.encode() + b'"'


def _walk(root: Path) -> list[str]:
    """Relative POSIX paths of every regular file under ``root``, sorted; links are refused."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in [*dirnames, *filenames]:
            full = Path(dirpath) / name
            if full.is_symlink():
                raise UnsafeArchiveError(f"{full} is a symlink; links are refused in local folders")
        for name in sorted(filenames):
            full = Path(dirpath) / name
            if not full.is_file():
                raise UnsafeArchiveError(f"{full} is not a regular file")
            found.append(full.relative_to(root).as_posix())
    return sorted(found)


def snapshot_folder(source: Path, dest: Path, *, workers: int = 4) -> tuple[str, int]:
    """Hash every file of ``source`` and write the snapshot to ``dest``; return (digest, bytes).

    The digest is the sha256 of the lines ``<sha256>  <size>  <relative path>`` in path order,
    so it changes when any file is added, removed, renamed or altered. Each file's mtime (ns) is
    recorded too, outside the digest (a copy of the folder elsewhere has other mtimes but the
    same content, hence the same pin): it tells :func:`link_snapshot` which files to re-hash.
    """
    source = Path(source).resolve()
    if not source.is_dir():
        raise FileNotFoundError(f"no such folder: {source}")
    rels = _walk(source)
    if not rels:
        raise ValueError(f"folder {source} holds no files")
    paths = [source / r for r in rels]
    # stat before hashing: an edit during hashing then shows as a changed mtime later
    stats = [p.stat() for p in paths]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        shas = list(bar(pool.map(sha256_file, paths), total=len(paths),
                        desc=f"hash {source.name}", unit="file"))
    sizes = [st.st_size for st in stats]
    digest = hashlib.sha256()
    for rel, size, sha in zip(rels, sizes, shas):
        digest.update(f"{sha}  {size}  {rel}\n".encode())
    total = sum(sizes)
    # "format" first and one file per line: recognisable from the first bytes, diffable
    lines = [f'{{"format": "{FOLDER_FORMAT}", "root": {json.dumps(str(source))}, '
             f'"digest": "{digest.hexdigest()}", "bytes": {total}, "files": [']
    lines += [json.dumps([rel, size, sha, st.st_mtime_ns]) + ("," if i < len(rels) - 1 else "")
              for i, (rel, size, sha, st) in enumerate(zip(rels, sizes, shas, stats))]
    lines.append("]}")
    atomic_write_text(Path(dest), "\n".join(lines) + "\n")
    log.info("snapshot of %s: %d files, %d bytes, digest %s", source, len(rels), total,
             digest.hexdigest())
    return digest.hexdigest(), total


def is_folder_snapshot(path: Path) -> bool:
    """True if ``path`` is a snapshot written by :func:`snapshot_folder` (checked by content)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(len(_MAGIC)) == _MAGIC
    except (OSError, IsADirectoryError):
        return False


def read_snapshot(path: Path) -> dict[str, Any]:
    """The snapshot as a dict (``root``, ``digest``, ``bytes``, ``files`` = [[rel, size, sha,
    mtime_ns]]; snapshots written before mtimes were recorded have no ``mtime_ns``)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.get("format") != FOLDER_FORMAT:
        raise ValueError(f"{path} is not a {FOLDER_FORMAT} snapshot")
    return data


class FolderChangedError(DrctError, ValueError):
    """A pinned local folder's files differ from its snapshot (missing, resized or edited)."""


def _changed_error(where: str, problems: list[str]) -> FolderChangedError:
    shown = "\n  ".join(problems[:_SHOWN])
    more = f"\n  ... and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
    return FolderChangedError(
        f"{where} changed since it was verified:\n  {shown}{more}\nRestore the files, or, if "
        "the change is intended, delete the snapshot and its lock entry and rerun the download "
        "to pin the folder anew.")


def _changes(root: Path, files: list[list[Any]]) -> list[str]:
    """One line per file of the snapshot that is missing, resized or edited.

    Size and mtime are compared first (cheap); a file of the same size whose mtime moved is
    re-hashed, so a same-size edit is found and a mere ``touch`` is not an error. A snapshot
    without mtimes leaves same-size files to :func:`check_pinned`.
    """
    problems = []
    for rel, size, sha, *mtime in bar(files, desc=f"check {root.name}", unit="file"):
        path = root / rel
        try:
            st = path.stat()
        except FileNotFoundError:
            problems.append(f"missing: {path}")
            continue
        if st.st_size != size:
            problems.append(f"size changed: {path} ({size} -> {st.st_size} bytes)")
        elif mtime and st.st_mtime_ns != mtime[0]:
            now = sha256_file(path)
            if now != sha:
                problems.append(f"content changed (same size, modified since): {path} "
                                f"(sha256 {sha} -> {now})")
    return problems


def _link_or_copy(src: Path, dst: Path, allow_copy: bool) -> bool:
    """Hard-link ``src`` to ``dst``; copy when linking is impossible. True if it was copied."""
    try:
        os.link(src, dst)
        return False
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP) or not allow_copy:
            raise
    shutil.copy2(src, dst)
    return True


def link_snapshot(snapshot: Path, target: Path, *, min_free_bytes_factor: float = 1.1) -> Path:
    """Materialise the snapshot's files under ``target/<folder name>/`` atomically; return target.

    The folder's own name is kept as the top level, as an archive of that folder would have it,
    so ``generators`` folders are the same for a folder and for its zip. Every file must still
    have its recorded size, and one whose mtime moved its recorded sha256; missing, resized or
    edited files are listed in one :class:`FolderChangedError`. Links need the same filesystem;
    otherwise files are copied after a disk-space check.
    """
    snapshot, target = Path(snapshot), Path(target)
    data = read_snapshot(snapshot)
    root = Path(data["root"])
    if target.exists():
        log.info("%s already materialised, leaving it untouched", target)
        return target
    problems = _changes(root, data["files"])
    if problems:
        raise _changed_error(f"local folder {root} (snapshot {snapshot})", problems)
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    partial = parent / f".{target.name}.partial-{secrets.token_hex(6)}"
    base = partial / root.name
    copied = 0
    try:
        base.mkdir(parents=True)
        same_fs = os.stat(root).st_dev == os.stat(parent).st_dev
        if not same_fs:
            needed = int(data["bytes"] * min_free_bytes_factor)
            free = shutil.disk_usage(parent).free
            if needed > free:
                raise InsufficientSpaceError(
                    f"{root} is on another filesystem than {parent}, so its files must be copied: "
                    f"need {needed} bytes, {free} bytes free"
                )
        for rel, *_ in bar(data["files"], desc=f"link {root.name}", unit="file"):
            dst = base / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            copied += _link_or_copy(root / rel, dst, allow_copy=True)
        os.replace(partial, target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    how = f"{copied} copied (other filesystem)" if copied else "hard-linked"
    log.info("materialised %d files of %s into %s (%s)", len(data["files"]), root, target, how)
    return target


#: (st_dev, st_ino) of a materialised file -> (the user's file, its pinned sha256)
Pins = dict[tuple[int, int], tuple[str, str]]


def pinned_hashes(snapshot: Path, target: Path) -> Pins:
    """The pinned sha256 of every file :func:`link_snapshot` put under ``target``, by inode.

    Keyed by inode because the prepare step then *moves* the files into the canonical layout
    (a rename keeps the inode), so :func:`check_pinned` can find each image's pin again.
    """
    data = read_snapshot(Path(snapshot))
    root = Path(data["root"])
    base = Path(target) / root.name
    pins: Pins = {}
    for rel, _size, sha, *_ in data["files"]:
        st = (base / rel).stat()
        pins[(st.st_dev, st.st_ino)] = (str(root / rel), sha)
    return pins


def check_pinned(manifest: pd.DataFrame, pins: Pins) -> None:
    """Raise :class:`FolderChangedError` if a manifest row's sha256 differs from its pin.

    ``manifest`` is :func:`drct.data.manifest.build_manifest`'s frame (``abspath``, ``sha256``);
    rows whose file came from no snapshot (an archive's) are not in ``pins`` and are skipped.
    """
    if not pins:
        return
    problems = []
    for path, sha in zip(manifest["abspath"], manifest["sha256"]):
        st = os.stat(path)
        pinned = pins.get((st.st_dev, st.st_ino))
        if pinned is not None and pinned[1] != sha:
            problems.append(f"content changed: {pinned[0]} (sha256 {pinned[1]} -> {sha})")
    if problems:
        raise _changed_error("a pinned local folder", problems)
