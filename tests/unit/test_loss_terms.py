"""LossTerms: every loss with several terms returns a plain dict of the same terms, with .total() and .backward()."""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import unperturbed_only

from cmlib.losses import ClarelLoss, DeSKProLoss, LossTerms, WeakTagHashLoss, clarel_loss
from cmlib.models.deskpro import MultiBranchNet
from cmlib.protocol.engine import FitConfig, fit


def _engine_total(terms: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.stack([t.reshape(()) for t in terms.values()]).sum()  # cmlib.protocol.engine._train_step's sum


def _clarel_inputs() -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    v, t, li, lt = (torch.randn(6, 5, generator=g, requires_grad=True) for _ in range(4))
    return v, t, li, lt, torch.tensor([0, 1, 2, 3, 4, 0])


@pytest.fixture(scope="module")
def all_losses() -> dict[str, LossTerms]:
    torch.manual_seed(0)
    v, t, li, lt, y = _clarel_inputs()
    h, r, tc = torch.rand(5, 8), torch.randn(5, 4), torch.randn(5, 4)
    net = MultiBranchNet(3, width=0.25, feat_dim=8, csa=True)
    x, ids = torch.randn(4, 3, 64, 32), torch.tensor([0, 0, 1, 1])
    return {"clarel_loss": clarel_loss(v, t, li, lt, y, lam=0.3, kappa=0.4), "ClarelLoss": ClarelLoss()(v, t, li, lt, y),
            "WeakTagHashLoss": WeakTagHashLoss()(h, r, tc),
            "DeSKProLoss": DeSKProLoss()(ids, body=net(x), body_mask=torch.ones(4, 1, 64, 32), student=net(x))}


@pytest.mark.parametrize("name", ["clarel_loss", "ClarelLoss", "WeakTagHashLoss", "DeSKProLoss"])
def test_every_loss_returns_loss_terms_that_the_engine_sums_alike(all_losses: dict[str, LossTerms], name: str) -> None:
    terms = all_losses[name]
    assert type(terms) is LossTerms and isinstance(terms, dict)
    assert "loss" not in terms  # the engine adds "loss" itself; a key here would be summed twice
    assert torch.equal(terms.total(), _engine_total(terms))  # bit for bit
    assert terms.total().dim() == 0


def test_backward_backpropagates_the_total() -> None:
    v, t, li, lt, y = _clarel_inputs()
    ClarelLoss()(v, t, li, lt, y).backward()
    grads = [p.grad.clone() for p in (v, t, li, lt)]
    for p in (v, t, li, lt):
        p.grad = None
    sum(ClarelLoss()(v, t, li, lt, y).values()).backward()
    for got, want in zip(grads, (p.grad for p in (v, t, li, lt))):
        assert torch.allclose(got, want, atol=1e-7)
    with pytest.raises(ValueError, match="no loss term"):
        LossTerms().total()


@unperturbed_only
def test_fit_logs_the_same_total_for_loss_terms() -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    x, y = torch.randn(8, 4), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    start = copy.deepcopy(model)

    def loss_fn(m: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> LossTerms:
        out = m(batch[0])
        return LossTerms(ce=torch.nn.functional.cross_entropy(out, batch[1]), l2=0.1 * out.pow(2).mean())

    res = fit(model, torch.optim.SGD(model.parameters(), lr=0.1), loss_fn, lambda epoch: [(x, y)],
              FitConfig(max_steps=1, log_every=1))
    row = res.history[0]
    assert row["loss"] == float(loss_fn(start, (x, y)).total().detach())  # each term counted once, no "loss" key
    assert row["loss"] == pytest.approx(row["ce"] + row["l2"], rel=1e-6)
