"""GramNet: the Gram matrix by hand, shapes, the authors' exact parameter layout, ImageNet trunk loading, gradients."""

from __future__ import annotations

import math

import pytest
import torch

from drct.training.model import DRCTModel
from drct.training.networks.gramnet import (
    INPUT_SIZE,
    GramNetFeatures,
    _gram_matrix_float32,
    authors_key_to_drct,
    build_gramnet,
    gram_matrix,
    load_resnet18_trunk,
)

torch.set_num_threads(2)


def _conv(name: str, cin: int, cout: int, k: int) -> list[tuple[str, tuple[int, ...]]]:
    return [(f"{name}.weight", (cout, cin, k, k))]  # every Conv2d in their file has bias=False


def _bn(name: str, c: int) -> list[tuple[str, tuple[int, ...]]]:
    return [(f"{name}.weight", (c,)), (f"{name}.bias", (c,))]


def _linear(name: str, fin: int, fout: int) -> list[tuple[str, tuple[int, ...]]]:
    return [(f"{name}.weight", (fout, fin)), (f"{name}.bias", (fout,))]


def authors_parameters() -> list[tuple[str, tuple[int, ...]]]:
    """Parameter names and shapes of the authors' ``get_GramNet('resnet18')``, written out from
    ``network/resnet_gram.py`` (beibuwandeluori/DRCT) by reading its ``__init__``, not from our code."""
    params = _conv("conv1", 3, 64, 7) + _bn("bn1", 64)
    # ResNet._make_layer with BasicBlock, [2, 2, 2, 2]: a 1x1 conv + BN shortcut on the first block
    # of layer2..4 (stride 2); layer1 keeps 64 channels at stride 1, so it has none.
    for layer, cin, cout in (("layer1", 64, 64), ("layer2", 64, 128), ("layer3", 128, 256), ("layer4", 256, 512)):
        for block, block_in in ((0, cin), (1, cout)):
            prefix = f"{layer}.{block}"
            params += _conv(f"{prefix}.conv1", block_in, cout, 3) + _bn(f"{prefix}.bn1", cout)
            params += _conv(f"{prefix}.conv2", cout, cout, 3) + _bn(f"{prefix}.bn2", cout)
            if block == 0 and layer != "layer1":
                params += _conv(f"{prefix}.downsample.0", cin, cout, 1) + _bn(f"{prefix}.downsample.1", cout)
    # conv_inter*_0 = Sequential(Conv2d(C, 32, 3), BN(32), ReLU) on x, x4, x5, x6, x7, x8
    for name, cin in (("conv_interi_0", 3), ("conv_inter0_0", 64), ("conv_inter1_0", 64),
                      ("conv_inter2_0", 64), ("conv_inter3_0", 128), ("conv_inter4_0", 256)):
        params += _conv(f"{name}.0", cin, 32, 3) + _bn(f"{name}.1", 32)
    # g*_fc1 = Sequential(Conv2d(1, 16, 3, s2), BN(16), ReLU); g*_fc2 = Sequential(Conv2d(16, 32, 3, s2), BN(32), ReLU)
    for fc1, fc2 in (("gi_fc1", "gi_fc2"), ("g0_fc1", "g0_fc2"), ("g_fc1r", "g_fc2r"),
                     ("g2_fc1", "g2_fc2"), ("g3_fc1", "g3_fc2"), ("g4_fc1", "g4_fc2")):
        params += _conv(f"{fc1}.0", 1, 16, 3) + _bn(f"{fc1}.1", 16)
        params += _conv(f"{fc2}.0", 16, 32, 3) + _bn(f"{fc2}.1", 32)
    params += [("scale.scale", (1,))]  # ScaleLayer: nn.Parameter(FloatTensor([1]))
    params += _linear("fcnewr.0", 704, 512) + _linear("fcnewr.3", 512, 2)  # Linear(704,512), ReLU, Dropout, Linear(512,2)
    return params


def _meta_drct_gramnet() -> DRCTModel:
    with torch.device("meta"):
        return DRCTModel(*build_gramnet(False), embedding_dim=0)


def test_gram_matrix_by_hand() -> None:
    # channel 0 = [1, 2, 3, 4], channel 1 = [0, 1, -1, 2] (2 x 2 maps, flattened row by row)
    f = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [-1.0, 2.0]]]])
    # <c0,c0> = 1+4+9+16 = 30, <c0,c1> = 0+2-3+8 = 7, <c1,c1> = 0+1+1+4 = 6; divided by C*H*W = 2*2*2 = 8
    expected = torch.tensor([[[[30 / 8, 7 / 8], [7 / 8, 6 / 8]]]])
    assert torch.equal(gram_matrix(f), expected)
    # samples are independent: doubling the second sample's map quadruples its Gram matrix only
    batch = torch.cat([f, 2 * f])
    assert torch.equal(gram_matrix(batch), torch.cat([expected, 4 * expected]))


def test_gram_matrix_survives_float16_sums() -> None:
    # unnormalised sum = 300*300 = 90,000 > float16 max (65,504); normalised value is exactly 1
    ones = torch.ones(1, 1, 300, 300, dtype=torch.float16)
    out = _gram_matrix_float32(ones)
    assert out.dtype == torch.float16 and torch.equal(out, torch.ones(1, 1, 1, 1, dtype=torch.float16))


def test_feature_shape_at_training_input_size() -> None:
    torch.manual_seed(0)
    backbone, feature_dim = build_gramnet(False)
    assert INPUT_SIZE == 224 and feature_dim == 512 == backbone.feature_dim and backbone.concat_dim == 704
    with torch.no_grad():
        features = backbone.eval()(torch.randn(2, 3, INPUT_SIZE, INPUT_SIZE))
    assert features.shape == (2, feature_dim) and torch.isfinite(features).all()


def test_parameter_layout_and_count_equal_the_authors() -> None:
    theirs = authors_parameters()
    # 11,176,512 (ResNet-18 without fc) + 167,136 (six 3x3 convs to 32 ch + BN)
    # + 29,088 (six x [1->16 and 16->32 3x3 convs + BNs]) + 1 (scale) + 360,960 + 1,026 (the two Linears)
    assert sum(math.prod(shape) for _, shape in theirs) == 11_734_723
    model = _meta_drct_gramnet()
    ours = {name: tuple(p.shape) for name, p in model.named_parameters()}
    assert sum(math.prod(shape) for shape in ours.values()) == 11_734_723
    assert {authors_key_to_drct(name): shape for name, shape in theirs} == ours
    assert (model.classifier.in_features, model.classifier.out_features) == (512, 2)


def test_initialisation_is_the_authors() -> None:
    torch.manual_seed(0)
    net = GramNetFeatures()
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(torch.equal(m.weight, torch.ones_like(m.weight)) and not m.bias.any() for m in bns)  # bn2 not zeroed
    assert torch.equal(net.gram_scale.detach(), torch.ones(1))
    # kaiming_normal_(fan_out, relu): std = sqrt(2 / (out_channels * k * k))
    for conv in (net.layer4[1].conv2, net.branches["layer3"].reduce[0]):
        fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
        assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / fan_out), rel=0.03)
        assert abs(conv.weight.mean().item()) < 0.05 * math.sqrt(2 / fan_out)  # zero-mean normal


def test_imagenet_trunk_loads_by_timm_names() -> None:
    import timm

    torch.manual_seed(0)
    reference = timm.create_model("resnet18", pretrained=False, num_classes=0).state_dict()
    net = GramNetFeatures()
    branch_before = net.branches["image"].reduce[0].weight.detach().clone()
    load_resnet18_trunk(net, reference)
    ours = net.state_dict()
    assert all(torch.equal(ours[k], v) for k, v in reference.items())
    assert torch.equal(net.branches["image"].reduce[0].weight, branch_before)  # branches keep their init
    with pytest.raises(ValueError, match="missing"):
        load_resnet18_trunk(net, {k: v for k, v in reference.items() if k != "layer3.1.conv2.weight"})


def test_drct_model_logits_and_gradients_reach_gram_blocks() -> None:
    torch.manual_seed(0)
    model = DRCTModel(*build_gramnet(False), embedding_dim=0).train()
    embedding, logits = model(torch.randn(3, 3, 64, 64))
    assert logits.shape == (3, 2) and embedding.shape == (3, 512)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 1])).backward()
    gram_prefixes = ("backbone.branches.", "backbone.gram_scale")
    gram_params = {n: p for n, p in model.named_parameters() if n.startswith(gram_prefixes)}
    assert len(gram_params) == 6 * 3 * 3 + 1  # six branches x three (conv, BN weight, BN bias) x 3 layers, + scale
    no_grad = [n for n, p in gram_params.items() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not no_grad, no_grad
