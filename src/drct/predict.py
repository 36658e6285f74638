"""``drct predict PATH...``: P(fake) for a user's own images, from any of our checkpoints.

Input: image files and folders (searched recursively for image suffixes), in any mix. Output: a
CSV or JSON file (by the suffix of ``--out``), or CSV on stdout without ``--out`` (logs and
progress go to stderr, so ``drct predict DIR > scores.csv`` and pipes get the table alone), one
row per image in input order:

``path, score, prediction, status, error``, where ``score`` = P(fake) = softmax(logits)[1],
``prediction`` is ``fake`` when the score is strictly above the threshold (0.5, as the paper and
:func:`drct.evaluation.decision.predict_fake`), else ``real``. Images that cannot be decoded get
``status = unreadable``, an empty score and the decoder's message: they are listed, never scored
and never silently dropped.

Scoring is evaluation's own loop (:func:`drct.evaluation.score.score_images`): the model and its
input size from the checkpoint and sidecar, the one decoder (:func:`drct.images.load_rgb`: EXIF
orientation, RGB, 16-bit greyscale scaled), the evaluation transform (zero-pad to the input size,
centre crop, ImageNet normalisation, no resize). So a file scored here gets the score
``drct evaluate`` gives it. Any checkpoint of ours works, including a released one converted by
``drct import-released`` or fetched by name with ``--released`` (:mod:`drct.released`). A DIRE
checkpoint scores each image with its reconstruction (``--reconstructions DIR``, ``<stem>.png``
files by the checkpoint's DR model); without them it stops saying how to make them. Folders are searched for :data:`drct.images.IMAGE_SUFFIXES`, the types
dataset preparation accepts. A failure of the machine (no space, I/O error, out of memory) stops
the command; it is never written as an ``unreadable`` row.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

import pandas as pd

from drct.evaluation.decision import predict_fake
from drct.evaluation.score import _is_dire, load_scorer, score_images
from drct.images import is_image_name, suffix_list
from drct.io import atomic_write_text, write_csv

log = logging.getLogger(__name__)

OUTPUT_COLUMNS = ("path", "score", "prediction", "status", "error")


def collect_images(inputs: Sequence[str | Path]) -> list[Path]:
    """Files named directly, plus image files found below named folders (sorted), without duplicates.

    A path that does not exist is an error naming it; a folder without images is logged.
    """
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            images = sorted(p for p in item.rglob("*") if p.is_file() and is_image_name(p.name))
            if not images:
                log.warning("%s: no image files (%s)", item, suffix_list())
            found.extend(images)
        elif item.is_file():
            found.append(item)
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    return list(dict.fromkeys(found))


def predict_images(
    checkpoint: Path,
    paths: Sequence[Path],
    *,
    batch_size: int = 64,
    device: str = "auto",
    num_workers: int = 0,
    threshold: float = 0.5,
    progress: bool = True,
    reconstructions: Path | None = None,
) -> pd.DataFrame:
    """Score ``paths`` with ``checkpoint``; one row per path (columns :data:`OUTPUT_COLUMNS`), input order.

    A DIRE checkpoint needs ``reconstructions``: the folder of ``<stem>.png`` reconstructions of
    ``paths`` (:func:`drct.evaluation.dire_score.pair_folder`); other checkpoints ignore it.
    """
    model, dev, transform = load_scorer(Path(checkpoint), device)
    if _is_dire(transform):
        from drct.evaluation.dire_score import pair_folder, score_pairs

        pairs = pair_folder(list(paths), reconstructions)
        scored = score_pairs(model, pairs, transform, dev, batch_size=batch_size, num_workers=num_workers,
                             desc="predict", progress=progress)
    else:
        scored = score_images(model, list(paths), transform, dev, batch_size=batch_size,
                              num_workers=num_workers, desc="predict", progress=progress)
    rows = []
    for index, path in enumerate(paths):
        if index in scored.failures:
            rows.append((str(path), None, "", "unreadable", scored.failures[index]))
        else:
            value = float(scored.scores[index])
            fake = bool(predict_fake([value], threshold)[0])
            rows.append((str(path), value, "fake" if fake else "real", "ok", ""))
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


def print_predictions(frame: pd.DataFrame, stream: TextIO | None = None) -> None:
    """The CSV :func:`write_predictions` writes, on ``stream`` (stdout by default), flushed."""
    stream = sys.stdout if stream is None else stream
    frame.to_csv(stream, index=False, lineterminator="\n")
    stream.flush()


def predict_paths(
    checkpoint: Path,
    inputs: Iterable[str | Path],
    out: Path | None = None,
    **options,
) -> pd.DataFrame:
    """Collect images under ``inputs``, score them, write ``out`` (CSV on stdout when None); log how many
    could not be read."""
    if out is not None and Path(out).suffix.lower() not in (".csv", ".json"):
        raise ValueError(f"--out {out}: use a .csv or .json file name")
    paths = collect_images(list(inputs))
    if not paths:
        raise ValueError("no images to score")
    frame = predict_images(Path(checkpoint), paths, **options)
    if out is None:
        print_predictions(frame)
    else:
        write_predictions(frame, Path(out))
    bad = frame[frame["status"] != "ok"]
    log.info("scored %d of %d images -> %s", len(frame) - len(bad), len(frame), out or "stdout")
    for path, error in zip(bad["path"], bad["error"]):
        log.warning("not scored: %s (%s)", path, error)
    return frame
