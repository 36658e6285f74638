"""One download as the config describes it: source + path -> verified file, pinned in the lock file.

This is what ``drct download --source ... --path ...`` (and so the ``fetch_archive`` rule) runs:

1. the URL comes from :func:`drct.data.sources.resolve_url` (a mirror changes ``base_url`` only);
2. for a ``modelscope`` source the path must be in the dataset's recorded file listing
   (:mod:`drct.data.listing`); the size and sha256 the hub lists become expected values;
3. a ``file:`` URL naming a folder is snapshotted and pinned (:mod:`drct.data.local`);
   anything else is fetched resumably and verified (:func:`drct.data.download.fetch_locked`).

Expected values, strongest first: the configured sha256, the lock file's (both must agree), the
hub's listing (must agree with them); a published md5 (COCO) is checked on top; the configured
size, the lock's and the listing's must agree too. A disagreement is an error before any byte
is fetched, because one of the committed files is then stale.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from drct.data.download import (
    ChecksumError,
    LockMismatchError,
    fetch_locked,
    keep_aside,
    load_lock,
    local_path_from_url,
    record_lock,
)
from drct.data.listing import ensure_listing
from drct.data.local import is_folder_snapshot, read_snapshot, snapshot_folder
from drct.data.sources import Source, resolve_url

__all__ = ["acquire"]

log = logging.getLogger(__name__)


def _agree(what: str, key: str, values: Mapping[str, Any]) -> Any:
    """The single value all given (non-None) sources agree on; LockMismatchError otherwise."""
    given = {k: v for k, v in values.items() if v is not None}
    if len(set(given.values())) > 1:
        listed = ", ".join(f"{k}: {v}" for k, v in given.items())
        raise LockMismatchError(f"{key}: the expected {what} disagree ({listed}); one of these "
                                "committed files is stale, fix it before downloading")
    return next(iter(given.values()), None)


def _acquire_folder(url: str, dest: Path, lock: Path, key: str, workers: int) -> str:
    """Snapshot a local folder into ``dest`` and pin its digest like an archive's sha256."""
    entry = load_lock(lock).get(key)
    if dest.exists():
        if not is_folder_snapshot(dest):
            raise ChecksumError(f"{dest} exists but is not a folder snapshot; move it away")
        snap = read_snapshot(dest)
        digest, total = snap["digest"], snap["bytes"]
    else:
        source = local_path_from_url(url)
        partial = dest.with_name(dest.name + ".part")
        digest, total = snapshot_folder(source, partial, workers=workers)
        if entry is not None and (entry["sha256"], entry.get("size", total)) != (digest, total):
            bad = keep_aside(partial, dest)
            raise ChecksumError(
                f"local folder {source} does not match the lock file {lock} entry {key!r}: pinned "
                f"digest {entry['sha256']} ({entry.get('size')} bytes), found {digest} ({total} "
                f"bytes). Its snapshot was kept aside as {bad}. If the folder changed on purpose, "
                "edit the lock entry."
            )
        partial.replace(dest)
    if entry is None:
        record_lock(lock, key, digest, total, url)
        log.warning("recorded digest %s of local folder %s for %r in %s: commit this file",
                    digest, url, key, lock)
    elif entry["sha256"] != digest:
        raise LockMismatchError(f"{key}: snapshot {dest} has digest {digest}, the lock pins "
                                f"{entry['sha256']}; delete {dest} to re-verify the folder")
    return digest


def acquire(
    source: Source | Mapping[str, Any],
    path: str,
    dest: Path,
    lock: Path,
    key: str,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    size: int | None = None,
    workers: int = 4,
    **fetch_kwargs: Any,
) -> str:
    """Fetch ``path`` of ``source`` to ``dest``, verified and pinned under ``key``; return its sha256
    (for a local folder: its snapshot digest)."""
    if not isinstance(source, Source):
        source = Source.from_config(source)
    dest, lock = Path(dest), Path(lock)
    url = resolve_url(source, path)
    if urllib.parse.urlsplit(url).scheme == "file" and local_path_from_url(url).is_dir():
        return _acquire_folder(url, dest, lock, key, workers)
    listed_sha = listed_size = None
    pinned = load_lock(lock).get(key) or {}
    if source.type == "modelscope" and not (dest.exists() and pinned):
        # a file already fetched and pinned was checked against the listing when it was fetched;
        # it is verified against the lock below, so an offline rerun needs no hub access
        retry = {k: fetch_kwargs[k] for k in ("retries", "backoff", "timeout") if k in fetch_kwargs}
        listing = ensure_listing(source, **retry)
        entry = listing.entry(path)  # NotListedError (with suggestions) when the name is wrong
        listed_sha, listed_size = entry.get("sha256"), entry.get("size")
    expected_sha = _agree("sha256", key, {"config": sha256.lower() if sha256 else None,
                                          "lock file": pinned.get("sha256"),
                                          "hub listing": listed_sha})
    expected_size = _agree("sizes", key, {"config": size, "lock file": pinned.get("size"),
                                          "hub listing": listed_size})
    log.info("%s: %s -> %s (expected sha256 %s, size %s%s)", key, url, dest,
             expected_sha or "unknown: recorded on first download", expected_size,
             f", md5 {md5}" if md5 else "")
    return fetch_locked(url, dest, lock, key, sha256=expected_sha, size=expected_size, md5=md5,
                        **fetch_kwargs)
