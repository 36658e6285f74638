"""Scoring a DIRE checkpoint: each image is read with its diffusion reconstruction.

A DIRE network classifies ``|image - reconstruction|`` (:mod:`drct.training.dire`), so every image
it scores needs its reconstruction by the DR model it was trained with. In the workflow those come
from reconstruction jobs planned by :mod:`drct.planning.dire` and listed in the combined manifest
under their own generator name (``ProtocolTask.reconstructions`` maps each scored generator to it);
``drct predict`` takes a folder of them (``--reconstructions``, ``<stem>.png`` as
``drct reconstruct-shard`` writes them). Pairs are made by file stem, and an image without its
reconstruction is an error naming both, never a silently skipped row.

The loop is :func:`drct.evaluation.score.score_images`' loop with pairs for images: the evaluation
crop (centre, ``DireCrop(train=False)``), softmax(logits)[:, 1]; an unreadable image or
reconstruction is a failure of that item (reported, not scored), a failure of the machine raises.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from drct.images import ImageReadError, load_rgb
from drct.training.dire import (
    DireCrop,
    MissingReconstructionError,
    align_to_reconstruction,
    pair_with_reconstruction,
)
from drct.training.dire_dataset import DEFAULT_MAX_SIDE

__all__ = ["HOW_TO_RECONSTRUCT", "pair_rows", "pair_folder", "score_pairs"]

#: what a DIRE user is told when reconstructions are missing
HOW_TO_RECONSTRUCT = (
    "a DIRE checkpoint scores |image - reconstruction|: reconstruct the images with the DR model the "
    "checkpoint was trained with (its train set's dr_model), e.g. `drct reconstruct-shard --manifest M "
    "--settings '{\"model\": ...}' --source G --split test --output-name rec --images-dir DIR --shard 0 "
    "--num-shards 1 --out DIR.csv --provenance DIR.json` (or the workflow's reconstruction jobs), then "
    "give that folder of <stem>.png files"
)


class _Pairs(Dataset):
    """DIRE tensors of ``(image, reconstruction)`` path pairs, in order; unreadable ones carry their message."""

    def __init__(self, pairs: Sequence[tuple[str, str]], crop: DireCrop, max_side: int = DEFAULT_MAX_SIDE) -> None:
        self.pairs, self.crop, self.max_side = list(pairs), crop, max_side

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int):
        from drct.evaluation.score import _Item

        image_path, rec_path = self.pairs[index]
        try:
            image, rec = load_rgb(image_path), load_rgb(rec_path)
        except ImageReadError as error:
            return _Item(index, None, str(error))
        try:
            image = align_to_reconstruction(image, rec.shape[:2], self.max_side)
        except ValueError as error:
            return _Item(index, None, f"{image_path} and its reconstruction {rec_path} do not match: {error}")
        return _Item(index, self.crop(image, rec), None)


def score_pairs(
    model: torch.nn.Module,
    pairs: Sequence[tuple[str, str]],
    crop: DireCrop,
    device: torch.device,
    *,
    batch_size: int = 64,
    num_workers: int = 0,
    desc: str = "score",
    progress: bool = True,
):
    """P(fake) of each ``(image, reconstruction)`` pair, in order, as a :class:`drct.evaluation.score.Scored`."""
    from drct.evaluation.score import Scored, _collate

    loader = DataLoader(_Pairs(pairs, crop), batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        collate_fn=_collate, pin_memory=device.type == "cuda")
    scores = np.full(len(pairs), np.nan, dtype=np.float64)
    failures: dict[int, str] = {}
    model.eval()
    with torch.inference_mode():
        for indices, inputs, failed in tqdm(loader, desc=desc, unit="batch", disable=not progress):
            failures.update(failed)
            if inputs is None:
                continue
            _, logits = model(inputs.to(device, non_blocking=True))
            scores[indices] = torch.softmax(logits.float(), dim=1)[:, 1].cpu().numpy()
    return Scored(scores, failures)


def pair_rows(rows: pd.DataFrame, manifest: pd.DataFrame, reconstructions: Mapping[str, str], where: str) -> list[tuple[str, str]]:
    """``(image, reconstruction)`` absolute paths for the scored ``rows``: each row's generator is
    reconstructed under ``reconstructions[generator]`` in ``manifest`` (same split, same stem).

    A generator without an entry, or an image without its reconstruction, raises naming them.
    """
    missing = sorted(set(rows["generator"]) - set(reconstructions))
    if missing:
        raise MissingReconstructionError(f"{where}: a DIRE checkpoint needs reconstructions of generator(s) {missing}")
    recs = manifest[manifest["generator"].isin(set(reconstructions.values()))]
    if "status" in recs.columns:  # a failed reconstruction has no file: its image is reported below
        recs = recs[recs["status"] != "failed"]
    index: dict[tuple[str, str, str], str] = {}
    for generator, split, path in recs.loc[recs["abspath"].notna(), ["generator", "split", "abspath"]].itertuples(index=False):
        index[(generator, split, Path(path).stem)] = str(path)
    pairs, absent = [], []
    for generator, split, path in rows[["generator", "split", "abspath"]].itertuples(index=False):
        key = (reconstructions[generator], split, Path(path).stem)
        if key in index:
            pairs.append((str(path), index[key]))
        else:
            absent.append(f"{path} (expected in {key[0]!r}, {split})")
    if absent:
        more = f" and {len(absent) - 10} more" if len(absent) > 10 else ""
        raise MissingReconstructionError(f"{where}: {len(absent)} image(s) have no reconstruction: "
                                         + "; ".join(absent[:10]) + more)
    return pairs


def pair_folder(paths: Sequence[str | Path], folder: str | Path | None) -> list[tuple[str, str]]:
    """``(image, <folder>/<stem>.png)`` for ``drct predict``; no folder, or a missing file, raises with how to make them."""
    if folder is None:
        raise MissingReconstructionError(f"no --reconstructions folder given; {HOW_TO_RECONSTRUCT}")
    if not Path(folder).is_dir():
        raise MissingReconstructionError(f"--reconstructions {folder}: no such folder; {HOW_TO_RECONSTRUCT}")
    try:
        return [(str(p), str(pair_with_reconstruction(p, folder))) for p in paths]
    except MissingReconstructionError as error:
        raise MissingReconstructionError(f"{error}; {HOW_TO_RECONSTRUCT}") from None
