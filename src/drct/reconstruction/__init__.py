"""Diffusion reconstruction (DR): regenerate images with an SD inpainting model that keeps every pixel.

Modules, one job each:

* ``settings``   -- ``ReconstructionSettings`` (faithful defaults, validated ``from_dict``)
* ``preprocess`` -- RGB conversion, per-side centre crop, pad to a multiple of 8
* ``pipeline``   -- ``load_pipeline``, ``model_provenance``, ``reconstruct_image``
* ``runner``     -- ``reconstruct_manifest``: one resumable shard of a manifest
* ``demo_model`` -- ``build_demo_pipeline``: tiny random-weight SD inpainting pipeline for offline runs

Importing this package is cheap: torch/diffusers load when a function needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drct.reconstruction.settings import ReconstructionSettings

if TYPE_CHECKING:
    from drct.reconstruction.demo_model import build_demo_pipeline
    from drct.reconstruction.pipeline import load_pipeline, model_provenance, reconstruct_image
    from drct.reconstruction.runner import reconstruct_manifest

__all__ = [
    "ReconstructionSettings",
    "build_demo_pipeline",
    "load_pipeline",
    "model_provenance",
    "reconstruct_image",
    "reconstruct_manifest",
]

_LAZY = {
    "build_demo_pipeline": "drct.reconstruction.demo_model",
    "load_pipeline": "drct.reconstruction.pipeline",
    "model_provenance": "drct.reconstruction.pipeline",
    "reconstruct_image": "drct.reconstruction.pipeline",
    "reconstruct_manifest": "drct.reconstruction.runner",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
