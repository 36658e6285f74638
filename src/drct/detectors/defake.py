"""De-fake (Sha et al., CCS 2023), hybrid detector: frozen CLIP ViT-B/32 image + caption embeddings, MLP.

Not in the DRCT authors' code: this entry follows De-fake's own released code (zeyangsha/De-Fake,
``train.py``), see :mod:`drct.training.networks.defake` for the network. Every image needs a
caption (``needs_captions``): the DRCT data have no prompts for real images, so all images are
captioned by BLIP (:mod:`drct.captioning`, De-fake's captioner and decoding).

The captions are a step of the DAG (``captioning`` block of the config; rules/caption.smk), joined
by path when De-fake trains and is scored; ``drct predict`` captions a user's images itself.
"""

from drct.detectors import Detector

#: De-fake's CLIP (open_clip name and tag), as drct.training.networks.defake.CLIP_MODEL/CLIP_PRETRAINED;
#: written here because the Snakefile reads these entries and must not import torch
CLIP_MODEL = "ViT-B-32-quickgelu"
CLIP_PRETRAINED = "openai"

DETECTOR = Detector(
    name="defake",
    label="De-fake",
    source="De-fake's code (zeyangsha/De-Fake train.py): CLIP ViT-B/32 + BLIP captions, NeuralNet(1024, [512, 256], 2)",
    family="defake",
    model_name=CLIP_MODEL,
    pretrained=CLIP_PRETRAINED,
    image_size=224,  # CLIP ViT-B/32's input; De-fake resizes to 224 and uses CLIP's preprocess
    freeze_backbone=True,  # CLIP embeddings under torch.no_grad(): only the MLP trains
    needs_captions=True,
    batch_size=128,  # their train.py
    # their train.py: Adam lr 3e-4 on the MLP (= AdamW without weight decay), 100 epochs; no augmentation
    # (CLIP's preprocess only), so the frozen CLIP features are computed once (cache_features auto)
    defaults={"lr": 3e-4, "epochs": 100, "weight_decay": 0.0, "augment": False},
    unspecified=(
        "the DRCT paper does not say how it trained De-fake; De-fake's train.py is followed: Adam lr 3e-4 (AdamW "
        "with weight decay 0), batch 128, 100 epochs, no augmentation; their constant learning rate is not kept: "
        "the pipeline's cosine schedule (t_max 5) applies, as to every detector; CLIP's own preprocessing (resize "
        "224 bicubic, centre crop, CLIP mean/std); images whose captioning failed are dropped and counted; captions by Salesforce/blip-image-captioning-base (the Hugging Face port of BLIP-base "
        "captioning) where De-fake loads BLIP's model_base_capfilt_large.pth, with De-fake's decoding "
        "(3 beams, length 5..60, prompt 'a picture of ')"
    ),
)
