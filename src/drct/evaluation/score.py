"""Per-image scores: P(fake) for every manifest image of one split, from one checkpoint.

Kept separate from the metrics so that the GPU step runs once and every metric (or a different
threshold) can be recomputed from ``predictions.csv`` without a GPU.

As in the authors' test script: the model rebuilt from the checkpoint and its sidecar, the
evaluation transform (zero-pad to ``image_size``, centre-crop ``image_size``, no resize, ImageNet
normalisation), and ``score = softmax(logits)[:, 1]``. Images are decoded by the same function
the training step uses (:func:`drct.training.dataset.load_rgb`), so validation and test images
go through identical code.

Perturbed scoring (robustness study, format-bias control) goes through the same function: a
:class:`drct.evaluation.perturb.Perturbation` is applied to the decoded full image before the
evaluation transform, as the authors' test hooks do. :func:`predict_perturbed` loads the model
once and scores every perturbation in turn, so a study costs one model load per run.
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
from drct.evaluation.perturb import Perturbation, apply_perturbation
from drct.io import write_csv
from drct.training.augment import build_eval_transform
from drct.training.checkpoint import load_model
from drct.training.dataset import load_rgb
from drct.training.settings import TrainSettings

__all__ = ["PREDICTION_COLUMNS", "PERTURBED_COLUMNS", "predict", "predict_perturbed", "select_rows", "resolve_device"]

log = logging.getLogger(__name__)

#: Columns of predictions.csv, in order. ``path`` is as in the manifest (relative to its folder).
PREDICTION_COLUMNS: tuple[str, ...] = ("path", "dataset", "generator", "split", "label", "score")
#: Columns of a perturbed predictions file: the perturbation's id, kind and strength, then the above.
PERTURBED_COLUMNS: tuple[str, ...] = ("perturbation", "kind", "strength", *PREDICTION_COLUMNS)


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
    """Transformed image tensors for a list of absolute paths, in order, optionally perturbed first."""

    def __init__(self, paths: list[str], transform, perturbation: Perturbation | None = None) -> None:
        self.paths = paths
        self.transform = transform
        self.perturbation = perturbation

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        # load_rgb raises ImageReadError naming the file
        image = apply_perturbation(load_rgb(self.paths[index]), self.perturbation)
        return self.transform(image=image)["image"]


def _scores(
    model: torch.nn.Module,
    dev: torch.device,
    paths: list[str],
    image_size: int,
    *,
    perturbation: Perturbation | None,
    batch_size: int,
    num_workers: int,
    desc: str,
) -> np.ndarray:
    """P(fake) for each path, in order: softmax of the logits, class 1."""
    loader = DataLoader(
        _ImagePaths(paths, build_eval_transform(image_size), perturbation),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=dev.type == "cuda",
    )
    scores: list[np.ndarray] = []
    model.eval()
    with torch.inference_mode():
        for images in tqdm(loader, desc=desc, unit="batch"):
            _, logits = model(images.to(dev, non_blocking=True))
            scores.append(torch.softmax(logits.float(), dim=1)[:, 1].cpu().numpy())
    return np.concatenate(scores).astype(np.float64)


def _frame(rows: pd.DataFrame, scores: np.ndarray) -> pd.DataFrame:
    out = rows[list(PREDICTION_COLUMNS[:-1])].copy()
    out["label"] = out["label"].astype(int)
    out["score"] = scores
    return out


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
    perturbation: Perturbation | None = None,
) -> pd.DataFrame:
    """Score the manifest's ``split`` images (optionally only ``generators``) and write ``out_csv``.

    ``generators`` must include the real set's generator when the protocol shares one (DRCT-2M's
    ``real``). ``perturbation`` (default none) is applied to every decoded image before the
    evaluation transform. Returns the predictions (columns :data:`PREDICTION_COLUMNS`, manifest
    order); the CSV is written atomically. An unreadable image raises
    :class:`drct.training.dataset.ImageReadError` naming it (validation upstream quarantines
    those, so meeting one is a bug).
    """
    rows = select_rows(Path(manifest), split, generators)
    dev = resolve_device(device)
    model, sidecar = load_model(Path(checkpoint), dev)
    image_size = TrainSettings.from_dict(sidecar["settings"]).image_size
    log.info(
        "scoring %d %s images of %d generators with %s on %s (input %d px, perturbation %s)",
        len(rows), split, rows["generator"].nunique(), checkpoint, dev, image_size,
        perturbation.id if perturbation else "none",
    )
    scores = _scores(
        model, dev, rows["abspath"].tolist(), image_size, perturbation=perturbation,
        batch_size=batch_size, num_workers=num_workers, desc=f"predict {Path(checkpoint).parent.name}",
    )
    out = _frame(rows, scores)
    write_csv(out, Path(out_csv))
    log.info("wrote %d predictions to %s", len(out), out_csv)
    return out


def predict_perturbed(
    checkpoint: Path,
    manifest: Path,
    out_csv: Path,
    perturbations: Sequence[Perturbation],
    *,
    split: str = "test",
    generators: list[str] | None = None,
    batch_size: int = 64,
    device: str = "auto",
    num_workers: int = 0,
) -> pd.DataFrame:
    """:func:`predict` under each perturbation in turn, the model loaded once; one long CSV.

    Columns :data:`PERTURBED_COLUMNS`: the perturbation's id (``jpeg-60``), kind (``jpeg``) and
    strength (60; empty for ``png``), then the usual prediction columns. Rows are grouped by
    perturbation, in the given order, each group in manifest order.
    """
    if not perturbations:
        raise ValueError("predict_perturbed needs at least one perturbation")
    ids = [p.id for p in perturbations]
    if len(set(ids)) != len(ids):
        raise ValueError(f"perturbations listed twice: {ids}")
    rows = select_rows(Path(manifest), split, generators)
    dev = resolve_device(device)
    model, sidecar = load_model(Path(checkpoint), dev)
    image_size = TrainSettings.from_dict(sidecar["settings"]).image_size
    log.info(
        "scoring %d %s images under %d perturbations (%s) with %s on %s",
        len(rows), split, len(perturbations), ", ".join(ids), checkpoint, dev,
    )
    parts = []
    for perturbation in perturbations:
        scores = _scores(
            model, dev, rows["abspath"].tolist(), image_size, perturbation=perturbation,
            batch_size=batch_size, num_workers=num_workers, desc=f"{perturbation.id} {Path(checkpoint).parent.name}",
        )
        part = _frame(rows, scores)
        part.insert(0, "strength", np.nan if perturbation.value is None else float(perturbation.value))
        part.insert(0, "kind", perturbation.kind)
        part.insert(0, "perturbation", perturbation.id)
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    write_csv(out, Path(out_csv))
    log.info("wrote %d perturbed predictions to %s", len(out), out_csv)
    return out
