"""CLAREL two-tower model: shapes, sentence averaging, empty/unknown sentences, the masked BiLSTM against the packed
one, timm backbone from a local file."""

import dataclasses

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from cmlib.models.clarel import ClarelModel, ClarelModelConfig, bilstm_masked

CFG = ClarelModelConfig(embed_dim=16, image_in_dim=20, cnn_channels=8, lstm_hidden=6)


def _model(cfg=CFG):
    torch.manual_seed(0)
    return ClarelModel(torch.randn(12, 5), n_classes=3, cfg=cfg).eval()


def test_shapes_and_heads():
    m = _model()
    out = m(torch.randn(4, 20), torch.randint(0, 12, (4, 2, 7)), torch.full((4, 2), 7))
    assert out["image_emb"].shape == out["text_emb"].shape == (4, 16)
    assert out["image_logits"].shape == out["text_logits"].shape == (4, 3)


def test_image_text_embedding_is_the_mean_over_its_sentences():
    m = _model()
    ids, lengths = torch.randint(2, 12, (3, 4, 6)), torch.randint(1, 7, (3, 4))
    per_sentence = m.encode_text(ids.reshape(12, 6), lengths.reshape(12)).reshape(3, 4, -1)
    assert torch.allclose(m.encode_text(ids, lengths), per_sentence.mean(1), atol=1e-6)


def test_padding_does_not_change_a_sentence():
    m = _model()
    ids = torch.tensor([[3, 4, 5, 0, 0, 0]])
    longer = torch.tensor([[3, 4, 5, 0, 0, 0, 0, 0, 0]])
    assert torch.allclose(m.encode_text(ids, torch.tensor([3])), m.encode_text(longer, torch.tensor([3])), atol=1e-6)


def test_empty_and_unknown_sentences_still_embed():
    m = _model()
    z = m.encode_text(torch.tensor([[0, 0, 0], [1, 1, 0]]), torch.tensor([0, 2]))
    assert z.shape == (2, 16) and torch.isfinite(z).all()


def test_backbone_loads_weights_from_a_local_file(tmp_path):
    import timm

    src = timm.create_model("resnet10t", pretrained=False, num_classes=0)
    path = tmp_path / "w.pth"
    torch.save(src.state_dict(), path)
    cfg = ClarelModelConfig(embed_dim=16, backbone="resnet10t", backbone_weights=path, cnn_channels=8, lstm_hidden=6)
    m = _model(cfg)
    assert torch.equal(m.image.backbone.conv1[0].weight, src.conv1[0].weight)
    assert m.encode_image(torch.rand(2, 3, 32, 32)).shape == (2, 16)


def test_masked_bilstm_equals_the_packed_one_outputs_and_gradients():
    torch.manual_seed(0)
    lstm = nn.LSTM(8, 5, batch_first=True, bidirectional=True)
    x = torch.randn(4, 7, 8, requires_grad=True)
    lengths = torch.tensor([7, 3, 1, 5])
    packed, _ = lstm(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    packed, _ = pad_packed_sequence(packed, batch_first=True, total_length=7)
    masked = bilstm_masked(lstm, x, lengths)
    assert torch.allclose(packed, masked, atol=1e-6)
    assert masked[1, 3:].abs().max() == 0 and masked[2, 1:].abs().max() == 0  # padding stays 0
    grads = [torch.autograd.grad((o ** 2).sum(), [x, lstm.weight_hh_l0_reverse]) for o in (packed, masked)]
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-5)


def test_lstm_modes_embed_alike_and_a_wrong_lstm_is_refused():
    ids, lengths = torch.randint(2, 12, (5, 9)), torch.tensor([9, 4, 1, 6, 2])
    masked = _model().encode_text(ids, lengths)
    packed = _model(dataclasses.replace(CFG, lstm_mode="packed")).encode_text(ids, lengths)
    assert torch.allclose(masked, packed, atol=1e-5)
    with pytest.raises(ValueError, match="bidirectional"):
        bilstm_masked(nn.LSTM(4, 3, batch_first=True), torch.randn(2, 3, 4), torch.tensor([3, 2]))


def _with_moved_batch_norm(m):
    """Non-trivial running statistics and affine terms: at their defaults bn(0) = 0 and padding would be invisible."""
    g = torch.Generator().manual_seed(1)
    for bn in (b for b in m.modules() if isinstance(b, nn.BatchNorm1d)):
        for t in (bn.running_mean, bn.bias):
            t.copy_(torch.randn(t.shape, generator=g))
        bn.running_var.copy_(torch.rand(bn.running_var.shape, generator=g) + 0.5)
    return m


@torch.no_grad()
def test_eval_trims_trailing_padding_without_changing_any_sentence():
    m = _with_moved_batch_norm(_model())
    ids = torch.randint(2, 12, (2, 9))
    alone = m.encode_text(ids[:1], torch.tensor([4]))  # trimmed to 4 columns
    beside_a_full_one = m.encode_text(ids, torch.tensor([4, 9]))[:1]  # nothing trimmed
    assert torch.allclose(alone, beside_a_full_one, atol=1e-6)
    m.train()  # in training the padding columns enter the batch statistics, so nothing is trimmed
    assert m.encode_text(ids[:1].repeat(2, 1), torch.tensor([4, 4])).shape == (2, 16)


@torch.no_grad()
def test_encode_by_length_equals_encode_text_in_the_images_order():
    from cmlib.studies.clarel.runs import encode_by_length

    m = _with_moved_batch_norm(_model())
    ids, lengths = torch.randint(1, 12, (7, 3, 10)), torch.randint(0, 11, (7, 3))
    ids[torch.arange(10)[None, None, :].expand(7, 3, 10) >= lengths[..., None]] = 0
    for chunk in (1, 2, 7):
        assert torch.allclose(encode_by_length(m, ids, lengths, chunk), m.encode_text(ids, lengths), atol=1e-6)
    assert torch.allclose(encode_by_length(m, ids[:, 0], lengths[:, 0], 3), m.encode_text(ids[:, 0], lengths[:, 0]),
                          atol=1e-6)
