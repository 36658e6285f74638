"""Settings of one captioning job: which BLIP, at which revision, decoded how.

The defaults are De-fake's (zeyangsha/De-Fake ``test.py``, the only place their code captions):
``blip.generate(img, sample=False, num_beams=3, max_length=60, min_length=5)`` on BLIP's own
``blip_decoder``, whose ``generate`` prepends the prompt ``"a picture of "`` and cuts it from the
caption. ``num_beams=1`` is greedy decoding (cheaper, and the usual choice for captioning at scale);
it is a named deviation, not the default.

The model: De-fake loads BLIP's original checkpoint (``model_base_capfilt_large.pth``) through the
BLIP repository's code; the Hugging Face port of BLIP-base captioning,
``Salesforce/blip-image-captioning-base`` (the COCO-finetuned ``model_base_caption_capfilt_large``),
is what ``transformers`` can load, so it is the default here, pinned to :data:`DEFAULT_REVISION`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: the Hugging Face port of BLIP-base captioning
DEFAULT_MODEL = "Salesforce/blip-image-captioning-base"
#: its ``main`` commit (the snapshot folder name of the hub cache; last weights/config change
#: "Update tokenizer_config.json (#16)", later commits touch only README.md)
DEFAULT_REVISION = "82a37760796d32b1411fe092ab5d4e227313294b"
#: BLIP's ``blip_decoder`` default prompt; the caption is what the model writes after it
BLIP_PROMPT = "a picture of "


@dataclass(frozen=True)
class CaptionSettings:
    """Everything that decides a caption.

    Attributes:
        model: hub id or a local ``save_pretrained`` folder (the demo captioner).
        revision: hub commit; required for a hub id (a caption set must name its weights).
        num_beams: beam width (De-fake: 3; 1 = greedy).
        max_length: most tokens the decoder holds, prompt included (De-fake: 60, as BLIP counts it).
        min_length: fewest tokens, prompt included (De-fake: 5).
        prompt: text the decoder starts from and that is cut from the caption ("" = none).
        batch_size: images per ``generate`` call; also the resume granularity (see caption_shard).
        dtype: ``"auto"`` = float16 on CUDA, float32 elsewhere.
        device: ``"auto"`` or a torch device string.
    """

    model: str = DEFAULT_MODEL
    revision: str | None = DEFAULT_REVISION
    num_beams: int = 3
    max_length: int = 60
    min_length: int = 5
    prompt: str = BLIP_PROMPT
    batch_size: int = 16
    dtype: str = "auto"
    device: str = "auto"

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ValueError("caption setting 'model' must be a non-empty string (hub id or local dir)")
        for name in ("num_beams", "max_length", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"caption setting {name!r} must be a positive integer, got {value!r}")
        if isinstance(self.min_length, bool) or not isinstance(self.min_length, int) or not 0 <= self.min_length <= self.max_length:
            raise ValueError(f"caption setting 'min_length' must be an integer in [0, max_length], got {self.min_length!r}")
        if self.dtype not in ("auto", "float32", "float16", "bfloat16"):
            raise ValueError(f"caption setting 'dtype' must be auto, float32, float16 or bfloat16, got {self.dtype!r}")
        if not isinstance(self.prompt, str):
            raise ValueError(f"caption setting 'prompt' must be a string, got {self.prompt!r}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CaptionSettings:
        """Settings from a config mapping; unknown keys are an error (a typo would silently keep a default)."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ValueError(f"unknown caption setting(s) {unknown}; allowed keys: {names}")
        return cls(**dict(d))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for provenance and for the resume journal's header."""
        return dataclasses.asdict(self)
