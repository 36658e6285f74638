"""De-fake's hybrid detector: [image, text] CLIP embeddings, frozen CLIP, De-fake's MLP.

Expected values are computed here from open_clip's ``encode_image``/``encode_text`` and from the
MLP's weights by hand; parameter counts are worked out from the layer sizes.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from drct.training.model import DEMO_OPEN_CLIP_MODEL, open_clip_module
from drct.training.networks.defake import (
    CLIP_MODEL,
    CLIP_PRETRAINED,
    MLP_PARAMETERS,
    DefakeFeatures,
    DefakeMLP,
    DefakeModel,
    build_defake,
)

torch.set_num_threads(2)
TINY_EMBED = 64  # ViT-Tiny-16-quickgelu's embed_dim (src/drct/training/model_configs)
CAPTIONS = ["a picture of a dog on a beach", "two cats sleeping on a couch", "a red car", "a bowl of soup"]


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model, tokenizer = build_defake(DEMO_OPEN_CLIP_MODEL, pretrained=None)
    return model.eval(), tokenizer


def test_features_are_image_then_text_embeddings(tiny) -> None:
    model, tokenizer = tiny
    clip = model.features.clip
    images, tokens = torch.randn(4, 3, 224, 224), tokenizer(CAPTIONS)
    features = model.features(images, tokens)
    assert features.shape == (4, 2 * TINY_EMBED) and model.features.feature_dim == 2 * TINY_EMBED
    with torch.no_grad():
        assert torch.allclose(features[:, :TINY_EMBED], clip.encode_image(images), atol=1e-6)
        assert torch.allclose(features[:, TINY_EMBED:], clip.encode_text(tokens), atol=1e-6)
        # unnormalised, as De-fake feeds them (normalised rows would have norm 1)
        assert not torch.allclose(features[:, TINY_EMBED:].norm(dim=1), torch.ones(4), atol=1e-3)
    # another caption moves only the text half
    swapped = model.features(images, tokenizer(CAPTIONS[1:] + CAPTIONS[:1]))
    assert torch.equal(swapped[:, :TINY_EMBED], features[:, :TINY_EMBED])
    assert not torch.allclose(swapped[:, TINY_EMBED:], features[:, TINY_EMBED:])
    with pytest.raises(ValueError, match="4 images but 3 captions"):
        model.features(images, tokens[:3])


def test_mlp_is_defakes_layers_with_one_dropout_after_the_first() -> None:
    torch.manual_seed(0)
    mlp = DefakeMLP(128)
    x = torch.randn(5, 128)
    assert [(m.in_features, m.out_features) for m in (mlp.fc1, mlp.fc2, mlp.fc3)] == [(128, 512), (512, 256), (256, 2)]
    assert [type(m) for m in mlp.modules()].count(torch.nn.Dropout) == 1 and mlp.dropout.p == 0.5

    def by_hand(training: bool) -> torch.Tensor:
        h = F.dropout(F.relu(x @ mlp.fc1.weight.T + mlp.fc1.bias), 0.5, training=training)
        h = F.relu(h @ mlp.fc2.weight.T + mlp.fc2.bias)
        return h @ mlp.fc3.weight.T + mlp.fc3.bias

    with torch.no_grad():
        assert torch.allclose(mlp.eval()(x), by_hand(False), atol=1e-5)
        torch.manual_seed(7)
        got = mlp.train()(x)
        torch.manual_seed(7)
        assert torch.allclose(got, by_hand(True), atol=1e-5)
        torch.manual_seed(7)
        assert not torch.allclose(got, by_hand(False), atol=1e-3)  # the dropout really acts in training


def test_full_size_is_vit_b32_with_a_656642_parameter_mlp() -> None:
    """ViT-B/32 embeds images and text in 512 dims: 1024 features. The MLP by hand:
    1024*512 + 512 = 524,800; 512*256 + 256 = 131,328; 256*2 + 2 = 514; total 656,642."""
    assert (1024 * 512 + 512) + (512 * 256 + 256) + (256 * 2 + 2) == MLP_PARAMETERS == 656_642
    assert (CLIP_MODEL, CLIP_PRETRAINED) in open_clip_module().list_pretrained()
    with torch.device("meta"):
        clip = open_clip_module().create_model(CLIP_MODEL, pretrained=None, device="meta")
        model = DefakeModel(DefakeFeatures(clip))
    assert model.mlp.fc1.weight.is_meta
    assert model.features.feature_dim == 1024
    assert sum(p.numel() for p in model.mlp.parameters()) == 656_642
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == 656_642  # CLIP contributes nothing trainable


def test_clip_stays_frozen_while_the_mlp_trains(tiny) -> None:
    model, tokenizer = tiny
    model.train()
    assert not model.features.clip.training and model.mlp.training
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-4)
    logits = model(torch.randn(4, 3, 224, 224), tokenizer(CAPTIONS))
    assert logits.shape == (4, 2)
    F.cross_entropy(logits, torch.tensor([0, 1, 0, 1])).backward()
    optimizer.step()
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == set(model.head_state_dict()) and changed  # every mlp tensor, nothing of CLIP
    assert all(k.startswith("mlp.") for k in changed)
    model.eval()


def test_cached_features_give_the_same_logits(tiny) -> None:
    model, tokenizer = tiny
    images, tokens = torch.randn(2, 3, 224, 224), tokenizer(CAPTIONS[:2])
    with torch.no_grad():
        cached = model.features(images, tokens)
        assert torch.allclose(model(images, tokens), model.forward_head(cached), atol=1e-6)


def test_detector_entry() -> None:
    from drct.detectors.defake import DETECTOR

    config = open_clip_module().get_model_config(DETECTOR.model_name)
    assert (DETECTOR.model_name, DETECTOR.pretrained) == ("ViT-B-32-quickgelu", "openai")
    assert DETECTOR.image_size == config["vision_cfg"]["image_size"] == 224 and config["embed_dim"] == 512
    assert DETECTOR.needs_captions and DETECTOR.freeze_backbone
    assert DETECTOR.settings()["lr"] == 3e-4 and DETECTOR.batch_size == 128
    assert isinstance(DefakeModel(DefakeFeatures(open_clip_module().create_model(DEMO_OPEN_CLIP_MODEL))), DefakeModel)


def test_the_entry_names_the_networks_clip() -> None:
    """The entry spells De-fake's CLIP out (the Snakefile reads it without torch): the network's own."""
    from drct.detectors import defake as entry
    from drct.training.networks import defake as network

    assert (entry.CLIP_MODEL, entry.CLIP_PRETRAINED) == (network.CLIP_MODEL, network.CLIP_PRETRAINED)
