"""Join a dataset's manifest with this experiment's reconstructions.

Training and evaluation read one combined manifest per dataset instead of globbing folders, so
what they saw is exactly what the manifest lists (and its sha256 identifies it).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from drct.data.manifest import read_manifest, write_manifest

log = logging.getLogger(__name__)


def combine_manifests(dataset: Path, reconstructions: list[Path], out: Path) -> pd.DataFrame:
    """The dataset's valid images plus successful reconstructions.

    A reconstruction job's output replaces any same-named generator/split the dataset ships
    (recompute mode over a dataset that also publishes reconstructions); failed reconstructions
    stay listed in their job's manifest and are left out here, with a warning.
    """
    base = read_manifest(dataset)
    parts = [base]
    for path in reconstructions:
        rec = read_manifest(path)
        if "status" in rec:
            failed = int((rec["status"] != "ok").sum())
            if failed:
                log.warning("%s: %d failed reconstructions left out (listed there with their reason)", path, failed)
            rec = rec[rec["status"] == "ok"]
        for generator, split in rec[["generator", "split"]].drop_duplicates().itertuples(index=False):
            shipped = (base["generator"] == generator) & (base["split"] == split)
            if shipped.any():
                log.info("recomputed %s/%s replaces %d shipped images", generator, split, int(shipped.sum()))
                parts[0] = parts[0][~((parts[0]["generator"] == generator) & (parts[0]["split"] == split))]
        parts.append(rec)
    combined = pd.concat(parts, ignore_index=True)
    write_manifest(combined, out)
    summary = combined.groupby(["generator", "split", "label"]).size()
    log.info("combined manifest %s:\n%s", out, summary.to_string())
    return combined
