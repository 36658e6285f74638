"""Per-image scores: P(fake) for every manifest image of one split, from one checkpoint.

Kept separate from the metrics so that the GPU step runs once and every metric (or a different
threshold) can be recomputed from ``predictions.csv`` without a GPU.

As in the authors' test script: the model rebuilt from the checkpoint and its sidecar, the
evaluation transform (zero-pad to ``image_size``, centre-crop ``image_size``, no resize, ImageNet
normalisation), and ``score = softmax(logits)[:, 1]``. Images are decoded by the same function
the training step uses (:func:`drct.training.dataset.load_rgb`), so validation and test images
go through identical code.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from drct.data.manifest import read_manifest
from drct.io import write_csv
from drct.training.augment import build_eval_transform
from drct.training.checkpoint import load_model
from drct.training.dataset import load_rgb
from drct.training.settings import TrainSettings

__all__ = ["PREDICTION_COLUMNS", "predict", "select_rows", "resolve_device"]

log = logging.getLogger(__name__)

#: Columns of predictions.csv, in order. ``path`` is as in the manifest (relative to its folder).
PREDICTION_COLUMNS: tuple[str, ...] = ("path", "dataset", "generator", "split", "label", "score")


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"``: the first CUDA device when there is one, else the CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def select_rows(manifest: Path, split: str = "test", generators: Sequence[str] | None = None) -> pd.DataFrame:
    """Manifest rows to score: ``split``, optionally only ``generators``, failed rows dropped.

    Rows with ``status == "failed"`` (failed reconstructions; the column may be absent) have no
    image and are skipped and counted in the log. A requested generator with no row in the split
    raises: a protocol column without images must not pass unnoticed.
    """
    df = read_manifest(Path(manifest))
    if "status" in df.columns:
        failed = df["status"] == "failed"
        if failed.any():
            log.info("skipping %d manifest rows with status 'failed'", int(failed.sum()))
        df = df[~failed]
    df = df[df["split"] == split]
    if generators is not None:
        wanted = list(dict.fromkeys(generators))
        missing = sorted(set(wanted) - set(df["generator"]))
        if missing:
            raise ValueError(f"{manifest}: no {split!r} rows for generator(s) {missing}")
        df = df[df["generator"].isin(wanted)]
    if df.empty:
        raise ValueError(f"{manifest}: nothing to score in split {split!r}")
    if df["abspath"].isna().any():
        bad = df.loc[df["abspath"].isna(), "generator"].unique().tolist()
        raise ValueError(f"{manifest}: rows without a path for generator(s) {bad}")
    return df.reset_index(drop=True)


class _ImagePaths(Dataset):
    """Transformed image tensors for a list of absolute paths, in order."""

    def __init__(self, paths: list[str], transform) -> None:
        self.paths = paths
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        # load_rgb raises ImageReadError naming the file
        return self.transform(image=load_rgb(self.paths[index]))["image"]


def predict(
    checkpoint: Path,
    manifest: Path,
    out_csv: Path,
    *,
    split: str = "test",
    generators: list[str] | None = None,
    batch_size: int = 64,
    device: str = "auto",
    num_workers: int = 0,
) -> pd.DataFrame:
    """Score the manifest's ``split`` images (optionally only ``generators``) and write ``out_csv``.

    ``generators`` must include the real set's generator when the protocol shares one (DRCT-2M's
    ``real``). Returns the predictions (columns :data:`PREDICTION_COLUMNS`, manifest order); the
    CSV is written atomically. An unreadable image raises
    :class:`drct.training.dataset.ImageReadError` naming it (validation upstream quarantines
    those, so meeting one is a bug).
    """
    rows = select_rows(Path(manifest), split, generators)
    dev = resolve_device(device)
    model, sidecar = load_model(Path(checkpoint), dev)
    image_size = TrainSettings.from_dict(sidecar["settings"]).image_size
    log.info(
        "scoring %d %s images of %d generators with %s on %s (input %d px)",
        len(rows), split, rows["generator"].nunique(), checkpoint, dev, image_size,
    )

    loader = DataLoader(
        _ImagePaths(rows["abspath"].tolist(), build_eval_transform(image_size)),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=dev.type == "cuda",
    )
    scores: list[np.ndarray] = []
    model.eval()
    with torch.inference_mode():
        for images in tqdm(loader, desc=f"predict {Path(checkpoint).parent.name}", unit="batch"):
            _, logits = model(images.to(dev, non_blocking=True))
            scores.append(torch.softmax(logits.float(), dim=1)[:, 1].cpu().numpy())

    out = rows[list(PREDICTION_COLUMNS[:-1])].copy()
    out["label"] = out["label"].astype(int)
    out["score"] = np.concatenate(scores).astype(np.float64)
    write_csv(out, Path(out_csv))
    log.info("wrote %d predictions to %s", len(out), out_csv)
    return out
