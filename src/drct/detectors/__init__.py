"""The detectors of the paper's tables besides DRCT's own backbones: one named entry each.

An entry says, in one place, what a detector is: its network (a training ``family`` and model),
its input (size and transform), its loss, the data it trains on, its default hyper-parameters,
where it comes from (the authors' code or the method's own paper) and what that source left
unspecified and how it was chosen here. A config names it in a backbone entry
(``training.backbones: [{name: cnnspot, detector: cnnspot}]``); :func:`expand_backbone` turns that
into a full backbone record whose ``settings`` override the run's training settings, so the
detector is trained, evaluated and tabulated by the same rules as Conv-B and UnivFD.

Adding a detector: one module here with a ``DETECTOR`` entry (plus its network under
``drct.training.networks`` when timm/open_clip do not build it), and its name in ``_MODULES``.
Pure Python: the Snakefile reads these entries when it plans the runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Detector", "DETECTORS", "expand_backbone", "get_detector"]

_MODULES = ("cnnspot", "f3net", "clip_rn50", "gramnet", "defake", "dire")

#: the defaults of the authors' ``scripts/train.py``, which trains every detector of theirs that is
#: not DRCT (its README has no command for them): AdamW lr 1e-3 (weight decay 4e-5 and the cosine
#: schedule with T_max 5 are TrainSettings' defaults too), 50 epochs, batch 64 per GPU, 224 px
TRAIN_PY = {"lr": 1e-3, "epochs": 50, "batch_size": 64, "image_size": 224}
#: what every entry trained by train.py's defaults says it chose
TRAIN_PY_CHOICE = "no command for the baselines in the authors' README: scripts/train.py's defaults (lr 1e-3, 50 epochs, batch 64 per GPU)"


@dataclass(frozen=True)
class Detector:
    """One detector of the paper: network, input, loss, data and defaults."""

    name: str  # config name
    label: str  # its row in the paper's tables
    source: str  # where the definition comes from
    family: str  # drct.training.settings.Family
    model_name: str
    pretrained: str | bool  # timm: bool; open_clip: a tag
    image_size: int
    unspecified: str  # what the source leaves open, and the choice made here
    freeze_backbone: bool = False
    #: what the network is fed: "image" (the image, through the shared transforms) or "dire" (the
    #: absolute difference between the image and its diffusion reconstruction, drct.training.dire)
    input: Literal["image", "dire"] = "image"
    method: str = "baseline"  # the training method: "baseline" = cross-entropy on real vs fake
    embedding_dim: int = 0  # 0: classifier straight on the network's features (their train.py)
    needs_captions: bool = False  # the network reads a caption per image too (De-fake): a captions CSV must exist
    batch_size: int = TRAIN_PY["batch_size"]
    defaults: Mapping[str, Any] = field(default_factory=lambda: {"lr": TRAIN_PY["lr"], "epochs": TRAIN_PY["epochs"]})

    def settings(self) -> dict[str, Any]:
        """The TrainSettings fields this detector fixes (besides family/model/pretrained/freeze/batch)."""
        # ``input`` only where it is not the image, so the image detectors' settings stay as they were
        fed = {"input": self.input} if self.input != "image" else {}
        return {"image_size": self.image_size, "embedding_dim": self.embedding_dim, **fed, **self.defaults}


def _load() -> dict[str, Detector]:
    found = {}
    for module in _MODULES:
        detector = importlib.import_module(f"drct.detectors.{module}").DETECTOR
        found[detector.name] = detector
    return found


DETECTORS: dict[str, Detector] = _load()


def get_detector(name: str) -> Detector:
    try:
        return DETECTORS[name]
    except KeyError:
        raise KeyError(f"unknown detector {name!r}; known: {', '.join(sorted(DETECTORS))}") from None


def expand_backbone(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A config backbone entry with its detector's fields filled in (the entry's own keys win).

    ``{name: cnnspot, detector: cnnspot}`` becomes a full backbone record: label, family,
    model_name, pretrained, freeze_backbone, batch_size, ``methods: [baseline]`` (a detector is
    trained its own way only) and ``settings`` (image size, embedding width, hyper-parameters).
    An entry without ``detector`` is returned unchanged.
    """
    if "detector" not in entry:
        return dict(entry)
    detector = get_detector(entry["detector"])
    record: dict[str, Any] = {
        "label": detector.label,
        "family": detector.family,
        "model_name": detector.model_name,
        "pretrained": detector.pretrained,
        "freeze_backbone": detector.freeze_backbone,
        "batch_size": detector.batch_size,
        "methods": [detector.method],
    }
    record.update({k: v for k, v in entry.items() if k != "settings"})
    record["settings"] = {**detector.settings(), **dict(entry.get("settings", {}))}
    return record
