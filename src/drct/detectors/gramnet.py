"""GramNet (Liu et al., CVPR 2020) as the DRCT authors ran it: Gram-Net on a ResNet-18, from scratch.

Their ``get_GramNet('resnet18')`` (``network/resnet_gram.py``) is built with its defaults: no
ImageNet weights, Kaiming-normal convolutions. The network is
:mod:`drct.training.networks.gramnet`; its last ``Linear(512, 2)`` is our classifier.
"""

from drct.detectors import TRAIN_PY, TRAIN_PY_CHOICE, Detector

DETECTOR = Detector(
    name="gramnet",
    label="GramNet",
    source="authors' code: network/resnet_gram.py get_GramNet('resnet18'), trained by scripts/train.py",
    family="gramnet",
    model_name="gram_resnet18",
    pretrained=False,
    image_size=TRAIN_PY["image_size"],
    unspecified=TRAIN_PY_CHOICE + ", 224 px; the Gram product runs in float32 under mixed precision",
)
