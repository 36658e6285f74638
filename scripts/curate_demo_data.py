#!/usr/bin/env python3
"""Curate the embedded demo dataset ``data/demo/drct-demo-v1.tar.gz`` (run once; output committed).

Why this script exists
----------------------
The demo run of the pipeline needs a few hundred *real* photographs and *diffusion-generated*
images laid out exactly like DRCT-2M and GenImage, with licences that allow redistribution, and
obtainable without network access other than the apt and PyPI registries. The only such sources
on these machines (see ``/work/shared/reference/offline-notes.md``) are:

* real photographs: the Debian package ``lomiri-wallpapers-16.04`` (per-file CC-BY / CC-BY-SA / CC0
  licences in its ``copyright`` file) and the sample photos inside the scikit-image, scikit-learn
  and matplotlib wheels;
* generated images: the MIT-licensed ComfyUI workflow-template preview wheels
  ``comfyui-workflow-templates-media-image`` (two pinned versions: the newest, and 0.3.0, the oldest,
  which still holds the Stable Diffusion 1.5 / 2 templates and their workflow JSON files) and
  ``comfyui-workflow-templates-media-assets-01`` / ``-02``.

Everything the curation decided by looking at the images is written down in this file as data:
which generated previews were kept and which model family made each one (``GENERATED``), and why
every other preview was dropped (``EXCLUDE_RULES``, ``EXCLUDED``). The script checks that every
static preview in the wheels is either kept or excluded with a reason, so a changed wheel fails
loudly rather than silently changing the dataset.

The model family of each kept preview comes from the template's name, from the
``models`` field of the template index (``templates/index.json`` in the
``comfyui-workflow-templates-json`` wheel, read once while curating, not used by this script) and,
for media-image 0.3.0, from the checkpoint file names in the workflow JSON shipped next to each
preview (e.g. ``image2image.json`` loads ``v1-5-pruned-emaonly-fp16.safetensors``; the ``default``
template's JSON, looked up in media-image 0.3.50, loads the same SD1.5 checkpoint).

Format trap
-----------
The photos are large JPEG/PNG files, the generated previews small lossy WEBP files. A detector
trained on that would separate the classes by format, size and compression. Both classes are
therefore converted the same way: decoded to RGB, resized with Lanczos, cropped to 256x256 and
written as PNG with fixed encoder settings and no metadata.

Determinism
-----------
Source files are verified against sha256 values pinned here; crop positions, splits and file names
are pure functions of the source; the PNGs carry no metadata (no ICC profile, no timestamps); the
tar has sorted members, mtime 0, uid/gid 0 and no user names, and the gzip header has mtime 0 and
no file name. Re-running with the same Pillow/zlib produces a byte-identical archive (a different
libjpeg/libwebp/zlib build may change decoded pixels or compressed bytes).

Usage::

    python scripts/curate_demo_data.py                 # fetch (apt/pip) into /tmp/demo-curation, build
    python scripts/curate_demo_data.py --no-fetch      # reuse what is already in the scratch folder
    python scripts/curate_demo_data.py --sheets        # also write contact sheets for review

Needs Pillow, numpy and ``imagehash`` (``pip install imagehash``), ``apt-get`` and ``dpkg``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image, ImageDraw, ImageOps

REPO = Path(__file__).resolve().parents[1]
ARCHIVE_NAME = "drct-demo-v1"
SIZE = 256  # output side, both classes
LARGE_SHORT_SIDE = (
    640  # large photos are downscaled to this short side before cropping (default)
)
MIN_CROP_STD = 10.0  # grid cells whose grey-level std is below this (blank sky, white wall) are skipped
LARGE_MIN_SHORT_SIDE = (
    1000  # photos with a shorter short side are "small": one centre crop
)
NEAR_DUP_MAX_DISTANCE = (
    10  # perceptual-hash Hamming distance at or below which two outputs are duplicates
)
PNG_COMPRESS_LEVEL = 9

SOURCES_COLUMNS = [
    "archive_path",
    "source_package",
    "source_version",
    "source_kind",
    "path_in_package",
    "license",
    "generator_family",
    "crop",
    "sha256",
    # extra provenance columns
    "resized_size",
    "source_sha256",
    "attribution",
]

# --------------------------------------------------------------------------------------------
# Pinned sources
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    """One registry package: how to fetch it and where its files land once unpacked."""

    key: str  # short id used in the tables below
    name: str  # registry name
    version: str
    kind: str  # "deb" or "wheel"
    sha256: str = (
        ""  # of the downloaded file; "" for platform wheels (their images are pinned instead)
    )

    def unpack_dir(self, scratch: Path) -> Path:
        return scratch / "unpacked" / f"{self.name}-{self.version}"


# fmt: off
PACKAGES: dict[str, Package] = {
    p.key: p
    for p in [
        Package("lomiri", "lomiri-wallpapers-16.04", "20.04.0-2", "deb",
                "a99ff6a3bfe451e4cc0682ecb3cc82e71740626d59e4845ae34a0a0e45421eab"),
        Package("skimage", "scikit-image", "0.26.0", "wheel"),
        Package("sklearn", "scikit-learn", "1.9.1", "wheel"),
        Package("mpl", "matplotlib", "3.11.2", "wheel"),
        Package("mi", "comfyui-workflow-templates-media-image", "0.3.160", "wheel",
                "d4a5c5541c7088f6adb1c7da41f5d7c1c14a037eda6a61cd8b4b76c251faaa93"),
        Package("mi030", "comfyui-workflow-templates-media-image", "0.3.0", "wheel",
                "d2d9b10bf9e4d6a3ef1d852d5c34c81ada450c8744adf3ab4d0dc35ab0517875"),
        Package("a01", "comfyui-workflow-templates-media-assets-01", "0.1.48", "wheel",
                "7733ed12867e95e6b8b39be20bcc73579c28e97e5a44086ffb977cc2c1c78c43"),
        Package("a02", "comfyui-workflow-templates-media-assets-02", "0.1.24", "wheel",
                "ddc94f46da4987ec6e9a4ced6007eaaca126899beea6242ece786e49cd14b065"),
    ]
}
# fmt: on

# --------------------------------------------------------------------------------------------
# Real photographs
# --------------------------------------------------------------------------------------------

LOMIRI_DIR = "usr/share/backgrounds"
CC_BY_4 = "CC-BY-4.0"
CC_BY_SA_4 = "CC-BY-SA-4.0"


@dataclass(frozen=True)
class Photo:
    """A source photograph and where all of its crops go.

    ``part``/``subset``/``split`` place *every* crop of the photo in one folder, so that a photo
    never ends up on both sides of a train/test split, nor in both the DRCT-2M-like and the
    GenImage-like part. ``n_crops`` limits how many of the grid crops are used (evenly spread).
    """

    stem: str  # output file stem
    package: str  # key into PACKAGES
    path: str  # path inside the unpacked package
    license: str
    attribution: str
    part: str  # "drct2m" or "genimage"
    split: str  # drct2m: train2017/val2017; genimage: train/val
    subset: str = ""  # genimage subset
    n_crops: int = (
        0  # 0 = all grid crops (large photos); small photos always give one crop
    )
    short_side: int = LARGE_SHORT_SIDE  # large photos: short side after downscaling


def _lomiri(
    file: str,
    lic: str,
    author: str,
    part: str,
    split: str,
    subset: str = "",
    n: int = 0,
    short: int = LARGE_SHORT_SIDE,
) -> Photo:
    """A photo of the Debian lomiri-wallpapers-16.04 package (all from its 2018 "16.04" set)."""
    attribution = f"{file} by {author}, 2018 (Debian lomiri-wallpapers-16.04; upstream lomiri-wallpapers 16.04 set)"
    return Photo(
        file.rsplit(".", 1)[0].lower(),
        "lomiri",
        f"{LOMIRI_DIR}/{file}",
        lic,
        attribution,
        part,
        split,
        subset,
        n,
        short,
    )


# fmt: off
PHOTO_SHA256: dict[str, str] = {  # path in package -> sha256 of the source file, checked before use
    "usr/share/backgrounds/Bridge_by_Sander_Klootwijk.jpg": "bd86b081f9975e2b83527f71e49b9271a8ab40885428395969d9f7d834d7f050",
    "usr/share/backgrounds/Dragonfly_by_Bolly.jpg": "af5af17841009732def24b09bb1e669a1b09d2b4bdeee7812c371101c30d2bb3",
    "usr/share/backgrounds/Picture_0B_by_freespace.jpg": "c8c0ab18e48d9e0419fe42881112137f3afafc27dfddc29ec3a6d54c56d225ad",
    "usr/share/backgrounds/aitzgorri_by_Aitzol_Berasategi.jpg": "66268e7b48f8854d36a28765fac6e23ec1aee251daa6da1f64715f201020ad36",
    "usr/share/backgrounds/free_by_Peter_Nerlich.jpg": "85a5453c2fed514c75973016f3d862aca62eb7ca087618822469274ac1092373",
    "usr/share/backgrounds/greentock_by_Peter_Nerlich.jpg": "e7b20e2db9dcd6e2b278ca55873c2110b35d89cd38b04d0b18728726888e6889",
    "usr/share/backgrounds/picosdeeuropa_by_Aitzol_Berasategi.jpg": "414d0072b2f6f2c555deafeaef6e45c4fed6fa9ad26eba6560ca8803959cf97a",
    "usr/share/backgrounds/friends_by_Aitzol_Berasategi.jpg": "cc40e313c74e421edffe3403def413c16878ce14661cce7ec5915baeab35538d",
    "usr/share/backgrounds/sunset_by_Aitzol_Berasategi.jpg": "474dab6a4b9f94dc76c29dfe30e9f5db4af0fd2e33fe5d695f8152b371efca18",
    "usr/share/backgrounds/seeding_by_Clements_Engelhardt.jpg": "a5634d1ab5e41a3568e92d4a894a500c92b891f9ff734e50bd224d6e185a605f",
    "usr/share/backgrounds/Picture_1A_by_freespace.jpg": "89e86af38d04daaef975665dc2127e9fa76f0fd68f4eea105a2d0ae3390b010b",
    "usr/share/backgrounds/life_by_Aitzol_Berasategi.jpg": "4c119350ead80201fe256850c3d316309ddfb4bdf10b235ce982dcde0c667c05",
    "usr/share/backgrounds/Wine_by_Jakkub_Mede.jpg": "d2e96e6d4da40dd804b3d0ce295e94de04a2d7d9b6785d42cd9d92ba58bced74",
    "usr/share/backgrounds/analogpattern_by_Peter_Nerlich.jpg": "15372488a192b2be2eafc67bd3ed31cbfca19abe3929e925607fcbc9cb4d4202",
    "sklearn/datasets/images/china.jpg": "8378025ad2519d649d02e32bd98990db4ab572357d9f09841c2fbfbb4fefad29",
    "sklearn/datasets/images/flower.jpg": "a77f6ec41e353afdf8bdff2ea981b2955535d8d83294f8cfa49cf4e423dd5638",
    "matplotlib/mpl-data/sample_data/grace_hopper.jpg": "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130",
    "skimage/data/astronaut.png": "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    "skimage/data/chelsea.png": "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
    "skimage/data/coffee.png": "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
    "skimage/data/rocket.jpg": "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
    "skimage/data/motorcycle_left.png": "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179",
}

# Licences: /usr/share/doc/lomiri-wallpapers-16.04/copyright ("Files: 16.04/<name>" stanzas).
# umang_by_Abhishek_Mudgal.jpg (CC-BY-4.0) is NOT used: a digital abstract gradient, not a photograph.
PHOTOS: list[Photo] = [
    # --- drct2m real/train2017 ---
    _lomiri("Bridge_by_Sander_Klootwijk.jpg", CC_BY_SA_4, "Sander Klootwijk", "drct2m", "train2017"),
    _lomiri("Dragonfly_by_Bolly.jpg", CC_BY_SA_4, '"Bolly"', "drct2m", "train2017", n=8, short=768),
    _lomiri("Picture_0B_by_freespace.jpg", CC_BY_4, 'Trevor "Freespace"', "drct2m", "train2017"),
    _lomiri("aitzgorri_by_Aitzol_Berasategi.jpg", CC_BY_4, "Aitzol Berasategi", "drct2m", "train2017"),
    _lomiri("free_by_Peter_Nerlich.jpg", CC_BY_SA_4, "Peter Nerlich", "drct2m", "train2017"),
    _lomiri("greentock_by_Peter_Nerlich.jpg", CC_BY_SA_4, "Peter Nerlich", "drct2m", "train2017", n=8, short=768),
    # --- drct2m real/val2017 ---
    _lomiri("picosdeeuropa_by_Aitzol_Berasategi.jpg", CC_BY_4, "Aitzol Berasategi", "drct2m", "val2017"),
    _lomiri("friends_by_Aitzol_Berasategi.jpg", CC_BY_4, "Aitzol Berasategi", "drct2m", "val2017"),
    _lomiri("sunset_by_Aitzol_Berasategi.jpg", CC_BY_4, "Aitzol Berasategi", "drct2m", "val2017"),
    _lomiri("seeding_by_Clements_Engelhardt.jpg", "CC0-1.0", "Clemens Engelhardt", "drct2m", "val2017"),
    # --- genimage nature: one large photo per subset for val; small photos (+ a few crops) for train ---
    _lomiri("Picture_1A_by_freespace.jpg", CC_BY_4, 'Trevor "Freespace"', "genimage", "val", "closed_api_models"),
    _lomiri("life_by_Aitzol_Berasategi.jpg", CC_BY_4, "Aitzol Berasategi", "genimage", "val", "open_models_t2i"),
    _lomiri("Wine_by_Jakkub_Mede.jpg", CC_BY_4, "Jakub Mede", "genimage", "val", "open_models_edit"),
    _lomiri("analogpattern_by_Peter_Nerlich.jpg", CC_BY_SA_4, "Peter Nerlich", "genimage", "train", "open_models_edit", n=2),
    Photo("china", "sklearn", "sklearn/datasets/images/china.jpg", "CC-BY-2.0",
          "china.jpg by danielbuechele (Flickr 6061409035), per sklearn/datasets/images/README.txt",
          "genimage", "train", "closed_api_models"),
    Photo("flower", "sklearn", "sklearn/datasets/images/flower.jpg", "CC-BY-2.0",
          "flower.jpg, Flickr photo 6056698931 by vultilion (the README's attribution line says danielbuechele), per sklearn/datasets/images/README.txt",
          "genimage", "train", "closed_api_models"),
    Photo("grace_hopper", "mpl", "matplotlib/mpl-data/sample_data/grace_hopper.jpg", "Matplotlib-License (PSF-based)",
          "grace_hopper.jpg, matplotlib sample data (no image-specific licence in the wheel; package licence applies)",
          "genimage", "train", "closed_api_models"),
    Photo("astronaut", "skimage", "skimage/data/astronaut.png", "Public-Domain",
          "Eileen Collins, NASA; skimage.data.astronaut docstring: 'No known copyright restrictions, released into the public domain'",
          "genimage", "train", "open_models_t2i"),
    Photo("chelsea", "skimage", "skimage/data/chelsea.png", "CC0-1.0",
          "Chelsea the cat by Stefan van der Walt; skimage.data.chelsea docstring: 'CC0 by the photographer'",
          "genimage", "train", "open_models_t2i"),
    Photo("coffee", "skimage", "skimage/data/coffee.png", "CC0-1.0",
          "Coffee cup by Rachel Michetti (courtesy of Pikolo Espresso Bar); skimage.data.coffee docstring: 'CC0 by the photographer'",
          "genimage", "train", "open_models_t2i"),
    Photo("rocket", "skimage", "skimage/data/rocket.jpg", "Public-Domain",
          "DSCOVR launch on Falcon 9 by SpaceX; skimage.data.rocket docstring: 'released in the public domain'",
          "genimage", "train", "open_models_edit"),
    Photo("motorcycle_left", "skimage", "skimage/data/motorcycle_left.png", "BSD-3-Clause",
          "Middlebury 2014 stereo benchmark (Scharstein et al.), downsampled, as shipped in scikit-image (no image-specific licence in the wheel; package licence applies)",
          "genimage", "train", "open_models_edit"),
]
# fmt: on

# --------------------------------------------------------------------------------------------
# Generated images
# --------------------------------------------------------------------------------------------
# Output groups. drct2m: generator folder (the training generator is the largest family).
# genimage: subset folder.
TRAIN_GENERATOR = "flux"
GROUPS: dict[str, tuple[str, int]] = {
    # group -> (part, number of images that go to the train split; the rest is val/test)
    "flux": ("drct2m", 17),
    "stable-diffusion": ("drct2m", 3),
    "qwen-image": ("drct2m", 3),
    "closed_api_models": ("genimage", 4),
    "open_models_t2i": ("genimage", 4),
    "open_models_edit": ("genimage", 3),
}

# family -> group. Family names are the generator_family column of SOURCES.csv.
FAMILY_GROUP: dict[str, str] = {
    # FLUX (Black Forest Labs) and FLUX.1-schnell-derived Chroma
    "flux-1": "flux",
    "flux-1-kontext": "flux",
    "flux-1-pro-api": "flux",
    "flux-2": "flux",
    "flux-3": "flux",
    "chroma": "flux",
    # Stability AI latent diffusion models
    "sd-1.5": "stable-diffusion",
    "sd-2-inpainting": "stable-diffusion",
    "sdxl": "stable-diffusion",
    "sdxl-turbo": "stable-diffusion",
    "sd-3.5-large": "stable-diffusion",
    # Alibaba Qwen-Image (open weights)
    "qwen-image": "qwen-image",
    "qwen-image-edit": "qwen-image",
    # closed models used through an API (template index: openSource false)
    "bria-api": "closed_api_models",
    "grok-imagine-api": "closed_api_models",
    "kling-api": "closed_api_models",
    "krea-api": "closed_api_models",
    "luma-uni-api": "closed_api_models",
    "mai-image-api": "closed_api_models",
    "muse-image-api": "closed_api_models",
    "nano-banana-api": "closed_api_models",
    "recraft-api": "closed_api_models",
    "reve-api": "closed_api_models",
    "seedream-api": "closed_api_models",
}
# Other open-weight families: text-to-image outputs -> open_models_t2i, edit/control outputs -> open_models_edit
OPEN_OTHER = {
    "anima",
    "boogu",
    "capybara",
    "chroma-radiance",
    "chronoedit",
    "ernie-image",
    "fibo-2",
    "firered-edit",
    "hidream",
    "joyai-edit",
    "kandinsky-5",
    "krea-2",
    "lens",
    "longcat-image",
    "mage-flow",
    "minimax-h3",
    "moss-image",
    "netayume-lumina",
    "newbie-image",
    "omnigen2",
    "ovis-image",
    "pixeldit",
    "z-image",
}


@dataclass(frozen=True)
class Gen:
    """A kept generated preview: (package key, file name) -> family; ``edit`` marks edit/control outputs."""

    package: str
    file: str
    family: str
    edit: bool = False
    note: str = ""


def _g(
    file: str, family: str, edit: bool = False, note: str = "", package: str = ""
) -> Gen:
    return Gen(package, file, family, edit, note)


# Kept previews. For two-image templates (compare slider / hover dissolve) only the model's OUTPUT
# is kept; which of -1/-2 is the output was decided by looking (mask overlays, "Input" labels,
# control maps, blur, added objects); the other image is excluded in EXCLUDED below.
# package "" = whichever of mi / a01 / a02 holds the file (names are unique across them).
# fmt: off
GENERATED: list[Gen] = [
    # ---- flux ----
    _g("flux_kontext_dev_basic-1.webp", "flux-1-kontext", True, "-2 carries an 'Input' label"),
    _g("flux_canny_model_example-1.webp", "flux-1", True, "-2 is the canny map"),
    _g("flux_dev_checkpoint_example-1.webp", "flux-1"),
    _g("flux_fill_outpaint_example-1.webp", "flux-1", True, "-2 is the padded input"),
    _g("flux_redux_model_example-1.webp", "flux-1"),
    _g("flux_schnell-1.webp", "flux-1"),
    _g("flux_schnell_full_text_to_image-1.webp", "flux-1"),
    _g("image_flux.1_fill_dev_OneReward-2.webp", "flux-1", True, "fill adds the object"),
    _g("api_bfl_flux1_expand_image-1.webp", "flux-1-pro-api", True, "-2 is the padded input"),
    _g("flux1_dev_uso_reference_image_gen-1.webp", "flux-1", True),
    _g("flux_depth_lora_example-1.webp", "flux-1", True, "-2 is the depth map"),
    _g("flux_dev_full_text_to_image-1.webp", "flux-1"),
    _g("flux_fill_inpaint_example-1.webp", "flux-1", True),
    _g("flux1_krea_dev-1.webp", "flux-1"),
    _g("image_chroma_text_to_image-1.webp", "chroma"),
    _g("flux1_krea_dev-1.webp", "flux-1", False, "older preview, a different image", "mi030"),
    _g("flux_dev_checkpoint_example-1.webp", "flux-1", False, "older preview, a different image", "mi030"),
    _g("image_flux2_text_to_image-1.webp", "flux-2"),
    _g("image_flux2_klein_image_edit_9b_distilled-2.webp", "flux-2", True),
    _g("image_flux2_klein_text_to_image-1.webp", "flux-2"),
    _g("image_flux2_text_to_image_9b-1.webp", "flux-2"),
    _g("api_bfl_flux3_t2i-1.webp", "flux-3"),
    _g("image_flux3_klein_distilled_image_edit-2.webp", "flux-3", True, "edit output (earring changed)"),
    _g("image_flux3_klein_distilled_t2i-1.webp", "flux-3"),
    _g("image_flux3_klein_t2i-1.webp", "flux-3"),
    # ---- stable-diffusion (checkpoints from the workflow JSON) ----
    _g("default-1.webp", "sd-1.5", False, "default workflow: v1-5-pruned-emaonly-fp16"),
    _g("controlnet_example-1.webp", "sd-1.5", True, "DreamShaper 8 (SD1.5) + scribble ControlNet", "mi030"),
    _g("depth_controlnet-1.webp", "sd-1.5", True, "architecturerealmix (SD1.5) + depth ControlNet", "mi030"),
    _g("depth_t2i_adapter-1.webp", "sd-1.5", True, "interiordesignsuperm (SD1.5) + depth T2I-Adapter", "mi030"),
    _g("image2image-1.webp", "sd-1.5", True, "v1-5-pruned-emaonly; -2 carries an 'Input' label", "mi030"),
    _g("mixing_controlnets-1.webp", "sd-1.5", True, "awpainting (SD1.5) + openpose/scribble ControlNets", "mi030"),
    _g("inpaint_example-2.webp", "sd-2-inpainting", True, "512-inpainting-ema; -2 replaced the oranges", "mi030"),
    _g("inpaint_model_outpainting-1.webp", "sd-2-inpainting", True, "512-inpainting-ema; -2 is the smaller input", "mi030"),
    _g("image_sdxl_simple-1.webp", "sdxl"),
    _g("sdxl_refiner_prompt_example-1.webp", "sdxl"),
    _g("sdxl_revision_text_prompts-1.webp", "sdxl"),
    _g("sdxl_simple_example-1.webp", "sdxl"),
    _g("sdxlturbo_example-1.webp", "sdxl-turbo"),
    _g("sd3.5_large_blur-1.webp", "sd-3.5-large", True, "-2 is the blurred input"),
    _g("sd3.5_large_canny_controlnet_example-1.webp", "sd-3.5-large", True, "-2 is the canny map"),
    _g("sd3.5_large_depth-1.webp", "sd-3.5-large", True, "-2 is the depth map"),
    _g("sd3.5_simple_example-1.webp", "sd-3.5-large"),
    # ---- qwen-image ----
    _g("02_qwen_Image_edit_subgraphed-2.webp", "qwen-image-edit", True, "painted output of the -1 photo-like input"),
    _g("image_qwen_image-1.webp", "qwen-image"),
    _g("image_qwen_image_controlnet_patch-2.webp", "qwen-image", True),
    _g("image_qwen_image_edit_2509-2.webp", "qwen-image-edit", True),
    _g("image_qwen_image_instantx_controlnet-1.webp", "qwen-image", True, "-2 is the control map"),
    _g("image_qwen_image_instantx_inpainting_controlnet-1.webp", "qwen-image", True, "-2 shows the red mask"),
    _g("image_qwen_image_union_control_lora-1.webp", "qwen-image", True, "-2 is the canny map"),
    _g("image_qwen_Image_2512_controlnet-1.webp", "qwen-image", True, "-2 is the canny map"),
    _g("image_qwen_image_2512_with_2steps_lora-1.webp", "qwen-image"),
    _g("image-qwen_image_edit_2511_lora_inflation-1.webp", "qwen-image-edit", True, "the inflated one is the output"),
    _g("image_qwen_image_edit-2.webp", "qwen-image-edit", True, "-1 is the input with text"),
    _g("image_qwen_image_edit_2509_relight-2.webp", "qwen-image-edit", True),
    _g("image_qwen_image_edit_2511-1.webp", "qwen-image-edit", True, "-2 carries the reference inset"),
    _g("templates-image_to_real-2.webp", "qwen-image-edit", True),
    _g("templates_rob_portrait_light_migration.app-2.webp", "qwen-image-edit", True),
    _g("image_qwen_image_2_1_t2i-1.webp", "qwen-image"),
    _g("image_qwen_image_2_1_turbo_image_edit-2.webp", "qwen-image-edit", True),
    _g("image_qwen_image_edit_2511_int8-2.webp", "qwen-image-edit", True),
    # ---- closed API models ----
    _g("api_reve_image_create-1.webp", "reve-api"),
    _g("api_bria_eraser-2.webp", "bria-api", True, "-1 shows the mask"),
    _g("api_bria_genfill-2.webp", "bria-api", True, "-1 shows the mask"),
    _g("api_grok_image_edit-2.webp", "grok-imagine-api", True),
    _g("api_grok_imagine_image_quality_image_edit-2.webp", "grok-imagine-api", True),
    _g("api_grok_text_to_image-1.webp", "grok-imagine-api"),
    _g("api_kling_v3_t2i-1.webp", "kling-api"),
    _g("api_luma_uni_1_image_create-1.webp", "luma-uni-api"),
    _g("api_openrouter_mai_image_26_flash-1.webp", "mai-image-api"),
    _g("api_meta_muse_image_image_edit-1.webp", "muse-image-api", True, "output adds the whale"),
    _g("api_nano_banana_2_lite_image_edit-2.webp", "nano-banana-api", True, "-1 is a title card"),
    _g("templates-color_illustration-2.webp", "nano-banana-api", True, "-1 is the line-art input"),
    _g("api_recraft_v4_1_flash_t2i-1.webp", "recraft-api"),
    _g("api_recraft_v4_1_t2i-1.webp", "recraft-api"),
    _g("api_recraft_v4_t2i-1.webp", "recraft-api"),
    _g("api_bytedance_seedream_5_0_flash_image_edit-1.webp", "seedream-api", True),
    _g("api_bytedance_seedream_5_0_flash_t2i-1.webp", "seedream-api"),
    _g("api_bytedance_seedream_5_0_lite_image_edit-1.webp", "seedream-api", True, "-2 carries an inset"),
    _g("api_bytedance_seedream_5_0_lite_t2i-1.webp", "seedream-api"),
    _g("api_bytedance_seedream_5_0_pro_image_edit-1.webp", "seedream-api", True, "-2 is the half-sketch input"),
    _g("api_krea2_t2i-1.webp", "krea-api"),
    _g("api_krea3_t2i-1.webp", "krea-api"),
    # ---- other open-weight models ----
    _g("hidream_i1_dev-1.webp", "hidream"),
    _g("hidream_i1_fast-1.webp", "hidream"),
    _g("hidream_i1_full-1.webp", "hidream"),
    _g("image_hidream_o1-1.webp", "hidream"),
    _g("image_hidream_o1_dev-2.webp", "hidream", True),
    _g("image_z_image-1.webp", "z-image"),
    _g("image_z_image_int8-1.webp", "z-image"),
    _g("image_z_image_turbo-1.webp", "z-image"),
    _g("image_z_image_turbo_int8-1.webp", "z-image"),
    _g("image_z_image_turbo_fun_union_controlnet-1.webp", "z-image", True, "-2 is the canny map"),
    _g("image_anima_base_v1-1.webp", "anima"),
    _g("image_anima_preview-1.webp", "anima"),
    _g("image_anima_lllite_any_control_to_image-1.webp", "anima", True, "-2 is the line-art control"),
    _g("image_anima_lllite_depth_control_to_image-1.webp", "anima", True, "-2 is the depth map"),
    _g("image_anima_lllite_image_inpainting-2.webp", "anima", True),
    _g("image_boogu_image_0_1_turbo_t2i-1.webp", "boogu"),
    _g("image_boogu_image_0_1_edit-2.webp", "boogu", True, "output adds the hat"),
    _g("image_boogu_image_0_1_edit_int8-2.webp", "boogu", True),
    _g("Image_capybara_v0_1_text_to_image-1.webp", "capybara"),
    _g("Image_capybara_v0_1_image_edit-2.webp", "capybara", True),
    _g("image_chroma1_radiance_text_to_image-1.webp", "chroma-radiance"),
    _g("image_ernie_image_turbo-1.webp", "ernie-image"),
    _g("image_kandinsky5_t2i-1.webp", "kandinsky-5"),
    _g("image_krea2_turbo_t2i-1.webp", "krea-2"),
    _g("image_krea2_turbo_t2i_int8-1.webp", "krea-2"),
    _g("image_lens_t2i-1.webp", "lens"),
    _g("image_longcat_text_to_image-1.webp", "longcat-image"),
    _g("image_longcat_image_edit-2.webp", "longcat-image", True),
    _g("image_mage_flow_t2i_int8-1.webp", "mage-flow"),
    _g("image_mage_flow_turbo_t2i_int8-1.webp", "mage-flow"),
    _g("image_mage_flow_edit_int8-2.webp", "mage-flow", True, "output adds the smoke"),
    _g("image_mage_flow_edit_turbo_int8-2.webp", "mage-flow", True, "output adds the balloons"),
    _g("image_minimax_h3_t2i-1.webp", "minimax-h3"),
    _g("image_moss_image_edit-2.webp", "moss-image", True),
    _g("image_newbieimage_exp0_1-t2i-1.webp", "newbie-image"),
    _g("image_netayume_lumina_t2i-1.webp", "netayume-lumina"),
    _g("image_omnigen2_t2i-1.webp", "omnigen2"),
    _g("image_omnigen2_image_edit-1.webp", "omnigen2", True, "in 0.3.0 the -2 image carries an 'Input' label"),
    _g("image_ovis_text_to_image-1.webp", "ovis-image"),
    _g("image_pixeldit_t2i-1.webp", "pixeldit"),
    _g("image_chrono_edit_14B-2.webp", "chronoedit", True),
    _g("image_firered_image_edit1_1-2.webp", "firered-edit", True),
    _g("image_fibo2_edit_dev_pe-2.webp", "fibo-2", True),
    _g("image_joyai_image_edit-2.webp", "joyai-edit", True),
]
# fmt: on

# Reasons for dropping a preview.
UPSCALE = "upscaler / enhancer / restyling of an input image (the input may be a photo)"
TEXT = "title card / text or logo overlay"
INSET = "composite with inset reference images or UI panels"
BORDER = "letterbox/pillarbox borders (trivial cue)"
EDIT_IN = "input of an edit/control template (the output is kept)"
CONTROL = "control map (canny/depth/line art)"

# Whole templates that are not image-generation outputs, matched on the file name (first match wins).
EXCLUDE_RULES: list[tuple[str, str]] = [
    (r"^logo", "provider logo"),
    (
        r"audio|elevenlabs|fishaudio|music|speech|tts|sfx|voice|yue2|mirelo|veed|heygen",
        "audio template (cover art, not a model output)",
    ),
    (r"claude|gpt5|gpt6|grok4|kimi", "language-model template (cover art)"),
    (r"3d|hunyuan3d|meshy|tripo|sam3d|moge3", "3D / geometry template"),
    (r"svg|vector|quiver", "vector-graphics template"),
    (
        r"video|i2v|t2v|r2v|flf2v|lip_?sync|talking|ltx|wan2|wan3|seedance|kling4|pixverse|vidu|runway|animate|dancer|ohneis|key-frames",
        "video template",
    ),
    (
        r"upscal|enhance|image_fix|increase_resolution|seedvr|skin_enhancer|magnific|topaz|hitpaw|wavespeed|crystal",
        UPSCALE,
    ),
    (
        r"marigold|lotus_depth|background_removal|remove_background|layer_separation|layered",
        "estimation / matting / layer decomposition, not generation",
    ),
]

# Everything else that is not kept, with the reason (decided on contact sheets of all previews).
EXCLUDED: dict[str, str] = {
    "01_get_started_text_to_image-1.webp": TEXT,
    "02_qwen_Image_edit_subgraphed-1.webp": EDIT_IN,
    "mi030:02_qwen_Image_edit_subgraphed-1.webp": "near-duplicate of the kept 0.3.160 output",
    "api_reve_image_remix-1.webp": INSET,
    "image_anima_lllite_any_control_to_image-2.webp": CONTROL,
    "image_anima_lllite_depth_control_to_image-2.webp": CONTROL,
    "image_anima_lllite_image_inpainting-1.webp": EDIT_IN,
    "api_bria_eraser-1.webp": EDIT_IN,
    "api_bria_genfill-1.webp": EDIT_IN,
    "api_bria_expand_image-1.webp": BORDER,
    "api_bria_expand_image-2.webp": BORDER,
    "api_bria_fibo2_t2i-1.webp": TEXT,
    "api_bria_product_holding-1.webp": INSET,
    "api_bria_product_holding-2.webp": INSET,
    "api_bria_virtual_try_on-1.webp": INSET,
    "api_bria_virtual_try_on-2.webp": INSET,
    "api_kling_vto-1.webp": INSET,
    "api_kling_vto-2.webp": INSET,
    "video_bernini_r_image_editing-1.webp": "video-model edit; which image is the output is unclear",
    "video_bernini_r_image_editing-2.webp": "video-model edit; which image is the output is unclear",
    "image_boogu_image_0_1_edit-1.webp": EDIT_IN,
    "image_boogu_image_0_1_edit_int8-1.webp": EDIT_IN,
    "Image_capybara_v0_1_image_edit-1.webp": EDIT_IN,
    "image_ernie_image-1.webp": TEXT,
    "api_flux_video_edit-1.webp": "video template",
    "image_flux3_klein_distilled_image_edit-1.webp": EDIT_IN,
    "image_flux3_klein_image_edit-1.webp": BORDER,
    "image_flux3_klein_image_edit-2.webp": BORDER,
    "flux_kontext_dev_basic-2.webp": EDIT_IN,
    "flux_canny_model_example-2.webp": CONTROL,
    "flux_fill_outpaint_example-2.webp": EDIT_IN,
    "image_flux.1_fill_dev_OneReward-1.webp": EDIT_IN,
    "image_flux2_fp8-1.webp": INSET,
    "image_flux2_klein_9b_kv_image_edit-1.webp": INSET,
    "image_flux2_klein_9b_kv_image_edit-2.webp": INSET,
    "api_bfl_flux1_expand_image-2.webp": EDIT_IN,
    "flux1_dev_uso_reference_image_gen-2.webp": EDIT_IN,
    "flux_depth_lora_example-2.webp": CONTROL,
    "flux_fill_inpaint_example-2.webp": EDIT_IN,
    "image_flux2-1.webp": TEXT + " (FLUX / COMFY logo on the beanie)",
    "image_flux2-2.webp": EDIT_IN,
    "image_flux2_klein_image_edit_4b_base-1.webp": INSET,
    "image_flux2_klein_image_edit_4b_distilled-1.webp": INSET,
    "image_flux2_klein_image_edit_9b_base-1.webp": INSET,
    "image_flux2_klein_image_edit_9b_distilled-1.webp": EDIT_IN,
    "image_fibo2_edit_dev_pe-1.webp": EDIT_IN,
    "image_fibo2_edit_turbo_pe-1.webp": BORDER,
    "image_fibo2_edit_turbo_pe-2.webp": BORDER,
    "image_firered_image_edit1_1-1.webp": EDIT_IN,
    "api_openai_gpt_image_2_image_edit-1.webp": TEXT,
    "api_openai_gpt_image_2_t2i-1.webp": TEXT,
    "api_openai_gpt_image_25_flare_t2i-1.webp": TEXT,
    "api_openai_gpt_image_25_sunburst_t2i-1.webp": TEXT,
    "api_openai_gpt_image_25_flare_image_edit-1.webp": TEXT,
    "api_openai_gpt_image_25_sunburst_image_edit-1.webp": TEXT,
    "templates-color_illustration-1.webp": EDIT_IN,
    "templates-product_ad-v2.0-1.webp": TEXT,
    "api_google_nano_banana2_image_edit_continuation-1.webp": INSET,
    "api_google_nano_banana2_image_edit-1.webp": INSET,
    "api_grok_image_edit-1.webp": EDIT_IN,
    "api_grok_imagine_image_quality_image_edit-1.webp": EDIT_IN,
    "api_grok_imagine_image_quality_image_generation-1.webp": TEXT,
    "api_grok_imagine_image_2_image_edit-1.webp": INSET,
    "api_grok_imagine_image_2_t2i-1.webp": TEXT,
    "template_rob_realistic_2k_images_quick_variations-1.webp": UPSCALE,
    "template_rob_realistic_2k_images_quick_variations-2.webp": UPSCALE,
    "api_tencent_hy_image_3_5_preview_image_edit-1.webp": TEXT,
    "api_tencent_hy_image_3_5_preview_t2i-1.webp": TEXT,
    "hidream_e1_1-1.webp": TEXT + " ('Before'/'After' labels)",
    "hidream_e1_1-2.webp": TEXT + " ('Before'/'After' labels)",
    "hidream_e1_full-1.webp": TEXT + " ('Before'/'After' labels)",
    "hidream_e1_full-2.webp": TEXT + " ('Before'/'After' labels)",
    "image_hidream_o1_dev-1.webp": EDIT_IN,
    "api_ideogram_p_image_t2i-1.webp": TEXT,
    "api_ideogram_v4_5_t2i-1.webp": TEXT,
    "api_ideogram_v4_t2i-1.webp": TEXT,
    "image_ideogram4_t2i-1.webp": TEXT,
    "image_ideogram4_t2i_int8-1.webp": TEXT,
    "api_ideogram_v4_5_image_edit-1.webp": TEXT,
    "api_ideogram_v4_5_precise_image_edit-1.webp": TEXT,
    "image_joyai_image_edit-1.webp": EDIT_IN,
    "api_kling_o3_image-1.webp": INSET,
    "api_krea2_style_reference-1.webp": INSET,
    "image_krea2_turbo_int8_image_style_reference-1.webp": INSET + " (2x2 grid)",
    "image_lens_turbo_t2i-1.webp": TEXT + " (ComfyUI / Lens signs)",
    "image_longcat_image_edit-1.webp": EDIT_IN,
    "api_luma_uni_1_image_edit-1.webp": BORDER,
    "api_luma_uni_1_image_edit-2.webp": BORDER,
    "image_moss_image_base_t2i-1.webp": TEXT,
    "image_moss_image_base_t2i_bboxes-1.webp": TEXT,
    "image_moss_image_t2i-1.webp": TEXT + " (MOSS sign)",
    "image_moss_image_t2i_bboxes-1.webp": TEXT,
    "image_moss_image_edit-1.webp": EDIT_IN,
    "image_moss_image_color_depth_control-2.webp": CONTROL,
    "image_mage_flow_edit_int8-1.webp": EDIT_IN,
    "image_mage_flow_edit_turbo_int8-1.webp": EDIT_IN,
    "api_openrouter_mai_image_26_flash_image_edit-1.webp": INSET,
    "api_openrouter_mai_image_26_image_edit-1.webp": INSET,
    "api_openrouter_mai_image_26_t2i-1.webp": TEXT,
    "image_ming_image_01_design_image_edit-1.webp": TEXT,
    "image_ming_image_01_design_image_edit-2.webp": "edit output shows a red selection box",
    "image_ming_image_01_design_t2i-1.webp": TEXT,
    "api_meta_muse_image_image_edit-2.webp": EDIT_IN,
    "api_meta_muse_image_t2i-1.webp": TEXT,
    "api_google_nano_banana_create_turnaround_sheet-1.webp": INSET
    + " (turnaround sheet)",
    "api_nano_banana_2_1_t2i-1.webp": TEXT,
    "api_nano_banana_2_1_image_edit-1.webp": TEXT,
    "api_google_nano_banana2_text_to_image-1.webp": TEXT,
    "api_nano_banana_2_lite_image_edit-1.webp": TEXT,
    "api_nano_banana_2_lite_t2i-1.webp": TEXT,
    "template_contact_sheet-step_1.app-1.webp": INSET,
    "templates_3d_match_game_art_style.app-1.webp": "game-asset render on black",
    "templates_3d_match_game_art_style.app-2.webp": "game-asset render on black",
    "templates_doc_workbox_poster_recreator-1.webp": TEXT,
    "image_omnigen2_image_edit-2.webp": EDIT_IN,
    "mi030:image_omnigen2_image_edit-1.webp": "near-duplicate of the kept 0.3.160 output",
    "mi030:image_omnigen2_image_edit-2.webp": EDIT_IN + " ('Input' label)",
    "image_qwen_image_2_1_image_edit-1.webp": INSET,
    "image_qwen_image_2_1_image_edit-2.webp": INSET,
    "image_qwen_image_2_1_turbo_image_edit-1.webp": EDIT_IN,
    "image_qwen_image_2_1_turbo_t2i-1.webp": TEXT,
    "api_qwen3_image_edit-1.webp": TEXT + " (document layout)",
    "api_qwen3_t2i-1.webp": TEXT,
    "image_qwen_image_edit_2511_int8-1.webp": EDIT_IN,
    "image_qwen_image_controlnet_patch-1.webp": EDIT_IN,
    "image_qwen_image_edit_2509-1.webp": EDIT_IN,
    "image_qwen_image_instantx_controlnet-2.webp": CONTROL,
    "image_qwen_image_instantx_inpainting_controlnet-2.webp": EDIT_IN + " (red mask)",
    "image_qwen_image_union_control_lora-2.webp": CONTROL,
    "image_qwen_Image_2512_controlnet-2.webp": CONTROL,
    "image-qwen_image_edit_2511_lora_inflation-2.webp": EDIT_IN,
    "image_qwen_image_edit-1.webp": EDIT_IN,
    "image_qwen_image_edit_2509_relight-1.webp": EDIT_IN,
    "image_qwen_image_edit_2511-2.webp": INSET,
    "template_qwen_multiangle.app-1.webp": INSET,
    "templates-1_click_multiple_character_angles-v1.0-1.webp": INSET,
    "templates-1_click_multiple_scene_angles-v1.0-1.webp": INSET,
    "templates-image_to_real-1.webp": EDIT_IN,
    "templates_rob_portrait_light_migration.app-1.webp": EDIT_IN,
    "api_recraft_style_reference-1.webp": INSET,
    "api_recraft_v4_style_reference-1.webp": INSET,
    "sd3.5_large_blur-2.webp": EDIT_IN + " (blurred input)",
    "sd3.5_large_canny_controlnet_example-2.webp": CONTROL,
    "sd3.5_large_depth-2.webp": CONTROL,
    "template_eric_seedance_5_subject_and_outfit_combine-1.webp": INSET,
    "api_bytedance_seedream_5_0_lite_image_edit-2.webp": INSET,
    "api_bytedance_seedream_5_0_pro_image_edit-2.webp": EDIT_IN + " (half sketch)",
    "api_bytedance_seedream_5_0_pro_t2i-1.webp": TEXT,
    "image_chrono_edit_14B-1.webp": EDIT_IN,
    "image_z_image_turbo_fun_union_controlnet-2.webp": CONTROL,
    "templates-6-key-frames-1.webp": INSET,
    "templates-all_in_one-image_edit_models-1.webp": INSET,
    "templates-character_sheet-1.webp": INSET,
    "templates-portrait_light_migration-1.webp": INSET,
    "templates-textured_logo_elements-1.webp": "logo",
    "templates-textured_logotype-v2.1-1.webp": "logo",
    "template_contact_sheet-step_3.app-1.webp": INSET,
    "template_eric_exploded_view-1.webp": INSET,
    "template-recraft_create_style-1.webp": INSET,
    "mi030:controlnet_example-2.webp": CONTROL,
    "mi030:depth_controlnet-2.webp": CONTROL,
    "mi030:depth_t2i_adapter-2.webp": CONTROL,
    "mi030:image2image-2.webp": EDIT_IN + " ('Input' label)",
    "mi030:mixing_controlnets-2.webp": CONTROL + " (pose + scribble)",
    "mi030:inpaint_example-1.webp": EDIT_IN,
    "mi030:inpaint_model_outpainting-2.webp": EDIT_IN,
    "mi030:flux_depth_lora_example-1.webp": "near-duplicate of the kept 0.3.160 output (re-encoded)",
    "mi030:flux_depth_lora_example-2.webp": CONTROL,
    "mi030:flux_fill_outpaint_example-1.webp": "near-duplicate of the kept 0.3.160 output (re-encoded)",
    "mi030:flux_fill_outpaint_example-2.webp": EDIT_IN,
    "mi030:01_qwen_t2i_subgraphed-1.webp": TEXT,
}

# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run(cmd: Sequence[str], cwd: Path) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(list(cmd), cwd=cwd, check=True)


def check_pinned(path: Path, expected: str) -> None:
    """Refuse a download whose sha256 differs from the pinned value (when one is pinned)."""
    if expected and sha256_file(path) != expected:
        raise SystemExit(
            f"sha256 mismatch for {path}: got {sha256_file(path)}, pinned {expected}"
        )


def fetch(scratch: Path) -> None:
    """Download the pinned packages with the registries' own clients and unpack them.

    Wheels are unpacked with zipfile (no install); the .deb with ``dpkg -x``. Which exact wheel
    file pip picks for a binary package can differ by platform; that does not matter because the
    images inside are checked against their own sha256 values.
    """
    dl = scratch / "downloads"
    dl.mkdir(parents=True, exist_ok=True)
    for pkg in PACKAGES.values():
        target = pkg.unpack_dir(scratch)
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        sub = dl / f"{pkg.name}-{pkg.version}"
        sub.mkdir(exist_ok=True)
        if pkg.kind == "deb":
            if not list(sub.glob("*.deb")):
                run(["apt-get", "download", f"{pkg.name}={pkg.version}"], cwd=sub)
            (deb,) = sub.glob("*.deb")
            check_pinned(deb, pkg.sha256)
            tmp = target.parent / (target.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            run(["dpkg", "-x", str(deb), str(tmp)], cwd=sub)
            tmp.rename(target)
        else:
            if not list(sub.glob("*.whl")):
                run(
                    [
                        sys.executable,
                        "-m",
                        "pip",
                        "download",
                        "--no-deps",
                        "--only-binary=:all:",
                        "-d",
                        str(sub),
                        f"{pkg.name}=={pkg.version}",
                    ],
                    cwd=sub,
                )
            (whl,) = sub.glob("*.whl")
            check_pinned(whl, pkg.sha256)
            tmp = target.parent / (target.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            with zipfile.ZipFile(whl) as zf:
                zf.extractall(tmp)
            tmp.rename(target)


def verify_downloads(scratch: Path) -> None:
    """Check the downloaded .deb and platform-independent wheels against their pinned sha256."""
    for pkg in PACKAGES.values():
        if not pkg.sha256:
            continue
        found = sorted(
            (scratch / "downloads" / f"{pkg.name}-{pkg.version}").glob(
                "*.deb" if pkg.kind == "deb" else "*.whl"
            )
        )
        if len(found) != 1:
            raise SystemExit(
                f"expected one downloaded file for {pkg.name} {pkg.version}, found {len(found)}"
            )
        check_pinned(found[0], pkg.sha256)


def template_dir(scratch: Path, key: str) -> Path:
    pkg = PACKAGES[key]
    module = pkg.name.replace("-", "_")
    return pkg.unpack_dir(scratch) / module / "templates"


def n_frames(path: Path) -> int:
    with Image.open(path) as im:
        return int(getattr(im, "n_frames", 1))


def load_rgb(path: Path) -> Image.Image:
    """Decode to 8-bit RGB with EXIF orientation applied; alpha is composited on white.

    ICC profiles are dropped (all sources are sRGB or untagged); the returned image carries no
    ``info`` so nothing leaks into the PNG.
    """
    with Image.open(path) as im:
        im.seek(0)
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "PA") or (
            im.mode == "P" and "transparency" in im.info
        ):
            rgba = im.convert("RGBA")
            bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            im = Image.alpha_composite(bg, rgba)
        arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    return Image.fromarray(arr.copy(), "RGB")


def resize_short_side(im: Image.Image, short: int) -> Image.Image:
    w, h = im.size
    if w <= h:
        size = (short, max(short, round(h * short / w)))
    else:
        size = (max(short, round(w * short / h)), short)
    return im.resize(size, Image.Resampling.LANCZOS)


def centre_box(size: tuple[int, int]) -> tuple[int, int, int, int]:
    w, h = size
    x, y = (w - SIZE) // 2, (h - SIZE) // 2
    return x, y, x + SIZE, y + SIZE


def grid_boxes(im: Image.Image, n: int) -> list[tuple[int, int, int, int]]:
    """Non-overlapping SIZE x SIZE cells spread evenly over the image; ``n`` of them, evenly spaced.

    cols = W // SIZE cells per row with the spare pixels spread between them (so they never
    overlap), likewise rows. Nearly blank cells (grey-level std < MIN_CROP_STD: clear sky, a
    white wall) are skipped because they carry no content for either class. The remaining cells
    are numbered row-major and the kept ones are ``round(k * (N - 1) / (n - 1))`` for k in
    0..n-1: a deterministic spread over the photo.
    """
    w, h = im.size
    cols, rows = w // SIZE, h // SIZE

    def positions(extent: int, count: int) -> list[int]:
        if count == 1:
            return [(extent - SIZE) // 2]
        return [int(i * (extent - SIZE) / (count - 1) + 0.5) for i in range(count)]

    grey = np.asarray(im.convert("L"), dtype=np.float64)
    cells = [
        (x, y, x + SIZE, y + SIZE)
        for y in positions(h, rows)
        for x in positions(w, cols)
        if grey[y : y + SIZE, x : x + SIZE].std() >= MIN_CROP_STD
    ]
    if n <= 0 or n >= len(cells):
        return cells
    if n == 1:
        return [cells[len(cells) // 2]]
    return [cells[int(k * (len(cells) - 1) / (n - 1) + 0.5)] for k in range(n)]


def png_bytes(im: Image.Image) -> bytes:
    """PNG with fixed encoder settings and no ancillary chunks (no time, text, ICC or dpi)."""
    assert im.mode == "RGB" and im.size == (SIZE, SIZE) and not im.info
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL, optimize=False)
    return buf.getvalue()


def safe_stem(name: str) -> str:
    stem = (
        name.rsplit(".", 1)[0]
        if name.lower().endswith((".webp", ".png", ".jpg", ".jpeg"))
        else name
    )
    return re.sub(r"[^a-z0-9_-]+", "_", stem.lower())


# --------------------------------------------------------------------------------------------
# Curation
# --------------------------------------------------------------------------------------------


@dataclass
class Item:
    """One output image before it is placed in the tree."""

    arc_dir: str  # folder inside drct-demo-v1/
    name: str  # file name
    png: bytes
    row: dict[str, str]
    phash: imagehash.ImageHash | None = None
    order: str = ""  # sort key for deterministic splitting


def real_dir(photo: Photo) -> str:
    if photo.part == "drct2m":
        return f"drct2m/real/{photo.split}"
    return f"genimage/{photo.subset}/{photo.split}/nature"


def curate_real(scratch: Path, check: bool) -> list[Item]:
    items: list[Item] = []
    for photo in PHOTOS:
        pkg = PACKAGES[photo.package]
        src = pkg.unpack_dir(scratch) / photo.path
        src_sha = sha256_file(src)
        if check and PHOTO_SHA256[photo.path] != src_sha:
            raise SystemExit(
                f"sha256 mismatch for {src}: {src_sha} != pinned {PHOTO_SHA256[photo.path]}"
            )
        im = load_rgb(src)
        if min(im.size) >= LARGE_MIN_SHORT_SIDE:
            im = resize_short_side(im, photo.short_side)
            boxes = grid_boxes(im, photo.n_crops)
            crops = [(b, f"{b[0]},{b[1]},{SIZE},{SIZE}") for b in boxes]
        else:
            im = resize_short_side(im, SIZE)
            crops = [(centre_box(im.size), "centre")]
        for i, (box, crop_desc) in enumerate(crops):
            out = Image.fromarray(np.asarray(im.crop(box)).copy(), "RGB")
            data = png_bytes(out)
            items.append(
                Item(
                    real_dir(photo),
                    f"{photo.stem}-{i}.png",
                    data,
                    {
                        "source_package": pkg.name,
                        "source_version": pkg.version,
                        "source_kind": pkg.kind,
                        "path_in_package": photo.path,
                        "license": photo.license,
                        "generator_family": "real",
                        "crop": crop_desc,
                        "resized_size": f"{im.size[0]}x{im.size[1]}",
                        "source_sha256": src_sha,
                        "attribution": photo.attribution,
                    },
                )
            )
    return items


def _key(package: str, file: str) -> str:
    return f"{package}:{file}" if package == "mi030" else file


def inventory(scratch: Path) -> dict[str, tuple[str, Path]]:
    """All preview files: key -> (package key, path). Keys are file names, 'mi030:'-prefixed for 0.3.0."""
    inv: dict[str, tuple[str, Path]] = {}
    for key in ("mi", "a01", "a02", "mi030"):
        root = template_dir(scratch, key)
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.suffix.lower() in (
                ".webp",
                ".png",
                ".jpg",
                ".jpeg",
            ):
                rel = path.relative_to(root).as_posix()
                k = _key(key, rel)
                if k in inv:
                    raise SystemExit(f"duplicate preview name {k}")
                inv[k] = (key, path)
    return inv


def classify_previews(
    scratch: Path,
) -> tuple[list[tuple[Gen, Path]], list[tuple[str, str]]]:
    """Split every preview into kept (with family) and excluded (with reason); fail on unknowns."""
    inv = inventory(scratch)
    kept_keys: dict[str, Gen] = {}
    for g in GENERATED:
        pkgs = [g.package] if g.package else ["mi", "a01", "a02"]
        hits = [
            k
            for k in sorted({_key(p, g.file) for p in pkgs})
            if k in inv and inv[k][0] in pkgs
        ]
        if len(hits) != 1:
            raise SystemExit(
                f"kept preview {g.package or '*'}:{g.file} found {len(hits)} times"
            )
        if hits[0] in kept_keys:
            raise SystemExit(f"kept twice: {hits[0]}")
        kept_keys[hits[0]] = g
    mi_hashes = {sha256_file(p) for k, (pk, p) in inv.items() if pk != "mi030"}
    kept: list[tuple[Gen, Path]] = []
    excluded: list[tuple[str, str]] = []
    unknown: list[str] = []
    for k, (pk, path) in sorted(inv.items()):
        if k in kept_keys:
            if n_frames(path) > 1:
                raise SystemExit(f"kept preview {k} is animated")
            kept.append((kept_keys[k], path))
            continue
        if n_frames(path) > 1:
            excluded.append((k, "animation / video preview"))
            continue
        if pk == "mi030" and sha256_file(path) in mi_hashes:
            excluded.append((k, "same file as in media-image 0.3.160"))
            continue
        if k in EXCLUDED:
            excluded.append((k, EXCLUDED[k]))
            continue
        name = k.split(":", 1)[-1].lower()
        reason = next((r for pat, r in EXCLUDE_RULES if re.search(pat, name)), None)
        if reason:
            excluded.append((k, reason))
            continue
        unknown.append(k)
    if unknown:
        raise SystemExit(
            "previews neither kept nor excluded (review them):\n  "
            + "\n  ".join(unknown)
        )
    return kept, excluded


def group_of(g: Gen) -> str:
    if g.family in FAMILY_GROUP:
        return FAMILY_GROUP[g.family]
    if g.family in OPEN_OTHER:
        return "open_models_edit" if g.edit else "open_models_t2i"
    raise SystemExit(f"family {g.family!r} has no group")


def curate_generated(scratch: Path) -> tuple[list[Item], list[tuple[str, str]]]:
    kept, excluded = classify_previews(scratch)
    items: list[Item] = []
    for g, path in kept:
        pkg = PACKAGES[
            g.package
            or next(
                k
                for k in ("mi", "a01", "a02")
                if path.is_relative_to(PACKAGES[k].unpack_dir(scratch))
            )
        ]
        im = load_rgb(path)
        im = resize_short_side(im, SIZE)
        out = Image.fromarray(np.asarray(im.crop(centre_box(im.size))).copy(), "RGB")
        src_sha = sha256_file(path)
        suffix = "-v030" if pkg.key == "mi030" else ""
        items.append(
            Item(
                group_of(g),
                f"{safe_stem(g.file)}{suffix}.png",
                png_bytes(out),
                {
                    "source_package": pkg.name,
                    "source_version": pkg.version,
                    "source_kind": pkg.kind,
                    "path_in_package": path.relative_to(
                        pkg.unpack_dir(scratch)
                    ).as_posix(),
                    "license": "MIT",
                    "generator_family": g.family,
                    "crop": "centre",
                    "resized_size": f"{im.size[0]}x{im.size[1]}",
                    "source_sha256": src_sha,
                    "attribution": "ComfyUI workflow-template preview (PyPI wheel, License-Expression: MIT)"
                    + (f"; {g.note}" if g.note else ""),
                },
                order=src_sha,
            )
        )
    return items, excluded


def drop_near_duplicates(items: list[Item]) -> tuple[list[Item], list[tuple[str, str]]]:
    """Perceptual-hash dedup of generated outputs: keep the first (in GENERATED order) of any close pair."""
    kept: list[Item] = []
    dropped: list[tuple[str, str]] = []
    for it in items:
        it.phash = imagehash.phash(Image.open(io.BytesIO(it.png)))
        near = next(
            (k for k in kept if it.phash - k.phash <= NEAR_DUP_MAX_DISTANCE), None
        )
        if near is not None:
            dropped.append(
                (
                    it.row["path_in_package"],
                    f"near-duplicate (phash distance {it.phash - near.phash}) of {near.row['path_in_package']}",
                )
            )
        else:
            kept.append(it)
    return kept, dropped


def place_generated(items: list[Item]) -> list[Item]:
    """Put each group's images into train/val: the first n_train by source sha256 go to train."""
    by_group: dict[str, list[Item]] = defaultdict(list)
    for it in items:
        by_group[it.arc_dir].append(it)
    placed: list[Item] = []
    for group, members in sorted(by_group.items()):
        part, n_train = GROUPS[group]
        members.sort(key=lambda it: it.order)
        for i, it in enumerate(members):
            train = i < n_train
            if part == "drct2m":
                it.arc_dir = f"drct2m/{group}/{'train2017' if train else 'val2017'}"
            else:
                it.arc_dir = f"genimage/{group}/{'train' if train else 'val'}/ai"
            placed.append(it)
    return placed


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def counts_by_folder(items: Iterable[Item]) -> dict[str, int]:
    return dict(sorted(Counter(it.arc_dir for it in items).items()))


LICENSE_TEXTS = {
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC-BY-SA-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
    "CC-BY-2.0": "https://creativecommons.org/licenses/by/2.0/",
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "Public-Domain": "(no copyright restrictions, per the scikit-image docstring)",
    "BSD-3-Clause": "https://opensource.org/license/bsd-3-clause",
    "Matplotlib-License (PSF-based)": "https://matplotlib.org/stable/project/license.html",
    "MIT": "https://opensource.org/license/mit",
}

MIT_TEXT = """Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES
OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN
CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE."""


def licenses_md(items: list[Item]) -> str:
    """Attribution for every photo (CC-BY/-SA require it) and the MIT notice for the previews."""
    lines = [
        "# Licences and attribution of the demo images",
        "",
        "Every image keeps the licence of its source; the per-image licence is in `SOURCES.csv`",
        "(column `license`). All images were modified: downscaled (Lanczos) and cropped to 256x256",
        "pixels, converted to PNG.",
        "",
        "## Photographs (label real)",
        "",
        "| photo | licence | attribution | crops |",
        "|---|---|---|---|",
    ]
    per_photo: dict[tuple[str, str, str], int] = Counter()
    for it in items:
        if it.row["generator_family"] == "real":
            per_photo[
                (it.row["path_in_package"], it.row["license"], it.row["attribution"])
            ] += 1
    for (path, lic, attr), n in sorted(per_photo.items()):
        lines.append(
            f"| `{path}` | [{lic}]({LICENSE_TEXTS[lic]}) | {attr} | {n} |"
            if LICENSE_TEXTS[lic].startswith("http")
            else f"| `{path}` | {lic} {LICENSE_TEXTS[lic]} | {attr} | {n} |"
        )
    lines += [
        "",
        "Crops of CC-BY-SA-4.0 photos are adaptations and are shared under CC-BY-SA-4.0; crops of",
        "CC-BY photos credit the author as above. The lomiri photos' licences are those of the",
        "`Files: 16.04/<name>` stanzas in `/usr/share/doc/lomiri-wallpapers-16.04/copyright` of the",
        "Debian package `lomiri-wallpapers-16.04` 20.04.0-2.",
        "",
        "## Generated images (label fake)",
        "",
        "Preview images of the ComfyUI workflow templates, from the PyPI wheels",
        "`comfyui-workflow-templates-media-image` (0.3.160 and 0.3.0),",
        "`comfyui-workflow-templates-media-assets-01` (0.1.48) and `-02` (0.1.24). Each wheel's",
        "metadata declares `License-Expression: MIT` and names no copyright holder; the MIT terms:",
        "",
        "```",
        "Copyright (c) the authors of the ComfyUI workflow templates",
        "",
        MIT_TEXT,
        "```",
        "",
    ]
    return "\n".join(lines)


def archive_readme(items: list[Item], excluded_summary: dict[str, int]) -> str:
    counts = counts_by_folder(items)
    fams: dict[str, Counter[str]] = defaultdict(Counter)
    for it in items:
        if it.row["generator_family"] != "real":
            fams[it.arc_dir.split("/")[1]][it.row["generator_family"]] += 1
    lines = [
        f"# {ARCHIVE_NAME}: embedded demo data for the DRCT reproduction pipeline",
        "",
        "Tiny stand-in for DRCT-2M (`drct2m/`) and GenImage (`genimage/`) with the same folder layout.",
        "Real images: crops of freely licensed photographs (Debian lomiri-wallpapers-16.04; sample",
        "photos of scikit-image, scikit-learn, matplotlib). Generated images: MIT-licensed ComfyUI",
        "workflow-template previews made by many diffusion / flow models. Both classes are 256x256 RGB",
        "PNG made the same way (Lanczos resize + crop), so format, size and compression do not give",
        "the label away. This is a smoke-test dataset: numbers obtained on it say nothing about the paper.",
        "",
        f"`drct2m/{TRAIN_GENERATOR}/` is the training generator (the largest family; the sources hold",
        "too few Stable Diffusion 1.x images to play DRCT-2M's SDv1.4). `real/` crops are split by",
        "source photo; no photo appears in two folders, and drct2m and genimage use different photos.",
        "",
        "## Counts",
        "",
        "| folder | images |",
        "|---|---|",
    ]
    lines += [f"| `{k}/` | {v} |" for k, v in counts.items()]
    lines += [
        f"| **total** | {sum(counts.values())} |",
        "",
        "## Generator families per folder",
        "",
    ]
    for group in sorted(fams):
        lines.append(
            f"- `{group}`: "
            + ", ".join(f"{f} ({n})" for f, n in sorted(fams[group].items()))
        )
    lines += ["", "## Dropped previews (by reason)", ""]
    lines += [
        f"- {reason}: {n}"
        for reason, n in sorted(
            excluded_summary.items(), key=lambda kv: (-kv[1], kv[0])
        )
    ]
    lines += [
        "",
        "Per-image provenance, licence and sha256: `SOURCES.csv`. Curated by",
        "`scripts/curate_demo_data.py` in the pipeline repository.",
        "",
        licenses_md(items),
    ]
    return "\n".join(lines)


def sources_csv(items: list[Item]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SOURCES_COLUMNS, lineterminator="\n")
    w.writeheader()
    for it in sorted(items, key=lambda it: f"{it.arc_dir}/{it.name}"):
        w.writerow(
            {
                "archive_path": f"{it.arc_dir}/{it.name}",
                "sha256": sha256_bytes(it.png),
                **it.row,
            }
        )
    return buf.getvalue().encode("utf-8")


def write_tar_gz(path: Path, files: dict[str, bytes]) -> None:
    """Deterministic .tar.gz: sorted members (with their folders), mtime 0, uid/gid 0, no names."""
    dirs: set[str] = set()
    for name in files:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    entries = sorted(
        [(d + "/", None) for d in dirs] + list(files.items()), key=lambda kv: kv[0]
    )
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name.rstrip("/"))
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
    tmp = path.with_suffix(".tmp")
    with (
        open(tmp, "wb") as fh,
        gzip.GzipFile(
            filename="", mode="wb", fileobj=fh, mtime=0, compresslevel=9
        ) as gz,
    ):
        gz.write(raw.getvalue())
    os.replace(tmp, path)


def data_readme(items: list[Item], archive: Path, archive_sha: str) -> str:
    counts = counts_by_folder(items)
    licences = Counter(it.row["license"] for it in items)
    return "\n".join(
        [
            "# Embedded demo data",
            "",
            f"`{archive.name}` ({archive.stat().st_size / 1e6:.1f} MB, {sum(counts.values())} images)",
            "",
            f"sha256: `{archive_sha}`",
            "",
            "A tiny DRCT-2M-like and GenImage-like dataset for the pipeline's demo run and tests:",
            "real photographs and diffusion-generated images, all 256x256 RGB PNG made the same way.",
            "The archive holds `drct-demo-v1/` with `SOURCES.csv` (per image: source package, version,",
            "path in the package, licence, generator family, crop, sha256) and a `README.md` with counts,",
            "generator families, dropped previews and attributions. `SOURCES.csv` here is a copy of",
            "the archive's; `LICENSES.md` repeats the attribution section of the archive's README.",
            "",
            "## Layout",
            "",
            "```",
            "drct-demo-v1/",
            "  drct2m/real/{train2017,val2017}/            real photo crops (MSCOCO stand-in)",
            "  drct2m/<generator>/{train2017,val2017}/     generated, one folder per model family",
            "  genimage/<subset>/{train,val}/{ai,nature}/  generated (ai) and real (nature)",
            "```",
            "",
            "| folder | images |",
            "|---|---|",
            *[f"| `{k}/` | {v} |" for k, v in counts.items()],
            "",
            f"Training generator: `drct2m/{TRAIN_GENERATOR}/` (FLUX.1/2/3 and Chroma: the largest family;",
            "the registries hold too few Stable Diffusion 1.x previews to play DRCT-2M's SDv1.4).",
            "",
            "## Sources and licences",
            "",
            "Only packages from the apt and PyPI registries:",
            "",
            "- Photos: Debian `lomiri-wallpapers-16.04` 20.04.0-2 (per-file CC-BY-4.0, CC-BY-SA-4.0, CC0-1.0);",
            "  scikit-image 0.26.0 (astronaut, chelsea, coffee, rocket, motorcycle_left), scikit-learn 1.9.1",
            "  (china, flower; CC-BY-2.0), matplotlib 3.11.2 (grace_hopper). Large photos are downscaled to a",
            f"  {LARGE_SHORT_SIDE}px short side and cut into non-overlapping 256x256 crops on a grid; small",
            "  ones are resized to a 256px short side and centre-cropped.",
            "- Generated: MIT previews of `comfyui-workflow-templates-media-image` 0.3.160 and 0.3.0,",
            "  `-media-assets-01` 0.1.48, `-media-assets-02` 0.1.24; resized to a 256px short side and",
            "  centre-cropped. Kept only single model outputs; dropped animations, audio/LLM/3D/video",
            "  covers, upscaler/enhancer demos, title cards and text/logo overlays, inset composites, edit",
            "  inputs, control maps, letterboxed images and near-duplicates (see the script for every file).",
            "",
            "Licences of the images: "
            + ", ".join(f"{k} ({v})" for k, v in sorted(licences.items()))
            + ".",
            "Attributions: `LICENSES.md`.",
            "",
            "## Regenerate",
            "",
            "```",
            ".venv/bin/pip install imagehash",
            ".venv/bin/python scripts/curate_demo_data.py       # apt-get download + pip download into /tmp/demo-curation",
            "```",
            "",
            "The script verifies the source files' sha256, writes the archive, `SOURCES.csv`, `LICENSES.md`",
            "and this README, and prints the archive's sha256. With the same Pillow/zlib build the archive",
            "is byte-identical; `tests/test_demo_data.py` checks its contents.",
            "",
        ]
    )


def contact_sheets(
    items: list[Item],
    out_dir: Path,
    per_sheet: int = 48,
    cols: int = 8,
    cell: int = 160,
) -> None:
    """Grids of the outputs with their index and path, for reviewing the curation by eye."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ordered = sorted(items, key=lambda it: f"{it.arc_dir}/{it.name}")
    for s in range(0, len(ordered), per_sheet):
        chunk = ordered[s : s + per_sheet]
        rows = (len(chunk) + cols - 1) // cols
        sheet = Image.new("RGB", (cols * cell, rows * (cell + 24)), "white")
        draw = ImageDraw.Draw(sheet)
        for i, it in enumerate(chunk):
            x, y = (i % cols) * cell, (i // cols) * (cell + 24)
            thumb = Image.open(io.BytesIO(it.png)).resize((cell - 4, cell - 4))
            sheet.paste(thumb, (x + 2, y + 22))
            draw.text(
                (x + 2, y + 1),
                f"{s + i} {it.arc_dir.split('/', 1)[1][:22]}",
                fill="red",
            )
            draw.text((x + 2, y + 11), it.name[:26], fill="black")
        sheet.save(out_dir / f"sheet_{s:03d}.png")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--scratch",
        type=Path,
        default=Path("/tmp/demo-curation"),
        help="download/unpack folder",
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=REPO / "data" / "demo",
        help="where the archive and its docs go",
    )
    ap.add_argument(
        "--no-fetch",
        action="store_true",
        help="do not call apt-get/pip; use the scratch folder as is",
    )
    ap.add_argument(
        "--no-check",
        action="store_true",
        help="skip the pinned source sha256 checks (curation only)",
    )
    ap.add_argument(
        "--sheets",
        action="store_true",
        help="write contact sheets of the outputs to <scratch>/sheets",
    )
    args = ap.parse_args(argv)

    if not args.no_fetch:
        fetch(args.scratch)
    if not args.no_check:
        verify_downloads(args.scratch)
    real = curate_real(args.scratch, check=not args.no_check)
    gen, excluded = curate_generated(args.scratch)
    gen, dups = drop_near_duplicates(gen)
    excluded += dups
    gen = place_generated(gen)
    items = real + gen

    # every output file name is unique within its folder, and no two outputs are identical
    paths = [f"{it.arc_dir}/{it.name}" for it in items]
    assert len(set(paths)) == len(paths), "duplicate output path"
    shas = [sha256_bytes(it.png) for it in items]
    assert len(set(shas)) == len(shas), "two identical outputs"

    excluded_summary = Counter(reason.split(" (phash")[0] for _, reason in excluded)
    files = {f"{ARCHIVE_NAME}/{it.arc_dir}/{it.name}": it.png for it in items}
    sources = sources_csv(items)
    files[f"{ARCHIVE_NAME}/SOURCES.csv"] = sources
    files[f"{ARCHIVE_NAME}/README.md"] = archive_readme(items, excluded_summary).encode(
        "utf-8"
    )

    args.out.mkdir(parents=True, exist_ok=True)
    archive = args.out / f"{ARCHIVE_NAME}.tar.gz"
    write_tar_gz(archive, files)
    archive_sha = sha256_file(archive)
    (args.out / "SOURCES.csv").write_bytes(sources)
    (args.out / "LICENSES.md").write_text(licenses_md(items), encoding="utf-8")
    (args.out / "README.md").write_text(
        data_readme(items, archive, archive_sha), encoding="utf-8"
    )
    (args.scratch / "excluded.csv").write_text(
        "preview,reason\n" + "".join(f'"{k}","{r}"\n' for k, r in sorted(excluded)),
        encoding="utf-8",
    )
    if args.sheets:
        contact_sheets(items, args.scratch / "sheets" / "out")

    for folder, n in counts_by_folder(items).items():
        print(f"{n:4d}  {folder}")
    print(
        f"{len(items):4d}  total ({len(real)} real, {len(gen)} generated); {len(excluded)} previews dropped"
    )
    print(f"archive: {archive} ({archive.stat().st_size / 1e6:.2f} MB)")
    print(f"sha256: {archive_sha}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
