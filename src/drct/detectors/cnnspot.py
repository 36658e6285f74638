"""CNNSpot (Wang et al., CVPR 2020) as the DRCT authors ran it: a ResNet-50 trained with cross-entropy.

Their ``network/models.py`` builds ``resnet50`` through timm 0.6.12 with ImageNet weights and
replaces its ``fc`` by ``Linear(2048, 2)``; ``scripts/train.py`` trains it in the same framework as
every other detector (their augmentation with ``--is_crop``, split, AdamW, cosine schedule, best
validation accuracy). timm 0.6.12's ``resnet50`` weights are the ResNet Strikes Back A1 weights,
named ``resnet50.a1_in1k`` in timm 1.x.
"""

from drct.detectors import TRAIN_PY, TRAIN_PY_CHOICE, Detector

DETECTOR = Detector(
    name="cnnspot",
    label="CNNSpot",
    source="authors' code: network/models.py get_resnet('resnet50'), trained by scripts/train.py",
    family="timm",
    model_name="resnet50.a1_in1k",
    pretrained=True,
    image_size=TRAIN_PY["image_size"],
    unspecified=TRAIN_PY_CHOICE + ", 224 px",
)
