"""Weakly-supervised hashing losses of WHCMT (Yang, Chu & Dubey), eqs. (2)-(4), following WDHT (Gattupalli et al., CVPR 2019).

- eq. (2) pairwise similarity loss L1: code distances match tag class-token cosine distances;
- eq. (3) hinge loss L2: the H2 output r_i is closer (by ``margin``) to its own tag token than to any other in the batch;
- eq. (4) quantization loss L3: codes (sigmoid outputs) are pushed away from 0.5.

L = lambda1 * L1 + lambda2 * L2 + lambda3 * L3 with (1, 10, 1) in the paper; margin = 0.2 follows WDHT (the WHCMT paper
does not state it).

Reduction over the mini-batch: the paper writes plain sums. ``reduction="sum"`` is that literal reading;
``reduction="mean"`` divides each sum by its number of terms (B^2 pairs for L1, B(B-1) pairs for L2, B images for L3),
which is what WDHT's official Keras code does (Vijetha1/WDHT ``customLossFunctions.py``: per-sample losses that Keras
averages over the batch; WHCMT says it "primarily follows" WDHT). The two differ by more than a scale: with sums L3
has B times fewer terms than L1/L2, so lambda3 barely matters, whereas the paper's Table 3 finds lambda3 decisive.

Gradient into the tag class token (``detach_targets``, default True: our choice, the paper is silent). In WDHT the tag
representation is a fixed mean of word vectors, so eqs. (2)-(3) only move the image side. In WHCMT t_cls comes out of a
tag transformer trained from scratch (Section 3.1), and if L1/L2 may move t_cls the losses have a trivial minimum:
while r_i does not yet depend on the image (random backbone, the first steps), the hinge
sum_i sum_j max(0, m + (t_j - t_i)^T r) is minimal (2m per pair) as soon as every |(t_i - t_j)^T r| <= m, so its
gradient squeezes all t_cls together; with equal t_cls the targets of eq. (2) are constant and identical codes
satisfy L1 (measured on the study world: mean cosine of t_cls 0.51 at init -> 0.92 after 200 steps, L2 alone 0.99
after 40 steps; every code bit constant, MAP at chance). We therefore treat t_cls as the *target* of L1 and L2
(stop-gradient, as the fixed word vectors are in WDHT); the tag transformer is still trained, end to end, through
its tokens in the cross-modal attention that feeds h and r. ``detach_targets=False`` is the joint gradient.
Measured after the fix (study world, 200 steps): t_cls cosine 0.50 +- 0.24 (not collapsed), code bits no longer
constant; but a from-scratch tag transformer's t_cls separates label-sharing pairs little better than chance (pair
AUC 0.52 against 0.58 for WDHT's mean word vector), and none of the losses makes it more semantic (on the 64 px study
world: 0.50 at init against 0.534; see ``cmlib.models.whcmt`` for what this and the train/retrieval tag mismatch cost).
Eq. (3) uses raw dot products as written (t_cls is the tag transformer's LayerNorm output, norm ~sqrt(d)); the paper
normalises t_cls only inside eq. (2)'s cosine.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cmlib.losses.terms import LossTerms

__all__ = ["WeakTagHashLoss", "hinge_loss", "pairwise_similarity_loss", "quantization_loss"]


def _reduce(terms: Tensor, reduction: str) -> Tensor:
    if reduction == "sum":
        return terms.sum()
    if reduction == "mean":
        return terms.mean()
    raise ValueError(f"reduction: expected 'sum' or 'mean', got {reduction!r}")


def pairwise_similarity_loss(h: Tensor, t_cls: Tensor, reduction: str = "sum") -> Tensor:
    """Eq. (2): L1 = sum_ij [ (1/b)||h_i - h_j||^2 - 1/2 (1 - cos(t_i, t_j)) ]^2.

    Args:
        h: Relaxed codes in [0, 1], shape (B, b).
        t_cls: Tag class tokens, shape (B, d).
        reduction: ``"sum"`` (the paper's formula) or ``"mean"`` over the B x B pairs (WDHT's code).

    Returns:
        Scalar L1 over all B x B pairs (i = j included as in the paper; those terms are zero).
    """
    b = h.shape[1]
    code_dist = (h.unsqueeze(1) - h.unsqueeze(0)).pow(2).sum(dim=2) / b  # (B, B), smooth at i = j
    t = F.normalize(t_cls, dim=1)
    tag_dist = 0.5 * (1.0 - t @ t.T)
    return _reduce((code_dist - tag_dist).pow(2), reduction)


def hinge_loss(r: Tensor, t_cls: Tensor, margin: float = 0.2, reduction: str = "sum") -> Tensor:
    """Eq. (3): L2 = sum_i sum_{j != i} max(0, margin + t_j^T r_i - t_i^T r_i).

    Args:
        r: H2 outputs, shape (B, d).
        t_cls: Tag class tokens, shape (B, d).
        margin: Hinge margin (WDHT's 0.2).
        reduction: ``"sum"`` (the paper) or ``"mean"`` over the B(B-1) pairs (WDHT's code).

    Returns:
        Scalar L2.
    """
    scores = r @ t_cls.T  # (B, B): scores[i, j] = t_j^T r_i
    pos = scores.diagonal().unsqueeze(1)
    off_diag = ~torch.eye(len(r), dtype=torch.bool, device=r.device)
    return _reduce(torch.clamp(margin + scores - pos, min=0.0)[off_diag], reduction)


def quantization_loss(h: Tensor, reduction: str = "sum") -> Tensor:
    """Eq. (4): L3 = - sum_i (1/b) ||h_i - 0.5 * 1||^2, shape (B, b) -> scalar (``"mean"``: over the B images)."""
    return _reduce(-(h - 0.5).pow(2).sum(dim=1) / h.shape[1], reduction)


class WeakTagHashLoss(nn.Module):
    """L = lambda1 L1 + lambda2 L2 + lambda3 L3 (Section 2.5) returning the weighted terms by name.

    Args:
        lambdas: (lambda1, lambda2, lambda3); the paper uses (1, 10, 1).
        margin: Hinge margin of eq. (3).
        reduction: ``"sum"`` (the paper's formulas) or ``"mean"`` (WDHT's code); see the module docstring.
        detach_targets: No gradient from L1 / L2 into t_cls (default; see the module docstring).
    """

    def __init__(self, lambdas: tuple[float, float, float] = (1.0, 10.0, 1.0), margin: float = 0.2,
                 reduction: str = "mean", detach_targets: bool = True) -> None:
        super().__init__()
        if len(lambdas) != 3:
            raise ValueError(f"WeakTagHashLoss: lambdas must have 3 entries (l1, l2, l3), got {lambdas}")
        self.lambdas = tuple(float(v) for v in lambdas)
        self.margin = float(margin)
        if reduction not in ("sum", "mean"):
            raise ValueError(f"WeakTagHashLoss: reduction must be 'sum' or 'mean', got {reduction!r}")
        self.reduction = reduction
        self.detach_targets = bool(detach_targets)

    def forward(self, h: Tensor, r: Tensor, t_cls: Tensor) -> LossTerms:
        """Weighted terms (``.total()`` = L) of codes h (B, b), H2 outputs r (B, d), tag tokens t_cls (B, d)."""
        l1, l2, l3 = self.lambdas
        if self.detach_targets:
            t_cls = t_cls.detach()
        return LossTerms({
            "l1_pairwise": l1 * pairwise_similarity_loss(h, t_cls, self.reduction),
            "l2_hinge": l2 * hinge_loss(r, t_cls, self.margin, self.reduction),
            "l3_quant": l3 * quantization_loss(h, self.reduction),
        })
