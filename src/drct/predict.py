"""``drct predict PATH...``: P(fake) for a user's own images, from any of our checkpoints.

Input: image files and folders (searched recursively for image suffixes), in any mix. Output: a
CSV or JSON file (by the suffix of ``--out``), one row per image in input order:

``path, score, prediction, status, error``, where ``score`` = P(fake) = softmax(logits)[1],
``prediction`` is ``fake`` when the score is strictly above the threshold (0.5, as the paper and
:func:`drct.evaluation.metrics.predict_fake`), else ``real``. Images that cannot be decoded get
``status = unreadable``, an empty score and the decoder's message: they are listed, never scored
and never silently dropped.

Preprocessing is evaluation's, through the same functions: the model and its input size from the
checkpoint and sidecar (:func:`drct.training.checkpoint.load_model`), decoding with
:func:`drct.training.dataset.load_rgb` (EXIF orientation, RGB), and the evaluation transform
(zero-pad to the input size, centre crop, ImageNet normalisation, no resize). So a file scored here
gets the score ``drct evaluate`` gives it. Any checkpoint of ours works, including a released one
converted by ``drct import-released``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from drct.evaluation.metrics import predict_fake
from drct.evaluation.score import resolve_device
from drct.io import atomic_write_text, write_csv
from drct.training.augment import build_eval_transform
from drct.training.checkpoint import load_model
from drct.training.dataset import ImageReadError, load_rgb
from drct.training.settings import TrainSettings

log = logging.getLogger(__name__)

#: suffixes a folder is searched for (explicitly named files are tried whatever their suffix)
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".jfif"})
OUTPUT_COLUMNS = ("path", "score", "prediction", "status", "error")


def collect_images(inputs: Sequence[str | Path]) -> list[Path]:
    """Files named directly, plus image files found below named folders (sorted), without duplicates.

    A path that does not exist is an error naming it; a folder without images is logged.
    """
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            images = sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not images:
                log.warning("%s: no image files (%s)", item, ", ".join(sorted(IMAGE_SUFFIXES)))
            found.extend(images)
        elif item.is_file():
            found.append(item)
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class _Item:
    index: int
    image: torch.Tensor | None
    error: str | None


class _TolerantImages(Dataset):
    """Evaluation-transformed images; an unreadable one becomes an item carrying its error."""

    def __init__(self, paths: Sequence[Path], transform) -> None:
        self.paths, self.transform = list(paths), transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> _Item:
        try:
            return _Item(index, self.transform(image=load_rgb(self.paths[index]))["image"], None)
        except ImageReadError as error:
            return _Item(index, None, str(error))


def _collate(items: list[_Item]) -> tuple[list[int], torch.Tensor | None, list[tuple[int, str]]]:
    good = [i for i in items if i.image is not None]
    images = torch.stack([i.image for i in good]) if good else None
    return [i.index for i in good], images, [(i.index, i.error) for i in items if i.image is None]


def score_images(
    checkpoint: Path,
    paths: Sequence[Path],
    *,
    batch_size: int = 64,
    device: str = "auto",
    num_workers: int = 0,
    threshold: float = 0.5,
    progress: bool = True,
) -> pd.DataFrame:
    """Score ``paths`` with ``checkpoint``; one row per path (columns :data:`OUTPUT_COLUMNS`), input order."""
    dev = resolve_device(device)
    model, sidecar = load_model(Path(checkpoint), dev)
    image_size = TrainSettings.from_dict(sidecar["settings"]).image_size
    loader = DataLoader(
        _TolerantImages(paths, build_eval_transform(image_size)),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=_collate,
        pin_memory=dev.type == "cuda",
    )
    scores: dict[int, float] = {}
    errors: dict[int, str] = {}
    with torch.inference_mode():
        for indices, images, failed in tqdm(loader, desc="predict", unit="batch", disable=not progress):
            errors.update(failed)
            if images is None:
                continue
            _, logits = model(images.to(dev, non_blocking=True))
            for index, score in zip(indices, torch.softmax(logits.float(), dim=1)[:, 1].cpu().tolist()):
                scores[index] = float(score)
    rows = []
    for index, path in enumerate(paths):
        if index in scores:
            fake = bool(predict_fake([scores[index]], threshold)[0])
            rows.append((str(path), scores[index], "fake" if fake else "real", "ok", ""))
        else:
            rows.append((str(path), None, "", "unreadable", errors.get(index, "not scored")))
    return pd.DataFrame(rows, columns=list(OUTPUT_COLUMNS))


def write_predictions(frame: pd.DataFrame, out: Path) -> Path:
    """CSV, or JSON (a list of row objects, ``score`` null when unreadable) when ``out`` ends in ``.json``."""
    out = Path(out)
    if out.suffix.lower() == ".json":
        records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
        return atomic_write_text(out, json.dumps(records, indent=2) + "\n")
    if out.suffix.lower() != ".csv":
        raise ValueError(f"--out {out}: use a .csv or .json file name")
    return write_csv(frame, out)


def predict_paths(
    checkpoint: Path,
    inputs: Iterable[str | Path],
    out: Path,
    **options,
) -> pd.DataFrame:
    """Collect images under ``inputs``, score them, write ``out``; log how many could not be read."""
    if Path(out).suffix.lower() not in (".csv", ".json"):
        raise ValueError(f"--out {out}: use a .csv or .json file name")
    paths = collect_images(list(inputs))
    if not paths:
        raise ValueError("no images to score")
    frame = score_images(Path(checkpoint), paths, **options)
    write_predictions(frame, Path(out))
    bad = frame[frame["status"] != "ok"]
    log.info("scored %d of %d images -> %s", len(frame) - len(bad), len(frame), out)
    for path, error in zip(bad["path"], bad["error"]):
        log.warning("not scored: %s (%s)", path, error)
    return frame
