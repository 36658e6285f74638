"""The hub's own file listing of a ModelScope dataset, fetched once and recorded under version control.

Why: only three DRCT-2M archive names are known for sure (``images/stable-diffusion-v1-4.zip``,
``fake_rec_images/stable-diffusion-v1-4.zip``, ``pretrained.zip``); the others in the presets
follow the same pattern but were never checked. Guessing a name silently would fail late (a 404
after hours of other downloads) or, worse, fetch a different file than the paper used. So every
archive of a ``type: modelscope`` source is looked up in the dataset's file listing first:

* the listing is fetched from the hub's HTTP API (the route the ``modelscope`` client itself
  uses: ``GET <base>/api/v1/datasets/<namespace>/<name>`` for the dataset id, then
  ``GET <base>/api/v1/datasets/<id>/repo/tree?Revision=..&Root=/&Recursive=True&PageNumber=..
  &PageSize=..`` page by page; answers are ``{"Code": 200, "Data": {"Files": [{"Path", "Type",
  "Size", "Sha256", ...}]}}``), with plain ``requests`` so a mirror or a test server can stand in;
* it is written to the source's ``listing`` file (``data/listings/...json``) the first time
  and read from there afterwards, so the names a run used are committed next to the lock file;
* a name that is not listed is an error that names the closest listed names and the files in
  the same folder, never a guess; sizes and sha256 the hub publishes become the expected values.

``drct list-source`` refreshes a listing on purpose (``--refresh``) and reports what changed.

Why not the ``modelscope`` client itself: it pulls in ``datasets``/``oss2`` and picks its
endpoint from environment variables; the two GETs above are all that is needed, and with plain
``requests`` (retries with backoff from urllib3's ``Retry``) ``base_url`` alone redirects them to a
mirror or to the tests' loopback server.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import json
import logging
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from drct.data.download import locked_dir
from drct.data.sources import Source
from drct.errors import DrctError
from drct.io import write_json

__all__ = [
    "LISTING_FORMAT",
    "Listing",
    "ListingError",
    "NotListedError",
    "diff_listings",
    "ensure_listing",
    "fetch_modelscope_listing",
    "load_listing",
    "record_listing",
]

log = logging.getLogger(__name__)

LISTING_FORMAT = "drct-listing/1"
_FILE_TYPES = frozenset({"blob", "file"})  # datasets answer "blob"; some deployments say "file"
_MAX_PAGES = 100_000


class ListingError(DrctError, RuntimeError):
    """The hub's listing could not be fetched or is not in the expected shape."""


class NotListedError(DrctError, LookupError):
    """An archive name is not in the recorded listing of its source."""


@dataclass(frozen=True)
class Listing:
    """A recorded listing: repository path -> {"size": int|None, "sha256": str|None}."""

    dataset: str
    revision: str
    api: str
    recorded: str
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    def entry(self, path: str) -> dict[str, Any]:
        """The listing entry of ``path``; :class:`NotListedError` with suggestions if absent."""
        if path in self.files:
            return self.files[path]
        folder = posixpath.dirname(path)
        close = difflib.get_close_matches(path, list(self.files), n=3, cutoff=0.6)
        siblings = sorted(p for p in self.files if posixpath.dirname(p) == folder)
        hint = f" Closest listed names: {close}." if close else ""
        shown = siblings[:40] + ([f"... {len(siblings) - 40} more"] if len(siblings) > 40 else [])
        raise NotListedError(
            f"{path!r} is not a file of ModelScope dataset {self.dataset} (revision {self.revision}) "
            f"according to its listing recorded on {self.recorded}.{hint} Files in "
            f"{folder or 'the top folder'}/: {shown or 'none'}. Fix the download's `path` in the "
            "config; if the dataset changed since the listing was recorded, refresh it with "
            "`drct list-source --refresh`."
        )


def _session(retries: int, backoff: float) -> requests.Session:
    """GETs retried with exponential backoff on connection errors, 429 and 5xx (urllib3 Retry)."""
    session = requests.Session()
    retry = Retry(total=retries, connect=retries, read=retries, backoff_factor=backoff,
                  status_forcelist=(429, 500, 502, 503, 504), allowed_methods=frozenset({"GET"}),
                  respect_retry_after_header=True)
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _get_json(session: requests.Session, url: str, params: Mapping[str, Any] | None,
              timeout: float) -> dict[str, Any]:
    try:
        response = session.get(url, params=params, timeout=timeout)
    except requests.RequestException as exc:
        raise ListingError(f"cannot reach {url}: {exc}") from exc
    if response.status_code != 200:
        raise ListingError(f"{response.url}: HTTP {response.status_code} {response.reason}")
    try:
        body = response.json()
    except ValueError as exc:
        raise ListingError(f"{response.url}: answer is not JSON") from exc
    if not isinstance(body, dict) or body.get("Code") != 200:
        message = body.get("Message") if isinstance(body, dict) else None
        raise ListingError(f"{response.url}: hub answered Code={body.get('Code') if isinstance(body, dict) else '?'}"
                           f" ({message or 'no message'})")
    return body


def fetch_modelscope_listing(
    source: Source, *, page_size: int = 100, timeout: float = 60, retries: int = 5,
    backoff: float = 1.0,
) -> Listing:
    """Every file of the source's ModelScope dataset at its revision, from the hub's HTTP API."""
    if source.type != "modelscope" or not source.dataset:
        raise ValueError("fetch_modelscope_listing needs a modelscope source with a dataset")
    namespace, name = source.dataset.split("/")
    info_url = f"{source.base_url}/api/v1/datasets/{namespace}/{name}"
    files: dict[str, dict[str, Any]] = {}
    with _session(retries, backoff) as session:
        info = _get_json(session, info_url, None, timeout)
        data = info.get("Data") or {}
        dataset_id = data.get("Id")
        if dataset_id in (None, ""):
            raise ListingError(f"{info_url}: no dataset Id in the answer")
        tree_url = f"{source.base_url}/api/v1/datasets/{dataset_id}/repo/tree"
        for page in range(1, _MAX_PAGES + 1):
            params = {"Revision": source.revision, "Root": "/", "Recursive": "True",
                      "PageNumber": page, "PageSize": page_size}
            body = _get_json(session, tree_url, params, timeout)
            entries = (body.get("Data") or {}).get("Files") or []
            if not isinstance(entries, list):
                raise ListingError(f"{tree_url}: Data.Files is not a list")
            for item in entries:
                if not isinstance(item, dict) or item.get("Type") not in _FILE_TYPES:
                    continue  # folders ("tree") and anything unexpected
                path = str(item.get("Path") or item.get("Name") or "").lstrip("/")
                if not path:
                    continue
                size = item.get("Size")
                sha = item.get("Sha256")
                files[path] = {
                    "size": int(size) if isinstance(size, (int, float)) or str(size).isdigit() else None,
                    "sha256": str(sha).lower() if isinstance(sha, str) and len(sha) == 64 else None,
                }
            if len(entries) < page_size:
                break
        else:  # pragma: no cover - a hub that never stops paging
            raise ListingError(f"{tree_url}: more than {_MAX_PAGES} pages")
    if not files:
        raise ListingError(f"{tree_url}: the listing of {source.dataset}@{source.revision} is empty")
    log.info("listed %d files of %s@%s from %s", len(files), source.dataset, source.revision,
             source.base_url)
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    return Listing(dataset=source.dataset, revision=source.revision, api=tree_url, recorded=now,
                   files=dict(sorted(files.items())))


def load_listing(path: Path) -> Listing | None:
    """The listing recorded at ``path``, or None if there is none yet."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise ListingError(f"listing file {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != LISTING_FORMAT:
        raise ListingError(f"listing file {path} is not a {LISTING_FORMAT} file")
    return Listing(dataset=data["dataset"], revision=data["revision"], api=data["api"],
                   recorded=data["recorded"], files=dict(data["files"]))


def record_listing(path: Path, listing: Listing) -> Path:
    """Write ``listing`` atomically (sorted keys: a refresh diffs cleanly under git)."""
    return write_json(Path(path), {
        "format": LISTING_FORMAT, "dataset": listing.dataset, "revision": listing.revision,
        "api": listing.api, "recorded": listing.recorded, "files": listing.files,
    })


def diff_listings(old: Listing, new: Listing) -> list[str]:
    """Human-readable differences: files added, removed, or with another size/sha256."""
    lines = [f"added: {p}" for p in sorted(set(new.files) - set(old.files))]
    lines += [f"removed: {p}" for p in sorted(set(old.files) - set(new.files))]
    lines += [f"changed: {p} {old.files[p]} -> {new.files[p]}"
              for p in sorted(set(old.files) & set(new.files)) if old.files[p] != new.files[p]]
    return lines


def ensure_listing(source: Source, *, refresh: bool = False, **fetch_kwargs: Any) -> Listing:
    """The source's recorded listing; fetched from the hub and recorded when absent (or ``refresh``).

    Parallel download jobs share one listing file: the directory is locked while it is read or
    written, so the hub is asked once and every job sees the same names.
    """
    if source.listing is None:
        raise ValueError("source has no listing file")
    path = Path(source.listing)
    with locked_dir(path.parent):
        old = load_listing(path)
        if old is not None and not refresh:
            if (old.dataset, old.revision) != (source.dataset, source.revision):
                raise ListingError(
                    f"listing file {path} is for {old.dataset}@{old.revision}, but the source is "
                    f"{source.dataset}@{source.revision}: give the source its own `listing` file"
                )
            return old
        new = fetch_modelscope_listing(source, **fetch_kwargs)
        if old is not None:
            changes = diff_listings(old, new)
            for line in changes:
                log.warning("listing %s: %s", path, line)
            if not changes:
                log.info("listing %s unchanged", path)
                return old
        record_listing(path, new)
    log.warning("recorded the file listing of %s@%s in %s (%d files): commit this file",
                source.dataset, source.revision, path, len(new.files))
    return new
