"""The authors' released checkpoints by name, downloaded and imported once into a user cache.

``drct predict --released NAME`` needs one of the checkpoints in the authors' ``pretrained.zip``
as one of ours. Everything about them is already in the ``eval_released`` preset, so it is read
from there and typed nowhere else: the archive (``training.released.download``, a ``downloads[]``
entry and its source), each file inside it (``training.released.runs[].member``) and the
network it fits (the run's backbone and train set, turned into ``TrainSettings`` exactly as the
workflow's ``import_released`` rule does). A checkpoint's name is its run's group
(:attr:`drct.planning.runs.Run.group`: ``drct-convb-sdv1`` = DRCT, ConvNeXt-B, trained on SDv1),
the name the preset's tables and result folders use. ``--released-config FILE`` reads another
preset of the same shape instead (a mirror's sources, other networks: the tests use it for
demo-size networks).

The archive comes through the data step's downloader (:func:`drct.data.acquire.acquire`:
resumable, checked against the hub's file listing and a lock file, kept aside when it does not
verify). The cache (``--cache``, else ``$DRCT_CACHE``, else ``$XDG_CACHE_HOME/drct`` or
``~/.cache/drct``) holds its own lock file and listing, because ``drct predict`` runs from any
folder, not only from a clone of the workflow::

    <cache>/data.lock.json                   sha256 of pretrained.zip, pinned on first download
    <cache>/listings/<dataset>@<rev>.json    the hub's file listing, fetched once
    <cache>/downloads/pretrained.zip         the archive (delete it to save space; it is re-fetched
                                             and checked against the lock when another name needs it)
    <cache>/released/<name>/<key>/best.safetensors (+ best.json)

``<key>`` hashes what the imported file depends on (archive pin, member, settings), so another
preset's network of the same name never reads a stale import. A checkpoint whose sidecar exists
is complete (the sidecar is written last) and is used without any network access.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drct.config import PROJECT_ROOT, ConfigError, load_yaml, validate_config
from drct.errors import DrctError
from drct.planning.released import released_checkpoints
from drct.planning.runs import find, iter_runs, train_settings

log = logging.getLogger(__name__)

#: the preset that lists the authors' released checkpoints (``training.released``)
DEFAULT_CONFIG = PROJECT_ROOT / "presets" / "eval_released.yaml"
CACHE_ENV = "DRCT_CACHE"


@dataclass(frozen=True)
class Released:
    """One released checkpoint: where it is in the archive and the network it fits."""

    name: str
    train_set: str
    member: str
    settings: dict[str, Any]
    download: dict[str, Any]  # the downloads[] entry of the archive
    source: dict[str, Any]  # the sources[] entry it comes from

    @property
    def label(self) -> str:
        return f"{self.settings['model_name']} ({self.settings['family']}), train set {self.train_set}"


def default_cache() -> Path:
    """``$DRCT_CACHE``, else ``$XDG_CACHE_HOME/drct``, else ``~/.cache/drct``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "drct"


def released_table(config_path: Path = DEFAULT_CONFIG) -> dict[str, Released]:
    """``{name: Released}`` for every run of a ``training.checkpoints: released`` preset."""
    config = validate_config(load_yaml(config_path))
    members = released_checkpoints(config)
    if not members:
        raise ConfigError(f"{config_path}: not a released-checkpoints preset (training.checkpoints is not 'released')")
    download = find(config["downloads"], config["training"]["released"]["download"], "download")
    source = config["sources"][download["source"]]
    table: dict[str, Released] = {}
    for run in iter_runs(config):
        table[run.group] = Released(run.group, run.train_set, members[run.id]["member"], train_settings(config, run),
                                    dict(download), dict(source))
    return table


def format_table(table: Mapping[str, Released]) -> str:
    """The names ``--released`` accepts, one per line with the network and the file in the archive."""
    width = max(map(len, table), default=4)
    lines = [f"{'name':<{width}}  network / member of {next(iter(table.values())).download['path']}"]
    for name, entry in table.items():
        lines.append(f"{name:<{width}}  {entry.label}\n{'':<{width}}    {entry.member}")
    return "\n".join(lines)


def lookup(name: str, table: Mapping[str, Released], config_path: Path) -> Released:
    if name not in table:
        raise DrctError(f"--released {name!r}: not a released checkpoint of {config_path}; "
                        f"known names: {', '.join(table)} (see drct predict --list-released)")
    return table[name]


def _cache_key(entry: Released, archive_sha256: str | None) -> str:
    """What an import depends on, hashed: a changed preset never reuses another network's import."""
    what = {"archive": archive_sha256, "member": entry.member, "settings": entry.settings}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:12]


def _source(entry: Released, cache: Path, source_url: str | None) -> dict[str, Any]:
    """The archive's source, optionally on a mirror, with its listing kept in the cache."""
    source = dict(entry.source)
    if source_url:
        source["base_url"] = source_url
    if source.get("type") == "modelscope":
        from drct.data.sources import default_listing_path

        listing = source.get("listing") or default_listing_path(source["dataset"], source.get("revision", "master"))
        source["listing"] = str(cache / "listings" / posixpath.basename(listing))
    return source


def cached_checkpoint(entry: Released, cache: Path) -> Path | None:
    """The imported checkpoint of ``entry`` if a complete one is cached (no network access)."""
    from drct.data.download import load_lock

    pinned = load_lock(cache / "data.lock.json").get(entry.download["name"])
    if pinned is None:
        return None
    path = cache / "released" / entry.name / _cache_key(entry, pinned["sha256"]) / "best.safetensors"
    return path if path.with_suffix(".json").exists() and path.exists() else None


def fetch_released(
    name: str,
    *,
    cache: Path | None = None,
    config_path: Path = DEFAULT_CONFIG,
    source_url: str | None = None,
    progress: bool = True,
) -> Path:
    """Our checkpoint of the released ``name``: from the cache, else downloaded and imported into it."""
    from drct.data.acquire import acquire
    from drct.data.download import locked_dir

    cache = Path(cache) if cache is not None else default_cache()
    entry = lookup(name, released_table(config_path), config_path)
    hit = cached_checkpoint(entry, cache)
    if hit is not None:
        log.info("released checkpoint %s: %s (cached)", name, hit)
        return hit
    folder = cache / "released"
    with locked_dir(folder):  # two predicts at once: one downloads and imports, the other then finds it
        hit = cached_checkpoint(entry, cache)
        if hit is not None:
            return hit
        download = entry.download
        archive = cache / "downloads" / download["path"]
        digest = acquire(
            _source(entry, cache, source_url), download["path"], archive, cache / "data.lock.json",
            download["name"], sha256=download.get("sha256"), md5=download.get("md5"), size=download.get("size"),
            progress=progress,
        )
        from drct.training.import_released import import_released
        from drct.training.settings import TrainSettings

        out = folder / name / _cache_key(entry, digest) / "best.safetensors"
        import_released(archive, out, TrainSettings.from_dict(entry.settings), member=entry.member,
                        provenance={"released_name": name, "config": str(config_path)})
    log.info("released checkpoint %s imported to %s; the archive %s may be deleted to save space", name, out, archive)
    return out
