"""The training augmentation, as the authors' ``data/transform.py`` runs it with ``--is_crop``.

The evaluation transform and the normalisation constants are shared by training, evaluation and
``drct predict`` and live in :mod:`drct.model_input`.

The original pins albumentations 1.3.0; this module uses the installed 2.x API. Parameters the
authors left at 1.3.0 defaults are written out explicitly, because 2.x changed most defaults.
Renames and the remaining differences (1.3.0 -> 2.x):

===========================  ===========================================  =======================================
authors (1.3.0)              here (2.x)                                   note
===========================  ===========================================  =======================================
ImageCompression(30, 100)    ImageCompression(quality_range=(30, 100))    rename
RandomScale((-0.5, 0.5))     RandomScale(scale_limit=(-0.5, 0.5))         factor 0.5-1.5, bilinear
HorizontalFlip()             HorizontalFlip(p=0.5)                        same
GaussNoise(p=.1)             GaussNoise(std_range=(sqrt10, sqrt50)/255)   1.3 draws the *variance* in U(10, 50)
                                                                          (pixels^2); 2.x draws the std
                                                                          uniformly: same range, close law
GaussianBlur(p=.1)           GaussianBlur(blur_limit=(3, 7),              1.3: kernel 3/5/7 (p 1/5, 2/5, 2/5),
                             sigma_limit=(0.8, 1.4))                      sigma from kernel (0.8/1.1/1.4, OpenCV
                                                                          rule); 2.x needs a sigma range: the
                                                                          same kernels, sigma drawn in 0.8-1.4
RandomRotate90()             RandomRotate90(p=0.5)                        2.x default p changed to 1
PadIfNeeded(value=0)         PadIfNeeded(fill=0, position="center")       rename; constant 0, centred padding
RandomCrop / CenterCrop      same                                         no resize anywhere
OneOf(RBC, FancyPCA, HSV)    same, 1.3 defaults written out               p .5, children equally likely
CoarseDropout()              CoarseDropout(num_holes_range=(8, 8),        1.3: exactly 8 holes of 8x8 px
                             hole_*_range=(8, 8))
GridDropout()                GridDropout(ratio=.5, random_offset=False)   2.x default random_offset changed
ToGray(p=.2)                 ToGray(p=.2)                                 weighted average (OpenCV)
ShiftScaleRotate(.1,.2,10)   Affine(translate .1, scale .8-1.2,           2.x ShiftScaleRotate is a deprecated
                             rotate 10, keep_ratio=True)                  Affine with *independent* x/y scale;
                                                                          keep_ratio=True keeps 1.3's one scale
Normalize(ImageNet)          Normalize(ImageNet)                          ImageNet mean/std for CLIP too
===========================  ===========================================  =======================================

Randomness: albumentations 2.x ignores the global RNGs; each Compose owns a generator seeded by
``seed`` (or by the OS when None). The training loop reseeds it per DataLoader worker.
"""

from __future__ import annotations

import math

import albumentations as A
import cv2
from albumentations.pytorch import ToTensorV2

from drct.model_input import IMAGENET_MEAN, IMAGENET_STD, centred_zero_pad


def build_train_transform(
    image_size: int = 224,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
    seed: int | None = None,
) -> A.Compose:
    """The authors' ``create_train_transforms(size, is_crop=True)``, in their order.

    Input: RGB uint8 HWC array of any size. Output: ``{"image": float tensor CHW}``.
    """
    return A.Compose(
        [
            A.ImageCompression(compression_type="jpeg", quality_range=(30, 100), p=0.5),
            A.RandomScale(scale_limit=(-0.5, 0.5), interpolation=cv2.INTER_LINEAR, p=0.2),
            A.HorizontalFlip(p=0.5),
            A.GaussNoise(
                std_range=(math.sqrt(10.0) / 255.0, math.sqrt(50.0) / 255.0),
                mean_range=(0.0, 0.0),
                per_channel=True,
                p=0.1,
            ),
            A.GaussianBlur(blur_limit=(3, 7), sigma_limit=(0.8, 1.4), p=0.1),
            A.RandomRotate90(p=0.5),
            centred_zero_pad(image_size),
            A.RandomCrop(height=image_size, width=image_size),
            A.OneOf(
                [
                    A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, brightness_by_max=True),
                    A.FancyPCA(alpha=0.1),
                    A.HueSaturationValue(hue_shift_limit=20, sat_shift_limit=30, val_shift_limit=20),
                ],
                p=0.5,
            ),
            A.OneOf(
                [
                    A.CoarseDropout(
                        num_holes_range=(8, 8), hole_height_range=(8, 8), hole_width_range=(8, 8), fill=0
                    ),
                    A.GridDropout(ratio=0.5, random_offset=False, shift_xy=(0, 0), fill=0),
                ],
                p=0.5,
            ),
            A.ToGray(num_output_channels=3, method="weighted_average", p=0.2),
            A.Affine(
                scale=(0.8, 1.2),
                translate_percent={"x": (-0.1, 0.1), "y": (-0.1, 0.1)},
                rotate=(-10, 10),
                shear=(0, 0),
                interpolation=cv2.INTER_LINEAR,
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                fit_output=False,
                keep_ratio=True,
                rotate_method="largest_box",
                p=0.5,
            ),
            A.Normalize(mean=mean, std=std, max_pixel_value=255.0),
            ToTensorV2(),
        ],
        seed=seed,
    )

