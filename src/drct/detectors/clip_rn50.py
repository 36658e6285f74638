"""CLIP/RN50 as the DRCT authors ran it: CLIP's ResNet-50 image tower with a linear classifier.

Their ``CLIPModelV2('clip-RN50')`` loads OpenAI's RN50 with the ``clip`` package, puts
``Linear(1024, 2)`` on ``encode_image`` and trains everything (``freeze_extractor`` off) with
``scripts/train.py``. Here the same tower and weights come from open_clip (``RN50-quickgelu``,
tag ``openai``: OpenAI's checkpoint), whose ``visual(x)`` equals ``encode_image(x)``.
"""

from drct.detectors import TRAIN_PY, TRAIN_PY_CHOICE, Detector

DETECTOR = Detector(
    name="clip_rn50",
    label="CLIP/RN50",
    source="authors' code: network/models.py CLIPModelV2('clip-RN50'), trained by scripts/train.py",
    family="open_clip",
    model_name="RN50-quickgelu",
    pretrained="openai",
    image_size=TRAIN_PY["image_size"],
    unspecified=TRAIN_PY_CHOICE + ", 224 px; ImageNet normalisation as for every model of theirs",
)
