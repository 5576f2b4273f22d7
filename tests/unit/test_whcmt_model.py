"""WHCMT model pieces: eq. (1) comes from timm's CrossVit, masks, all-ones retrieval tags, baselines."""

import numpy as np
import pytest
import torch

from cmlib.layers.attention import ClassTokenCrossBlock, key_padding_bias
from cmlib.models.hashing_baselines import ITQ, LSH, SH, WDHT, CrossViTFeatures, SmallAlexNet, ViTConfig, ViTFeatures
from cmlib.models.whcmt import ONES_ID, WHCMT, CrossVitConfig, CrossViTEncoder, mean_tag_vector, retrieval_tag_ids


@pytest.fixture(scope="module")
def table():
    t = torch.randn(12, 300, generator=torch.Generator().manual_seed(0)) * 0.3
    t[0], t[1] = 0.0, 1.0
    return t


@pytest.fixture(scope="module")
def model(table):
    torch.manual_seed(0)
    return WHCMT(CrossVitConfig(), table, bits=12, hidden=32).eval()


def test_visual_is_the_l_branch_of_timm_crossvit():
    torch.manual_seed(0)
    enc = CrossViTEncoder(CrossVitConfig()).eval()
    x = torch.randn(2, 3, 32, 32)
    v = enc(x)
    # L-branch (patch 8 on 32 px): 1 class token + 16 patches of width 96, equal to timm's own forward_features
    assert v.shape == (2, 17, 96)
    assert torch.equal(v, enc.backbone.forward_features(x)[1])
    enc.keep_attn = True
    enc(x)
    att = enc.last_cross_scale_attn  # eq. (1): L class token over [f(x_cls) || 64 S patches]
    assert att.shape == (2, 3, 65) and torch.allclose(att.sum(-1), torch.ones(2, 3), atol=1e-5)


def test_forward_shapes_and_codes(model):
    x = torch.randn(4, 3, 32, 32)
    tags = torch.tensor([[2, 3, 0], [4, 0, 0], [ONES_ID, 0, 0], [5, 6, 7]])
    out = model(x, tags)
    assert out["h"].shape == (4, 12) and out["r"].shape == (4, 300) and out["t_cls"].shape == (4, 300)
    assert ((out["h"] > 0) & (out["h"] < 1)).all()
    codes = model.encode(x)
    assert codes.dtype == torch.bool and codes.shape == (4, 12)
    assert torch.equal(codes, model(x, retrieval_tag_ids(4))["h"] > 0.5)
    with pytest.raises(ValueError, match="built for 12-bit"):
        model.encode(x, bits=16)


def test_padding_tags_do_not_change_the_output(model):
    x = torch.randn(2, 3, 32, 32)
    short = torch.tensor([[2, 3], [4, 0]])
    padded = torch.tensor([[2, 3, 0, 0], [4, 0, 0, 0]])
    assert torch.allclose(model(x, short)["h"], model(x, padded)["h"], atol=1e-5)


def test_tags_reach_the_codes_through_cross_modal_attention(model):
    x = torch.randn(2, 3, 32, 32)
    a = model(x, torch.tensor([[2, 3], [2, 3]]))["h"]
    b = model(x, torch.tensor([[8, 9], [8, 9]]))["h"]
    assert not torch.allclose(a, b)
    model.set_keep_attention(True)
    model(x, torch.tensor([[2, 3, 0], [4, 0, 0]]))
    att = model.cross_modal.last_attn  # (B, heads, 1 + 16 + 1 + 3)
    model.set_keep_attention(False)
    assert att.shape == (2, 3, 21)
    assert att[1, :, -2:].abs().max() == 0  # padded tags get no attention


def test_class_token_block_matches_unmasked_timm_attention():
    torch.manual_seed(0)
    blk = ClassTokenCrossBlock(24, num_heads=3).eval()
    a = torch.randn(2, 5, 24)
    x = blk.norm1(a)
    want_cls = a[:, :1] + blk.attn(x)  # timm CrossAttention forward
    want = want_cls + blk.mlp(blk.norm2(want_cls))
    assert torch.allclose(blk(a), want, atol=1e-5)
    assert key_padding_bias(None) is None
    with pytest.raises(ValueError, match="divisible"):
        ClassTokenCrossBlock(10, num_heads=3)


def test_wdht_backbones(table):
    x = torch.randn(3, 3, 32, 32)
    tags = torch.tensor([[2, 3], [ONES_ID, 0], [4, 0]])
    for backbone in (SmallAlexNet(32, width=8, out_dim=16), ViTFeatures(ViTConfig()), CrossViTFeatures(CrossVitConfig())):
        out = WDHT(backbone, table, bits=8, hidden=16)(x, tags)
        assert out["h"].shape == (3, 8)
        # WDHT's tag representation: the mean tag vector; an untagged image gets the all-ones vector
        assert torch.allclose(out["t_cls"][0], table[2:4].mean(0)) and torch.all(out["t_cls"][1] == 1)
    bad = table.clone()
    bad[ONES_ID] = 0
    with pytest.raises(ValueError, match="all-ones"):
        WDHT(SmallAlexNet(32), bad, bits=8)


def test_unsupervised_hashing_preserves_neighbours():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 20)) * 3
    y = rng.integers(0, 4, size=400)
    x = centres[y] + rng.normal(size=(400, 20))
    for cls in (LSH, ITQ, SH):
        codes = cls(16).fit(x).encode(x)
        assert codes.shape == (400, 16) and codes.dtype == bool
        ham = (codes[:, None, :] != codes[None, :, :]).sum(-1)
        same = y[:, None] == y[None, :]
        assert ham[same].mean() < ham[~same].mean(), cls.__name__
    with pytest.raises(ValueError, match="feature dims"):
        ITQ(32).fit(x)


def test_target_tags_set_t_cls_while_input_tags_set_the_codes(model, table):
    """Retrieval-view training: input = the all-ones token, target t_cls = the real tags' (tag_dropout)."""
    x = torch.randn(3, 3, 32, 32)
    real = torch.tensor([[2, 3, 0], [4, 0, 0], [5, 6, 7]])
    ones = retrieval_tag_ids(3)
    both = model(x, ones, real)
    assert torch.equal(both["h"], model(x, ones)["h"]) and torch.equal(both["r"], model(x, ones)["r"])
    assert torch.allclose(both["t_cls"], model(x, real)["t_cls"], atol=1e-6)
    assert not torch.allclose(both["t_cls"], model(x, ones)["t_cls"])
    torch.manual_seed(0)
    wdht = WDHT(SmallAlexNet(32, width=8, out_dim=16), table, bits=8, hidden=16).eval()
    assert torch.equal(wdht(x, ones, real)["t_cls"], mean_tag_vector(table, real))


def test_mean_vector_target_variant(table):
    torch.manual_seed(0)
    m = WHCMT(CrossVitConfig(), table, bits=8, hidden=16, tag_target="mean").eval()
    ids = torch.tensor([[2, 3, 0], [1, 0, 0]])
    out = m(torch.randn(2, 3, 32, 32), ids)
    assert torch.equal(out["t_cls"], mean_tag_vector(table, ids))
    assert torch.equal(out["t_cls"][1], table[ONES_ID])
    with pytest.raises(ValueError, match="tag_target"):
        WHCMT(CrossVitConfig(), table, bits=8, tag_target="max")


def test_small_alexnet_strides_like_alexnet_on_larger_images():
    assert SmallAlexNet(32).stride == 1 and SmallAlexNet(64).stride == 2
    net = SmallAlexNet(64, width=8, out_dim=16)
    assert net(torch.randn(2, 3, 64, 64)).shape == (2, 16)
    assert net.features[0].stride == (2, 2)
