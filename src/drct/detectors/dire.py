"""DIRE (Wang et al., ICCV 2023) as the DRCT authors ran it: a classifier of reconstruction errors.

Input (the authors' code, ``data/dataset.py`` ``calculate_dire`` behind ``--is_dire``): the
absolute difference between an image and its diffusion reconstruction, both scaled to [-1, 1]
and cropped at the same position, 224 x 224, nothing else (:mod:`drct.training.dire`). The
paper's two DIRE rows differ only in the reconstruction model (SDv1 or SDv2 inpainting, their
``--inpainting_dir`` ``full_inpainting`` / ``full_inpainting2``); the network is the same.

Classifier: the authors' code and paper do not say which network reads the DIRE input (their
``get_models`` takes any ``--model_name``, and the README has no DIRE command). ResNet-50 is
chosen because the DIRE paper trains a ResNet-50 on it; built as CNNSpot is (timm ``resnet50``
with ImageNet weights, ``fc`` replaced by ``Linear(2048, 2)``), so the DIRE row differs from the
CNNSpot row only in its input. Trained by ``scripts/train.py``'s defaults, which has the
``--is_dire`` switch (the image transform it builds is ignored for DIRE input).

``input="dire"`` reaches ``TrainSettings.input`` (so the checkpoint sidecar records it): training
reads image / reconstruction pairs (:func:`drct.training.dire_dataset.dire_datasets_from_manifest`),
scoring pairs each test image with its reconstruction by the train set's DR model
(``training.train_sets[].dr_model``; :mod:`drct.planning.dire` plans those reconstruction jobs), and
``drct predict`` needs ``--reconstructions``.
"""

from drct.detectors import TRAIN_PY_CHOICE, Detector

#: drct.training.dire.DIRE_SIZE, written out: the Snakefile reads detector entries while planning,
#: and importing drct.training.dire would load torch there (a test checks the two agree)
DIRE_SIZE = 224

DETECTOR = Detector(
    name="dire",
    label="DIRE",
    source=(
        "authors' code for the input: data/dataset.py calculate_dire (--is_dire), trained by scripts/train.py; "
        "classifier from the DIRE paper (Wang et al., ICCV 2023): ResNet-50"
    ),
    family="timm",
    model_name="resnet50.a1_in1k",
    pretrained=True,
    image_size=DIRE_SIZE,
    input="dire",
    unspecified=(
        "the authors do not name the network that classifies the DIRE input: ResNet-50 as in the DIRE paper, "
        "built like CNNSpot (timm resnet50 ImageNet weights, 2-class fc); "
        + TRAIN_PY_CHOICE
        + "; 224 px as calculate_dire always uses"
    ),
)
