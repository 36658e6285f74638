"""F3Net: DCT and band filters against independent derivations, the heads and fusion against their
defining formulas, the network's tensor table and parameter count against the authors' architecture
written out, and one forward/backward through DRCTModel."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft
import torch

from drct.training.model import DRCTModel
from drct.training.networks.f3net import (
    FEATURE_DIM,
    IMAGENET_TIMM_NAME,
    FADHead,
    LFSHead,
    MixBlock,
    authors_key_to_drct,
    band_mask,
    build_f3net,
    dct_matrix,
    fad_bands,
    lfs_bands,
)

torch.set_num_threads(2)


# ---------------------------------------------------------------- DCT and band masks


def test_dct_matrix_is_the_orthonormal_dct_ii() -> None:
    n = 7
    expected = np.zeros((n, n))
    for k in range(n):
        for j in range(n):
            c = math.sqrt(1 / n) if k == 0 else math.sqrt(2 / n)
            expected[k, j] = c * math.cos(math.pi * k * (2 * j + 1) / (2 * n))
    d = dct_matrix(n)
    assert d.dtype == torch.float32 and d.shape == (n, n)
    np.testing.assert_allclose(d.numpy(), expected, atol=1e-7)
    # ... and D @ v is scipy's orthonormal DCT-II of v
    v = np.random.default_rng(0).standard_normal(n)
    np.testing.assert_allclose(d.double().numpy() @ v, scipy.fft.dct(v, type=2, norm="ortho"), atol=1e-6)
    np.testing.assert_allclose((d @ d.T).numpy(), np.eye(n), atol=1e-6)


def _mask_from_diagonals(size: int, diagonals: set[int]) -> np.ndarray:
    return np.array([[1.0 if i + j in diagonals else 0.0 for j in range(size)] for i in range(size)])


def test_fad_band_masks_small_size_by_hand() -> None:
    # size 16: limits (0, 1], (1, 2], (2, 16], (0, 32] on u + v; the DC coefficient (u + v = 0) is in none.
    size = 16
    assert fad_bands(size) == [(0, 1), (1, 2), (2, 16), (0, 32)]
    expected = [
        _mask_from_diagonals(size, {1}),  # (0,1) and (1,0)
        _mask_from_diagonals(size, {2}),  # (0,2), (1,1), (2,0)
        _mask_from_diagonals(size, set(range(3, 17))),
        _mask_from_diagonals(size, set(range(1, 31))),  # everything but DC (max u + v is 30)
    ]
    for (start, end), mask in zip(fad_bands(size), expected, strict=True):
        np.testing.assert_array_equal(band_mask(size, start, end).numpy(), mask)
    low = band_mask(size, 0, 1).numpy()
    assert low.sum() == 2 and low[0, 1] == low[1, 0] == 1 and low[0, 0] == 0


def test_fad_band_sizes_at_299() -> None:
    # Diagonal d of a 299 x 299 grid holds d + 1 cells for d <= 298 and 597 - d beyond.
    size = 299
    assert fad_bands(size) == [(0, 18), (0 + 18, 37), (37, 299), (0, 598)]
    counts = [int(band_mask(size, s, e).sum()) for s, e in fad_bands(size)]
    low = sum(d + 1 for d in range(1, 19))  # 189
    middle = sum(d + 1 for d in range(19, 38))  # 551
    high = sum(d + 1 for d in range(38, 299)) + (597 - 299)  # 44,407: stops at u + v = 299
    assert counts == [low, middle, high, size * size - 1] == [189, 551, 44407, 89400]


def test_lfs_band_masks_by_hand() -> None:
    # Window 10, six bands of width 20/6 on u + v: {1,2,3}, {4,5,6}, {7..10}, {11,12,13}, {14,15,16}, {17,18}.
    diagonals = [{1, 2, 3}, {4, 5, 6}, {7, 8, 9, 10}, {11, 12, 13}, {14, 15, 16}, {17, 18}]
    bands = lfs_bands(10, 6)
    assert len(bands) == 6
    for (start, end), diags in zip(bands, diagonals, strict=True):
        np.testing.assert_array_equal(band_mask(10, start, end).numpy(), _mask_from_diagonals(10, diags))
    head = LFSHead()
    assert [int(f.ft_num) for f in head.filters] == [9, 18, 36, 21, 12, 3]


# ---------------------------------------------------------------- heads and fusion against their formulas


def test_fad_head_is_band_passed_idct_of_dct() -> None:
    torch.manual_seed(0)
    size = 16
    head = FADHead(size)
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        out = head(x)
    assert out.shape == (2, 12, size, size)
    spectrum = scipy.fft.dctn(x.double().numpy(), type=2, norm="ortho", axes=(2, 3))
    for band, f in enumerate(head.filters):
        w = (f.base + 2 * torch.sigmoid(f.learnable) - 1).detach().double().numpy()
        expected = scipy.fft.idctn(spectrum * w, type=2, norm="ortho", axes=(2, 3))
        np.testing.assert_allclose(out[:, 3 * band: 3 * band + 3].double().numpy(), expected, atol=1e-4)


def test_lfs_head_is_windowed_log_dct_statistics() -> None:
    torch.manual_seed(0)
    size = 20  # grid (20 + 8 - 10) // 2 + 1 = 10
    head = LFSHead()
    x = torch.rand(1, 3, size, size) * 2 - 1
    with torch.no_grad():
        out = head(x)
    assert out.shape == (1, 6, 10, 10)
    rgb = x[0].double().numpy()
    grey = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    padded = np.pad((grey + 1) * 122.5, 4)
    weights = [((f.base + 2 * torch.sigmoid(f.learnable) - 1) / f.base.sum()).detach().double().numpy()
               for f in head.filters]
    expected = np.zeros((6, 10, 10))
    for gy in range(10):
        for gx in range(10):
            window = padded[2 * gy: 2 * gy + 10, 2 * gx: 2 * gx + 10]
            log_mag = np.log10(np.abs(scipy.fft.dctn(window, type=2, norm="ortho")) + 1e-15)
            for b in range(6):
                expected[b, gy, gx] = (log_mag * weights[b]).sum()
    np.testing.assert_allclose(out[0].double().numpy(), expected, rtol=1e-4, atol=1e-3)


def test_lfs_head_stays_finite_on_flat_windows_at_half_precision() -> None:
    """A flat window has zero AC coefficients: log10(0 + 1e-15) is finite only if the 1e-15 survives (float32)."""
    head = LFSHead()
    flat = torch.full((1, 3, 20, 20), 0.25, dtype=torch.float16)
    with torch.no_grad():
        out = head(flat)
        reference = head(flat.float())
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    torch.testing.assert_close(out, reference)


def test_mix_block_matches_concatenated_attention() -> None:
    """The paper's formulation: energy = [q_fad | q_lfs] @ [k_fad^T ; k_lfs^T] per channel."""
    torch.manual_seed(0)
    block = MixBlock(2).eval()
    with torch.no_grad():
        block.FAD_gamma.fill_(0.7)
        block.LFS_gamma.fill_(-0.4)
        x_fad, x_lfs = torch.randn(2, 2, 3, 3), torch.randn(2, 2, 3, 3)
        y_fad, y_lfs = block(x_fad, x_lfs)
        q = torch.cat([block.FAD_query(x_fad), block.LFS_query(x_lfs)], dim=3)  # (N, C, W, 2W)
        k = torch.cat([block.FAD_key(x_fad).transpose(2, 3), block.LFS_key(x_lfs).transpose(2, 3)], dim=2)
        attention = torch.softmax(q @ k, dim=-1)
        s_fad, s_lfs = 2 * torch.sigmoid(torch.tensor(0.7)) - 1, 2 * torch.sigmoid(torch.tensor(-0.4)) - 1
        exp_fad = x_fad + block.FAD_bn(block.FAD_conv(x_lfs * attention * s_lfs))
        exp_lfs = x_lfs + block.LFS_bn(block.LFS_conv(x_fad * attention * s_fad))
    torch.testing.assert_close(y_fad, exp_fad)
    torch.testing.assert_close(y_lfs, exp_lfs)
    # gamma = 0 (the initial value) makes the block the identity in training mode, where the BN
    # removes the constant its conv's bias adds (in eval mode that constant goes through the running stats)
    fresh = MixBlock(2).train()
    with torch.no_grad():
        out = fresh(x_fad, x_lfs)
    torch.testing.assert_close(out[0], x_fad)
    torch.testing.assert_close(out[1], x_lfs)


# ---------------------------------------------------------------- the whole network against the authors' architecture


def _authors_xception(prefix: str, stem_in: int) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor of the authors' (Cadene's) Xception without ``fc``, stem taking ``stem_in``."""
    table: dict[str, tuple[int, ...]] = {}

    def conv(name: str, cout: int, cin: int, k: int) -> None:
        table[f"{prefix}{name}.weight"] = (cout, cin, k, k)

    def bn(name: str, c: int) -> None:
        for t in ("weight", "bias", "running_mean", "running_var"):
            table[f"{prefix}{name}.{t}"] = (c,)
        table[f"{prefix}{name}.num_batches_tracked"] = ()

    def sep(name: str, cin: int, cout: int) -> None:
        conv(f"{name}.conv1", cin, 1, 3)  # depthwise 3x3
        conv(f"{name}.pointwise", cout, cin, 1)

    conv("conv1", 32, stem_in, 3)
    bn("bn1", 32)
    conv("conv2", 64, 32, 3)
    bn("bn2", 64)
    # (in, out, reps, stride, start_with_relu, grow_first): entry, middle (8x) and exit flow blocks
    blocks = [(64, 128, 2, 2, False, True), (128, 256, 2, 2, True, True), (256, 728, 2, 2, True, True)]
    blocks += [(728, 728, 3, 1, True, True)] * 8 + [(728, 1024, 2, 2, True, False)]
    for number, (cin, cout, reps, stride, start_relu, grow_first) in enumerate(blocks, start=1):
        pairs = [(cin, cout)] + [(cout, cout)] * (reps - 1) if grow_first else [(cin, cin)] * (reps - 1) + [(cin, cout)]
        shift = 0 if start_relu else 1  # rep = [ReLU, SepConv, BN] * reps, minus the first ReLU
        for r, (a, b) in enumerate(pairs):
            sep(f"block{number}.rep.{3 * r + 1 - shift}", a, b)
            bn(f"block{number}.rep.{3 * r + 2 - shift}", b)
        if cin != cout or stride != 1:
            conv(f"block{number}.skip", cout, cin, 1)
            bn(f"block{number}.skipbn", cout)
    sep("conv3", 1024, 1536)
    bn("bn3", 1536)
    sep("conv4", 1536, 2048)
    bn("bn4", 2048)
    return table


def _authors_mix_block(prefix: str, c: int) -> dict[str, tuple[int, ...]]:
    table: dict[str, tuple[int, ...]] = {}
    for stream in ("FAD", "LFS"):
        for role in ("query", "key"):
            table[f"{prefix}{stream}_{role}.weight"] = (c, c, 1, 1)
            table[f"{prefix}{stream}_{role}.bias"] = (c,)
        table[f"{prefix}{stream}_gamma"] = (1,)
        table[f"{prefix}{stream}_conv.weight"] = (c, 1, 1, 1)  # depthwise 1x1
        table[f"{prefix}{stream}_conv.bias"] = (c,)
        for t in ("weight", "bias", "running_mean", "running_var"):
            table[f"{prefix}{stream}_bn.{t}"] = (c,)
        table[f"{prefix}{stream}_bn.num_batches_tracked"] = ()
    return table


def _authors_f3net() -> tuple[dict[str, tuple[int, ...]], set[str]]:
    """The authors' F3Net(num_classes=2, 299) state-dict table and the names of its frozen tensors."""
    table: dict[str, tuple[int, ...]] = {"fad_head._DCT_all": (299, 299), "fad_head._DCT_all_T": (299, 299)}
    fixed = set(table)
    for i in range(4):
        table[f"fad_head.filters.{i}.base"] = table[f"fad_head.filters.{i}.learnable"] = (299, 299)
        fixed.add(f"fad_head.filters.{i}.base")
    table["lfs_head._DCT_patch"] = table["lfs_head._DCT_patch_T"] = (10, 10)
    fixed |= {"lfs_head._DCT_patch", "lfs_head._DCT_patch_T"}
    for i in range(6):
        table[f"lfs_head.filters.{i}.base"] = table[f"lfs_head.filters.{i}.learnable"] = (10, 10)
        table[f"lfs_head.filters.{i}.ft_num"] = ()
        fixed |= {f"lfs_head.filters.{i}.base", f"lfs_head.filters.{i}.ft_num"}
    table |= _authors_xception("fad_excep.", 12) | _authors_xception("lfs_excep.", 6)
    table |= _authors_mix_block("mix_block7.", 728) | _authors_mix_block("mix_block12.", 1024)
    table["fc.weight"], table["fc.bias"] = (2, 4096), (2,)
    return table, fixed


def _is_bn_statistic(name: str) -> bool:
    return name.rsplit(".", 1)[-1] in ("running_mean", "running_var", "num_batches_tracked")


def test_tensor_table_and_parameter_count_match_the_authors_network() -> None:
    with torch.device("meta"):
        backbone, dim = build_f3net(pretrained=False)
        model = DRCTModel(backbone, dim, embedding_dim=0)
    assert dim == FEATURE_DIM == 4096
    theirs, fixed = _authors_f3net()
    expected = {authors_key_to_drct(k): shape for k, shape in theirs.items()}
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == expected
    # Their trainable parameters are ours; their frozen nn.Parameters (DCT matrices, masks) are our buffers.
    trainable = {k for k in theirs if k not in fixed and not _is_bn_statistic(k)}
    assert {n for n, _ in model.named_parameters()} == {authors_key_to_drct(k) for k in trainable}
    count = sum(p.numel() for p in model.parameters())
    assert count == sum(math.prod(theirs[k]) for k in trainable)
    # The same figure by hand: Xception without fc (20,806,952) less its 3-channel stem (864), twice;
    # stems 12*32*9 and 6*32*9; MixBlocks 4c^2 + 12c + 2; FAD filters 4*299^2; LFS filters 6*10^2; fc.
    xception = 20_806_952 - 864
    by_hand = 2 * xception + 3456 + 1728 + (4 * 728**2 + 12 * 728 + 2) + (4 * 1024**2 + 12 * 1024 + 2)
    by_hand += 4 * 299**2 + 600 + 4096 * 2 + 2
    assert count == by_hand == 48_319_026
    # Their model.parameters() also counts the frozen tensors: 48,856,238.
    assert count + sum(math.prod(theirs[k]) for k in fixed) == 48_856_238


def test_imagenet_weights_are_the_cadene_xception_file() -> None:
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(IMAGENET_TIMM_NAME)
    assert cfg.url.endswith("/xception-43020ad28.pth")


def test_rejects_sizes_where_streams_do_not_meet() -> None:
    # 296: FAD stream 147 -> 145 -> 73 -> 37 -> 19 after block3; LFS grid 148 -> 146 -> 144 -> 72 -> 36 -> 18
    with pytest.raises(ValueError, match="do not meet"):
        build_f3net(image_size=296)


def test_forward_and_backward_through_drct_model() -> None:
    torch.manual_seed(0)
    backbone, dim = build_f3net(pretrained=False)
    model = DRCTModel(backbone, dim, embedding_dim=0).train()
    # stems adapted as theirs: the 3-channel kernel repeated and divided; LFS stem at stride 1
    for stream, copies, stride in ((backbone.fad_excep, 4, 2), (backbone.lfs_excep, 2, 1)):
        weight = stream.conv1.weight.detach()
        assert weight.shape == (32, 3 * copies, 3, 3) and stream.conv1.stride == (stride, stride)
        for i in range(1, copies):
            torch.testing.assert_close(weight[:, 3 * i: 3 * i + 3], weight[:, :3])
    shapes: dict[str, tuple[int, ...]] = {}

    def record(name: str):  # forward hook storing the (first) output's shape
        def hook(_module: torch.nn.Module, _inputs: object, out: object) -> None:
            shapes[name] = tuple((out[0] if isinstance(out, tuple) else out).shape)
        return hook

    for name in ("fad_head", "lfs_head", "mix_block7", "mix_block12"):
        getattr(backbone, name).register_forward_hook(record(name))
    embedding, logits = model(torch.randn(1, 3, 299, 299))
    assert shapes == {"fad_head": (1, 12, 299, 299), "lfs_head": (1, 6, 149, 149),
                      "mix_block7": (1, 728, 19, 19), "mix_block12": (1, 1024, 10, 10)}
    assert embedding.shape == (1, 4096) and logits.shape == (1, 2)
    logits[0, 1].backward()
    reached = {
        "FAD stem": backbone.fad_excep.conv1.weight, "LFS stem": backbone.lfs_excep.conv1.weight,
        "FAD filter": backbone.fad_head.filters[0].learnable, "LFS filter": backbone.lfs_head.filters[5].learnable,
        # at init (gamma = 0) the fusion's attention is scaled by 0: its gammas are what the gradient reaches
        "fusion 7": backbone.mix_block7.FAD_gamma, "fusion 12": backbone.mix_block12.LFS_gamma,
        "classifier": model.classifier.weight,
    }
    for what, param in reached.items():
        assert param.grad is not None and param.grad.abs().sum() > 0, what
