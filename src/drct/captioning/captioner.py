"""Load BLIP and caption a batch of images, the way De-fake asks BLIP for a caption.

Kept apart from the shard runner so the decoding can be tested against direct
``BlipForConditionalGeneration.generate`` calls, and reused by whatever captions one image
(prediction on a folder) without the manifest machinery.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from drct.captioning.settings import CaptionSettings
from drct.device import resolve_device
from drct.errors import DrctError
from drct.failures import raise_if_environment

logger = logging.getLogger(__name__)


class CaptionerUnavailable(DrctError):
    """The captioning model cannot be loaded (not in the cache, incomplete folder, unpinned hub id)."""


@dataclass
class Captioner:
    """A loaded BLIP model, its processor, and where it runs."""

    model: Any
    processor: Any
    device: torch.device
    dtype: torch.dtype


def _dtype(settings: CaptionSettings, device: torch.device) -> torch.dtype:
    """``auto`` -> float16 on CUDA, float32 elsewhere (CPU half precision is slow and lossy)."""
    if settings.dtype == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return getattr(torch, settings.dtype)


def load_captioner(settings: CaptionSettings) -> Captioner:
    """Load ``settings.model`` (hub id at ``settings.revision``, or a local ``save_pretrained`` folder).

    A hub id without a revision is refused: captions are training data, and ``main`` moves.
    Loading goes through ``from_pretrained`` for real and demo models alike.
    """
    from transformers import BlipForConditionalGeneration, BlipProcessor

    local = Path(settings.model).is_dir()
    if not local and not settings.revision:
        raise CaptionerUnavailable(
            f"caption model {settings.model!r} is a hub id without a revision: pin a commit in the config "
            "(e.g. drct.captioning.settings.DEFAULT_REVISION)"
        )
    revision = None if local else settings.revision
    device = resolve_device(settings.device)
    dtype = _dtype(settings, device)
    try:
        processor = BlipProcessor.from_pretrained(settings.model, revision=revision)
        model = BlipForConditionalGeneration.from_pretrained(settings.model, revision=revision, dtype=dtype)
    except (OSError, MemoryError) as exc:
        raise_if_environment(exc, settings.model, "loading the caption model")
        raise CaptionerUnavailable(
            f"cannot load the caption model {settings.model}{f' at {revision}' if revision else ''}: {exc} -- a local "
            "folder must hold config, weights and processor files; a hub id must be in the Hugging Face cache"
        ) from exc
    model = model.to(device).eval()
    logger.info("loaded caption model %s on %s as %s", settings.model, device, dtype)
    return Captioner(model=model, processor=processor, device=device, dtype=dtype)


def caption_images(captioner: Captioner, images: list[Image.Image], settings: CaptionSettings) -> list[str]:
    """One caption per image: the text BLIP writes after ``settings.prompt``, stripped.

    Images are converted to RGB first (the processor's own conversion does the same; doing it here
    makes grey and RGBA files explicit). Decoding is deterministic (no sampling), so the same
    images in the same batch give the same captions on a rerun.
    """
    if not images:
        return []
    rgb = [image.convert("RGB") for image in images]
    kwargs: dict[str, Any] = {"images": rgb, "return_tensors": "pt"}
    if settings.prompt:
        kwargs["text"] = [settings.prompt] * len(rgb)
    inputs = captioner.processor(**kwargs)
    pixel_values = inputs["pixel_values"].to(captioner.device, captioner.dtype)
    input_ids = inputs["input_ids"].to(captioner.device) if settings.prompt else None
    with torch.inference_mode():
        output = captioner.model.generate(
            pixel_values=pixel_values,
            input_ids=input_ids,
            do_sample=False,
            num_beams=settings.num_beams,
            max_length=settings.max_length,
            min_length=settings.min_length,
        )
    # generate drops the prompt's final [SEP] and returns prompt + continuation: keep the continuation
    start = input_ids.shape[1] - 1 if input_ids is not None else 1
    texts = captioner.processor.batch_decode(output[:, start:], skip_special_tokens=True)
    return [text.strip() for text in texts]
