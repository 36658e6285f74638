"""A few image / reconstruction pairs copied out of the data, for the paper's sample grid.

No torch. The paper's framework figure shows a real image, its diffusion reconstruction
(real-rec), a generated image and its reconstruction (fake-rec). The paper-output step must not
read raw data (it may run on a machine that only pulled evaluation outputs), so the evaluation
step copies a small, deterministic sample of such pairs into its own outputs, with a CSV saying
where each file came from.

Pairs are matched by file stem within one split: a reconstruction is written under its input's
stem (as the authors' script, and the shipped DRCT-2M reconstructions, which keep COCO ids).
Which stems: those present in both sets, ordered by the sha256 of the stem, first ``n``. That
order depends on nothing but the names, so the same data give the same sample anywhere, and it
is not biased towards the alphabetically first files.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from drct.data.manifest import read_manifest
from drct.io import atomic_path, write_csv

__all__ = ["SAMPLE_COLUMNS", "pick_pairs", "copy_samples"]

log = logging.getLogger(__name__)

#: Columns of samples.csv. ``group``: real or fake; ``role``: image or rec; ``file``: the copy's name.
SAMPLE_COLUMNS: tuple[str, ...] = ("index", "group", "role", "generator", "split", "label", "source", "file", "sha256")


def _stem_key(stem: str) -> str:
    return hashlib.sha256(stem.encode("utf-8")).hexdigest()


def pick_pairs(
    manifest: pd.DataFrame, image_generator: str, rec_generator: str, split: str, n: int
) -> list[tuple[pd.Series, pd.Series]]:
    """Up to ``n`` (image row, reconstruction row) pairs with the same stem in ``split``.

    Failed reconstructions (``status`` not ok) and rows without a path are skipped. Fewer than
    ``n`` common stems give fewer pairs (logged); none at all raises, naming both generators.
    """
    df = manifest
    if "status" in df.columns:
        df = df[df["status"].fillna("ok").isin(["ok", ""])]
    df = df[(df["split"] == split) & df["path"].notna() & (df["path"].astype(str) != "")]

    def by_stem(generator: str) -> dict[str, pd.Series]:
        rows = df[df["generator"] == generator]
        out: dict[str, pd.Series] = {}
        for _, row in rows.sort_values("path").iterrows():
            out.setdefault(Path(str(row["path"])).stem, row)
        return out

    images, recs = by_stem(image_generator), by_stem(rec_generator)
    common = sorted(set(images) & set(recs), key=_stem_key)
    if not common:
        raise ValueError(
            f"no {split!r} image of {image_generator!r} has a reconstruction in {rec_generator!r} "
            f"(pairs are matched by file stem)"
        )
    if len(common) < n:
        log.warning("only %d %s/%s pairs (asked for %d)", len(common), image_generator, rec_generator, n)
    return [(images[s], recs[s]) for s in common[:n]]


def copy_samples(
    manifest_path: Path,
    groups: Sequence[dict],
    out_dir: Path,
    *,
    split: str = "train",
    n: int = 3,
) -> pd.DataFrame:
    """Copy ``n`` pairs per group into ``out_dir`` (created atomically) with ``samples.csv``.

    ``groups``: ``[{"group": "real", "image": <generator>, "rec": <generator>}, ...]`` (the
    train set's real / real_rec and fake / fake_rec). Files are copied byte for byte and named
    ``<group>-<index>-<role><ext>``; the CSV records each one's manifest path and sha256.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not groups:
        raise ValueError("copy_samples needs at least one group")
    manifest = read_manifest(Path(manifest_path))
    records = []
    out_dir = Path(out_dir)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        for spec in groups:
            for index, pair in enumerate(pick_pairs(manifest, spec["image"], spec["rec"], split, n)):
                for role, row in zip(("image", "rec"), pair):
                    source = Path(row["abspath"])
                    name = f"{spec['group']}-{index}-{role}{source.suffix.lower()}"
                    shutil.copyfile(source, tmp / name)
                    records.append({
                        "index": index, "group": spec["group"], "role": role, "generator": row["generator"],
                        "split": split, "label": int(row["label"]), "source": row["path"], "file": name,
                        "sha256": row.get("sha256", ""),
                    })
        frame = pd.DataFrame(records, columns=list(SAMPLE_COLUMNS))
        write_csv(frame, tmp / "samples.csv")
    log.info("copied %d sample images to %s", len(frame), out_dir)
    return frame
