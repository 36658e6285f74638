"""What a trained model is given at evaluation: the evaluation transform and the normalisation.

Training (its validation set), evaluation (test sets, perturbed or not) and ``drct predict`` all
feed a checkpoint through this one transform, so a file gets the same score wherever it is
scored. It is the authors' ``create_val_transforms(size, is_crop=True)``: zero-pad (centred) to at
least ``image_size``, centre-crop ``image_size``, ImageNet-normalise. No resize: large images are
judged on their central crop only. The training augmentation, which only training needs, stays in
:mod:`drct.training.augment` and normalises with the same constants.

albumentations and cv2 are imported inside the function so that importing this module (for the
constants) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import albumentations as A

__all__ = ["CLIP_MEAN", "CLIP_STD", "IMAGENET_MEAN", "IMAGENET_STD", "build_clip_transform", "build_eval_transform",
           "build_input_transform", "centred_zero_pad"]

#: ImageNet channel mean and std (RGB, 0-1), used for every backbone including CLIP, as the authors do
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def centred_zero_pad(image_size: int) -> A.PadIfNeeded:
    """Zero-pad (centred) to at least ``image_size``: the authors' padding before the crop (random in
    training, centred in evaluation), so both see the same border."""
    import albumentations as A
    import cv2

    return A.PadIfNeeded(
        min_height=image_size, min_width=image_size, position="center", border_mode=cv2.BORDER_CONSTANT, fill=0
    )


def build_eval_transform(
    image_size: int = 224,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
) -> A.Compose:
    """Zero-pad (centred) to at least ``image_size``, centre-crop ``image_size``, normalise.

    Input: RGB uint8 HWC array of any size. Output: ``{"image": float tensor CHW}``.
    """
    import albumentations as A
    from albumentations.pytorch import ToTensorV2

    return A.Compose(
        [
            centred_zero_pad(image_size),
            A.CenterCrop(height=image_size, width=image_size),
            A.Normalize(mean=mean, std=std, max_pixel_value=255.0),
            ToTensorV2(),
        ]
    )


#: CLIP's channel mean and std (RGB, 0-1): what CLIP's own ``preprocess`` normalises with
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def build_clip_transform(image_size: int = 224) -> A.Compose:
    """CLIP's own preprocessing, which De-fake feeds its CLIP: resize the shorter side to
    ``image_size`` (bicubic), centre-crop ``image_size``, CLIP mean/std. Used for training (De-fake
    does not augment) and evaluation alike. cv2's bicubic stands in for PIL's, a sub-pixel difference.
    """
    import albumentations as A
    import cv2
    from albumentations.pytorch import ToTensorV2

    return A.Compose(
        [
            A.SmallestMaxSize(max_size=image_size, interpolation=cv2.INTER_CUBIC),
            A.CenterCrop(height=image_size, width=image_size),
            A.Normalize(mean=CLIP_MEAN, std=CLIP_STD, max_pixel_value=255.0),
            ToTensorV2(),
        ]
    )


def build_input_transform(family: str, image_size: int) -> A.Compose:
    """The evaluation-time transform of a model family: CLIP's preprocessing for De-fake, else
    :func:`build_eval_transform` (the authors' pad-and-crop)."""
    if family == "defake":
        return build_clip_transform(image_size)
    return build_eval_transform(image_size)
