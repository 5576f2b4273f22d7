"""WHCMT losses, eqs. (2)-(4), against direct loops over the paper's sums."""

import pytest
import torch

from cmlib.losses.hashing import WeakTagHashLoss, hinge_loss, pairwise_similarity_loss, quantization_loss


def _data(seed=0, b=6, bits=8, d=5):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, bits, generator=g), torch.randn(b, d, generator=g), torch.randn(b, d, generator=g)


def test_pairwise_matches_eq2_loop():
    h, _, t = _data()
    want = 0.0
    for i in range(len(h)):
        for j in range(len(h)):
            cos = torch.dot(t[i], t[j]) / (t[i].norm() * t[j].norm())
            want += ((h[i] - h[j]).pow(2).sum() / h.shape[1] - 0.5 * (1 - cos)) ** 2
    assert torch.allclose(pairwise_similarity_loss(h, t), want, atol=1e-5)


def test_hinge_matches_eq3_loop():
    _, r, t = _data(1)
    want = sum(max(0.0, 0.2 + float(t[j] @ r[i]) - float(t[i] @ r[i]))
               for i in range(len(r)) for j in range(len(r)) if j != i)
    assert hinge_loss(r, t, 0.2).item() == pytest.approx(want, rel=1e-5)


def test_hinge_zero_when_own_tags_win_by_margin():
    t = torch.eye(4) * 3
    assert hinge_loss(t.clone(), t, margin=0.2).item() == 0.0


def test_quantization_eq4_prefers_saturated_codes():
    h, _, _ = _data(2)
    want = -sum(((hi - 0.5) ** 2).sum() / h.shape[1] for hi in h)
    assert torch.allclose(quantization_loss(h), want)
    assert quantization_loss(torch.ones(3, 8)) < quantization_loss(torch.full((3, 8), 0.6))


def test_weighted_terms_and_gradients_finite_for_identical_codes():
    h = torch.full((4, 8), 0.7, requires_grad=True)
    r, t = torch.randn(4, 5), torch.randn(4, 5)
    terms = WeakTagHashLoss((1.0, 10.0, 2.0), reduction="sum")(h, r, t)
    assert set(terms) == {"l1_pairwise", "l2_hinge", "l3_quant"}
    assert torch.allclose(terms["l2_hinge"], 10 * hinge_loss(r, t))
    assert torch.allclose(terms["l3_quant"], 2 * quantization_loss(h))
    sum(terms.values()).backward()
    assert torch.isfinite(h.grad).all()
    with pytest.raises(ValueError, match="3 entries"):
        WeakTagHashLoss((1.0, 2.0))


def test_tag_class_token_is_a_target_unless_asked():
    """Default: no gradient from L1 / L2 into t_cls (the losses would otherwise squeeze every t_cls together)."""
    h = torch.rand(5, 8, requires_grad=True)
    r = torch.randn(5, 6, requires_grad=True)
    t = torch.randn(5, 6, requires_grad=True)
    sum(WeakTagHashLoss()(h, r, t).values()).backward()
    assert t.grad is None and h.grad is not None and r.grad is not None
    sum(WeakTagHashLoss(detach_targets=False)(h, r, t).values()).backward()
    assert t.grad is not None and t.grad.abs().sum() > 0


def test_joint_hinge_gradient_squeezes_tag_tokens_along_a_shared_r():
    """Why the default detaches: with one r for every image (untrained backbone), eq. (3)'s gradient pulls t_cls together."""
    t = torch.randn(8, 4, generator=torch.Generator().manual_seed(0)) * 3
    t.requires_grad_(True)
    r = torch.ones(8, 4) / 2.0
    hinge_loss(r, t, 0.2).backward()
    proj = (t.detach() @ r[0])
    step = (t.detach() - 0.01 * t.grad) @ r[0]
    assert step.std() < proj.std()
