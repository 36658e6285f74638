"""The authors' released checkpoints (``pretrained.zip`` of the DRCT-2M ModelScope dataset) as ours.

What their ``train_contrastive.py`` saves is ``ContrastiveModels.state_dict()`` (``network/models.py``
in beibuwandeluori/DRCT, timm 0.6.12, OpenAI ``clip``): the backbone as ``model`` and the 1024 -> 2
classifier as ``fc``. By backbone:

- Conv-B (``convnext_base_in22k``): ``model`` is the timm ConvNeXt whose ``head.fc`` was replaced by
  ``Linear(1024, 1024)``, so ``model.head.fc.*`` is our ``embedding`` and every other ``model.*``
  (``stem``, ``stages``, ``head.norm``) our timm backbone (built with ``num_classes=0``, same names
  in timm 0.6 and 1.x);
- UnivFD (``clip-ViT-L-14``): ``model`` is their ``CLIPModelV2``, holding OpenAI's whole CLIP as
  ``model.model`` (image *and* text tower) and ``Linear(768, 1024)`` as ``model.fc``. OpenAI's
  ``visual.*`` names are open_clip's (open_clip loads OpenAI state dicts unchanged), so
  ``model.model.visual.*`` becomes our backbone; the text tower (``transformer``,
  ``token_embedding``, ``ln_final``, ``text_projection``, ``positional_embedding``,
  ``logit_scale``) is dropped.

A DataParallel ``module.`` prefix is removed first (they save ``model.module.state_dict()`` on
several GPUs, but a checkpoint saved otherwise would carry it). Files are read with
``torch.load(weights_only=True)`` or safetensors only: a pickle from the internet never runs code.
Any key we cannot place, and any weight our model lacks, is an error naming it.

The imported model is written as one of our *full* checkpoints (safetensors + sidecar with the
source file's name and sha256), so evaluation, ``drct predict`` and the paper tables read it like
any trained run and never fetch CLIP weights again.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from drct.io import sha256_file
from drct.provenance import git_commit, package_versions
from drct.training.checkpoint import save_checkpoint
from drct.training.model import DRCTModel, build_model
from drct.training.settings import TrainSettings

log = logging.getLogger(__name__)

#: top-level keys of OpenAI's CLIP that belong to the text tower (or the logit scale): never used
CLIP_TEXT_KEYS = ("transformer.", "token_embedding.", "ln_final.", "text_projection", "positional_embedding", "logit_scale")

_NAME = re.compile(r"^(?P<epoch>\d+|last)_acc(?P<acc>\d+(?:\.\d+)?)$")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.pth``/``.pt`` (``torch.load(weights_only=True)``) or ``.safetensors`` file.

    A ``{"state_dict": {...}}`` wrapper is unwrapped. Anything but a flat name -> tensor mapping
    is refused with the offending entry named.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        state: Any = load_file(str(path))
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # UnpicklingError for non-tensor pickles, RuntimeError for non-zip files
            raise ValueError(
                f"{path}: not loadable with torch.load(weights_only=True) ({type(error).__name__}: {error}); "
                "only plain state dicts (or safetensors) are accepted"
            ) from error
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise ValueError(f"{path}: expected a state dict, found {type(state).__name__}")
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f"{path}: entries that are not tensors: {bad[:5]}")
    return dict(state)


def convert_authors_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a ``ContrastiveModels`` state dict to :class:`DRCTModel` keys (see the module docstring).

    Unknown keys raise ``ValueError`` naming them.
    """
    out: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for original, value in state.items():
        key = original.removeprefix("module.")
        if key.startswith("fc."):
            out["classifier." + key.removeprefix("fc.")] = value
        elif key.startswith("model.model.visual."):
            out["backbone." + key.removeprefix("model.model.visual.")] = value
        elif key.startswith("model.model."):
            if not key.removeprefix("model.model.").startswith(CLIP_TEXT_KEYS):
                unknown.append(original)
        elif key.startswith("model.fc."):
            out["embedding." + key.removeprefix("model.fc.")] = value
        elif key.startswith("model.head.fc."):
            out["embedding." + key.removeprefix("model.head.fc.")] = value
        elif key.startswith("model."):
            out["backbone." + key.removeprefix("model.")] = value
        else:
            unknown.append(original)
    if unknown:
        raise ValueError(f"unexpected key(s) in an authors' DRCT checkpoint: {unknown[:5]}")
    return out


def load_authors_checkpoint(
    path: Path, settings: TrainSettings, device: str | torch.device = "cpu"
) -> DRCTModel:
    """A released checkpoint as a :class:`DRCTModel` in eval mode.

    ``settings`` must describe the same network (e.g. ``convnext_base.fb_in22k`` or
    ``ViT-L-14-quickgelu``, embedding 1024); the file holds every weight, so nothing is
    downloaded. Missing or surplus weights, or shapes that differ, raise and name them.
    """
    converted = convert_authors_state_dict(read_state_dict(Path(path)))
    model = build_model(settings, load_pretrained=False)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(converted))
    surplus = sorted(set(converted) - set(expected))
    shapes = [
        f"{k}: file {tuple(converted[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in sorted(set(expected) & set(converted))
        if converted[k].shape != expected[k].shape
    ]
    if missing or surplus or shapes:
        raise ValueError(
            f"{path} does not fit {settings.model_name} (embedding {settings.embedding_dim}): "
            f"missing {missing[:5]}, unexpected {surplus[:5]}, shape mismatches {shapes[:5]}"
        )
    model.load_state_dict(converted, strict=True)
    return model.to(device).eval()


def parse_released_name(name: str) -> dict[str, Any]:
    """``14_acc0.9996.pth`` -> ``{"epoch": 14, "val_acc": 0.9996}``; ``last_acc0.9112.pth`` -> epoch ``"last"``.

    The authors name files by epoch and validation accuracy; names that do not follow the
    pattern give ``{}`` (nothing is guessed).
    """
    match = _NAME.match(Path(name).stem)
    if not match:
        return {}
    epoch = match["epoch"]
    return {"epoch": int(epoch) if epoch.isdigit() else epoch, "val_acc": float(match["acc"])}


def extract_member(archive: Path, member: str, directory: Path) -> Path:
    """Copy one file out of a zip archive into ``directory``; return its path.

    ``member`` is the path inside the archive. Names in ``pretrained.zip`` are not published, so
    when the exact name is absent a unique member *ending* with it is accepted, and otherwise the
    error lists the checkpoint files the archive does hold.
    """
    with zipfile.ZipFile(archive) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
        if member not in names:
            matches = [n for n in names if n.endswith("/" + member.lstrip("/"))]
            if len(matches) != 1:
                listed = [n for n in names if n.endswith((".pth", ".pt", ".safetensors"))]
                raise FileNotFoundError(
                    f"{archive} has no member {member!r}" + (f" (ambiguous: {matches})" if matches else "")
                    + f"; checkpoint files in it: {listed[:20]}"
                )
            member = matches[0]
        target = Path(directory) / Path(member).name
        with zf.open(member) as source, open(target, "wb") as sink:
            shutil.copyfileobj(source, sink, length=1 << 20)
    return target


def import_released(
    source: Path,
    out: Path,
    settings: TrainSettings,
    *,
    member: str | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Convert a released checkpoint (a file, or ``member`` of a zip) into ``out`` + its sidecar.

    The sidecar records the source name and sha256, the epoch and validation accuracy read from
    the authors' file name, and the settings the network was rebuilt with; ``weights`` is
    ``"full"`` (the frozen CLIP is stored too, so it is never fetched again).
    """
    source, out = Path(source), Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".import-") as tmp:
        path = extract_member(source, member, Path(tmp)) if member else source
        digest = sha256_file(path)
        model = load_authors_checkpoint(path, settings)
        name = Path(member).name if member else source.name
        from_name = parse_released_name(name)
        record = {
            "epoch": from_name.get("epoch"),
            "val_acc": from_name.get("val_acc"),
            "seed": None,
            "git_commit": git_commit(),
            "package_versions": package_versions(),
            "imported_from": {
                "format": "authors-drct",
                "archive": str(source) if member else None,
                "archive_sha256": sha256_file(source) if member else None,
                "member": member,
                "file": name,
                "sha256": digest,
            },
            "provenance": dict(provenance or {}),
        }
        save_checkpoint(model, out, settings, record, weights="full")
    log.info("imported %s (%s) -> %s", name, digest[:12], out)
    return record
