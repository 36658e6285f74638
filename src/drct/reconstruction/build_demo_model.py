"""A tiny Stable Diffusion inpainting pipeline with random weights, built offline.

No Stable Diffusion weights can be downloaded on the machines this project is tested on, so the
workflow's demo runs and the tests use this stand-in. It has the *architecture contract* of
``runwayml/stable-diffusion-inpainting`` / ``stabilityai/stable-diffusion-2-inpainting`` (9-channel
UNet, 4-channel latents, VAE downsampling 8, CLIP BPE tokenizer with 77 tokens, PNDM scheduler with
the SD config), just far fewer channels, so every code path (padding to 8, two RNG draws, CFG,
``save_pretrained``/``from_pretrained``) is exercised exactly as with the real model. Its outputs are
noise-like images, not reconstructions: never use it for real results.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

import torch

from drct.io import atomic_path

# Number of merges OpenAI CLIP keeps from the BPE file (49152 - 256 - 2), giving 49,408 tokens.
_N_MERGES = 49152 - 256 - 2
CLIP_VOCAB_SIZE = 49408
CLIP_BOS_ID = 49406
CLIP_EOS_ID = 49407


def write_clip_tokenizer_files(out_dir: Path) -> Path:
    """Write ``vocab.json`` and ``merges.txt`` of OpenAI CLIP's tokenizer into ``out_dir``.

    They are rebuilt from the BPE merges file that ships inside open_clip, the same way OpenAI's
    ``SimpleTokenizer`` builds its vocabulary: 256 byte symbols, the same with ``</w>``, one token per
    merge, then ``<|startoftext|>`` and ``<|endoftext|>``. ``merges.txt`` starts with the
    ``#version`` header that Hugging Face's reader skips.
    """
    from open_clip.tokenizer import bytes_to_unicode, default_bpe

    lines = gzip.open(default_bpe()).read().decode("utf-8").split("\n")
    merges = lines[1 : _N_MERGES + 1]  # line 0 is the file's header
    byte_symbols = list(bytes_to_unicode().values())
    vocab = byte_symbols + [s + "</w>" for s in byte_symbols]
    vocab += ["".join(merge.split()) for merge in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    if len(vocab) != CLIP_VOCAB_SIZE or len(set(vocab)) != CLIP_VOCAB_SIZE:
        raise RuntimeError(f"rebuilt CLIP vocabulary has {len(vocab)} tokens, expected {CLIP_VOCAB_SIZE}")

    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "vocab.json", "w", encoding="utf-8") as f:
        json.dump({token: i for i, token in enumerate(vocab)}, f, ensure_ascii=False)
    with open(out_dir / "merges.txt", "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    return out_dir


def build_clip_tokenizer(work_dir: Path):
    """A ``CLIPTokenizer`` equal to OpenAI CLIP's (ids checked against open_clip in the tests)."""
    from transformers import CLIPTokenizer

    write_clip_tokenizer_files(work_dir)
    return CLIPTokenizer.from_pretrained(str(work_dir), model_max_length=77)


def _build_components(sample_size: int) -> dict:
    """Tiny UNet/VAE/text encoder with SD inpainting's interfaces; weights from the current torch RNG."""
    from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    text_dim = 32
    unet = UNet2DConditionModel(
        sample_size=sample_size,  # latent size; the image size is 8x this
        in_channels=9,  # 4 noisy latents + 1 mask + 4 masked-image latents
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(32, 64),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=text_dim,
        attention_head_dim=8,
    )
    # Four blocks -> vae_scale_factor 2**3 = 8, like the real VAE, so pad-to-8 matters.
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 16, 32, 32),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=sample_size * 8,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=CLIP_VOCAB_SIZE,
            hidden_size=text_dim,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            max_position_embeddings=77,
            projection_dim=text_dim,
            hidden_act="quick_gelu",
            bos_token_id=CLIP_BOS_ID,
            eos_token_id=CLIP_EOS_ID,
            pad_token_id=CLIP_EOS_ID,
        )
    )
    # The scheduler SD1/SD2 inpainting ship with (their scheduler_config.json).
    scheduler = PNDMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        skip_prk_steps=True,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    return {"unet": unet.eval(), "vae": vae.eval(), "text_encoder": text_encoder.eval(), "scheduler": scheduler}


def build_demo_pipeline(out_dir: Path, seed: int = 0, sample_size: int = 32) -> Path:
    """Build the tiny random-weight inpainting pipeline and ``save_pretrained`` it to ``out_dir``.

    Same ``seed`` -> bit-identical weights (each component is initialised right after seeding, inside
    a forked RNG so the caller's global RNG state is untouched). The pipeline is written into a
    temporary sibling directory and renamed into place, so ``out_dir`` is either absent or complete;
    an existing ``out_dir`` is replaced.

    Returns ``out_dir``.
    """
    from diffusers import StableDiffusionInpaintPipeline

    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory() as work, atomic_path(out_dir) as staged:
        tokenizer = build_clip_tokenizer(Path(work) / "tokenizer")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            components = _build_components(sample_size)
        pipe = StableDiffusionInpaintPipeline(
            **components,
            tokenizer=tokenizer,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        pipe.save_pretrained(staged, safe_serialization=True)
        # Newer transformers save only tokenizer.json; older ones need vocab.json + merges.txt.
        write_clip_tokenizer_files(staged / "tokenizer")
    return out_dir
