"""CLAREL losses: J_TR / J_IR as the paper's cross-entropy over -Euclidean distances, and the lambda/kappa mix."""

import math

import pytest
import torch
import torch.nn.functional as F

from cmlib.losses.retrieval import (
    ClarelLoss,
    clarel_loss,
    euclidean_distances,
    image_retrieval_loss,
    text_retrieval_loss,
)


def test_text_retrieval_is_cross_entropy_of_negative_distances():
    g = torch.Generator().manual_seed(0)
    v, t = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    d = torch.cdist(v, t)
    manual = -torch.log_softmax(-d, dim=1).diag().mean()
    assert torch.allclose(text_retrieval_loss(v, t), manual, atol=1e-5)
    assert torch.allclose(image_retrieval_loss(v, t), -torch.log_softmax(-d.T, dim=1).diag().mean(), atol=1e-5)


def test_aligned_pairs_score_lower_than_shuffled():
    v = torch.eye(8) * 10
    assert text_retrieval_loss(v, v) < 0.01 < text_retrieval_loss(v, v.roll(1, 0))


def test_identical_embeddings_give_log_batch_and_finite_gradients():
    v = torch.zeros(4, 3, requires_grad=True)
    loss = text_retrieval_loss(v, torch.zeros(4, 3))
    loss.backward()
    assert math.isclose(float(loss), math.log(4), rel_tol=1e-5) and torch.isfinite(v.grad).all()
    assert torch.allclose(euclidean_distances(torch.ones(2, 3), torch.ones(2, 3)), torch.full((2, 2), 1e-6))


def test_weights_follow_the_official_mix():
    g = torch.Generator().manual_seed(1)
    v, t, li, lt = (torch.randn(5, 4, generator=g) for _ in range(4))
    y = torch.tensor([0, 1, 2, 3, 0])
    terms = clarel_loss(v, t, li, lt, y, lam=0.3, kappa=0.4)
    assert torch.allclose(terms["text_retrieval"], 0.3 * 0.6 * text_retrieval_loss(v, t))
    assert torch.allclose(terms["image_retrieval"], 0.7 * 0.6 * image_retrieval_loss(v, t))
    assert torch.allclose(terms["image_ce"] + terms["text_ce"], 0.4 * (F.cross_entropy(li, y) + F.cross_entropy(lt, y)))
    only_cls = clarel_loss(v, t, li, lt, y, lam=0.5, kappa=1.0)
    assert float(only_cls["text_retrieval"]) == 0.0 == float(only_cls["image_retrieval"])


@pytest.mark.parametrize("lam,kappa", [(-0.1, 0.5), (0.5, 1.2)])
def test_out_of_range_mixing_raises(lam, kappa):
    x = torch.zeros(2, 2)
    with pytest.raises(ValueError, match="must be in"):
        clarel_loss(x, x, x, x, torch.zeros(2, dtype=torch.long), lam, kappa)
    with pytest.raises(ValueError):
        ClarelLoss(lam, kappa)
