"""Captions joined to images: the ``path, caption`` CSV of ``drct merge-captions`` keyed by image file.

Why a module: training and scoring both feed De-fake (image, caption) pairs and must find an
image's caption the same way. The captions CSV is keyed by the manifest's own ``path`` column
(relative to the manifest's folder), so it is joined on the manifest it was computed from and
turned into a map from absolute path (what training samples and scoring rows carry) to caption.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from drct.data.manifest import read_manifest

log = logging.getLogger(__name__)


def read_captions(captions_csv: Path) -> dict[str, str]:
    """``{manifest path: caption}``; empty captions count as missing (De-fake cannot read nothing)."""
    frame = pd.read_csv(captions_csv, dtype=str, keep_default_na=False)
    missing = {"path", "caption"} - set(frame.columns)
    if missing:
        raise ValueError(f"{captions_csv}: not a captions CSV (no column(s) {sorted(missing)}; expected path, caption)")
    frame = frame[frame["caption"].str.strip() != ""]
    return dict(zip(frame["path"], frame["caption"]))


def captions_by_abspath(manifest_csv: Path, captions_csv: Path) -> dict[str, str]:
    """``{absolute image path: caption}`` for the rows of ``manifest_csv`` that have a caption."""
    captions = read_captions(Path(captions_csv))
    manifest = read_manifest(Path(manifest_csv))
    return {str(a): captions[p] for p, a in zip(manifest["path"], manifest["abspath"]) if p in captions}


def lookup(paths: list[str], captions: dict[str, str], what: str) -> list[str | None]:
    """The caption of each path (None where there is none), logging how many are missing."""
    found = [captions.get(str(p)) for p in paths]
    missing = sum(c is None for c in found)
    if missing:
        example = next(str(p) for p, c in zip(paths, found) if c is None)
        log.warning("%s: %d of %d image(s) have no caption (e.g. %s)", what, missing, len(paths), example)
    return found
