"""Checkpoints: safetensors weights plus a JSON sidecar that says how they were made.

``<name>.safetensors`` holds either the full DRCT state (``weights: "full"``) or, for a frozen
backbone whose weights can be fetched again by name (timm ``pretrained=True``, an open_clip tag),
only the trainable head (``weights: "head"``): a frozen CLIP ViT-L/14 would otherwise put 1.2 GB
of unchanged weights in every checkpoint. A head checkpoint records ``backbone_sha256``, a digest
of the frozen backbone tensors, and :func:`load_model` refuses a rebuilt backbone that differs
(another weight revision would silently change every prediction).

``<name>.json`` (the sidecar) holds ``settings`` (``TrainSettings.to_dict()``), ``seed``,
``epoch``, ``val_acc`` (fraction 0-1), ``git_commit``, ``package_versions``, ``manifest_sha256``,
``weights``, ``backbone_sha256`` and whatever ``provenance`` mapping the caller passed.
Both files are written atomically; the weights first, so a sidecar never describes missing weights.

The safetensors header is written with its ``__metadata__`` keys sorted: the library serialises
them from a hash map whose order changes from run to run, so two identical trainings gave files
with different hashes and DVC saw a change. Now identical weights give identical bytes.

A file that is not one of ours (the authors' ``.pth`` release, a missing sidecar) raises
:class:`CheckpointError`, a :class:`drct.errors.DrctError` naming the file and what to do.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save

from drct.errors import DrctError
from drct.io import atomic_write_bytes, write_json
from drct.training.model import DRCTModel, build_model, has_named_pretrained_weights
from drct.training.settings import TrainSettings

WeightsKind = Literal["full", "head"]

#: what to do with a checkpoint that is not ours
_CONVERT_HINT = "convert the authors' release with `drct import-released`"


class CheckpointError(DrctError):
    """A file given as a checkpoint is missing or is not one of our checkpoints."""


def weights_kind(settings: TrainSettings) -> WeightsKind:
    """``"head"`` when the backbone is frozen and its weights can be fetched again by name, else ``"full"``."""
    return "head" if settings.freeze_backbone and has_named_pretrained_weights(settings) else "full"


def tensors_sha256(state: dict[str, torch.Tensor]) -> str:
    """Digest of a state dict (names, dtypes, shapes, bytes), independent of device."""
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def backbone_state(model: DRCTModel) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if k.startswith("backbone.")}


def save_checkpoint(
    model: DRCTModel,
    path: Path,
    settings: TrainSettings,
    record: dict[str, Any],
    backbone_sha256: str | None = None,
    weights: WeightsKind | None = None,
) -> Path:
    """Write ``path`` (safetensors) and its sidecar ``path.with_suffix('.json')`` atomically.

    ``record`` is merged into the sidecar (epoch, val_acc, manifest sha256, provenance...).
    ``backbone_sha256`` may be passed to avoid re-hashing a frozen backbone at every epoch.
    ``weights`` forces the kind (``"full"`` for imported checkpoints, whose frozen backbone must
    not be fetched again); by default :func:`weights_kind` decides.
    """
    kind = weights or weights_kind(settings)
    state = model.state_dict() if kind == "full" else model.head_state_dict()
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    if kind == "head" and backbone_sha256 is None:
        backbone_sha256 = tensors_sha256(backbone_state(model))
    sidecar = {
        **record,
        "settings": settings.to_dict(),
        "weights": kind,
        "backbone_sha256": backbone_sha256 if kind == "head" else None,
    }
    atomic_write_bytes(path, stable_header(save(tensors, metadata={"format": "pt", "weights": kind})))
    write_json(path.with_suffix(".json"), sidecar)
    return path


def stable_header(data: bytes) -> bytes:
    """``data`` (a serialised safetensors file) with its ``__metadata__`` keys in sorted order.

    Only the order of the metadata entries changes: the header is re-serialised as compactly as
    the library writes it and padded with spaces to its original length, so the tensor offsets
    stay valid and the file loads as before.
    """
    length = int.from_bytes(data[:8], "little")
    raw = data[8 : 8 + length]
    header = json.loads(raw)
    if "__metadata__" in header:
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    if len(text) != len(raw.rstrip(b" ")):
        raise RuntimeError("safetensors header changed length when its metadata were sorted; not writing it")
    return data[:8] + text.ljust(length, b" ") + data[8 + length :]


def check_checkpoint_file(checkpoint: Path) -> None:
    """Raise :class:`CheckpointError` unless ``checkpoint`` is a readable safetensors file."""
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise CheckpointError(f"{checkpoint}: no such checkpoint file")
    try:
        with safe_open(str(checkpoint), framework="pt"):
            pass
    except SafetensorError as exc:
        with open(checkpoint, "rb") as fh:
            start = fh.read(4)
        if start.startswith(b"PK"):
            what = "a PyTorch zip archive (torch.save), not safetensors"
        elif start[:1] == b"\x80":
            what = "a Python pickle (torch.save), not safetensors"
        else:
            what = f"not a safetensors file: {exc}"
        raise CheckpointError(f"{checkpoint} is not one of our checkpoints ({what}); {_CONVERT_HINT}") from exc


def read_sidecar(checkpoint: Path) -> dict[str, Any]:
    sidecar = Path(checkpoint).with_suffix(".json")
    if not sidecar.is_file():
        raise CheckpointError(
            f"{checkpoint} has no sidecar {sidecar}: it is not one of our checkpoints (ours are written "
            f"by `drct train` with their .json); {_CONVERT_HINT}"
        )
    return json.loads(sidecar.read_text())


def load_model(checkpoint: Path, device: str | torch.device = "cpu") -> tuple[DRCTModel, dict[str, Any]]:
    """Rebuild the model a checkpoint was trained as, load its weights, return ``(model.eval(), sidecar)``.

    Full checkpoints hold every weight, so the backbone is built without downloading pretrained
    weights; head checkpoints rebuild the backbone with the recorded pretrained weights and check
    them against ``backbone_sha256`` before loading the head.
    """
    checkpoint = Path(checkpoint)
    check_checkpoint_file(checkpoint)
    sidecar = read_sidecar(checkpoint)
    settings = TrainSettings.from_dict(sidecar["settings"])
    kind = sidecar["weights"]
    if kind not in ("full", "head"):
        raise ValueError(f"{checkpoint}: unknown weights kind {kind!r} in sidecar")
    model = build_model(settings, load_pretrained=(kind == "head"))
    load_weights(model, checkpoint, sidecar)
    return model.to(device).eval(), sidecar


def load_weights(model: DRCTModel, checkpoint: Path, sidecar: dict[str, Any]) -> DRCTModel:
    """Load a checkpoint's tensors into an already built ``model`` (full: strict; head: digest-checked).

    Used by :func:`load_model` and by resuming, which must not rebuild the model.
    """
    kind = sidecar["weights"]
    check_checkpoint_file(checkpoint)
    state = load_file(str(checkpoint))
    if kind == "full":
        model.load_state_dict(state, strict=True)
        return model
    expected = sidecar.get("backbone_sha256")
    found = tensors_sha256(backbone_state(model))
    if expected is not None and found != expected:
        settings = sidecar.get("settings", {})
        raise ValueError(
            f"{checkpoint}: rebuilt backbone {settings.get('model_name')} ({settings.get('pretrained')!r}) has digest "
            f"{found}, the checkpoint was trained on {expected}; the pretrained weights changed"
        )
    unexpected = [k for k in state if k.startswith("backbone.")]
    if unexpected:
        raise ValueError(f"{checkpoint}: head checkpoint holds backbone tensors {unexpected[:3]}...")
    missing, extra = model.load_state_dict(state, strict=False)
    missing_head = [k for k in missing if not k.startswith("backbone.")]
    if missing_head or extra:
        raise ValueError(f"{checkpoint}: head weights do not match the model (missing {missing_head}, unexpected {extra})")
    return model
