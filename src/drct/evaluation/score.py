"""Per-image scores: P(fake) for images, from one checkpoint; the one scoring loop of the project.

:func:`score_images` is the only DataLoader + softmax loop: ``drct evaluate`` (:func:`score`, a
manifest split), perturbed evaluation (:func:`score_perturbed`) and ``drct predict``
(:mod:`drct.predict`, a user's files) all call it, so a file gets the same score whichever way it
is scored.

Kept separate from the metrics so that the GPU step runs once and every metric (or a different
threshold) can be recomputed from ``predictions.csv`` without a GPU.

As in the authors' test script: the model rebuilt from the checkpoint and its sidecar, the
evaluation transform (:func:`drct.model_input.build_eval_transform`: zero-pad to ``image_size``,
centre-crop ``image_size``, no resize, ImageNet normalisation), and ``score = softmax(logits)[:, 1]``.
Images are decoded by the one decoder (:func:`drct.images.load_rgb`) that training and validation
use too.

Perturbed scoring (robustness study, format-bias control) goes through the same loop: a
:class:`drct.evaluation.perturb.Perturbation` is applied to the decoded full image before the
evaluation transform, as the authors' test hooks do. :func:`score_perturbed` scores every
perturbation in turn with one model.

:func:`score_protocols` is what the workflow runs (``drct score``, one job per checkpoint): it loads
the model once and calls :func:`score` for every protocol of the run and :func:`score_perturbed`
for those with a perturbation study, each writing the same file a job of its own would. Importing
torch, the backbone library and the checkpoint costs more than scoring a demo test set, and at paper
scale a GPU job per protocol loaded a ViT-L/14 several times over.

Failures: an image that cannot be decoded is a failure of that image (:class:`ImageReadError`),
returned by :func:`score_images` per image; a failure of the machine (no space, I/O error, out of
memory) raises :class:`drct.failures.EnvironmentFailure` from the decoder and stops the job.
Evaluation refuses to write predictions with holes (validation upstream quarantines unreadable
images, so meeting one is a bug); ``drct predict`` lists them as ``unreadable`` rows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from drct.data.manifest import read_manifest
from drct.device import resolve_device
from drct.evaluation.perturb import Perturbation, apply_perturbation
from drct.images import ImageReadError, load_rgb
from drct.io import write_csv
from drct.model_input import build_input_transform
from drct.training.checkpoint import load_model, read_sidecar
from drct.training.model import to_device
from drct.training.settings import TrainSettings

__all__ = [
    "PERTURBED_COLUMNS",
    "PREDICTION_COLUMNS",
    "ProtocolTask",
    "Scored",
    "Scorer",
    "load_scorer",
    "score_perturbed",
    "score_protocols",
    "score",
    "score_images",
    "select_rows",
]

log = logging.getLogger(__name__)

#: Columns of predictions.csv, in order. ``path`` is as in the manifest (relative to its folder).
PREDICTION_COLUMNS: tuple[str, ...] = ("path", "dataset", "generator", "split", "label", "score")
#: Columns of a perturbed predictions file: the perturbation's id, kind and strength, then the above.
PERTURBED_COLUMNS: tuple[str, ...] = ("perturbation", "kind", "strength", *PREDICTION_COLUMNS)
#: why a DIRE checkpoint is kept out of the perturbation studies (drct.planning.dire.studied_runs)
_DIRE_PERTURBED = (
    "a DIRE checkpoint cannot be scored under a perturbation: its input needs the reconstruction of the "
    "perturbed image, which the workflow does not compute"
)
#: how many unreadable images an evaluation error lists by name
_LISTED = 10


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


@dataclass(frozen=True)
class _Item:
    index: int
    image: torch.Tensor | None
    error: str | None
    caption: str | None = None


class _Images(Dataset):
    """Transformed images of ``paths``, in order, each optionally perturbed first.

    An image that cannot be decoded becomes an item carrying the decoder's message, so the caller
    decides what one unreadable image means; failures of the machine propagate.
    """

    def __init__(self, paths: Sequence[str | Path], transform: Callable[..., dict],
                 perturbation: Perturbation | None = None, captions: Sequence[str] | None = None) -> None:
        self.paths, self.transform, self.perturbation = list(paths), transform, perturbation
        self.captions = None if captions is None else list(captions)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> _Item:
        try:
            image = load_rgb(self.paths[index])
        except ImageReadError as error:
            return _Item(index, None, str(error))
        image = apply_perturbation(image, self.perturbation)
        caption = None if self.captions is None else self.captions[index]
        return _Item(index, self.transform(image=image)["image"], None, caption)


def _collate(items: list[_Item]) -> tuple[list[int], torch.Tensor | tuple[torch.Tensor, list[str]] | None,
                                          list[tuple[int, str]]]:
    """Indices, the model's input (images, or ``(images, captions)`` for De-fake) and the failures."""
    good = [i for i in items if i.image is not None]
    images = torch.stack([i.image for i in good]) if good else None
    if images is not None and good[0].caption is not None:
        images = (images, [i.caption for i in good])
    return [i.index for i in good], images, [(i.index, i.error) for i in items if i.image is None]


@dataclass(frozen=True)
class Scored:
    """What :func:`score_images` returns: a score per input, and why the missing ones are missing."""

    #: P(fake) per input path, in input order (float64); NaN where the image could not be read
    scores: np.ndarray
    #: input index -> the decoder's message (names the file), for every unreadable image
    failures: dict[int, str]


def score_images(
    model: torch.nn.Module,
    paths: Sequence[str | Path],
    transform: Callable[..., dict],
    device: torch.device,
    *,
    batch_size: int = 64,
    num_workers: int = 0,
    perturbation: Perturbation | None = None,
    desc: str = "score",
    progress: bool = True,
    captions: Sequence[str] | None = None,
) -> Scored:
    """P(fake) = softmax(logits)[:, 1] of ``model`` for each of ``paths``, in order.

    Each image is decoded (:func:`drct.images.load_rgb`), perturbed when ``perturbation`` is given,
    and passed through ``transform`` (the evaluation transform). Unreadable images are reported in
    :attr:`Scored.failures`, not scored; a failure of the machine raises. ``captions``: one per
    path, for a model that reads a caption with each image (De-fake).
    """
    if captions is not None and len(captions) != len(paths):
        raise ValueError(f"{len(paths)} images but {len(captions)} captions")
    loader = DataLoader(
        _Images(paths, transform, perturbation, captions),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=_collate,
        pin_memory=device.type == "cuda",
    )
    scores = np.full(len(paths), np.nan, dtype=np.float64)
    failures: dict[int, str] = {}
    model.eval()
    with torch.inference_mode():
        for indices, images, failed in tqdm(loader, desc=desc, unit="batch", disable=not progress):
            failures.update(failed)
            if images is None:
                continue
            _, logits = model(to_device(images, device))
            scores[indices] = torch.softmax(logits.float(), dim=1)[:, 1].cpu().numpy()
    return Scored(scores, failures)


def _complete_scores(scored: Scored, what: str) -> np.ndarray:
    """The scores when every image was read; else one :class:`ImageReadError` listing the unreadable ones."""
    if scored.failures:
        listed = [scored.failures[i] for i in sorted(scored.failures)[:_LISTED]]
        more = f"\n  ... and {len(scored.failures) - _LISTED} more" if len(scored.failures) > _LISTED else ""
        raise ImageReadError(
            f"{what}: {len(scored.failures)} image(s) could not be read (validation should have "
            "quarantined them; rerun `drct validate` on the manifest):\n  " + "\n  ".join(listed) + more
        )
    return scored.scores


def _frame(rows: pd.DataFrame, scores: np.ndarray) -> pd.DataFrame:
    out = rows[list(PREDICTION_COLUMNS[:-1])].copy()
    out["label"] = out["label"].astype(int)
    out["score"] = scores
    return out


#: what :func:`load_scorer` returns: the model, its device and the evaluation transform
Scorer = tuple[torch.nn.Module, torch.device, Callable[..., dict]]


def load_scorer(checkpoint: Path, device: str = "auto") -> Scorer:
    """``(model, device, evaluation transform)`` for a checkpoint: the model on the resolved
    device (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``) and the transform at its input size."""
    dev = resolve_device(device)
    model, sidecar = load_model(Path(checkpoint), dev)
    settings = TrainSettings.from_dict(sidecar["settings"])
    if settings.input == "dire":  # a DIRE network reads image / reconstruction pairs (drct.evaluation.dire_score)
        from drct.training.dire import DireCrop

        return model, dev, DireCrop(settings.image_size, train=False)
    return model, dev, build_input_transform(settings.family, settings.image_size)


def _is_dire(transform: object) -> bool:
    from drct.training.dire import DireCrop

    return isinstance(transform, DireCrop)


def checkpoint_needs_captions(checkpoint: Path) -> bool:
    """Whether the checkpoint's network reads a caption per image (De-fake), from its sidecar."""
    return TrainSettings.from_dict(read_sidecar(Path(checkpoint))["settings"]).needs_captions


def captioned_rows(rows: pd.DataFrame, manifest: Path, captions_csv: Path | None
                   ) -> tuple[pd.DataFrame, list[str] | None]:
    """The rows to score and their captions: all rows and None without a captions CSV; else the
    rows that have a caption (the others, whose captioning failed, are dropped with a warning)."""
    if captions_csv is None:
        return rows, None
    from drct.captioning.join import captions_by_abspath

    captions = captions_by_abspath(Path(manifest), Path(captions_csv))
    has = rows["abspath"].astype(str).isin(captions)
    if not has.all():
        log.warning("%s: %d of %d image(s) have no caption in %s and are not scored", manifest,
                    int((~has).sum()), len(rows), captions_csv)
    rows = rows[has].reset_index(drop=True)
    if rows.empty:
        raise ValueError(f"{manifest}: no image to score has a caption in {captions_csv}")
    return rows, [captions[str(a)] for a in rows["abspath"]]


def score(
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
    scorer: Scorer | None = None,
    captions: Path | None = None,
    reconstructions: dict[str, str] | None = None,
    reconstruction_manifests: Sequence[Path] = (),
) -> pd.DataFrame:
    """Score the manifest's ``split`` images (optionally only ``generators``) and write ``out_csv``.

    A DIRE checkpoint reads each image with its reconstruction: ``reconstructions`` maps every
    scored generator to the manifest generator holding its reconstructions (same split and stem;
    :func:`drct.evaluation.dire_score.pair_rows`), looked up in ``reconstruction_manifests`` (the
    workflow's DIRE test reconstruction jobs) or, when none are given, in ``manifest`` itself;
    perturbations are refused for it.

    ``generators`` must include the real set's generator when the protocol shares one (DRCT-2M's
    ``real``). ``perturbation`` (default none) is applied to every decoded image before the
    evaluation transform. Returns the predictions (columns :data:`PREDICTION_COLUMNS`, manifest
    order); the CSV is written atomically. Unreadable images raise one
    :class:`drct.images.ImageReadError` naming them, and nothing is written (validation upstream
    quarantines those, so meeting one is a bug). ``scorer`` is the checkpoint already loaded by
    :func:`load_scorer` (then ``device`` is unused): :func:`score_protocols` loads it once.
    """
    rows = select_rows(Path(manifest), split, generators)
    rows, texts = captioned_rows(rows, Path(manifest), captions)
    model, dev, transform = scorer or load_scorer(Path(checkpoint), device)
    log.info(
        "scoring %d %s images of %d generators with %s on %s (perturbation %s)",
        len(rows), split, rows["generator"].nunique(), checkpoint, dev,
        perturbation.id if perturbation else "none",
    )
    if _is_dire(transform):
        from drct.evaluation.dire_score import pair_rows, score_pairs

        if perturbation is not None:
            raise ValueError(_DIRE_PERTURBED)
        if reconstruction_manifests:
            holding = pd.concat([read_manifest(Path(m)) for m in reconstruction_manifests], ignore_index=True)
            where = ", ".join(str(m) for m in reconstruction_manifests)
        else:
            holding, where = read_manifest(Path(manifest)), str(manifest)
        pairs = pair_rows(rows, holding, reconstructions or {}, where)
        scored = score_pairs(model, pairs, transform, dev, batch_size=batch_size, num_workers=num_workers,
                             desc=f"evaluate {Path(checkpoint).parent.name}")
    else:
        scored = score_images(
            model, rows["abspath"].tolist(), transform, dev, perturbation=perturbation, captions=texts,
            batch_size=batch_size, num_workers=num_workers, desc=f"evaluate {Path(checkpoint).parent.name}",
        )
    out = _frame(rows, _complete_scores(scored, str(manifest)))
    write_csv(out, Path(out_csv))
    log.info("wrote %d predictions to %s", len(out), out_csv)
    return out


def score_perturbed(
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
    scorer: Scorer | None = None,
    captions: Path | None = None,
) -> pd.DataFrame:
    """:func:`score` under each perturbation in turn, the model loaded once; one long CSV.

    Columns :data:`PERTURBED_COLUMNS`: the perturbation's id (``jpeg-60``), kind (``jpeg``) and
    strength (60; empty for ``png``), then the usual prediction columns. Rows are grouped by
    perturbation, in the given order, each group in manifest order. ``scorer``: as in :func:`score`.
    """
    if not perturbations:
        raise ValueError("score_perturbed needs at least one perturbation")
    ids = [p.id for p in perturbations]
    if len(set(ids)) != len(ids):
        raise ValueError(f"perturbations listed twice: {ids}")
    rows = select_rows(Path(manifest), split, generators)
    rows, texts = captioned_rows(rows, Path(manifest), captions)
    model, dev, transform = scorer or load_scorer(Path(checkpoint), device)
    if _is_dire(transform):
        raise ValueError(_DIRE_PERTURBED)
    log.info(
        "scoring %d %s images under %d perturbations (%s) with %s on %s",
        len(rows), split, len(perturbations), ", ".join(ids), checkpoint, dev,
    )
    parts = []
    for perturbation in perturbations:
        scored = score_images(
            model, rows["abspath"].tolist(), transform, dev, perturbation=perturbation, captions=texts,
            batch_size=batch_size, num_workers=num_workers, desc=f"{perturbation.id} {Path(checkpoint).parent.name}",
        )
        part = _frame(rows, _complete_scores(scored, f"{manifest} under {perturbation.id}"))
        part.insert(0, "strength", np.nan if perturbation.value is None else float(perturbation.value))
        part.insert(0, "kind", perturbation.kind)
        part.insert(0, "perturbation", perturbation.id)
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    write_csv(out, Path(out_csv))
    log.info("wrote %d perturbed predictions to %s", len(out), out_csv)
    return out


@dataclass(frozen=True)
class ProtocolTask:
    """One protocol a checkpoint is scored on: its manifest's rows to ``out``, and, where the
    protocol has a perturbation study, the same rows under each of ``perturbations`` to
    ``perturbed_out``."""

    name: str
    manifest: Path
    out: Path
    #: generators the protocol scores (its columns and shared real set); None = every generator
    generators: list[str] | None = None
    perturbations: tuple[Perturbation, ...] = ()
    perturbed_out: Path | None = None
    #: the manifest's captions CSV (drct merge-captions), for a checkpoint that reads captions (De-fake)
    captions: Path | None = None
    #: DIRE checkpoints: scored generator -> the manifest generator holding its reconstructions
    reconstructions: dict[str, str] | None = None
    #: DIRE checkpoints: the manifests listing those reconstructions (none: ``manifest`` lists them)
    reconstruction_manifests: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        if bool(self.perturbations) != (self.perturbed_out is not None):
            raise ValueError(f"protocol {self.name!r}: give both perturbations and perturbed_out, or neither")
        ids = [p.id for p in self.perturbations]
        if len(set(ids)) != len(ids):
            raise ValueError(f"protocol {self.name!r}: perturbations listed twice: {ids}")


def score_protocols(
    checkpoint: Path,
    tasks: Sequence[ProtocolTask],
    *,
    split: str = "test",
    batch_size: int = 64,
    device: str = "auto",
    num_workers: int = 0,
) -> None:
    """Every protocol of one checkpoint, clean (:func:`score`) and perturbed (:func:`score_perturbed`),
    the model loaded once; each output is the file :func:`score` / :func:`score_perturbed` alone
    would write. The rows of every task are checked before the model is loaded, so a bad manifest
    fails in seconds, not after the first protocols were scored."""
    if not tasks:
        raise ValueError("score_protocols needs at least one protocol")
    outs = [t.out for t in tasks] + [t.perturbed_out for t in tasks if t.perturbed_out is not None]
    if len(set(outs)) != len(outs):
        raise ValueError(f"two protocols write the same file: {[str(o) for o in outs]}")
    for task in tasks:
        select_rows(Path(task.manifest), split, task.generators)
    if checkpoint_needs_captions(Path(checkpoint)):
        lacking = [t.name for t in tasks if t.captions is None]
        if lacking:
            raise ValueError(f"{checkpoint} reads a caption per image (De-fake): protocol(s) {lacking} name no "
                             "captions CSV (the 'captions' entry of drct score --protocols)")
    scorer = load_scorer(Path(checkpoint), device)
    settings = {"split": split, "batch_size": batch_size, "num_workers": num_workers, "scorer": scorer}
    for task in tasks:
        log.info("protocol %s", task.name)
        captions = task.captions if checkpoint_needs_captions(Path(checkpoint)) else None
        score(Path(checkpoint), Path(task.manifest), Path(task.out), generators=task.generators,
              captions=captions, reconstructions=task.reconstructions,
              reconstruction_manifests=task.reconstruction_manifests, **settings)
        if task.perturbations:
            score_perturbed(Path(checkpoint), Path(task.manifest), Path(task.perturbed_out), task.perturbations,
                            generators=task.generators, captions=captions, **settings)
