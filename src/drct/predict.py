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
from drct.evaluation.score import _is_dire, checkpoint_needs_captions, load_scorer, score_images
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
    captions: Path | None = None,
    captioner: Path | None = None,
    reconstructions: Path | None = None,
) -> pd.DataFrame:
    """Score ``paths`` with ``checkpoint``; one row per path (columns :data:`OUTPUT_COLUMNS`), input order.

    A checkpoint that reads captions (De-fake) gets them from ``captions`` (a ``path, caption`` CSV,
    paths relative to the CSV's folder or absolute), else by captioning the images with the
    captioner its sidecar records (or the ``captioner`` folder given instead); an image without a
    caption is a ``no caption`` row. A DIRE checkpoint needs ``reconstructions``: the folder of
    ``<stem>.png`` reconstructions of ``paths`` (:func:`drct.evaluation.dire_score.pair_folder`);
    other checkpoints ignore both.
    """
    model, dev, transform = load_scorer(Path(checkpoint), device)
    texts = None
    if checkpoint_needs_captions(Path(checkpoint)):
        texts = captions_for(Path(checkpoint), list(paths), captions, captioner)
    wanted = [i for i in range(len(paths)) if texts is None or texts[i] is not None]
    if _is_dire(transform):
        from drct.evaluation.dire_score import pair_folder, score_pairs

        pairs = pair_folder(list(paths), reconstructions)
        scored = score_pairs(model, pairs, transform, dev, batch_size=batch_size, num_workers=num_workers,
                             desc="predict", progress=progress)
    else:
        scored = score_images(model, [paths[i] for i in wanted], transform, dev, batch_size=batch_size,
                              num_workers=num_workers, desc="predict", progress=progress,
                              captions=None if texts is None else [texts[i] for i in wanted])
    position = {i: k for k, i in enumerate(wanted)}
    rows = []
    for index, path in enumerate(paths):
        if index not in position:
            rows.append((str(path), None, "", "no caption", "no caption for this image (see the warnings)"))
            continue
        index = position[index]
        if index in scored.failures:
            rows.append((str(path), None, "", "unreadable", scored.failures[index]))
        else:
            value = float(scored.scores[index])
            fake = bool(predict_fake([value], threshold)[0])
            rows.append((str(path), value, "fake" if fake else "real", "ok", ""))
    return pd.DataFrame(rows, columns=list(OUTPUT_COLUMNS))


def captions_for(checkpoint: Path, paths: Sequence[Path], captions_csv: Path | None,
                 captioner: Path | None) -> list[str | None]:
    """A caption per image for a De-fake checkpoint: from ``captions_csv``, or written by the
    checkpoint's own captioner (its sidecar's ``provenance.captioner``; ``captioner`` replaces its model)."""
    if captions_csv is not None:
        from drct.captioning.join import read_captions

        table = read_captions(Path(captions_csv))
        base = Path(captions_csv).resolve().parent
        by_file = {str((base / p).resolve()): c for p, c in table.items()}
        found = [by_file.get(str(Path(p).resolve())) for p in paths]
        missing = sum(c is None for c in found)
        if missing:
            log.warning("%d of %d image(s) have no caption in %s", missing, len(paths), captions_csv)
        return found
    return caption_files(checkpoint, paths, captioner)


def caption_files(checkpoint: Path, paths: Sequence[Path], captioner: Path | None) -> list[str | None]:
    """Caption ``paths`` with the BLIP the checkpoint was trained with (None where an image cannot be read)."""
    from drct.captioning.caption_shard import open_image
    from drct.captioning.captioner import caption_images, load_captioner
    from drct.captioning.settings import CaptionSettings
    from drct.training.checkpoint import read_sidecar

    recorded = (read_sidecar(Path(checkpoint)).get("provenance") or {}).get("captioner")
    if not recorded and captioner is None:
        raise ValueError(
            f"{checkpoint} is De-fake (reads a caption per image) but its sidecar records no captioner: pass "
            "--captions CSV (path, caption) or --captioner DIR (a BLIP save_pretrained folder)"
        )
    fields = dict(recorded or {})
    if captioner is not None:
        fields.update(model=str(captioner), revision=None)
    settings = CaptionSettings.from_dict(fields)
    model = load_captioner(settings)
    found: list[str | None] = []
    for start in range(0, len(paths), settings.batch_size):
        batch = paths[start : start + settings.batch_size]
        images, where = [], []
        for k, path in enumerate(batch):
            try:
                images.append(open_image(Path(path)))
                where.append(k)
            except Exception as error:  # unreadable: reported as such by scoring
                log.warning("cannot caption %s: %s", path, error)
        texts: list[str | None] = [""] * len(batch)  # an unreadable image is scored (and reported) as unreadable
        for k, text in zip(where, caption_images(model, images, settings), strict=True):
            texts[k] = text
        found += texts
    log.info("captioned %d image(s) with %s", len(paths), settings.model)
    return found


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
