"""Training settings: one frozen record of every knob a DRCT training run depends on.

The defaults are the values the authors' released code runs with (``scripts/train_contrastive.py``
and the README commands in beibuwandeluori/DRCT), so a config only has to name the backbone, the
batch size and the training groups. Every deviation from the original is a named field here, and
the whole record is written into each checkpoint sidecar, so a checkpoint says how it was made.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from drct.methods import CONTRASTIVE_WEIGHT, METHODS

Family = Literal["timm", "open_clip", "gramnet", "f3net", "defake"]
#: families whose network reads a caption per image besides the pixels (a captions CSV must exist)
CAPTIONED_FAMILIES = ("defake",)
#: families built by our own modules (drct.training.networks), with their one model name
OWN_NETWORKS = {"gramnet": "gram_resnet18", "f3net": "f3net_xception"}

_GROUPS = ("real", "fake", "real_rec", "fake_rec")


@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    """Everything that decides the outcome of one training run.

    Groups (``real``, ``fake``, ``real_rec``, ``fake_rec``) name manifest ``generator`` values,
    optionally qualified by dataset as ``"<dataset>:<generator>"`` when the same generator name
    occurs in more than one dataset of the manifest. ``real`` rows get label 0, the three other
    groups label 1 (the paper's "real vs. everything generated or reconstructed"). The method
    (:mod:`drct.methods`) decides which groups are used and whether the contrastive term is on:
    ``drct`` all four with it, ``baseline`` ``real`` and ``fake`` with cross-entropy only, the
    component ablation's rows the groups in between.

    ``embedding_dim`` is the width of the ``Linear(feat, embedding_dim)`` layer the contrastive
    loss acts on; 0 drops that layer (``Linear(feat, num_classes)`` straight on the backbone
    features, which is what the authors' ``train.py`` builds for plain baselines).
    """

    # model
    method: str = "drct"
    family: Family
    model_name: str
    pretrained: str | bool
    freeze_backbone: bool
    embedding_dim: int = 1024
    num_classes: int = 2
    # data (generator names in the manifest)
    real: tuple[str, ...]
    fake: tuple[str, ...]
    real_rec: tuple[str, ...] = ()
    fake_rec: tuple[str, ...] = ()
    # optimisation
    epochs: int = 17
    batch_size: int
    lr: float = 1e-4
    weight_decay: float = 4e-5
    t_max: int = 5
    ce_weight: float = 0.7
    con_weight: float = CONTRASTIVE_WEIGHT
    pos_margin: float = 0.0
    neg_margin: float = 1.0
    # split and reproducibility
    val_fraction: float = 0.1
    split_seed: int = 2021
    seed: int = 0
    # input
    image_size: int = 224
    augment: bool = True
    #: what the network reads: "image", or "dire" (|image - reconstruction|, drct.training.dire; the DIRE
    #: detector). With "dire" the baseline method trains on real and fake, and real_rec / fake_rec name
    #: their reconstructions, one per generator in the same order (paired by file stem), not extra groups.
    input: Literal["image", "dire"] = "image"
    # execution (no effect on the maths except amp; cache_features changes only the speed:
    # with a frozen backbone and no augmentation, features are computed once instead of every epoch)
    num_workers: int = 0
    device: str = "auto"
    amp: bool | Literal["auto"] = "auto"
    max_steps_per_epoch: int | None = None
    cache_features: bool | Literal["auto"] = "auto"

    def __post_init__(self) -> None:
        for name in _GROUPS:
            value = getattr(self, name)
            if isinstance(value, str):
                raise TypeError(f"TrainSettings.{name} must be a list of generator names, got a string {value!r}")
            object.__setattr__(self, name, tuple(str(v) for v in value))
        self._validate()

    def _validate(self) -> None:
        problems: list[str] = []
        if self.method not in METHODS:
            problems.append(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.family not in ("timm", "open_clip", *OWN_NETWORKS, *CAPTIONED_FAMILIES):
            problems.append(f"family must be 'timm', 'open_clip', 'gramnet', 'f3net' or 'defake', got {self.family!r}")
        if self.family not in ("open_clip", "defake") and not isinstance(self.pretrained, bool):
            problems.append(f"pretrained must be true/false for {self.family} models, got {self.pretrained!r}")
        if self.family in OWN_NETWORKS and self.model_name != OWN_NETWORKS[self.family]:
            problems.append(f"the {self.family} family has one model, {OWN_NETWORKS[self.family]!r}, got {self.model_name!r}")
        if self.family == "f3net" and self.image_size != 299:
            problems.append("f3net is the authors' 299 x 299 network: set image_size: 299")
        if self.family in ("open_clip", "defake") and not isinstance(self.pretrained, str):
            problems.append(
                f"pretrained must be an open_clip tag (e.g. 'openai') or '' for {self.family}, got {self.pretrained!r}"
            )
        if self.family == "defake" and (self.embedding_dim != 0 or not self.freeze_backbone or self.augment):
            problems.append(
                "defake is De-fake's frozen CLIP with its MLP on un-augmented images: set embedding_dim: 0, "
                "freeze_backbone: true and augment: false (the detector entry does)"
            )
        if not self.real or not self.fake:
            problems.append("real and fake must each name at least one generator")
        if self.embedding_dim < 0 or self.num_classes < 2:
            problems.append("embedding_dim must be >= 0 and num_classes >= 2")
        for name in ("epochs", "batch_size", "t_max", "image_size"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 < self.val_fraction < 1.0:
            problems.append(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.input not in ("image", "dire"):
            problems.append(f"input must be 'image' or 'dire', got {self.input!r}")
        elif self.input == "dire":
            if self.method != "baseline":
                problems.append(f"input 'dire' is trained by the baseline method (DIRE's classifier), got {self.method!r}")
            if len(self.real_rec) != len(self.real) or len(self.fake_rec) != len(self.fake):
                problems.append(
                    "input 'dire' pairs each real generator with one real_rec and each fake generator with one "
                    f"fake_rec (same order): got real {list(self.real)} / real_rec {list(self.real_rec)}, "
                    f"fake {list(self.fake)} / fake_rec {list(self.fake_rec)}"
                )
        if self.num_workers < 0:
            problems.append("num_workers must be >= 0")
        if self.amp not in (True, False, "auto"):
            problems.append(f"amp must be true, false or 'auto', got {self.amp!r}")
        if self.max_steps_per_epoch is not None and self.max_steps_per_epoch < 1:
            problems.append("max_steps_per_epoch must be >= 1 or null")
        if self.cache_features not in (True, False, "auto"):
            problems.append(f"cache_features must be true, false or 'auto', got {self.cache_features!r}")
        elif self.cache_features is True and not (self.freeze_backbone and not self.augment):
            problems.append(
                "cache_features=true needs freeze_backbone=true and augment=false: random augmentation "
                "changes every image's features each epoch, and a trained backbone changes them each step"
            )
        if problems:
            raise ValueError("invalid training settings: " + "; ".join(problems))

    @property
    def needs_captions(self) -> bool:
        """The network reads (image, caption) pairs (De-fake): training and scoring join a captions CSV."""
        return self.family in CAPTIONED_FAMILIES

    @property
    def groups(self) -> dict[str, tuple[str, ...]]:
        """The generator groups this method trains on, in dataset order (baseline: real + fake)."""
        every = {"real": self.real, "real_rec": self.real_rec, "fake": self.fake, "fake_rec": self.fake_rec}
        return {group: every[group] for group in every if group in METHODS[self.method].groups}

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainSettings:
        """Build from a config mapping; unknown keys are an error (a typo must not silently fall back to a default)."""
        known = cls.field_names()
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown training setting(s): {', '.join(unknown)}; known settings: {', '.join(known)}")
        required = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        missing = [name for name in required if name not in values]
        if missing:
            raise ValueError(f"missing required training setting(s): {', '.join(missing)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready mapping (groups as lists) that ``from_dict`` reads back to an equal object."""
        out = dataclasses.asdict(self)
        for name in _GROUPS:
            out[name] = list(out[name])
        return out

    def replace(self, **changes: Any) -> TrainSettings:
        return dataclasses.replace(self, **changes)

