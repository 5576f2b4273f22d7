"""DeSKPro losses: eq. (3)-(7) against hand computations."""

import pytest
import torch
import torch.nn.functional as F

from cmlib.losses.reid import (
    DeSKProLoss,
    attention_loss,
    batch_hard_triplet,
    cloth_irrelevant_mask,
    knowledge_propagation_loss,
    label_smoothing_ce,
)
from cmlib.models.deskpro import MultiBranchNet

pytestmark = pytest.mark.usefixtures("one_thread")



def test_cloth_irrelevant_mask_is_epsilon_on_clothes_and_one_elsewhere():
    parsing = torch.tensor([[[0, 4, 5], [2, 7, 3]]])
    m = cloth_irrelevant_mask(parsing, (4, 5, 6, 7), epsilon=0.1)
    assert m.shape == (1, 1, 2, 3)
    assert torch.allclose(m[0, 0], torch.tensor([[1.0, 0.1, 0.1], [1.0, 0.1, 1.0]]))


def test_attention_loss_resizes_mask_to_the_attention_grid():
    psi_hat = torch.full((2, 1, 2, 2), 0.5)
    mask = torch.ones(2, 1, 8, 8)
    mask[:, :, :4] = 0.1  # top half clothing
    loss = attention_loss(psi_hat, mask)
    assert loss.item() == pytest.approx(((0.5 - 0.1) ** 2 + (0.5 - 1.0) ** 2) / 2, rel=1e-5)


def test_knowledge_propagation_is_tau_squared_batchmean_kl_summed_over_logits():
    torch.manual_seed(0)
    s, t = [torch.randn(4, 6) for _ in range(2)], [torch.randn(4, 6) for _ in range(2)]
    tau = 5.0
    manual = sum(
        (F.softmax(b / tau, 1) * (F.log_softmax(b / tau, 1) - F.log_softmax(a / tau, 1))).sum(1).mean() for a, b in zip(s, t)
    ) * tau**2
    assert knowledge_propagation_loss(s, t, tau).item() == pytest.approx(manual.item(), rel=1e-5)
    assert knowledge_propagation_loss(t, t, tau).item() == pytest.approx(0.0, abs=1e-6)
    teacher = [z.clone().requires_grad_() for z in t]
    knowledge_propagation_loss([z.clone().requires_grad_() for z in s], teacher, tau).backward()
    assert all(z.grad is None for z in teacher)  # the teacher is fixed


def test_batch_hard_triplet_uses_hardest_positive_and_negative():
    f = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0], [0.0, 4.5]])
    y = torch.tensor([0, 0, 1, 1])
    # anchor 0: d_ap 1, d_an 3 -> 0 ; anchor 1: d_ap 1, d_an sqrt(10) -> 0 ; anchor 2: d_ap 1.5, d_an 3 -> 0;
    # anchor 3: d_ap 1.5, d_an 4.5 -> 0 ; with margin 2.5 anchors 0 and 2 are active: (1-3+2.5) and (1.5-3+2.5)
    assert batch_hard_triplet(f, y, margin=0.7).item() == pytest.approx(0.0)
    assert batch_hard_triplet(f, y, margin=2.5).item() == pytest.approx((0.5 + 1.0 + (1 - 10**0.5 + 2.5)) / 4, rel=1e-5)
    with pytest.raises(ValueError, match="P x K"):
        batch_hard_triplet(f, torch.tensor([0, 1, 2, 2]))


def test_label_smoothing_ce_matches_smoothed_targets():
    z, y = torch.randn(3, 5), torch.tensor([0, 2, 4])
    target = torch.full((3, 5), 0.1 / 5) + 0.9 * F.one_hot(y, 5)
    assert label_smoothing_ce(z, y, 0.1).item() == pytest.approx((-target * F.log_softmax(z, 1)).sum(1).mean().item(), rel=1e-5)


def test_total_loss_weights_terms_as_in_eq7():
    torch.manual_seed(0)
    m = MultiBranchNet(3, width=0.25, feat_dim=8, csa=True)
    x, y = torch.randn(6, 3, 64, 32), torch.tensor([0, 0, 1, 1, 2, 2])
    body, student = m(x), m(x)
    teacher = [z + torch.randn_like(z) for z in student.logits]
    mask = torch.ones(6, 1, 64, 32)
    crit = DeSKProLoss(lam=7.0, alpha=0.7, tau=5.0)
    terms = crit(y, body=body, body_mask=mask, student=student, teacher_logits=teacher)
    assert set(terms) == {"ce_g", "trip_g", "att", "ce_s", "trip_s", "fkp"}
    assert terms["att"].item() == pytest.approx(7.0 * attention_loss(body.attention, mask).item(), rel=1e-5)
    assert terms["fkp"].item() == pytest.approx(0.7 * knowledge_propagation_loss(student.logits, teacher, 5.0).item(), rel=1e-5)
    ce_s = sum(label_smoothing_ce(z, y) for z in student.logits)
    assert terms["ce_s"].item() == pytest.approx(0.3 * ce_s.item(), rel=1e-5)
    assert crit(y, student=student)["ce_s"].item() == pytest.approx(ce_s.item(), rel=1e-5)
    with pytest.raises(ValueError, match="no CSA"):
        DeSKProLoss()(y, body=MultiBranchNet(3, width=0.25, feat_dim=8)(x), body_mask=mask)
    with pytest.raises(ValueError, match="alpha"):
        DeSKProLoss(alpha=1.5)
