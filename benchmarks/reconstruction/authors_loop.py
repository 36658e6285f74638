"""The authors' per-image reconstruction loop, re-created literally: the benchmark's baseline.

What ``data/diffusion_rec.py`` (beibuwandeluori/DRCT) does for every image, written independently
here (numpy/PIL, no code from this project's ``drct.reconstruction.pipeline``, so that the
comparison checks our pipeline against a separate reading of the original):

1. read the image as RGB; cap height and width at 1024 each by a centre crop (albumentations'
   ``CenterCrop``: offsets ``(H - h) // 2``, ``(W - w) // 2``);
2. copy it into a zero array whose sides are rounded up to a multiple of 8 (bottom/right padding);
   the mask is ``zeros_like`` the *unpadded* image, turned into a PIL ``"L"`` image (the pipeline
   resizes it; all zeros stay all zeros); ``gc.collect()``;
3. reseed every global RNG with 2023 (torch, which seeds CUDA too; CUDA explicitly; numpy;
   ``random``) and set ``cudnn.deterministic = True``, ``cudnn.benchmark = False``;
4. one pipeline call per image, **no generator** (the draws come from the global RNG): prompt ``""``,
   no negative prompt, 50 steps, guidance 7.5, ``height``/``width`` = the padded size;
5. crop the output back to the pre-padding size.

Loading: ``StableDiffusionInpaintPipeline`` for SD1/SD2 and ``AutoPipelineForInpainting`` for SDXL,
``torch_dtype=float16`` on GPU, safety checker off. Differences from the original, all outside the
timed computation or without effect on it: the authors enabled xformers' memory-efficient
attention, we keep diffusers' default PyTorch SDPA (both exact attention; xformers is used only if
asked for and installed); images come in memory (decoding and PNG writing are left out of both
timed paths); diffusers' per-step progress bar is off (the loop keeps one bar over images); for
SDXL the authors loaded the ``fp16`` variant files, the same weights already in half precision.
"""

from __future__ import annotations

import contextlib
import gc
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

AUTHORS_SEED = 2023
AUTHORS_STEPS = 50
AUTHORS_GUIDANCE = 7.5
AUTHORS_MAX_SIZE = 1024


@dataclass
class LoopStats:
    """Where the loop's time goes besides the pipeline: its per-image ``gc.collect()`` (CPU work
    that grows with the Python heap; reported apart so a speedup can be read with and without it)."""

    gc_seconds: float = 0.0


def set_seed(seed: int) -> None:
    """The authors' ``set_seed``: every global RNG, and cuDNN made deterministic (process-wide)."""
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    np.random.seed(seed)
    random.seed(seed)


@contextlib.contextmanager
def cudnn_flags_restored() -> Iterator[None]:
    """Undo the cuDNN flags ``set_seed`` leaves behind, so a path timed afterwards is not affected."""
    saved = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved


def round_up_to_multiple(value: int, multiple: int = 8) -> int:
    """The authors' ``find_nearest_multiple``: ``value`` itself when divisible, else the next multiple above."""
    return value if value % multiple == 0 else (value // multiple + 1) * multiple


def prepare_like_authors(rgb: np.ndarray, max_size: int = AUTHORS_MAX_SIZE,
                         stats: LoopStats | None = None) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """(padded image, all-zero mask at the unpadded size, (height, width) before padding) for one image."""
    height, width = rgb.shape[:2]
    crop_h, crop_w = min(height, max_size), min(width, max_size)
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    cropped = rgb[top : top + crop_h, left : left + crop_w]
    padded = np.zeros((round_up_to_multiple(crop_h), round_up_to_multiple(crop_w), 3), dtype=cropped.dtype)
    padded[:crop_h, :crop_w] = cropped
    mask = np.zeros_like(cropped)
    started = time.perf_counter()
    gc.collect()  # the original collects garbage after every read
    if stats is not None:
        stats.gc_seconds += time.perf_counter() - started
    return padded, mask, (crop_h, crop_w)


def reconstruct_like_authors(pipe, rgb: np.ndarray, steps: int = AUTHORS_STEPS,
                             guidance_scale: float = AUTHORS_GUIDANCE, seed: int = AUTHORS_SEED,
                             max_size: int = AUTHORS_MAX_SIZE, stats: LoopStats | None = None) -> Image.Image:
    """One image through the authors' steps 1-5 (module docstring); returns the cropped-back RGB output."""
    padded, mask, (height, width) = prepare_like_authors(rgb, max_size, stats)
    set_seed(seed)
    output = pipe(
        prompt="",
        image=Image.fromarray(padded),
        mask_image=Image.fromarray(mask).convert("L"),
        height=padded.shape[0],
        width=padded.shape[1],
        num_inference_steps=steps,
        guidance_scale=guidance_scale,
    ).images[0]
    return output.crop((0, 0, width, height))


def as_rgb_array(image: Image.Image) -> np.ndarray:
    """8-bit RGB array, what ``cv2.imread`` + ``BGR2RGB`` gives for an 8-bit colour file."""
    return np.asarray(image.convert("RGB"))


def run_authors_loop(pipe, images: Sequence[Image.Image], steps: int = AUTHORS_STEPS,
                     guidance_scale: float = AUTHORS_GUIDANCE, seed: int = AUTHORS_SEED,
                     after_each: Callable[[int], Any] | None = None, progress: bool = True,
                     stats: LoopStats | None = None) -> list[Image.Image]:
    """The authors' loop over ``images``, one pipeline call each; ``after_each(i)`` runs after image ``i``."""
    outputs = []
    for index, image in enumerate(tqdm(images, desc="authors' loop", unit="img", disable=not progress)):
        outputs.append(reconstruct_like_authors(pipe, as_rgb_array(image), steps, guidance_scale, seed, stats=stats))
        if after_each is not None:
            after_each(index)
    return outputs


def _dtype_keyword() -> str:
    """``torch_dtype`` as the authors wrote it; diffusers >= 0.42 renamed it ``dtype`` (same effect)."""
    import importlib.metadata

    from packaging.version import Version

    return "dtype" if Version(importlib.metadata.version("diffusers")) >= Version("0.42.0") else "torch_dtype"


def load_authors_pipeline(model: str, sdxl: bool, device: str | torch.device, dtype: torch.dtype,
                          variant: str | None = None, xformers: bool = False):
    """Load ``model`` the way the authors did.

    SD1/SD2 through ``StableDiffusionInpaintPipeline``, SDXL through ``AutoPipelineForInpainting``.
    """
    from diffusers import AutoPipelineForInpainting, StableDiffusionInpaintPipeline

    cls = AutoPipelineForInpainting if sdxl else StableDiffusionInpaintPipeline
    kwargs: dict[str, Any] = {"safety_checker": None, "requires_safety_checker": False}
    if variant:
        kwargs["variant"] = variant
    pipe = cls.from_pretrained(model, **{_dtype_keyword(): dtype}, **kwargs)
    if xformers:
        pipe.enable_xformers_memory_efficient_attention()
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)
