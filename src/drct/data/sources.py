"""Where an archive comes from: one config entry per source, turned into a URL here and nowhere else.

Every source has a ``base_url`` that is only the *host* (or a local ``file:`` folder), so a mirror
or a test server replaces one value and nothing else. The dataset path is explicit:

``type: url`` (default)
    ``<base_url>/<path>``: MSCOCO (``http://images.cocodataset.org`` + ``zips/train2017.zip``),
    a GenImage mirror, or a local folder of user-provided archives (``file:data/genimage``).
``type: modelscope``
    ``<base_url>/datasets/<dataset>/resolve/<revision>/<path>`` (ModelScope's download route, e.g.
    ``https://modelscope.cn/datasets/BokingChen/DRCT-2M/resolve/master/images/sd-turbo.zip``).
    Archive names are checked against the hub's file listing, recorded in ``listing``
    (:mod:`drct.data.listing`), because only a few DRCT-2M names are known for sure.

A ``file:`` path may also name a *folder* (an already-extracted GenImage subset, say): the
download step then verifies and pins its content instead of copying it (:mod:`drct.data.local`).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["SOURCE_TYPES", "Source", "default_listing_path", "resolve_url"]

SOURCE_TYPES = ("url", "modelscope")


@dataclass(frozen=True)
class Source:
    """A validated source entry (see ``workflow/schemas/config.schema.yaml``, ``sources``)."""

    base_url: str
    type: str = "url"
    dataset: str | None = None
    revision: str = "master"
    listing: str | None = None

    @classmethod
    def from_config(cls, spec: Mapping[str, Any]) -> Source:
        """Build from a config mapping; extra keys (``description``) are ignored."""
        kind = spec.get("type", "url")
        if kind not in SOURCE_TYPES:
            raise ValueError(f"source type {kind!r} is not one of {SOURCE_TYPES}")
        base = str(spec["base_url"]).rstrip("/")
        scheme = urllib.parse.urlsplit(base).scheme.lower()
        if scheme not in ("http", "https", "file"):
            raise ValueError(f"base_url {base!r}: use http(s):// or file:")
        dataset = spec.get("dataset")
        if kind == "modelscope":
            if scheme == "file":
                raise ValueError("a modelscope source needs an http(s) base_url (the hub or a mirror of it)")
            if not dataset or dataset.count("/") != 1 or dataset.startswith("/") or dataset.endswith("/"):
                raise ValueError(f"modelscope source needs dataset: <namespace>/<name>, got {dataset!r}")
        listing = spec.get("listing")
        if kind == "modelscope" and not listing:
            listing = default_listing_path(dataset, spec.get("revision", "master"))
        return cls(base_url=base, type=kind, dataset=dataset,
                   revision=str(spec.get("revision", "master")), listing=listing)


def default_listing_path(dataset: str, revision: str = "master") -> str:
    """``data/listings/<namespace>__<name>@<revision>.json``: committed beside the lock file."""
    return f"data/listings/{dataset.replace('/', '__')}@{revision}.json"


def _check_path(path: str) -> str:
    """Paths are relative, POSIX, and cannot climb out of the source (``..``)."""
    if not path or path.startswith("/") or "\\" in path:
        raise ValueError(f"download path {path!r} must be a relative POSIX path")
    if ".." in path.split("/"):
        raise ValueError(f"download path {path!r} must not contain '..'")
    return path


def resolve_url(source: Source | Mapping[str, Any], path: str) -> str:
    """The URL of ``path`` in ``source`` (see the module docstring for the two layouts)."""
    if not isinstance(source, Source):
        source = Source.from_config(source)
    path = _check_path(path)
    quoted = urllib.parse.quote(path, safe="/")
    if source.type == "modelscope":
        return (f"{source.base_url}/datasets/{source.dataset}/resolve/"
                f"{urllib.parse.quote(source.revision, safe='')}/{quoted}")
    return f"{source.base_url}/{quoted}"
