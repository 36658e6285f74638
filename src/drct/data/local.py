"""User-provided local folders as download targets: verified and pinned, then linked, never moved.

GenImage has no scriptable public URL and its archives are split multi-volume zips
(``imagenet_ai_0419_sdv4.zip`` + ``.z01`` ...) that Python cannot read, so many users hold it
already extracted. A ``file:`` URL that names a *folder* is therefore accepted: the download
step writes a *folder snapshot* (JSON: every regular file's relative path, size and sha256, plus
a digest over all of them) as the download's output, and that digest is pinned in the lock file
exactly like an archive's sha256, so a later run on a changed folder is an error. The prepare
step then links the snapshot's files into its staging area (hard links on the same filesystem,
copies otherwise, after a disk-space check) instead of extracting, so layout normalisation
(which moves files) never touches the user's folder. Symlinks inside the folder are refused, as
in archives.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import secrets
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from drct.data.extract import InsufficientSpaceError, UnsafeArchiveError
from drct.io import atomic_write_text, sha256_file

__all__ = ["FOLDER_FORMAT", "is_folder_snapshot", "link_snapshot", "read_snapshot", "snapshot_folder"]

log = logging.getLogger(__name__)

_MININTERVAL = 1.0 if sys.stderr.isatty() else 30.0
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
    so it changes when any file is added, removed, renamed or altered.
    """
    source = Path(source).resolve()
    if not source.is_dir():
        raise FileNotFoundError(f"no such folder: {source}")
    rels = _walk(source)
    if not rels:
        raise ValueError(f"folder {source} holds no files")
    paths = [source / r for r in rels]
    bar = dict(total=len(paths), desc=f"hash {source.name}", unit="file", leave=False,
               mininterval=_MININTERVAL)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        shas = list(tqdm(pool.map(sha256_file, paths), **bar))
    sizes = [p.stat().st_size for p in paths]
    digest = hashlib.sha256()
    for rel, size, sha in zip(rels, sizes, shas):
        digest.update(f"{sha}  {size}  {rel}\n".encode())
    total = sum(sizes)
    # "format" first and one file per line: recognisable from the first bytes, diffable
    lines = [f'{{"format": "{FOLDER_FORMAT}", "root": {json.dumps(str(source))}, '
             f'"digest": "{digest.hexdigest()}", "bytes": {total}, "files": [']
    lines += [json.dumps([rel, size, sha]) + ("," if i < len(rels) - 1 else "")
              for i, (rel, size, sha) in enumerate(zip(rels, sizes, shas))]
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
    """The snapshot as a dict (``root``, ``digest``, ``bytes``, ``files`` = [[rel, size, sha]])."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.get("format") != FOLDER_FORMAT:
        raise ValueError(f"{path} is not a {FOLDER_FORMAT} snapshot")
    return data


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
    have its recorded size (a full re-hash is what the manifest step does anyway); missing or
    resized files are listed in one error. Links need the same filesystem; otherwise files are
    copied after a disk-space check.
    """
    snapshot, target = Path(snapshot), Path(target)
    data = read_snapshot(snapshot)
    root = Path(data["root"])
    if target.exists():
        log.info("%s already materialised, leaving it untouched", target)
        return target
    problems = []
    for rel, size, _sha in data["files"]:
        path = root / rel
        if not path.is_file():
            problems.append(f"missing: {path}")
        elif path.stat().st_size != size:
            problems.append(f"size changed: {path} ({size} -> {path.stat().st_size} bytes)")
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise ValueError(f"local folder {root} changed since it was verified ({snapshot}):\n  "
                         f"{shown}{more}\nRe-verify it by deleting {snapshot} and rerunning the download.")
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
        for rel, _size, _sha in tqdm(data["files"], desc=f"link {root.name}", unit="file",
                                     leave=False, mininterval=_MININTERVAL):
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
