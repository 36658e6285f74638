"""F3Net (Qian et al., ECCV 2020) as the DRCT authors ran it: two-stream Xception at 299x299.

Their ``F3Net(num_classes=2, img_width=299, img_height=299, pretrained=...)`` (``network/f3net.py``)
loads ImageNet Xception weights from a hard-coded local file; here the same weights load by name
through timm (see :mod:`drct.training.networks.f3net`). Their final classifier is our classifier.
"""

from drct.detectors import TRAIN_PY_CHOICE, Detector

DETECTOR = Detector(
    name="f3net",
    label="F3Net",
    source="authors' code: network/f3net.py F3Net(299x299), trained by scripts/train.py",
    family="f3net",
    model_name="f3net_xception",
    pretrained=True,
    image_size=299,
    unspecified=TRAIN_PY_CHOICE + "; input 299 px as their model is built (their --input_size default is 224, which their F3Net filters do not fit)",
)
