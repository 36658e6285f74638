"""Load the inpainting pipeline and reconstruct one image, exactly as the authors' script does.

Faithful to ``data/diffusion_rec.py`` (beibuwandeluori/DRCT) with these documented differences:

* attention: PyTorch SDPA (diffusers' default on torch 2) instead of xformers; both are exact
  attention, results differ only by fp16 rounding.
* randomness: the authors reseed the *global* RNGs with 2023 before every image and pass no
  generator; we pass ``torch.Generator(<execution device>).manual_seed(seed)`` per image. The
  pipeline draws twice per image (initial latents, then the VAE posterior sample of the masked
  image), both from that generator, so on the same device the draws are the same numbers.
* mask: the authors build the all-zero mask at the pre-padding size and let the pipeline resize it;
  we build it at the padded size. An all-zero mask stays all zero under any resize, so the UNet
  sees the same tensor.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from drct.device import resolve_device
from drct.failures import EnvironmentFailure, raise_if_environment
from drct.reconstruction.preprocess import (
    centre_crop_box,
    centre_crop_max_side,
    pad_bottom_right,
    round_up,
    to_rgb,
)
from drct.reconstruction.settings import ReconstructionSettings, resolve_dtype

logger = logging.getLogger(__name__)

_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")


class ModelUnavailable(EnvironmentFailure):
    """The reconstruction model cannot be loaded (missing or damaged files, uncached hub id): no image can run."""


def _dtype_kwarg_name() -> str:
    """diffusers >= 0.42 takes ``dtype=`` and deprecates ``torch_dtype=``; older releases only know the latter."""
    try:
        from diffusers.utils.deprecation_utils import _resolve_dtype  # noqa: F401  (present since dtype= exists)
    except ImportError:
        return "torch_dtype"
    return "dtype"


def load_pipeline(settings: ReconstructionSettings):
    """Load the inpainting pipeline named by ``settings.model`` onto its device.

    ``AutoPipelineForInpainting`` resolves to ``StableDiffusionInpaintPipeline`` for SD1/SD2
    inpainting checkpoints (what the authors call directly) and to the SDXL inpainting pipeline
    for ``diffusers/stable-diffusion-xl-1.0-inpainting-0.1`` (what the authors use for SDXL-DR).
    The safety checker is off (it would black out images), the inner progress bar is off (the
    runner shows one per job), and the scheduler becomes DDIM only when ``settings.scheduler`` asks.
    """
    from diffusers import AutoPipelineForInpainting, DDIMScheduler

    device = resolve_device(settings.device)
    dtype = resolve_dtype(settings, device)
    try:
        pipe = AutoPipelineForInpainting.from_pretrained(
            settings.model,
            revision=settings.revision,
            safety_checker=None,
            requires_safety_checker=False,
            **{_dtype_kwarg_name(): dtype},
        )
    except (OSError, MemoryError) as exc:  # diffusers reports missing/damaged files as OSError
        raise_if_environment(exc, settings.model, "loading the model")
        revision = f" at revision {settings.revision}" if settings.revision else ""
        raise ModelUnavailable(
            f"cannot load the inpainting model {settings.model}{revision}: {exc} -- a local folder must hold a "
            "complete diffusers pipeline (model_index.json and every component's config and weights); a hub id "
            "must be in the Hugging Face cache (run `drct fetch-weights` where there is internet, same HF_HOME)"
        ) from exc
    if settings.scheduler == "ddim":
        pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    pipe = pipe.to(device)
    logger.info(
        "loaded %s (%s) on %s as %s, scheduler %s, attention %s, batch size %d",
        settings.model,
        type(pipe).__name__,
        device,
        dtype,
        type(pipe.scheduler).__name__,
        attention_processor(pipe),
        settings.batch_size,
    )
    return pipe


def attention_processor(pipe) -> str:
    """Name of the UNet's attention processor(s); ``AttnProcessor2_0`` is PyTorch SDPA (diffusers' default on torch 2)."""
    return ",".join(sorted({type(p).__name__ for p in pipe.unet.attn_processors.values()}))


def model_provenance(settings: ReconstructionSettings) -> dict[str, Any]:
    """Which exact weights ``settings.model`` names, for sidecars and reports.

    Hub ids: the commit the revision resolves to (read from the hub cache layout
    ``snapshots/<commit>/``; works offline once cached) and the sha256 of ``model_index.json``.
    Local dirs: no commit exists, so the sha256 of their ``model_index.json`` identifies them.
    """
    local = Path(settings.model)
    if local.is_dir():
        index = local / "model_index.json"
        commit = None
        source = "local"
    else:
        from huggingface_hub import hf_hub_download

        index = Path(hf_hub_download(settings.model, "model_index.json", revision=settings.revision))
        commit = index.parent.name if _COMMIT_RE.match(index.parent.name) else None
        source = "hub"
    return {
        "model": settings.model,
        "source": source,
        "revision": settings.revision,
        "commit": commit,
        "model_index_sha256": hashlib.sha256(index.read_bytes()).hexdigest(),
    }


def _execution_device(pipe) -> torch.device:
    """Device the pipeline draws its noise on (differs from ``pipe.device`` only under CPU offload)."""
    return getattr(pipe, "_execution_device", pipe.device)


def prepare_input(image: Image.Image, settings: ReconstructionSettings) -> tuple[Image.Image, tuple[int, int]]:
    """The padded RGB image the pipeline runs on, and the (width, height) to crop its output back to."""
    rgb = centre_crop_max_side(to_rgb(image), settings.max_side)
    return pad_bottom_right(rgb, settings.pad_multiple), rgb.size


def padded_size(width: int, height: int, settings: ReconstructionSettings) -> tuple[int, int]:
    """(width, height) the pipeline runs at for an image of this size: images batch together iff equal."""
    left, top, right, bottom = centre_crop_box(width, height, settings.max_side)
    return round_up(right - left, settings.pad_multiple), round_up(bottom - top, settings.pad_multiple)


def reconstruct_batch(pipe, images: Sequence[Image.Image], settings: ReconstructionSettings) -> list[Image.Image]:
    """Diffusion reconstruction of images that share one padded size, in one pipeline call.

    Each image gets its own ``torch.Generator`` seeded with ``settings.seed``. diffusers draws per
    batch item from its own generator when given a list (``randn_tensor`` for the initial latents,
    ``_encode_vae_image`` for the VAE posterior sample of the masked image), and no other step of
    the SD/SDXL inpainting pipelines with PNDM/DDIM (eta 0) draws, so every image sees exactly the
    numbers a run on it alone would see; batched output differs from per-image output only by
    floating-point noise of batched kernels (tested on CPU, mixed sizes included).

    Raises ``ValueError`` when the images do not share a padded size (group them with ``padded_size``).
    """
    if not images:
        return []
    prepared = [prepare_input(image, settings) for image in images]
    sizes = {padded.size for padded, _ in prepared}
    if len(sizes) != 1:
        raise ValueError(f"a batch must share one padded size, got {sorted(sizes)}")
    (width, height) = sizes.pop()
    device = _execution_device(pipe)
    generators = [torch.Generator(device=device).manual_seed(settings.seed) for _ in prepared]
    outputs = pipe(
        prompt=[""] * len(prepared),
        image=[padded for padded, _ in prepared],
        mask_image=[Image.new("L", (width, height), 0) for _ in prepared],
        height=height,
        width=width,
        num_inference_steps=settings.steps,
        guidance_scale=settings.effective_guidance_scale,
        generator=generators,
        output_type="pil",
    ).images
    return [output.crop((0, 0, w, h)) for output, (_, (w, h)) in zip(outputs, prepared, strict=True)]


def reconstruct_image(pipe, image: Image.Image, settings: ReconstructionSettings) -> Image.Image:
    """Diffusion reconstruction of one image; the result has the (capped) input size.

    RGB conversion (alpha dropped, grey replicated), per-side centre crop to ``max_side``, zero pad
    bottom/right to ``pad_multiple``, all-zero "L" mask (keep everything), empty prompt, no negative
    prompt, default strength, explicit height/width (otherwise the pipeline silently uses the UNet's
    default size), a fresh generator seeded with ``settings.seed``; the output is cropped back to the
    pre-padding size. A batch of one: the same call as ``reconstruct_batch``.
    """
    return reconstruct_batch(pipe, [image], settings)[0]
