"""Fetch every model's weights ahead of time, so jobs on offline compute nodes load them from the cache.

Compute nodes of a cluster often have no internet. The workflow's ``fetch_weights`` rule runs this
once (on a node that has it), filling the Hugging Face cache under ``HF_HOME``; every other job
then runs with ``HF_HUB_OFFLINE=1`` against the same ``HF_HOME`` and finds the files there.
Each library's own download function is used, so exactly the files it will later load are fetched:

- ``diffusers`` (reconstruction pipelines): ``DiffusionPipeline.download(model, revision=...)``, the
  same file selection ``from_pretrained`` makes; ``revision`` (a branch, tag or commit) is what the
  reconstruction jobs pass too, so a pinned commit is what they load;
- ``timm`` (Conv-B): the weights file of the model's ``pretrained_cfg.hf_hub_id``;
- ``open_clip`` (UnivFD): the checkpoint open_clip's pretrained table names for ``(model, tag)``.

timm and open_clip load their hub weights at the default revision, so those are fetched at it and
the commit they resolved to is recorded (checkpoints also record the frozen backbone's digest, which
catches weights that change later). A local folder (the demo's pipeline, or weights copied by
hand) is not fetched, only checksummed.

The record (JSON) lists, per model, where it came from, the commit, and the sha256 of every file:
the provenance of the weights every later result was computed with. Which models a preset
needs is planning, not fetching: :func:`drct.planning.weights.weights_spec` lists them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from drct.io import sha256_file, write_json

log = logging.getLogger(__name__)

KINDS = ("diffusers", "timm", "open_clip", "transformers")


def _commit_of(path: Path) -> str | None:
    """The commit of a file or folder inside the hub cache (``.../snapshots/<commit>/...``), else None."""
    parts = Path(path).parts
    if "snapshots" in parts:
        index = parts.index("snapshots")
        if index + 1 < len(parts):
            return parts[index + 1]
    return None


def _file_digests(root: Path, files: Sequence[Path] | None = None) -> dict[str, str]:
    """sha256 of each file (symlinks into the cache's blobs followed), keyed by path relative to ``root``."""
    root = Path(root)
    paths = sorted(files) if files is not None else sorted(p for p in root.rglob("*") if p.is_file())
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in paths}


def fetch_diffusers(model: str, revision: str | None = None) -> dict[str, Any]:
    local = Path(model)
    if local.is_dir():
        return {"source": "local", "path": str(local.resolve()), "commit": None, "files": _file_digests(local)}
    from diffusers import DiffusionPipeline

    folder = Path(DiffusionPipeline.download(model, revision=revision))
    return {"source": "hub", "path": str(folder), "commit": _commit_of(folder), "files": _file_digests(folder)}


def fetch_transformers(model: str, revision: str | None = None) -> dict[str, Any]:
    """A transformers model (De-fake's BLIP captioner): the hub snapshot at ``revision``, or a local folder."""
    local = Path(model)
    if local.is_dir():
        return {"source": "local", "path": str(local.resolve()), "commit": None, "files": _file_digests(local)}
    from huggingface_hub import snapshot_download

    folder = Path(snapshot_download(model, revision=revision))
    return {"source": "hub", "path": str(folder), "commit": _commit_of(folder), "files": _file_digests(folder)}


def fetch_timm(model: str) -> dict[str, Any]:
    import timm
    from huggingface_hub import hf_hub_download

    cfg = timm.models.get_pretrained_cfg(model)
    if cfg is None or not getattr(cfg, "hf_hub_id", None):
        raise ValueError(f"timm model {model!r} names no hub weights (pretrained_cfg.hf_hub_id)")
    repo = cfg.hf_hub_id
    last_error: Exception | None = None
    for filename in ("model.safetensors", "pytorch_model.bin"):  # timm's own order of preference
        try:
            path = Path(hf_hub_download(repo, filename))
            break
        except Exception as error:  # EntryNotFound / LocalEntryNotFound: try the next name
            last_error = error
    else:
        raise FileNotFoundError(f"no weights for timm model {model!r} in {repo}: {last_error}")
    return {"source": "hub", "repo": repo, "path": str(path), "commit": _commit_of(path),
            "files": _file_digests(path.parent, [path])}


def fetch_open_clip(model: str, tag: str) -> dict[str, Any]:
    import open_clip
    from open_clip.pretrained import download_pretrained

    cfg = open_clip.get_pretrained_cfg(model, tag)
    if not cfg:
        raise ValueError(f"open_clip has no pretrained weights {tag!r} for {model!r}")
    path = Path(download_pretrained(cfg))
    return {"source": "hub" if cfg.get("hf_hub") else "url", "repo": cfg.get("hf_hub") or cfg.get("url"),
            "path": str(path), "commit": _commit_of(path), "files": _file_digests(path.parent, [path])}


def fetch_one(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Fetch (or checksum) one model; ``entry`` = ``{name, kind, model, revision?, pretrained?}``."""
    kind = entry.get("kind")
    if kind == "diffusers":
        result = fetch_diffusers(entry["model"], entry.get("revision"))
    elif kind == "timm":
        result = fetch_timm(entry["model"])
    elif kind == "transformers":
        result = fetch_transformers(entry["model"], entry.get("revision"))
    elif kind == "open_clip":
        result = fetch_open_clip(entry["model"], entry["pretrained"])
    else:
        raise ValueError(f"model {entry.get('name')!r}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return {"kind": kind, "model": entry["model"], "revision": entry.get("revision"), **result}


def fetch_all(spec: Sequence[Mapping[str, Any]], out: Path) -> dict[str, Any]:
    """Fetch every model of ``spec`` and write the record to ``out``; any failure stops with its name."""
    record: dict[str, Any] = {"hf_home": os.environ.get("HF_HOME"), "models": {}}
    for entry in spec:
        name = entry.get("name") or entry.get("model")
        log.info("fetching %s (%s %s)", name, entry.get("kind"), entry.get("model"))
        try:
            record["models"][name] = fetch_one(entry)
        except Exception as error:
            raise RuntimeError(f"could not fetch weights of {name!r} ({entry.get('model')}): {error}") from error
        files = record["models"][name]["files"]
        log.info("%s: commit %s, %d file(s)", name, record["models"][name]["commit"], len(files))
    write_json(Path(out), record)
    return record

