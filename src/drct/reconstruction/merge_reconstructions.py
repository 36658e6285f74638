"""Merge the shard manifests of one reconstruction job into the job's manifest.

Each shard writes only its own CSV (so an interrupted shard never leaves a half-written job
manifest); this step joins them once every shard has finished. Failures stay listed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from drct.data.manifest import read_manifest, write_manifest

log = logging.getLogger(__name__)


def merge_manifests(inputs: list[Path], out: Path) -> pd.DataFrame:
    """Concatenate manifests (e.g. the shards of one job), keeping every row, failures included."""
    frames = [read_manifest(path) for path in inputs]
    merged = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    write_manifest(merged, out)
    if "status" in merged:
        failed = merged[merged["status"] == "failed"]
        for _, row in failed.iterrows():
            log.warning("reconstruction failed for %s: %s", row.get("source_abspath", row.get("source_path")), row["error"])
    log.info("merged %d manifests: %d rows -> %s", len(inputs), len(merged), out)
    return merged
