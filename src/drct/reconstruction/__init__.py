"""Diffusion reconstruction (DR): regenerate images with an SD inpainting model that keeps every pixel.

Importing this package is cheap: torch/diffusers load when a function needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drct.reconstruction.settings import ReconstructionSettings

if TYPE_CHECKING:
    from drct.reconstruction.build_demo_model import build_demo_pipeline
    from drct.reconstruction.pipeline import (
        load_pipeline,
        model_provenance,
        reconstruct_image,
    )
    from drct.reconstruction.reconstruct_shard import reconstruct_manifest

__all__ = [
    "ReconstructionSettings",
    "build_demo_pipeline",
    "load_pipeline",
    "model_provenance",
    "reconstruct_image",
    "reconstruct_manifest",
]

_LAZY = {
    "build_demo_pipeline": "drct.reconstruction.build_demo_model",
    "load_pipeline": "drct.reconstruction.pipeline",
    "model_provenance": "drct.reconstruction.pipeline",
    "reconstruct_image": "drct.reconstruction.pipeline",
    "reconstruct_manifest": "drct.reconstruction.reconstruct_shard",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
