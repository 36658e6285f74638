"""GramNet (Liu et al., CVPR 2020) as the DRCT authors ran it: Gram-Net on a ResNet-18, from scratch.

Their ``get_GramNet('resnet18')`` (``network/resnet_gram.py``) is built with its defaults: no
ImageNet weights, Kaiming-normal convolutions. The network is
:mod:`drct.training.networks.gramnet`; its last ``Linear(512, 2)`` is our classifier.
"""

from drct.detectors import Detector

DETECTOR = Detector(
    name="gramnet",
    label="GramNet",
    source="authors' code: network/resnet_gram.py get_GramNet('resnet18'), trained by scripts/train.py",
    family="gramnet",
    model_name="gram_resnet18",
    pretrained=False,
    freeze_backbone=False,
    method="baseline",
    image_size=224,
    embedding_dim=0,
    batch_size=64,
    defaults={"lr": 1e-3, "epochs": 50},
    unspecified=(
        "no command for the baselines in the authors' README: scripts/train.py's defaults (lr 1e-3, "
        "50 epochs, batch 64 per GPU, 224 px); the Gram product runs in float32 under mixed precision"
    ),
)
