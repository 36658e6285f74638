"""A tiny BLIP captioning model with random weights, built offline.

No BLIP weights can be downloaded where this project is tested, so demos and tests caption with
this stand-in. It has the interface of ``Salesforce/blip-image-captioning-base``: a
``BlipForConditionalGeneration`` (ViT image encoder, BERT-style decoder with cross-attention,
word embeddings tied to the output layer), a ``BlipProcessor`` (``BlipImageProcessor`` with
CLIP's mean/std, and a BERT WordPiece tokenizer whose ``[DEC]`` token starts decoding and whose
``[SEP]`` ends it), saved with ``save_pretrained`` so that the real loading path
``BlipForConditionalGeneration.from_pretrained(folder)`` reads it. Only the sizes are small, and
the vocabulary: a few hundred WordPiece tokens written to ``vocab.txt`` (letters, ``##``-letters,
digits, punctuation and common caption words), enough for any lower-case English text to tokenise
without ``[UNK]``. Its captions are random token strings: never use it for real results.
"""

from __future__ import annotations

import string
from pathlib import Path

import torch

from drct.io import atomic_path

#: special tokens at BERT's positions: [PAD] is 0 (BLIP's pad_token_id), [UNK] [CLS] [SEP] [MASK] follow
_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_WORDS = (
    "a an the of on in with and at to is are two three man woman people person dog cat bird horse car "
    "street table room kitchen bed picture photo image view group white black red blue green large small "
    "sitting standing walking holding next front top near some field water beach sky tree building city "
    "plate food pizza train bus flowers close up young old boy girl playing riding"
).split()
DEMO_IMAGE_SIZE = 64


def demo_vocabulary() -> list[str]:
    """The demo WordPiece vocabulary, in id order (specials first, as in BERT's ``vocab.txt``)."""
    letters = list(string.ascii_lowercase) + list(string.digits)
    pieces = letters + [f"##{c}" for c in letters] + list(string.punctuation)
    vocab = _SPECIAL + [w for w in dict.fromkeys(_WORDS + pieces)]
    return vocab


def build_demo_tokenizer():
    """A ``BertTokenizer`` over :func:`demo_vocabulary` with BLIP's ``[DEC]`` (bos) and ``[ENC]`` added.

    BLIP's tokenizer is ``bert-base-uncased`` plus those two tokens (ids 30522, 30523); here they
    take the two ids after the small vocabulary, the same layout at a smaller size.
    """
    from transformers import BertTokenizer

    vocab = {token: i for i, token in enumerate(demo_vocabulary())}
    tokenizer = BertTokenizer(vocab=vocab, do_lower_case=True, model_max_length=512)
    tokenizer.add_special_tokens({"bos_token": "[DEC]", "additional_special_tokens": ["[ENC]"]})
    return tokenizer


def build_demo_processor():
    """``BlipProcessor`` of the demo: the real model's image pipeline at :data:`DEMO_IMAGE_SIZE`."""
    from transformers import BlipImageProcessor, BlipProcessor

    image_processor = BlipImageProcessor(
        size={"height": DEMO_IMAGE_SIZE, "width": DEMO_IMAGE_SIZE},
        image_mean=[0.48145466, 0.4578275, 0.40821073],  # the real model's (CLIP's) statistics
        image_std=[0.26862954, 0.26130258, 0.27577711],
        do_convert_rgb=True,
    )
    return BlipProcessor(image_processor=image_processor, tokenizer=build_demo_tokenizer())


def build_demo_blip(tokenizer, seed: int = 0):
    """The tiny ``BlipForConditionalGeneration``; same ``seed`` -> same weights, caller's RNG untouched."""
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipTextConfig, BlipVisionConfig

    hidden = 32
    vision = BlipVisionConfig(
        hidden_size=hidden, intermediate_size=64, projection_dim=hidden, num_hidden_layers=2,
        num_attention_heads=4, image_size=DEMO_IMAGE_SIZE, patch_size=16,
    )
    text = BlipTextConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, encoder_hidden_size=hidden, intermediate_size=64,
        projection_dim=hidden, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=128,
        bos_token_id=tokenizer.convert_tokens_to_ids("[DEC]"), eos_token_id=tokenizer.sep_token_id,
        pad_token_id=tokenizer.pad_token_id, sep_token_id=tokenizer.sep_token_id,
    )
    config = BlipConfig(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=hidden)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BlipForConditionalGeneration(config)
        # BLIP initialises with tiny std (vision 1e-10): scale up so captions depend on the image
        with torch.no_grad():
            for param in model.parameters():
                if param.dim() > 1:
                    param.normal_(0.0, 0.5)
    return model.eval()


def build_demo_captioner(out_dir: Path, seed: int = 0) -> Path:
    """Build the tiny captioner and ``save_pretrained`` model and processor into ``out_dir``.

    The folder is written under a temporary sibling name and renamed into place, so ``out_dir`` is
    either absent or complete; an existing one is replaced. Returns ``out_dir``.
    """
    out_dir = Path(out_dir)
    with atomic_path(out_dir) as staged:
        processor = build_demo_processor()
        model = build_demo_blip(processor.tokenizer, seed=seed)
        model.save_pretrained(staged, safe_serialization=True)
        processor.save_pretrained(staged)
    return out_dir
