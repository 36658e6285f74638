"""CLIP/RN50 as the DRCT authors ran it: CLIP's ResNet-50 image tower with a linear classifier.

Their ``CLIPModelV2('clip-RN50')`` loads OpenAI's RN50 with the ``clip`` package, puts
``Linear(1024, 2)`` on ``encode_image`` and trains everything (``freeze_extractor`` off) with
``scripts/train.py``. Here the same tower and weights come from open_clip (``RN50-quickgelu``,
tag ``openai``: OpenAI's checkpoint), whose ``visual(x)`` equals ``encode_image(x)``.
"""

from drct.detectors import Detector

DETECTOR = Detector(
    name="clip_rn50",
    label="CLIP/RN50",
    source="authors' code: network/models.py CLIPModelV2('clip-RN50'), trained by scripts/train.py",
    family="open_clip",
    model_name="RN50-quickgelu",
    pretrained="openai",
    freeze_backbone=False,
    method="baseline",
    image_size=224,
    embedding_dim=0,
    batch_size=64,
    defaults={"lr": 1e-3, "epochs": 50},
    unspecified=(
        "no command for the baselines in the authors' README: scripts/train.py's defaults (lr 1e-3, "
        "50 epochs, batch 64 per GPU, 224 px); ImageNet normalisation as for every model of theirs"
    ),
)
