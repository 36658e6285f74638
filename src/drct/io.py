"""Atomic file writes, JSON/CSV helpers and sha256.

Every output of the pipeline is written through these helpers so that a file either exists
complete or does not exist at all: Snakemake (and our own "already done?" checks) treat
existence as completion, so a half-written file left by a crash would be silently reused.
The trick is always the same: write to a temporary name in the *same directory* (same
filesystem, so ``os.replace`` is an atomic rename) and rename onto the target at the end.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_path",
    "leftover_temporaries",
    "atomic_write_bytes",
    "atomic_write_text",
    "sha256_file",
    "write_csv",
    "write_json",
]


_TEMP_TOKEN_BYTES = 6
#: ``.<target name>.tmp-<12 hex digits>``: the temporary of one atomic write (see ``_temp_sibling``)
_TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.tmp-[0-9a-f]{%d}$" % (2 * _TEMP_TOKEN_BYTES))


def _temp_sibling(path: Path, tag: str = "tmp") -> Path:
    """A hidden, unique name next to ``path`` (same filesystem, so the final rename is atomic)."""
    return path.parent / f".{path.name}.{tag}-{secrets.token_hex(_TEMP_TOKEN_BYTES)}"


def leftover_temporaries(directory: str | os.PathLike[str], targets: set[str]) -> list[Path]:
    """Temporary files of atomic writes to ``directory/<name>`` (``name`` in ``targets``) left by a kill.

    A killed writer never reaches its cleanup, so its ``.<name>.tmp-<hex>`` stays. Only plain files
    whose name is exactly that pattern for one of ``targets`` are listed: a caller owning those
    targets (one shard's outputs in a folder that several shards share) can delete them without
    touching other writers' files. Sorted; empty when ``directory`` does not exist.
    """
    found = []
    try:
        entries = os.scandir(directory)
    except FileNotFoundError:
        return []
    with entries:
        for entry in entries:
            match = _TEMP_NAME.match(entry.name)
            if match and match["target"] in targets and entry.is_file(follow_symlinks=False):
                found.append(Path(entry.path))
    return sorted(found)


def _remove(path: Path) -> None:
    """Remove a file or a directory tree if present; used for cleaning up after failures."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds.

    The caller creates the temporary file (or directory) itself. On an exception the temporary
    path is removed and ``path`` is left as it was, so readers never see a partial result. A
    directory replaces an existing directory too (``os.replace`` alone refuses a non-empty one).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_sibling(target)
    try:
        yield tmp
        _replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise


def _replace(tmp: Path, target: Path) -> None:
    """``os.replace``; onto an existing directory, the old tree is renamed aside first and deleted after."""
    if not (tmp.is_dir() and target.is_dir() and not target.is_symlink()):
        os.replace(tmp, target)
        return
    old = _temp_sibling(target, "old")
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _fsync_dir(directory: Path) -> None:
    """Persist a rename: without this a power cut can lose the new directory entry."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename). Returns the path."""
    target = Path(path)
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    _fsync_dir(target.parent)
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically. Returns the path."""
    return atomic_write_bytes(path, text.encode(encoding))


def _json_default(obj: Any) -> Any:
    """Serialise the few non-JSON types we produce (paths, numpy/pandas scalars)."""
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "item"):  # numpy / pandas scalar
        return obj.item()
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable")


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as JSON atomically, with sorted keys and indent 2 (stable, diffable)."""
    text = json.dumps(obj, sort_keys=True, indent=2, default=_json_default) + "\n"
    return atomic_write_text(path, text)


def write_csv(df: Any, path: str | os.PathLike[str]) -> Path:
    """Write a pandas DataFrame as CSV atomically (no index, ``\\n`` line endings)."""
    target = Path(path)
    with atomic_path(target) as tmp:
        df.to_csv(tmp, index=False, lineterminator="\n")
    return target


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in ``chunk``-byte blocks (constant memory for huge archives)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
