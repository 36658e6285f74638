"""Resumable, checksummed downloads (http, https, file) and the data lock file.

Why not ``pooch``: its ``HTTPDownloader`` opens the output with ``"w+b"`` and sends a plain GET
without a ``Range`` header, and ``retrieve``'s ``retry_if_failed`` starts every retry from byte 0.
For the paper-scale archives (DRCT-2M from ModelScope, MSCOCO 2017, GenImage: hundreds of GB) a
connection dropped at 90 % must not cost the whole transfer again, so this module keeps the bytes
already received in ``<dest>.part`` and asks for the rest with ``Range: bytes=N-``. A server that
answers ``206`` is resumed; one that answers ``200`` (no range support, or ``If-Range`` says the
file changed) is restarted cleanly from zero. The finished file is verified (size, sha256 and,
where one is published, md5) *before* it is renamed onto ``dest``, so ``dest`` existing means
"complete and verified".

A file that fails verification is never deleted and never overwritten: it is moved aside to
``<dest>.bad`` (``.bad.1``, ``.bad.2`` ... if that exists) and a :class:`ChecksumError` names the
URL, what was expected, what was found and where the bytes now are. An already-present ``dest``
that no longer matches is treated the same way (moved aside, error), never silently replaced.

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
import hashlib
import itertools
import json
import logging
import os
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
import urllib3

from drct.data.progress import TransferProgress
from drct.errors import DrctError
from drct.io import write_json

__all__ = [
    "ChecksumError",
    "DownloadError",
    "LOCK_FORMAT",
    "LockMismatchError",
    "fetch",
    "fetch_locked",
    "file_hashes",
    "keep_aside",
    "load_lock",
    "local_path_from_url",
    "locked_dir",
    "record_lock",
]

log = logging.getLogger(__name__)

LOCK_FORMAT = "drct-data-lock/1"
_CHUNK = 1 << 20
_HTTP_CHUNK = 1 << 16  # small: bytes of a chunk cut off by a dropped connection are lost
_MAX_DELAY = 300.0
#: stall rule defaults: give up on a connection whose rate stays below 1 KiB/s for 60 s
MIN_RATE = 1024.0
STALL_SECONDS = 60.0


class DownloadError(DrctError, RuntimeError):
    """A download failed for good (HTTP 4xx, retries exhausted, stalled, bad URL)."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not match the expected size or sha256."""


class LockMismatchError(DrctError, RuntimeError):
    """The lock file pins a different sha256/size than the one found or configured."""


class _Retryable(Exception):
    """Internal: a transient failure (5xx, 429, bad range answer, stall) worth another attempt."""


class _StallWatch:
    """The stall rule: the transfer fails when fewer than ``min_rate`` bytes/s arrive on average
    over ``seconds`` seconds. A per-read timeout alone never fires for a server that trickles a
    few bytes every second, which would otherwise hang a download of 100 GB forever.
    ``min_rate`` <= 0 or ``seconds`` <= 0 switches the rule off."""

    def __init__(self, min_rate: float, seconds: float) -> None:
        self.min_rate, self.seconds = float(min_rate), float(seconds)
        self.start, self.bytes = time.monotonic(), 0

    def add(self, n: int) -> None:
        """Count ``n`` bytes; raise :class:`_Retryable` when the last window was too slow."""
        if self.min_rate <= 0 or self.seconds <= 0:
            return
        self.bytes += n
        now = time.monotonic()
        elapsed = now - self.start
        if elapsed < self.seconds:
            return
        if self.bytes < self.min_rate * elapsed:
            raise _Retryable(
                f"transfer stalled: {self.bytes} bytes in the last {elapsed:.1f} s "
                f"({self.bytes / elapsed:.0f} bytes/s, below the floor of {self.min_rate:.0f} "
                f"bytes/s kept for {self.seconds:g} s)"
            )
        self.start, self.bytes = now, 0


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


def _normalise_hex(value: str | None, length: int, what: str) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    digest = str(value).strip().lower()
    if len(digest) != length or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"not a {what} hex digest: {value!r}")
    return digest


def _normalise_sha(sha256: str | None) -> str | None:
    return _normalise_hex(sha256, 64, "sha256")


def _normalise_md5(md5: str | None) -> str | None:
    return _normalise_hex(md5, 32, "md5")


def file_hashes(path: Path) -> tuple[str, str]:
    """(sha256, md5) of ``path`` in one pass: md5 is what COCO and many mirrors publish."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            sha.update(block)
            md5.update(block)
    return sha.hexdigest(), md5.hexdigest()


def keep_aside(path: Path, dest: Path) -> Path:
    """Move ``path`` to ``<dest>.bad`` (or ``.bad.1`` ...), never replacing an existing file.

    ``os.link`` fails when the name exists, so two failures never overwrite each other; on a
    filesystem without hard links a checked rename is used instead.
    """
    path, dest = Path(path), Path(dest)
    for i in itertools.count():
        bad = dest.with_name(dest.name + (".bad" if i == 0 else f".bad.{i}"))
        try:
            os.link(path, bad)
        except FileExistsError:
            continue
        except OSError:
            if bad.exists():
                continue
            os.replace(path, bad)
            return bad
        path.unlink()
        return bad
    raise AssertionError("unreachable")  # pragma: no cover


def _verify(url: str, path: Path, sha256: str | None, size: int | None,
            md5: str | None = None) -> str:
    """Check size, then sha256 and md5, of ``path``; return its sha256. Raises ChecksumError.

    A failing file is moved aside (:func:`keep_aside`) before the error is raised.
    """
    dest = path.with_name(path.name.removesuffix(".part"))
    got_size = path.stat().st_size
    problem = None
    got = None
    if size is not None and got_size != size:
        problem = f"size mismatch for {url}: expected {size} bytes, got {got_size} bytes"
    else:
        got, got_md5 = file_hashes(path)
        if sha256 is not None and got != sha256:
            problem = f"sha256 mismatch for {url}: expected {sha256}, got {got}"
        elif md5 is not None and got_md5 != md5:
            problem = f"md5 mismatch for {url}: expected {md5} (published), got {got_md5}"
    if problem is not None:
        bad = keep_aside(path, dest)
        with contextlib.suppress(FileNotFoundError):
            _meta_path(dest).unlink()
        raise ChecksumError(
            f"{problem}. The bytes were kept aside as {bad} (nothing was overwritten); inspect or "
            "delete it. If the upstream file really changed, update the checksum in the config or "
            "the lock file; a rerun then downloads afresh."
        )
    assert got is not None
    return got


def fetch(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
    md5: str | None = None,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60,
    min_rate: float = MIN_RATE,
    stall_seconds: float = STALL_SECONDS,
    progress: bool = True,
) -> str:
    """Download ``url`` to ``dest`` and return the file's sha256.

    ``dest`` appears only once complete and verified against ``size``/``sha256`` (when given).
    An already-present ``dest`` that matches is returned without any network access. HTTP
    transfers resume from ``<dest>.part``; ``retries`` is the number of further attempts after
    the first one, spaced ``backoff * 2**k`` seconds apart (capped at 5 minutes). ``timeout``
    bounds each connect and each read; an attempt whose rate stays below ``min_rate`` bytes/s
    for ``stall_seconds`` seconds is stalled and retried likewise (0 switches that off). A size or
    checksum mismatch (of a new download or of an already-present ``dest``) moves the bytes
    aside to ``<dest>.bad`` and raises :class:`ChecksumError`; nothing is deleted or overwritten.
    """
    dest = Path(dest)
    sha256, md5 = _normalise_sha(sha256), _normalise_md5(md5)
    if dest.exists():
        got = _verify(url, dest, sha256, size, md5)
        log.info("%s already present (sha256 %s), not downloading", dest, got)
        return got
    dest.parent.mkdir(parents=True, exist_ok=True)
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme == "file":
        _copy_local(url, dest, progress=progress)
    elif scheme in ("http", "https"):
        _download_http(
            url, dest, size=size, retries=retries, backoff=backoff, timeout=timeout,
            stall=(min_rate, stall_seconds), progress=progress,
        )
    else:
        raise DownloadError(f"unsupported URL scheme {scheme!r} in {url!r} (http, https, file)")
    part = _part_path(dest)
    got = _verify(url, part, sha256, size, md5)
    os.replace(part, dest)
    _discard_partial(dest)
    log.info("downloaded %s -> %s (sha256 %s)", url, dest, got)
    return got


def _copy_local(url: str, dest: Path, *, progress: bool) -> None:
    """file:// 'download' into ``.part`` so verification works the same way.

    A symbolic link to the user's file (a 100 GB archive costs no space and no copy time; we only
    ever read it, and removing our link leaves the original), otherwise a streamed copy. Not a
    hard link: Snakemake touches the outputs of a finished job, and a hard link's timestamp is the
    user's file's own, shared by every other link to it, so each run would change the original's
    mtime and make every other workspace that linked the same archive see its input updated and
    rerun everything after it. Snakemake touches a symlink itself, never its target.
    """
    source = local_path_from_url(url)
    if not source.is_file():
        raise DownloadError(f"{url}: no such file {source}")
    part = _part_path(dest)
    with contextlib.suppress(FileNotFoundError):
        part.unlink()
    try:
        os.symlink(source.resolve(), part)
        log.info("%s: linked (symbolic link to the original), not copied", source)
        return
    except OSError:
        pass
    total = source.stat().st_size
    with open(source, "rb") as src, open(part, "wb") as out:
        with TransferProgress(dest.name, total, 0, enabled=progress, log=log) as bar:
            while block := src.read(_CHUNK):
                out.write(block)
                bar.update(len(block))


def _download_http(
    url: str, dest: Path, *, size: int | None, retries: int, backoff: float, timeout: float,
    stall: tuple[float, float], progress: bool,
) -> None:
    """Run attempts until ``.part`` holds the whole body; resume between attempts."""
    attempt = 0
    with requests.Session() as session:
        while True:
            try:
                if _http_attempt(session, url, dest, size=size, timeout=timeout, stall=stall,
                                 progress=progress):
                    return
                reason = "body shorter than announced (connection closed early)"
            except _Retryable as exc:
                reason = str(exc)
            except (requests.ConnectionError, requests.Timeout,
                    requests.exceptions.ChunkedEncodingError, urllib3.exceptions.HTTPError) as exc:
                reason = f"{type(exc).__name__}: {exc}"  # urllib3's: from reading the raw body
            attempt += 1
            if attempt > retries:
                hint = ""
                if reason.startswith("transfer stalled"):
                    hint = (" If this server is slow but steady, lower the minimum rate or "
                            "lengthen the stall window (min_rate, stall_seconds).")
                raise DownloadError(
                    f"giving up on {url} after {retries} retries; last error: {reason}. "
                    f"Received bytes are kept in {_part_path(dest)} and a rerun resumes.{hint}"
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
    stall: tuple[float, float], progress: bool,
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
            kept = ""
            if part.exists() and part.stat().st_size:
                kept = f"; the {part.stat().st_size} bytes received earlier were kept aside as " \
                       f"{keep_aside(part, dest)}"
            _discard_partial(dest)
            raise ChecksumError(
                f"size mismatch for {url}: expected {size} bytes, server announces {total} "
                f"(nothing downloaded{kept})"
            )
        watch = _StallWatch(*stall)
        with open(part, mode) as fh, \
                TransferProgress(dest.name, total, offset, enabled=progress, log=log) as bar:
            for chunk in _body_chunks(r):
                fh.write(chunk)
                bar.update(len(chunk))
                watch.add(len(chunk))
    got = part.stat().st_size
    want = total if total is not None else size
    if want is not None and got < want:
        return False
    if want is not None and got > want:
        _discard_partial(dest)
        raise _Retryable(f"received {got} bytes, more than the {want} announced")
    return True


def _body_chunks(r: requests.Response) -> Iterator[bytes]:
    """The body as it arrives. ``iter_content`` blocks until a whole chunk (64 KiB) is in, so a
    server trickling a byte a second would keep it (and the stall rule) waiting for 18 hours;
    urllib3's ``read1`` returns whatever one socket read brought."""
    read1 = getattr(r.raw, "read1", None)  # urllib3 >= 2.1
    if read1 is None:  # pragma: no cover - older urllib3: stall checks once per chunk
        yield from r.iter_content(chunk_size=_HTTP_CHUNK)
        return
    while chunk := read1(_HTTP_CHUNK):
        yield chunk


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


locked_dir = _locked_dir  # shared with drct.data.listing (the listing file sits beside the lock)


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

