"""CNNSpot (Wang et al., CVPR 2020) as the DRCT authors ran it: a ResNet-50 trained with cross-entropy.

Their ``network/models.py`` builds ``resnet50`` through timm 0.6.12 with ImageNet weights and
replaces its ``fc`` by ``Linear(2048, 2)``; ``scripts/train.py`` trains it in the same framework as
every other detector (their augmentation with ``--is_crop``, split, AdamW, cosine schedule, best
validation accuracy). timm 0.6.12's ``resnet50`` weights are the ResNet Strikes Back A1 weights,
named ``resnet50.a1_in1k`` in timm 1.x.
"""

from drct.detectors import Detector

DETECTOR = Detector(
    name="cnnspot",
    label="CNNSpot",
    source="authors' code: network/models.py get_resnet('resnet50'), trained by scripts/train.py",
    family="timm",
    model_name="resnet50.a1_in1k",
    pretrained=True,
    freeze_backbone=False,
    method="baseline",
    image_size=224,
    embedding_dim=0,
    batch_size=64,
    defaults={"lr": 1e-3, "epochs": 50},
    unspecified=(
        "the authors' README gives no command for the baselines: scripts/train.py's defaults "
        "(lr 1e-3, 50 epochs, batch 64 per GPU, 224 px)"
    ),
)
