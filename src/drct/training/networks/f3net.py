"""F3Net (Qian et al., ECCV 2020) as the DRCT authors build and train it: two Xception streams on frequency views.

Why a module of our own: the paper's F3Net rows come from the authors' ``network/f3net.py``
(beibuwandeluori/DRCT, itself after yyk-wew/F3Net), a two-stream Xception with DCT front ends and
cross-attention fusion that no timm model provides. This is our own implementation of the same
network; its module and tensor names follow theirs so their state-dict keys map onto ours by prefix
(:func:`authors_state_dict_to_drct`).

What the authors run
--------------------
``scripts/train.py --model_name f3net`` calls ``get_models``, which builds
``F3Net(num_classes=2, img_width=299, img_height=299, pretrained=True)`` (``get_models``' own
``pretrained`` default is ``True``; ``train.py`` does not pass it). F3Net's defaults apply for the
rest: LFS window 10, ``M = 6`` LFS bands, fusion with a ``MixBlock`` after Xception ``block7`` and
after ``block12`` (the paper's "MixBlock" fusion; their code has no other mode). The network
only works at 299 x 299 (their LFS head asserts a 149 x 149 grid), so runs must use
``image_size: 299``.

The network (image ``x``: N x 3 x 299 x 299, normalised as the data pipeline does)
---------------------------------------------------------------------------------
- **FAD** (frequency-aware decomposition, :class:`FADHead`): the 2-D DCT of each colour plane,
  ``D x D^T`` with the orthonormal DCT-II matrix ``D`` (:func:`dct_matrix`, 299 x 299); four
  filters ``base + (2 sigmoid(w) - 1)`` with a fixed band mask ``base`` and a learnable 299 x 299
  ``w`` (initialised N(0, 0.1^2)); each filtered spectrum back through ``D^T (.) D``; the four
  3-channel results stacked band-major -> N x 12 x 299 x 299. Band masks (:func:`band_mask`) are
  ``1 where start < u + v <= end``, with (start, end) = (0, 299 // 16), (299 // 16, 299 // 8),
  (299 // 8, 299), (0, 2 * 299) (:func:`fad_bands`). As in their code the DC coefficient
  (``u + v = 0``) is in no base mask, and the "high" band stops at ``u + v = 299`` (the last one,
  "all", covers it).
- **LFS** (local frequency statistics, :class:`LFSHead`): grey ``0.299 R + 0.587 G + 0.114 B``,
  rescaled by ``(g + 1) * 122.5`` (their constant, which assumes [-1, 1] input; see below);
  10 x 10 windows at stride 2 with zero padding 4 -> a 149 x 149 grid; per window the 10 x 10 DCT,
  ``log10(|.| + 1e-15)``; six band filters ``(base + 2 sigmoid(w) - 1) / |base|`` with bands
  ``(20 / 6 * i, 20 / 6 * (i + 1)]`` (:func:`lfs_bands`), each summed over the window -> N x 6 x 149 x 149.
- **Streams**: two ImageNet Xceptions (Cadene's port of Keras' Xception, the layout of timm's
  ``legacy_xception``). The FAD stream's stem conv takes 12 channels (stride 2 as usual); the LFS
  stream's takes 6 channels **at stride 1** (its input is already 149 x 149). Their maps meet at
  19 x 19 after ``block3``.
- **Fusion** (:class:`MixBlock`, after ``block7`` on 728 x 19 x 19 and after ``block12`` on
  1024 x 10 x 10): 1x1 convolutions make a query and a key per stream; per channel, the W x W
  attention is ``softmax(q_fad k_fad^T + q_lfs k_lfs^T)`` (rows); each stream gets
  ``BN(depthwise 1x1 conv(other * attention * (2 sigmoid(gamma) - 1)))`` added, ``gamma``
  starting at 0 (so in training mode, where the BN removes the conv's constant bias, the fusion
  starts as the identity).
- **Head**: after ``bn4``, ReLU and global average pooling per stream, ``cat(fad, lfs)`` = 4096,
  ``Dropout(0.2)``, ``Linear(4096, num_classes)``.

Split for :class:`~drct.training.model.DRCTModel`: :class:`F3NetFeatures` is everything up to and
including the Dropout (``feature_dim`` 4096); their ``fc`` is ``DRCTModel.classifier`` with
``embedding_dim=0``, so ``DRCTModel(*build_f3net(pretrained=True), embedding_dim=0)`` is their
network. With ``embedding_dim=1024`` it is their ``ContrastiveModels('f3net')`` (F3Net with
``num_classes=1024`` then ``Linear(1024, 2)``): there too the Dropout sits before the first Linear.
Frozen-backbone runs keep the backbone in eval mode, so there the Dropout is the identity, as it is
at evaluation.

Parameters: 48,319,026 trainable (48,310,832 in the backbone + 8,194 in the classifier). The
authors register the DCT matrices, band masks and mask sizes as ``nn.Parameter(requires_grad=False)``;
we register them as (persistent) buffers: same state-dict keys and values, no gradient either way
(AdamW skips parameters without gradients), 537,212 numbers that their ``model.parameters()``
counts and ours does not (their total: 48,856,238).

ImageNet weights (``pretrained=True``)
--------------------------------------
Their ``return_pytorch04_xception`` reads ``xception-b5690688.pth`` from a hard-coded local path
(the file of Cadene's ``pretrainedmodels`` URL in their ``pretrained_settings``), reshapes its 2-D
``pointwise`` kernels to 1x1 convolution kernels and loads it with ``strict=False`` (dropping the
1000-class ``fc``). ``b5690688`` is Cadene's first upload of the Keras-Xception port, whose
pointwise kernels were stored 2-D; Cadene re-uploaded it as ``xception-43020ad28.pth`` with 4-D
kernels when PyTorch 0.4 stopped accepting the old shapes (Cadene/pretrained-models.pytorch#62,
#218), which is the reshape their loader does by hand. timm serves that file as
``legacy_xception.tf_in1k`` (:data:`IMAGENET_TIMM_NAME`; its pretrained config's URL is
``.../v0.1-cadene/xception-43020ad28.pth``), fetched by name here. Equality of the tensor values
of the two files is inferred from that history, not checked byte for byte here (no download).
Both streams start from that state; then, as in their code, each stem conv is rebuilt for its input
width and filled with the ImageNet 3-channel kernel repeated and divided by the repeat count (FAD:
4 copies / 4; LFS: 2 copies / 2), so a uniform input across the groups gives the ImageNet response.
With ``pretrained=False`` nothing is downloaded and the same stem adaptation is applied to timm's
random init (their non-pretrained build would use PyTorch's default init instead: no run of theirs
builds F3Net without ImageNet weights).

What we do differently
----------------------
- The LFS head runs in float32 even under autocast (or for float16 input). In float16 the ``+ 1e-15``
  in ``log10(|DCT| + 1e-15)`` rounds to 0 and the DCT of a flat window has exact zeros, which give
  ``-inf``; in float32 the computation is theirs. Without autocast nothing differs.

Checked (once, outside the test suite): with the same weights (their state dict loaded through
:func:`authors_state_dict_to_drct`), this network and a scratch transcription of theirs give the same
features for a batch of two 299 x 299 images to 1e-12 (relative) in float64, in train and eval mode.
- The ``(g + 1) * 122.5`` rescale is kept although our inputs (like theirs: ``data/transform.py``
  normalises every model with ImageNet mean/std) are not in [-1, 1]; changing it would change
  the network they report.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZE = 299
IMAGENET_TIMM_NAME = "legacy_xception.tf_in1k"
LFS_WINDOW = 10
LFS_BANDS = 6
LFS_STRIDE = 2
LFS_PADDING = 4
# 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601 luma), then (g + 1) * 122.5: the authors' constants.
GREY_WEIGHTS = (0.299, 0.587, 0.114)
LFS_SCALE = 122.5
LOG_EPS = 1e-15
LEARNABLE_INIT_STD = 0.1
DROPOUT = 0.2
STREAM_DIM = 2048
FEATURE_DIM = 2 * STREAM_DIM
# Xception layers before the first fusion, between the two, and after the second (before the final ReLU).
ENTRY_LAYERS = ("conv1", "bn1", "act1", "conv2", "bn2", "act2", *(f"block{i}" for i in range(1, 8)))
MIDDLE_LAYERS = tuple(f"block{i}" for i in range(8, 13))
EXIT_LAYERS = ("conv3", "bn3", "act3", "conv4", "bn4")


def dct_matrix(size: int) -> torch.Tensor:
    """The orthonormal DCT-II matrix ``D`` (size x size, float32): ``D @ v`` is the DCT of a vector ``v``.

    ``D[k, n] = c_k cos(pi (n + 1/2) k / size)`` with ``c_0 = sqrt(1 / size)``, ``c_k = sqrt(2 / size)``;
    orthonormal, so ``D^T`` is its inverse. Built in float64 and rounded once, as theirs.
    """
    k = torch.arange(size, dtype=torch.float64).unsqueeze(1)
    n = torch.arange(size, dtype=torch.float64).unsqueeze(0)
    scale = torch.full((size, 1), math.sqrt(2.0 / size), dtype=torch.float64)
    scale[0, 0] = math.sqrt(1.0 / size)
    return (scale * torch.cos(math.pi * (n + 0.5) * k / size)).float()


def band_mask(size: int, start: float, end: float) -> torch.Tensor:
    """Fixed band filter over a size x size DCT spectrum: 1 where ``start < u + v <= end``, else 0 (float32)."""
    diagonal = torch.arange(size).unsqueeze(1) + torch.arange(size).unsqueeze(0)
    return ((diagonal > start) & (diagonal <= end)).float()


def fad_bands(size: int) -> list[tuple[float, float]]:
    """FAD (start, end] limits on ``u + v``: low, middle, high, all (the paper's 0-1/16, 1/16-1/8, 1/8-1, all)."""
    return [(0, size // 16), (size // 16, size // 8), (size // 8, size), (0, size * 2)]


def lfs_bands(window: int = LFS_WINDOW, bands: int = LFS_BANDS) -> list[tuple[float, float]]:
    """LFS (start, end] limits on ``u + v``: ``bands`` equal slices of [0, 2 * window], computed as theirs.

    The float expression is theirs too (``window * 2. / bands * i``), so limits that land on integers
    fall exactly where theirs do.
    """
    step = window * 2.0 / bands
    return [(step * i, step * (i + 1)) for i in range(bands)]


def _signed_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """``2 sigmoid(x) - 1``: a learnable offset in (-1, 1), 0 at x = 0."""
    return 2.0 * torch.sigmoid(x) - 1.0


class BandFilter(nn.Module):
    """A fixed band mask plus a learnable (-1, 1) offset per coefficient, optionally divided by the mask size.

    ``base`` (and ``ft_num``, the mask's element count, when normalised) are buffers named as the
    authors' frozen parameters; ``learnable`` starts at N(0, 0.1^2).
    """

    def __init__(self, size: int, start: float, end: float, normalise: bool = False) -> None:
        super().__init__()
        self.register_buffer("base", band_mask(size, start, end))
        self.learnable = nn.Parameter(torch.empty(size, size).normal_(0.0, LEARNABLE_INIT_STD))
        self.normalise = normalise
        if normalise:
            self.register_buffer("ft_num", self.base.sum())

    def weights(self) -> torch.Tensor:
        """The size x size filter this module multiplies a spectrum with."""
        filt = self.base + _signed_sigmoid(self.learnable)
        return filt / self.ft_num if self.normalise else filt


class FADHead(nn.Module):
    """Image (N, 3, S, S) -> four band-passed copies of it (N, 12, S, S), band-major."""

    def __init__(self, size: int) -> None:
        super().__init__()
        dct = dct_matrix(size)
        self.register_buffer("_DCT_all", dct)
        self.register_buffer("_DCT_all_T", dct.t().contiguous())
        self.filters = nn.ModuleList(BandFilter(size, start, end) for start, end in fad_bands(size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spectrum = self._DCT_all @ x @ self._DCT_all_T
        bands = [self._DCT_all_T @ (spectrum * f.weights()) @ self._DCT_all for f in self.filters]
        return torch.cat(bands, dim=1)


def lfs_grid_size(image_size: int) -> int:
    """Side of the LFS window grid: (S + 2 * padding - window) // stride + 1 (149 for 299)."""
    return (image_size + 2 * LFS_PADDING - LFS_WINDOW) // LFS_STRIDE + 1


class LFSHead(nn.Module):
    """Image (N, 3, S, S) -> local log-DCT band statistics (N, 6, G, G) on a grid of 10 x 10 windows."""

    def __init__(self) -> None:
        super().__init__()
        dct = dct_matrix(LFS_WINDOW)
        self.register_buffer("_DCT_patch", dct)
        self.register_buffer("_DCT_patch_T", dct.t().contiguous())
        self.filters = nn.ModuleList(
            BandFilter(LFS_WINDOW, start, end, normalise=True) for start, end in lfs_bands()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        device_type = x.device.type
        autocast_on = device_type in ("cpu", "cuda") and torch.is_autocast_enabled(device_type)
        guard = torch.autocast(device_type, enabled=False) if autocast_on else contextlib.nullcontext()
        with guard:  # at least float32: half inputs are upcast, float64 ones kept
            return self._statistics(x.to(torch.promote_types(x.dtype, torch.float32)))

    def _statistics(self, x: torch.Tensor) -> torch.Tensor:
        n, _, height, width = x.shape
        r, g, b = GREY_WEIGHTS
        grey = r * x[:, 0:1] + g * x[:, 1:2] + b * x[:, 2:3]
        pixels = (grey + 1.0) * LFS_SCALE
        # (N, window^2, L) with the window's rows then columns, L grid positions in row-major order.
        windows = F.unfold(pixels, kernel_size=LFS_WINDOW, stride=LFS_STRIDE, padding=LFS_PADDING)
        windows = windows.transpose(1, 2).reshape(n, -1, LFS_WINDOW, LFS_WINDOW)
        dct, dct_t = self._DCT_patch.to(x.dtype), self._DCT_patch_T.to(x.dtype)
        log_magnitude = torch.log10((dct @ windows @ dct_t).abs() + LOG_EPS)
        weights = torch.stack([f.weights().to(x.dtype) for f in self.filters])  # (bands, window, window)
        stats = torch.einsum("nluv,buv->nbl", log_magnitude, weights)
        grid_h = (height + 2 * LFS_PADDING - LFS_WINDOW) // LFS_STRIDE + 1
        grid_w = (width + 2 * LFS_PADDING - LFS_WINDOW) // LFS_STRIDE + 1
        return stats.reshape(n, len(self.filters), grid_h, grid_w)


class MixBlock(nn.Module):
    """Cross-attention fusion of the FAD and LFS maps (both (N, C, W, W)); returns the two updated maps."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.FAD_query = nn.Conv2d(channels, channels, 1)
        self.LFS_query = nn.Conv2d(channels, channels, 1)
        self.FAD_key = nn.Conv2d(channels, channels, 1)
        self.LFS_key = nn.Conv2d(channels, channels, 1)
        self.FAD_gamma = nn.Parameter(torch.zeros(1))
        self.LFS_gamma = nn.Parameter(torch.zeros(1))
        self.FAD_conv = nn.Conv2d(channels, channels, 1, groups=channels)
        self.FAD_bn = nn.BatchNorm2d(channels)
        self.LFS_conv = nn.Conv2d(channels, channels, 1, groups=channels)
        self.LFS_bn = nn.BatchNorm2d(channels)

    def forward(self, x_fad: torch.Tensor, x_lfs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x_fad.shape != x_lfs.shape or x_fad.shape[-1] != x_fad.shape[-2]:
            raise ValueError(f"MixBlock needs two equal square maps, got {tuple(x_fad.shape)} and {tuple(x_lfs.shape)}")
        # Per sample and channel: (W x W) query times the transposed key, summed over both streams.
        energy = self.FAD_query(x_fad) @ self.FAD_key(x_fad).transpose(-1, -2)
        energy = energy + self.LFS_query(x_lfs) @ self.LFS_key(x_lfs).transpose(-1, -2)
        attention = torch.softmax(energy, dim=-1)
        from_lfs = x_lfs * attention * _signed_sigmoid(self.LFS_gamma)
        from_fad = x_fad * attention * _signed_sigmoid(self.FAD_gamma)
        return x_fad + self.FAD_bn(self.FAD_conv(from_lfs)), x_lfs + self.LFS_bn(self.LFS_conv(from_fad))


def _xception_stream(in_channels: int, stem_stride: int, pretrained: bool) -> nn.Module:
    """An Xception (timm ``legacy_xception`` layout, no classifier) whose stem takes ``in_channels``.

    The stem kernel is the (ImageNet or random) 3-channel kernel repeated ``in_channels / 3`` times
    and divided by that count, as the authors adapt it.
    """
    import timm  # only here: timm takes seconds to import and only building this network needs it

    if in_channels % 3:
        raise ValueError(f"the stem adaptation repeats the 3-channel kernel, got {in_channels} channels")
    stream = timm.create_model(IMAGENET_TIMM_NAME, pretrained=pretrained, num_classes=0)
    old = stream.conv1
    repeats = in_channels // 3
    stem = nn.Conv2d(in_channels, old.out_channels, old.kernel_size, stem_stride, 0, bias=False)
    with torch.no_grad():
        stem.weight.copy_(old.weight.repeat(1, repeats, 1, 1) / repeats)
    stream.conv1 = stem
    return stream


def _stem_grid(size: int, stride: int) -> int:
    """Map side after an Xception's stem (3x3 conv at ``stride``, then 3x3 conv) and block1-3 (3x3/2 max pools)."""
    size = (size - 3) // stride + 1 - 2
    for _ in range(3):
        size = (size - 1) // 2 + 1
    return size


class F3NetFeatures(nn.Module):
    """Image batch (N, 3, S, S) -> the (N, 4096) features the authors' ``fc`` receives (after their Dropout)."""

    def __init__(self, pretrained: bool = False, image_size: int = INPUT_SIZE) -> None:
        super().__init__()
        fad_grid, lfs_grid = _stem_grid(image_size, 2), _stem_grid(lfs_grid_size(image_size), 1)
        if fad_grid != lfs_grid:
            raise ValueError(
                f"F3Net's two streams do not meet at image size {image_size} ({fad_grid} vs {lfs_grid} after block3); "
                f"the authors' network is built for {INPUT_SIZE}"
            )
        self.image_size = image_size
        self.fad_head = FADHead(image_size)
        self.lfs_head = LFSHead()
        self.fad_excep = _xception_stream(12, stem_stride=2, pretrained=pretrained)
        self.lfs_excep = _xception_stream(LFS_BANDS, stem_stride=1, pretrained=pretrained)
        self.mix_block7 = MixBlock(728)
        self.mix_block12 = MixBlock(1024)
        self.dropout = nn.Dropout(DROPOUT)
        self.feature_dim = FEATURE_DIM

    @staticmethod
    def _run(stream: nn.Module, layers: tuple[str, ...], x: torch.Tensor) -> torch.Tensor:
        for name in layers:
            x = getattr(stream, name)(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-3:]) != (3, self.image_size, self.image_size):
            raise ValueError(f"F3Net expects (N, 3, {self.image_size}, {self.image_size}) images, got {tuple(x.shape)}")
        fad, lfs = self.fad_head(x), self.lfs_head(x).to(x.dtype)
        fad, lfs = self._run(self.fad_excep, ENTRY_LAYERS, fad), self._run(self.lfs_excep, ENTRY_LAYERS, lfs)
        fad, lfs = self.mix_block7(fad, lfs)
        fad, lfs = self._run(self.fad_excep, MIDDLE_LAYERS, fad), self._run(self.lfs_excep, MIDDLE_LAYERS, lfs)
        fad, lfs = self.mix_block12(fad, lfs)
        fad, lfs = self._run(self.fad_excep, EXIT_LAYERS, fad), self._run(self.lfs_excep, EXIT_LAYERS, lfs)
        pooled = [F.relu(t).mean(dim=(2, 3)) for t in (fad, lfs)]
        return self.dropout(torch.cat(pooled, dim=1))


def build_f3net(pretrained: bool = False, image_size: int = INPUT_SIZE) -> tuple[nn.Module, int]:
    """(backbone, feature_dim) for ``DRCTModel(backbone, feature_dim, embedding_dim=0)``: the authors' F3Net.

    ``pretrained=True`` (their setting) loads ImageNet Xception weights (timm ``legacy_xception.tf_in1k``)
    into both streams; ``pretrained=False`` downloads nothing.
    """
    features = F3NetFeatures(pretrained=pretrained, image_size=image_size)
    return features, features.feature_dim


def authors_key_to_drct(key: str) -> str:
    """One of the authors' F3Net state-dict keys as the key of the same tensor in our DRCTModel.

    Their ``fc`` is our ``classifier``; every other module keeps its name under ``backbone.``.
    """
    if key.startswith("fc."):
        return "classifier." + key[len("fc."):]
    if key.split(".", 1)[0] in ("fad_head", "lfs_head", "fad_excep", "lfs_excep", "mix_block7", "mix_block12"):
        return "backbone." + key
    raise KeyError(f"not a key of the authors' F3Net: {key!r}")


def authors_state_dict_to_drct(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The authors' F3Net state dict renamed for ``DRCTModel(*build_f3net(), embedding_dim=0)``."""
    return {authors_key_to_drct(k): v for k, v in state_dict.items()}
