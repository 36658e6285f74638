"""Full-size SD1 / SD2 / SDXL inpainting pipelines with random weights, built from the published configs.

No Stable Diffusion weights can be downloaded where this project is tested, and a benchmark box may
have no internet either. A network built from the published model config has the same layers,
shapes and FLOPs as the released checkpoint, so it costs the same time per image: only the pixels
differ (noise-like instead of a reconstruction). The configs live as JSON beside this file, in
``model_configs/<model>/<component>.json``, transcribed from the published model repos (see the
README for sources and the values that could not be read there).

The builder writes the pipeline with ``save_pretrained`` into a cache folder and the benchmark then
loads it with the same ``from_pretrained(local_dir)`` call that loads real weights, so loading,
dtype casting and attention set-up follow the real code path.

    python benchmarks/reconstruction/full_size.py --count          # parameter counts on the meta device
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from drct.io import atomic_path

CONFIG_DIR = Path(__file__).resolve().parent / "model_configs"
BUILD_MARKER = "benchmark_build.json"  # written last: a folder without it is incomplete


@dataclass(frozen=True)
class ModelInfo:
    """A published inpainting model the benchmark can rebuild."""

    repo: str  # the hub repo its configs come from
    image_size: int  # the resolution it was trained at (benchmark default)
    sdxl: bool  # SDXL pipeline (two text encoders, CFG kept: see run.py)


MODELS: dict[str, ModelInfo] = {
    # runwayml/stable-diffusion-inpainting is gone; this is its faithful mirror.
    "sd1": ModelInfo("stable-diffusion-v1-5/stable-diffusion-inpainting", 512, sdxl=False),
    "sd2": ModelInfo("stabilityai/stable-diffusion-2-inpainting", 512, sdxl=False),
    "sdxl": ModelInfo("diffusers/stable-diffusion-xl-1.0-inpainting-0.1", 1024, sdxl=True),
}

#: Parameter counts of the released checkpoints' components. UNets: the text-to-image UNet's
#: published count (SD1.5 859,520,964; SD2 865,910,724; SDXL base 2,567,463,684) plus the 5 extra
#: input channels of the inpainting conv_in (5 x 320 x 3 x 3 = 14,400 weights).
PUBLISHED_PARAMETERS: dict[str, dict[str, int]] = {
    "sd1": {"unet": 859_535_364, "vae": 83_653_863, "text_encoder": 123_060_480},
    "sd2": {"unet": 865_925_124, "vae": 83_653_863, "text_encoder": 340_387_840},
    "sdxl": {"unet": 2_567_478_084, "vae": 83_653_863, "text_encoder": 123_060_480, "text_encoder_2": 694_659_840},
}

_MODEL_COMPONENTS = ("unet", "vae", "text_encoder", "text_encoder_2")
_TOKENIZERS = ("tokenizer", "tokenizer_2")


def load_configs(model: str) -> dict[str, dict[str, Any]]:
    """Every component config of ``model`` (``model_index`` included), keyed by component name."""
    folder = CONFIG_DIR / model
    if model not in MODELS or not folder.is_dir():
        raise ValueError(f"unknown full-size model {model!r}; choose one of {sorted(MODELS)}")
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def config_digest(model: str) -> str:
    """sha256 over the model's config files: a changed config must not reuse a cached build."""
    digest = hashlib.sha256()
    for path in sorted((CONFIG_DIR / model).glob("*.json")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def build_model_component(name: str, config: dict[str, Any]) -> torch.nn.Module:
    """One network (UNet, VAE or text encoder) from its config, weights from the current torch RNG and device.

    diffusers models name their class in ``_class_name``, transformers models in ``architectures``;
    building under ``with torch.device("meta")`` allocates nothing (parameter counts only).
    """
    import diffusers
    import transformers

    if name.startswith("text_encoder"):
        text_config = transformers.CLIPTextConfig.from_dict(config)
        return getattr(transformers, config["architectures"][0])(text_config).eval()
    cls = getattr(diffusers, config["_class_name"])
    return cls.from_config(config).eval()


def build_scheduler(config: dict[str, Any]):
    """The scheduler named by the config (DDIM for SD1 inpainting, PNDM for SD2, Euler for SDXL)."""
    import diffusers

    return getattr(diffusers, config["_class_name"]).from_config(config)


def build_tokenizer(config: dict[str, Any], work_dir: Path):
    """OpenAI CLIP's BPE tokenizer (rebuilt offline from open_clip's merges) with the model's special tokens.

    SD1 and SDXL's first tokenizer pad with ``<|endoftext|>``; SD2 and SDXL's second (OpenCLIP)
    pad with ``!`` (id 0): the padding ids reach the text encoder, so they are kept as published.
    """
    from transformers import CLIPTokenizer

    from drct.reconstruction.build_demo_model import write_clip_tokenizer_files

    write_clip_tokenizer_files(work_dir)
    kwargs = {key: value for key, value in config.items() if key != "tokenizer_class"}
    return CLIPTokenizer.from_pretrained(str(work_dir), **kwargs)


def parameter_counts(model: str) -> dict[str, int]:
    """Parameters per network of ``model``, counted on the meta device (no memory, a second or so)."""
    configs = load_configs(model)
    counts = {}
    with torch.device("meta"):
        for name in _MODEL_COMPONENTS:
            if name in configs:
                counts[name] = sum(p.numel() for p in build_model_component(name, configs[name]).parameters())
    return counts


def _pipeline_kwargs(pipeline_cls, model_index: dict[str, Any]) -> dict[str, Any]:
    """Pipeline flags from ``model_index`` plus ``None`` for optional parts we do not build.

    The safety checker and its feature extractor are left out (the benchmark, like the authors,
    runs without them); IP-adapter image encoders are not part of the published inpainting repos.
    """
    params = inspect.signature(pipeline_cls.__init__).parameters
    kwargs = {key: value for key, value in model_index.items() if not key.startswith("_") and not isinstance(value, list)}
    for optional in ("safety_checker", "feature_extractor", "image_encoder"):
        if optional in params:
            kwargs[optional] = None
    if "requires_safety_checker" in params:
        kwargs["requires_safety_checker"] = False
    return kwargs


def build_random_pipeline(model: str, out_dir: Path, seed: int = 0, device: str = "cpu",
                          dtype: torch.dtype = torch.float32) -> Path:
    """Build ``model`` with random weights and ``save_pretrained`` it to ``out_dir`` (replaced if present).

    Each network is initialised right after seeding (inside a forked RNG), on ``device`` (a GPU
    initialises a 2.6 B-parameter UNet in seconds), then cast to ``dtype`` and saved as
    safetensors. The folder appears complete or not at all (``drct.io.atomic_path``: written beside
    ``out_dir`` and renamed into place, an old build replaced).
    """
    import diffusers

    from drct.reconstruction.build_demo_model import write_clip_tokenizer_files

    configs = load_configs(model)
    out_dir = Path(out_dir)
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as work, atomic_path(out_dir) as staged:
            components: dict[str, Any] = {}
            build_device = torch.device(device)
            fork_devices = []  # CUDA RNG states to fork (and restore), when the weights are drawn on a GPU
            if build_device.type == "cuda":
                fork_devices = [build_device.index if build_device.index is not None else torch.cuda.current_device()]
            for index, name in enumerate(n for n in _MODEL_COMPONENTS if n in configs):
                with torch.random.fork_rng(devices=fork_devices), torch.device(device):
                    torch.manual_seed(seed + index)
                    component = build_model_component(name, configs[name])
                    components[name] = component if dtype == torch.float32 else component.to(dtype)
            for name in _TOKENIZERS:
                if name in configs:
                    components[name] = build_tokenizer(configs[name], Path(work) / name)
            components["scheduler"] = build_scheduler(configs["scheduler"])
            pipeline_cls = getattr(diffusers, configs["model_index"]["_class_name"])
            pipe = pipeline_cls(**components, **_pipeline_kwargs(pipeline_cls, configs["model_index"]))
            pipe.save_pretrained(staged, safe_serialization=True)
            del pipe, components
            for name in _TOKENIZERS:  # newer transformers save only tokenizer.json; older ones need these
                if name in configs:
                    write_clip_tokenizer_files(staged / name)
            marker = {
                "model": model, "published_repo": MODELS[model].repo, "weights": "random", "seed": seed,
                "dtype": str(dtype).removeprefix("torch."), "config_digest": config_digest(model),
                "build_seconds": round(time.perf_counter() - started, 1), "built_on": str(device),
            }
            (staged / BUILD_MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")
    finally:
        if torch.device(device).type == "cuda":
            torch.cuda.empty_cache()
    return out_dir


def cached_build_dir(model: str, cache_root: Path, seed: int, dtype: torch.dtype) -> Path:
    """Where the random build of these configs, seed and dtype lives in the cache."""
    dtype_name = str(dtype).removeprefix("torch.")
    return Path(cache_root) / f"{model}-random-seed{seed}-{dtype_name}-{config_digest(model)[:12]}"


def ensure_random_pipeline(model: str, cache_root: Path, seed: int = 0, device: str = "cpu",
                           dtype: torch.dtype = torch.float32) -> tuple[Path, bool]:
    """The cached random-weight pipeline folder, built first when missing; and whether it was reused."""
    target = cached_build_dir(model, cache_root, seed, dtype)
    if (target / BUILD_MARKER).is_file():
        return target, True
    return build_random_pipeline(model, target, seed=seed, device=device, dtype=dtype), False


def default_cache_root() -> Path:
    """``$DRCT_BENCH_CACHE``, else ``$XDG_CACHE_HOME/drct/benchmark-models`` (``~/.cache`` by default)."""
    if os.environ.get("DRCT_BENCH_CACHE"):
        return Path(os.environ["DRCT_BENCH_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "drct" / "benchmark-models"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Random-weight full-size inpainting pipelines from published configs")
    parser.add_argument("--count", action="store_true",
                        help="print parameter counts (meta device) against the published ones")
    parser.add_argument("--build", choices=sorted(MODELS), help="build this model into the cache")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    args = parser.parse_args(argv)
    if args.count:
        ok = True
        for model in MODELS:
            for name, count in parameter_counts(model).items():
                published = PUBLISHED_PARAMETERS[model][name]
                ok &= count == published
                verdict = "ok" if count == published else "DIFFERS"
                print(f"{model:5s} {name:15s} {count:>14,d}  published {published:>14,d}  {verdict}")
        return 0 if ok else 1
    if args.build:
        path, reused = ensure_random_pipeline(args.build, args.cache_dir or default_cache_root(), device=args.device,
                                              dtype=getattr(torch, args.dtype))
        print(f"{'reused' if reused else 'built'} {path}")
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
    raise SystemExit(main())
