"""Resumable, checksummed downloads (http, https, file) and the data lock file.

Why not ``pooch``: its ``HTTPDownloader`` opens the output with ``"w+b"`` and sends a plain GET
without a ``Range`` header, and ``retrieve``'s ``retry_if_failed`` starts every retry from byte 0.
For the paper-scale archives (DRCT-2M from ModelScope, MSCOCO 2017, GenImage: hundreds of GB) a
connection dropped at 90 % must not cost the whole transfer again, so this module keeps the bytes
already received in ``<dest>.part`` and asks for the rest with ``Range: bytes=N-``. A server that
answers ``206`` is resumed; one that answers ``200`` (no range support, or ``If-Range`` says the
file changed) is restarted cleanly from zero. The finished file is verified (size and sha256)
*before* it is renamed onto ``dest``, so ``dest`` existing means "complete and verified".

The lock file pins the sha256 of every archive the first time it is downloaded completely, so a
silently changed upstream file (or a corrupted mirror) is an error on every later run instead of
a quiet change of the data. Format (JSON, under version control)::

    {
      "format": "drct-data-lock/1",
      "entries": {
        "<key>": {"sha256": "<hex>", "size": <bytes>, "url": "<url>", "recorded": "<UTC ISO time>"}
      }
    }
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import logging
import os
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from tqdm.auto import tqdm

from drct.io import sha256_file, write_json

__all__ = [
    "ChecksumError",
    "DownloadError",
    "LOCK_FORMAT",
    "LockMismatchError",
    "fetch",
    "fetch_locked",
    "load_lock",
    "local_path_from_url",
    "record_lock",
]

log = logging.getLogger(__name__)

# tqdm in a Snakemake log file (not a terminal): one line every 30 s, not ten per second
_MININTERVAL = 1.0 if sys.stderr.isatty() else 30.0

LOCK_FORMAT = "drct-data-lock/1"
_CHUNK = 1 << 20
_HTTP_CHUNK = 1 << 16  # small: bytes of a chunk cut off by a dropped connection are lost
_MAX_DELAY = 300.0


class DownloadError(RuntimeError):
    """A download failed for good (HTTP 4xx, retries exhausted, bad URL)."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not match the expected size or sha256."""


class LockMismatchError(RuntimeError):
    """The lock file pins a different sha256/size than the one found or configured."""


class _Retryable(Exception):
    """Internal: a transient failure (5xx, 429, bad range answer) worth another attempt."""


# --------------------------------------------------------------------------------------------
# URLs


def local_path_from_url(url: str) -> Path:
    """Path of a ``file:`` URL: ``file:relative/path`` (against the cwd) or ``file:///abs``.

    ``file://host/...`` with a host other than ``localhost`` is refused: ``file://data/x`` is a
    common typo for ``file:data/x`` and would otherwise silently mean host ``data``.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "file":
        raise ValueError(f"not a file URL: {url!r}")
    if parts.netloc not in ("", "localhost"):
        raise ValueError(
            f"file URL {url!r} names host {parts.netloc!r}; use file:relative/path or "
            "file:///absolute/path"
        )
    raw = urllib.parse.unquote(parts.path)
    if not raw:
        raise ValueError(f"file URL without a path: {url!r}")
    path = Path(raw)
    return path if path.is_absolute() else Path.cwd() / path


# --------------------------------------------------------------------------------------------
# fetch


def _part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _meta_path(dest: Path) -> Path:
    """Sidecar remembering which URL/version the bytes in ``.part`` came from."""
    return dest.with_name(dest.name + ".part.json")


def _discard_partial(dest: Path) -> None:
    for p in (_part_path(dest), _meta_path(dest)):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _normalise_sha(sha256: str | None) -> str | None:
    if sha256 is None or str(sha256).strip() == "":
        return None
    sha = str(sha256).strip().lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return sha


def _verify(url: str, path: Path, sha256: str | None, size: int | None) -> str:
    """Check size, then sha256, of ``path``; return its sha256. Raises ChecksumError."""
    got_size = path.stat().st_size
    if size is not None and got_size != size:
        raise ChecksumError(
            f"size mismatch for {url}: expected {size} bytes, got {got_size} bytes"
        )
    got = sha256_file(path)
    if sha256 is not None and got != sha256:
        raise ChecksumError(f"sha256 mismatch for {url}: expected {sha256}, got {got}")
    return got


def _existing_ok(dest: Path, sha256: str | None, size: int | None) -> str | None:
    """sha256 of an already-present ``dest`` if it can be kept, else None (after removing it)."""
    got_size = dest.stat().st_size
    if size is not None and got_size != size:
        log.warning("%s has %d bytes, expected %d: downloading again", dest, got_size, size)
        dest.unlink()
        return None
    got = sha256_file(dest)
    if sha256 is not None and got != sha256:
        log.warning("%s has sha256 %s, expected %s: downloading again", dest, got, sha256)
        dest.unlink()
        return None
    log.info("%s already present (sha256 %s), not downloading", dest, got)
    return got


def fetch(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60,
    progress: bool = True,
) -> str:
    """Download ``url`` to ``dest`` and return the file's sha256.

    ``dest`` appears only once complete and verified against ``size``/``sha256`` (when given).
    An already-present ``dest`` that matches is returned without any network access. HTTP
    transfers resume from ``<dest>.part``; ``retries`` is the number of further attempts after
    the first one, spaced ``backoff * 2**k`` seconds apart (capped at 5 minutes). A size or
    checksum mismatch deletes the partial file and raises :class:`ChecksumError`.
    """
    dest = Path(dest)
    sha256 = _normalise_sha(sha256)
    if dest.exists():
        got = _existing_ok(dest, sha256, size)
        if got is not None:
            return got
    dest.parent.mkdir(parents=True, exist_ok=True)
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme == "file":
        _copy_local(url, dest, progress=progress)
    elif scheme in ("http", "https"):
        _download_http(
            url, dest, size=size, retries=retries, backoff=backoff, timeout=timeout,
            progress=progress,
        )
    else:
        raise DownloadError(f"unsupported URL scheme {scheme!r} in {url!r} (http, https, file)")
    part = _part_path(dest)
    try:
        got = _verify(url, part, sha256, size)
    except ChecksumError:
        _discard_partial(dest)
        raise
    os.replace(part, dest)
    _discard_partial(dest)
    log.info("downloaded %s -> %s (sha256 %s)", url, dest, got)
    return got


def _progress_bar(dest: Path, total: int | None, initial: int, enabled: bool) -> tqdm:
    return tqdm(
        total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024,
        desc=dest.name, disable=not enabled, leave=False, mininterval=_MININTERVAL,
    )


def _copy_local(url: str, dest: Path, *, progress: bool) -> None:
    """file:// 'download': a streamed copy into ``.part`` so verification works the same way."""
    source = local_path_from_url(url)
    if not source.is_file():
        raise DownloadError(f"{url}: no such file {source}")
    part = _part_path(dest)
    total = source.stat().st_size
    with open(source, "rb") as src, open(part, "wb") as out:
        with _progress_bar(dest, total, 0, progress) as bar:
            while block := src.read(_CHUNK):
                out.write(block)
                bar.update(len(block))


def _download_http(
    url: str, dest: Path, *, size: int | None, retries: int, backoff: float, timeout: float,
    progress: bool,
) -> None:
    """Run attempts until ``.part`` holds the whole body; resume between attempts."""
    attempt = 0
    with requests.Session() as session:
        while True:
            try:
                if _http_attempt(session, url, dest, size=size, timeout=timeout,
                                 progress=progress):
                    return
                reason = "body shorter than announced (connection closed early)"
            except _Retryable as exc:
                reason = str(exc)
            except (requests.ConnectionError, requests.Timeout,
                    requests.exceptions.ChunkedEncodingError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            attempt += 1
            if attempt > retries:
                raise DownloadError(
                    f"giving up on {url} after {retries} retries; last error: {reason}. "
                    f"Received bytes are kept in {_part_path(dest)} and a rerun resumes."
                )
            delay = min(backoff * 2 ** (attempt - 1), _MAX_DELAY)
            log.warning("%s: %s; retry %d/%d in %.1f s", url, reason, attempt, retries, delay)
            time.sleep(delay)


def _parse_content_range(value: str | None) -> tuple[int | None, int | None]:
    """``bytes START-END/TOTAL`` -> (START, TOTAL); ``bytes */TOTAL`` -> (None, TOTAL)."""
    if not value or not value.strip().lower().startswith("bytes"):
        return None, None
    spec = value.strip()[5:].strip()
    rng, _, total = spec.partition("/")
    start: int | None = None
    if rng != "*":
        with contextlib.suppress(ValueError):
            start = int(rng.split("-", 1)[0])
    tot: int | None = None
    if total and total != "*":
        with contextlib.suppress(ValueError):
            tot = int(total)
    return start, tot


def _validator(response: requests.Response) -> str | None:
    """A value for ``If-Range``: a strong ETag, else Last-Modified (weak ETags are not allowed)."""
    etag = response.headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return response.headers.get("Last-Modified")


def _read_meta(dest: Path) -> dict[str, Any] | None:
    try:
        return json.loads(_meta_path(dest).read_text())
    except (FileNotFoundError, ValueError):
        return None


def _http_attempt(
    session: requests.Session, url: str, dest: Path, *, size: int | None, timeout: float,
    progress: bool,
) -> bool:
    """One GET. Returns True when ``.part`` is complete, False when the body came up short."""
    part = _part_path(dest)
    offset = part.stat().st_size if part.exists() else 0
    meta = _read_meta(dest)
    if offset and (meta is None or meta.get("url") != url or (size is not None and offset > size)):
        log.info("%s: partial file is not from this URL/size, starting over", part)
        _discard_partial(dest)
        offset, meta = 0, None
    headers = {"Accept-Encoding": "identity"}  # ranges must address the stored bytes
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if meta and meta.get("validator"):
            headers["If-Range"] = meta["validator"]
    with session.get(url, headers=headers, stream=True, timeout=(timeout, timeout)) as r:
        status = r.status_code
        if status == 416 and offset:
            _, total = _parse_content_range(r.headers.get("Content-Range"))
            if total == offset:
                return True  # the previous attempt had in fact received everything
            _discard_partial(dest)
            raise _Retryable(f"HTTP 416 for range from {offset} (remote size {total})")
        if status >= 500 or status == 429:
            raise _Retryable(f"HTTP {status} {r.reason}")
        if status >= 400:
            raise DownloadError(f"{url}: HTTP {status} {r.reason}")
        if status == 206 and offset:
            start, total = _parse_content_range(r.headers.get("Content-Range"))
            if start != offset:
                _discard_partial(dest)
                raise _Retryable(f"asked for bytes from {offset}, server sent from {start}")
            mode = "ab"
            log.info("%s: resuming at byte %d", url, offset)
        elif status == 200:
            if offset:
                log.info("%s: server sent the whole file (no range support or file changed); "
                         "restarting from byte 0", url)
            offset, mode = 0, "wb"
            length = r.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            write_json(_meta_path(dest), {"url": url, "validator": _validator(r)})
        else:
            raise DownloadError(f"{url}: unexpected HTTP {status} {r.reason}")
        if size is not None and total is not None and total != size:
            _discard_partial(dest)
            raise ChecksumError(
                f"size mismatch for {url}: expected {size} bytes, server announces {total}"
            )
        with open(part, mode) as fh, _progress_bar(dest, total, offset, progress) as bar:
            for chunk in r.iter_content(chunk_size=_HTTP_CHUNK):
                fh.write(chunk)
                bar.update(len(chunk))
    got = part.stat().st_size
    want = total if total is not None else size
    if want is not None and got < want:
        return False
    if want is not None and got > want:
        _discard_partial(dest)
        raise _Retryable(f"received {got} bytes, more than the {want} announced")
    return True


# --------------------------------------------------------------------------------------------
# lock file


@contextlib.contextmanager
def _locked_dir(directory: Path) -> Iterator[None]:
    """Exclusive flock on the lock file's directory: parallel Snakemake download jobs each
    read-modify-write the same lock file, and without this one entry could be lost. Locking the
    directory (not a sidecar file) leaves no stray file next to a version-controlled one."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def load_lock(path: Path) -> dict[str, dict[str, Any]]:
    """Entries of the lock file as ``{key: {"sha256", "size", "url", "recorded"}}``; {} if absent."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise ValueError(f"lock file {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != LOCK_FORMAT:
        raise ValueError(f"lock file {path} is not a {LOCK_FORMAT} file")
    entries = data.get("entries", {})
    for key, entry in entries.items():
        if not isinstance(entry, dict) or _normalise_sha(entry.get("sha256")) is None:
            raise ValueError(f"lock file {path}: entry {key!r} has no valid sha256")
    return entries


def record_lock(path: Path, key: str, sha256: str, size: int, url: str) -> bool:
    """Pin ``key`` to ``sha256``/``size`` in the lock file. Returns True if a new entry was written.

    An existing entry with the same sha256 is left untouched (also if the URL moved: the bytes
    are what is pinned); one with a different sha256 or size raises :class:`LockMismatchError`.
    """
    path = Path(path)
    sha256 = _normalise_sha(sha256)
    if sha256 is None:
        raise ValueError("record_lock needs a sha256")
    with _locked_dir(path.parent):
        entries = load_lock(path)
        old = entries.get(key)
        if old is not None:
            _check_entry(path, key, old, sha256, size)
            return False
        entries[key] = {
            "sha256": sha256,
            "size": int(size),
            "url": url,
            "recorded": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        }
        write_json(path, {"format": LOCK_FORMAT, "entries": entries})
    return True


def _check_entry(path: Path, key: str, entry: dict[str, Any], sha256: str | None,
                 size: int | None) -> None:
    pinned = _normalise_sha(entry["sha256"])
    if sha256 is not None and pinned != sha256:
        raise LockMismatchError(
            f"{key}: lock file {path} pins sha256 {pinned}, got {sha256}. The upstream file or "
            "the configured checksum changed; if this is intended, edit the lock entry."
        )
    pinned_size = entry.get("size")
    if size is not None and pinned_size is not None and int(pinned_size) != int(size):
        raise LockMismatchError(
            f"{key}: lock file {path} pins size {pinned_size} bytes, got {size}"
        )


def fetch_locked(
    url: str,
    dest: Path,
    lock_path: Path,
    key: str,
    *,
    sha256: str | None = None,
    size: int | None = None,
    **fetch_kwargs: Any,
) -> str:
    """:func:`fetch` checked against (and recording into) the lock file.

    The expected sha256 is the configured one if given, else the lock entry's. A configured
    checksum that contradicts an existing lock entry is an error (both are under version
    control, so one of them is stale). Without any expected checksum the file is downloaded,
    and its sha256 is recorded in the lock on this first complete download.
    """
    dest = Path(dest)
    sha256 = _normalise_sha(sha256)
    entry = load_lock(lock_path).get(key)
    if entry is not None:
        _check_entry(Path(lock_path), key, entry, sha256, size)
        expected = sha256 or _normalise_sha(entry["sha256"])
        expected_size = size if size is not None else entry.get("size")
    else:
        expected, expected_size = sha256, size
    got = fetch(url, dest, sha256=expected, size=expected_size, **fetch_kwargs)
    if entry is None:
        if record_lock(lock_path, key, got, dest.stat().st_size, url):
            how = "verified against the configured sha256" if sha256 else "first download"
            log.warning("recorded sha256 %s for %r in %s (%s): commit this file",
                        got, key, lock_path, how)
    return got

