"""DeSKPro model: OSNet truncation, CSA (eq. 1-2), LightMBN heads, inference descriptors, local weight loading."""

import pytest
import torch

from cmlib.models.deskpro import CSA, BatchDropTop, MultiBranchNet, flip_averaged_embedding, two_stream_descriptor
from cmlib.models.osnet import load_osnet_weights, osnet

pytestmark = pytest.mark.usefixtures("one_thread")



def test_osnet_stem_is_truncated_at_first_layer_of_third_block():
    net = osnet(0.25)
    x = torch.randn(2, 3, 64, 32)
    f = net.stem()(x)
    assert f.shape == (2, net.channels[2], 8, 4)  # output stride 8, c_f = conv3 width
    assert net.trunk()(f).shape == (2, net.channels[3], 4, 2)  # the rest: stride 16
    assert torch.allclose(net.trunk()(f), net.forward_features(x), atol=1e-5)


def test_csa_is_pointwise_sigmoid_times_features():
    torch.manual_seed(0)
    csa = CSA(6)
    f = torch.randn(2, 6, 5, 3)
    refined, psi = csa(f)
    expected = torch.sigmoid(torch.einsum("bchw,c->bhw", f, csa.pw.weight[0, :, 0, 0]) + csa.pw.bias)
    assert torch.allclose(psi[:, 0], expected, atol=1e-6)
    assert torch.allclose(refined, f * expected[:, None], atol=1e-6)


def test_mbn_gives_seven_logits_three_triplet_features_and_seven_embeddings():
    torch.manual_seed(0)
    m = MultiBranchNet(5, width=0.25, feat_dim=16, csa=True)
    out = m(torch.randn(4, 3, 64, 32))
    assert len(out.logits) == 7 and all(z.shape == (4, 5) for z in out.logits)
    assert len(out.features) == 3 and all(f.shape == (4, 16) for f in out.features)
    assert out.embeddings.shape == (4, 16, 7)
    assert out.attention.shape == (4, 1, 8, 4)
    assert MultiBranchNet(5, width=0.25, feat_dim=16)(torch.randn(2, 3, 64, 32)).attention is None


def test_top_drop_zeroes_the_most_active_rows_in_training_only():
    drop = BatchDropTop(0.5)
    x = torch.ones(1, 2, 4, 3)
    x[0, :, 1] = 5.0
    x[0, :, 3] = 4.0
    y = drop.train()(x)
    assert torch.equal(y[0, :, [1, 3]], torch.zeros(2, 2, 3)) and torch.equal(y[0, :, [0, 2]], x[0, :, [0, 2]])
    assert torch.equal(drop.eval()(x), x)


def test_flip_averaged_embedding_normalises_each_of_the_seven_embeddings():
    torch.manual_seed(0)
    m = MultiBranchNet(5, width=0.25, feat_dim=16).eval()
    d = flip_averaged_embedding(m, torch.randn(3, 3, 64, 32))
    assert d.shape == (3, 7 * 16)
    assert torch.allclose(d.view(3, 7, 16).norm(dim=2), torch.ones(3, 7), atol=1e-5)


def test_missing_face_leaves_only_the_global_stream_score():
    body, face = torch.randn(3, 4), torch.randn(3, 4)
    d = two_stream_descriptor(body, face, torch.tensor([True, False, True]))
    assert torch.equal(d[1, 4:], torch.zeros(4)) and torch.equal(d[0], torch.cat([body[0], face[0]]))
    g = two_stream_descriptor(body, face, torch.ones(3, dtype=torch.bool))
    assert torch.allclose(d[1] @ g.T, body[1] @ body.T)


def test_osnet_weights_load_from_a_local_torchreid_style_file(tmp_path):
    src = osnet(0.25)
    state = {}
    for k, v in src.state_dict().items():  # rename to torchreid's conv2a..conv2d stream names
        k = k.replace(".streams.0.0.", ".conv2a.")
        for i, letter in enumerate("bcd", start=1):
            k = k.replace(f".streams.{i}.", f".conv2{letter}.")
        state["module." + k] = v
    state["classifier.weight"] = torch.zeros(3, 3)
    torch.save(state, tmp_path / "osnet.pth")
    dst = osnet(0.25)
    skipped = load_osnet_weights(dst, tmp_path / "osnet.pth")
    assert skipped == ["classifier.weight"]
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_osnet_weights(dst, tmp_path / "nope.pth")
