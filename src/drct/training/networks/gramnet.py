"""GramNet (Liu et al., CVPR 2020) as the DRCT authors build and train it: a ResNet-18 with Gram-matrix branches.

Why a module of our own: the paper's GramNet rows come from the authors' ``network/resnet_gram.py``
(beibuwandeluori/DRCT), a torchvision-style ResNet with six texture branches that no timm or
open_clip model reproduces. This is our own implementation of the same network.

What the authors run
--------------------
``scripts/train.py --model_name gram_resnet18`` calls ``get_models``, which calls
``get_GramNet('resnet18')`` and passes neither its ``pretrained`` nor its ``num_classes``, so
``get_GramNet``'s defaults apply: ``pretrained=False, num_classes=2``. The network is **trained from
scratch: no ImageNet weights are loaded**. Building it initialises every ``Conv2d`` (trunk and
Gram branches) with ``kaiming_normal_(mode="fan_out", nonlinearity="relu")`` and every
``BatchNorm2d`` with weight 1 and bias 0, does not zero the residual BNs
(``zero_init_residual=False``), sets the shared Gram scale to 1, and leaves both ``Linear`` layers of
the head at PyTorch's default initialisation. The input size is 224 x 224 (:data:`INPUT_SIZE`):
``train.py``'s ``--input_size`` default, the size of every command in their README and scripts, and
the size their own smoke test of ``resnet_gram.py`` uses; nothing in their code gives GramNet another
size. The network itself accepts other sizes (adaptive pooling; the Gram matrices are 32 x 32 at any
resolution).

The network (image ``x``: N x 3 x H x W)
----------------------------------------
- ResNet-18 trunk, torchvision layout: ``conv1`` 7x7/2 + ``bn1`` + ReLU (the *stem* output),
  3x3/2 max pool (the *pool* output), ``layer1`` .. ``layer4`` (BasicBlocks, 2 each), global average
  pool -> 512.
- Six Gram branches, on the image and on the stem, pool, layer1, layer2 and layer3 outputs
  (3, 64, 64, 64, 128, 256 channels; none on layer4): conv3x3(C -> 32) + BN + ReLU ->
  :func:`gram_matrix` (N x 1 x 32 x 32) -> conv3x3/2(1 -> 16) + BN + ReLU -> conv3x3/2(16 -> 32) +
  BN + ReLU -> global average pool -> 32.
- All six 32-d branch vectors are multiplied by one shared learnable scalar (initial value 1).
- ``cat(trunk 512, six branches 32 each)`` = 704 -> Linear(704, 512) -> ReLU -> Dropout(0.5) ->
  Linear(512, num_classes).

Split for :class:`~drct.training.model.DRCTModel`: :class:`GramNetFeatures` is everything up to and
including the Dropout (``feature_dim`` 512); the authors' last ``Linear(512, 2)`` (``fcnewr.3``) is
``DRCTModel.classifier`` with ``embedding_dim=0``, so ``DRCTModel(*build_gramnet(), embedding_dim=0)``
is their network: 11,734,723 parameters. Their parameter names map onto ours by prefix
(:func:`authors_state_dict_to_drct`).

What we do differently
----------------------
- Under autocast the Gram product runs in float32 and is cast back afterwards. Before its
  normalisation the product sums over every pixel (50,176 at the image level for 224 x 224 input),
  which can pass float16's maximum of 65,504; where it does, the authors' code carries ``inf`` on under
  ``--is_amp``. Without autocast the computation is theirs unchanged.
- ``pretrained=True`` is not their default and no run of theirs uses it for GramNet. It mirrors
  their ``resnet18(pretrained=True)``, which loads torchvision's ``resnet18-5c106cde.pth`` into the
  trunk (``strict=False``, so the Gram branches and head stay freshly initialised): we load timm's
  ``resnet18.tv_in1k`` (:data:`IMAGENET_TIMM_NAME`), torchvision's ImageNet-1k V1 ResNet-18 weights
  as re-serialised under ``resnet18-f37072fd.pth`` (pytorch/vision#2068), through timm so a cached
  copy works offline.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

import torch
from torch import nn

INPUT_SIZE = 224
IMAGENET_TIMM_NAME = "resnet18.tv_in1k"
GRAM_CHANNELS = 32
HIDDEN_DIM = 512
TRUNK_DIM = 512
# Where the six Gram branches tap the network, in the order their vectors are concatenated, with
# the channel count of each tapped tensor.
GRAM_TAPS: dict[str, int] = {"image": 3, "stem": 64, "pool": 64, "layer1": 64, "layer2": 128, "layer3": 256}
TRUNK_MODULES = ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4")


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Per-sample Gram matrix of an (N, C, H, W) map: (N, 1, C, C), divided by C * H * W.

    ``G[n, 0, i, j] = sum_p F[n, i, p] * F[n, j, p] / (C * H * W)`` over the H * W positions ``p``:
    the authors' normalisation (by the element count of the whole map, not by H * W). The extra
    axis makes the Gram matrix a one-channel image for the strided convolutions that follow.
    """
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return torch.bmm(flat, flat.transpose(1, 2)).unsqueeze(1) / (c * h * w)


def _gram_matrix_float32(features: torch.Tensor) -> torch.Tensor:
    """:func:`gram_matrix` computed in float32 even under autocast (see the module docstring), in the input's dtype."""
    device_type = features.device.type
    autocast_on = device_type in ("cpu", "cuda") and torch.is_autocast_enabled(device_type)
    guard = torch.autocast(device_type, enabled=False) if autocast_on else contextlib.nullcontext()
    with guard:
        return gram_matrix(features.float()).to(features.dtype)


def _conv_bn_relu(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class GramBranch(nn.Module):
    """One texture branch: reduce to 32 channels, Gram matrix, two stride-2 convolutions, average pool -> 32."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.reduce = _conv_bn_relu(in_channels, GRAM_CHANNELS, stride=1)
        self.down1 = _conv_bn_relu(1, 16, stride=2)
        self.down2 = _conv_bn_relu(16, GRAM_CHANNELS, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gram = _gram_matrix_float32(self.reduce(x))
        return self.down2(self.down1(gram)).mean(dim=(2, 3))


class BasicBlock(nn.Module):
    """ResNet basic block (two 3x3 convolutions, identity or 1x1-projection shortcut), torchvision names."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


def _resnet_stage(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(BasicBlock(in_channels, out_channels, stride), BasicBlock(out_channels, out_channels, 1))


def init_like_authors(module: nn.Module) -> None:
    """The authors' construction-time init: He-normal (fan_out, ReLU) convolutions, BN weight 1 / bias 0.

    ``Linear`` layers keep PyTorch's default; nothing else is touched (no zero-init of residual BNs).
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class GramNetFeatures(nn.Module):
    """Image batch (N, 3, H, W) -> the (N, 512) features the authors' last ``Linear`` receives.

    The trunk's modules carry torchvision's ResNet names (``conv1``, ``bn1``, ``layer1`` ..), so
    ImageNet ResNet-18 weights load into them by name; the Gram branches are ``branches[tap]`` and
    the head's first layer is ``hidden[0]``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = _resnet_stage(64, 64, 1)
        self.layer2 = _resnet_stage(64, 128, 2)
        self.layer3 = _resnet_stage(128, 256, 2)
        self.layer4 = _resnet_stage(256, TRUNK_DIM, 2)
        self.branches = nn.ModuleDict({tap: GramBranch(channels) for tap, channels in GRAM_TAPS.items()})
        self.gram_scale = nn.Parameter(torch.ones(1))
        self.concat_dim = TRUNK_DIM + GRAM_CHANNELS * len(GRAM_TAPS)  # 704
        self.hidden = nn.Sequential(nn.Linear(self.concat_dim, HIDDEN_DIM), nn.ReLU(), nn.Dropout(0.5))
        self.feature_dim = HIDDEN_DIM
        init_like_authors(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stem = self.relu(self.bn1(self.conv1(x)))
        pooled = self.maxpool(stem)
        layer1 = self.layer1(pooled)
        layer2 = self.layer2(layer1)
        layer3 = self.layer3(layer2)
        layer4 = self.layer4(layer3)
        taps = {"image": x, "stem": stem, "pool": pooled, "layer1": layer1, "layer2": layer2, "layer3": layer3}
        texture = [self.branches[tap](taps[tap]) * self.gram_scale for tap in GRAM_TAPS]
        return self.hidden(torch.cat([layer4.mean(dim=(2, 3)), *texture], dim=1))


def load_resnet18_trunk(features: GramNetFeatures, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Copy a torchvision/timm-named ResNet-18 state dict (its ``fc`` ignored) into the trunk.

    Every trunk tensor must be present and nothing else may be, so a mismatched checkpoint fails
    loudly instead of leaving layers silently at their random init.
    """
    weights = {k: v for k, v in state_dict.items() if not k.startswith("fc.")}
    trunk = {k for k in features.state_dict() if k.split(".", 1)[0] in TRUNK_MODULES}
    missing, unexpected = sorted(trunk - weights.keys()), sorted(weights.keys() - trunk)
    if missing or unexpected:
        raise ValueError(f"not a ResNet-18 trunk state dict: missing {missing[:5]}, unexpected {unexpected[:5]}")
    features.load_state_dict(weights, strict=False)


def _imagenet_resnet18_state() -> dict[str, torch.Tensor]:
    """torchvision's ImageNet ResNet-18 weights, fetched (or read from the HF cache) by timm."""
    import timm  # only here: timm takes seconds to import and the default build does not need it

    return timm.create_model(IMAGENET_TIMM_NAME, pretrained=True, num_classes=0).state_dict()


def build_gramnet(pretrained: bool = False) -> tuple[nn.Module, int]:
    """(backbone, feature_dim) for ``DRCTModel(backbone, feature_dim, embedding_dim=0)``: the authors' GramNet.

    ``pretrained=False`` (their default, the only setting their runs use) builds from scratch and
    downloads nothing; ``pretrained=True`` loads ImageNet weights into the ResNet-18 trunk only.
    """
    features = GramNetFeatures()
    if pretrained:
        load_resnet18_trunk(features, _imagenet_resnet18_state())
    return features, features.feature_dim


# The authors' module prefixes -> ours inside DRCTModel (``backbone.`` / ``classifier.``); their
# lone ``scale.scale`` parameter is our ``backbone.gram_scale``.
_BRANCH_NAMES = {
    "image": ("conv_interi_0", "gi_fc1", "gi_fc2"),
    "stem": ("conv_inter0_0", "g0_fc1", "g0_fc2"),
    "pool": ("conv_inter1_0", "g_fc1r", "g_fc2r"),
    "layer1": ("conv_inter2_0", "g2_fc1", "g2_fc2"),
    "layer2": ("conv_inter3_0", "g3_fc1", "g3_fc2"),
    "layer3": ("conv_inter4_0", "g4_fc1", "g4_fc2"),
}
AUTHORS_PREFIXES: dict[str, str] = {
    **{f"{name}.": f"backbone.{name}." for name in TRUNK_MODULES},
    **{
        f"{theirs}.": f"backbone.branches.{tap}.{ours}."
        for tap, names in _BRANCH_NAMES.items()
        for theirs, ours in zip(names, ("reduce", "down1", "down2"), strict=True)
    },
    "fcnewr.0.": "backbone.hidden.0.",
    "fcnewr.3.": "classifier.",
}


def authors_key_to_drct(key: str) -> str:
    """One of the authors' GramNet state-dict keys as the key of the same tensor in our DRCTModel."""
    if key == "scale.scale":
        return "backbone.gram_scale"
    for theirs, ours in AUTHORS_PREFIXES.items():
        if key.startswith(theirs):
            return ours + key[len(theirs):]
    raise KeyError(f"not a key of the authors' GramNet: {key!r}")


def authors_state_dict_to_drct(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The authors' GramNet state dict renamed for ``DRCTModel(*build_gramnet(), embedding_dim=0)``."""
    return {authors_key_to_drct(k): v for k, v in state_dict.items()}
