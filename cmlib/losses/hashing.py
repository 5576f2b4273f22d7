"""Weakly-supervised hashing losses of WHCMT (Yang, Chu & Dubey), eqs. (2)-(4), following WDHT (Gattupalli et al., CVPR 2019).

- eq. (2) pairwise similarity loss L1: code distances match tag class-token cosine distances;
- eq. (3) hinge loss L2: the H2 output r_i is closer (by ``margin``) to its own tag token than to any other in the batch;
- eq. (4) quantization loss L3: codes (sigmoid outputs) are pushed away from 0.5.

L = lambda1 * L1 + lambda2 * L2 + lambda3 * L3 with (1, 10, 1) in the paper. The sums run over the mini-batch exactly as
written in the paper (no averaging); margin = 0.2 follows WDHT (the WHCMT paper does not state it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def pairwise_similarity_loss(h: Tensor, t_cls: Tensor) -> Tensor:
    """Eq. (2): L1 = sum_ij [ (1/b)||h_i - h_j||^2 - 1/2 (1 - cos(t_i, t_j)) ]^2.

    Args:
        h: Relaxed codes in [0, 1], shape (B, b).
        t_cls: Tag class tokens, shape (B, d).

    Returns:
        Scalar L1 (summed over all B x B pairs, i = j included as in the paper; those terms are zero).
    """
    b = h.shape[1]
    code_dist = (h.unsqueeze(1) - h.unsqueeze(0)).pow(2).sum(dim=2) / b  # (B, B), smooth at i = j
    t = F.normalize(t_cls, dim=1)
    tag_dist = 0.5 * (1.0 - t @ t.T)
    return (code_dist - tag_dist).pow(2).sum()


def hinge_loss(r: Tensor, t_cls: Tensor, margin: float = 0.2) -> Tensor:
    """Eq. (3): L2 = sum_i sum_{j != i} max(0, margin + t_j^T r_i - t_i^T r_i).

    Args:
        r: H2 outputs, shape (B, d).
        t_cls: Tag class tokens, shape (B, d).
        margin: Hinge margin (WDHT's 0.2).

    Returns:
        Scalar L2.
    """
    scores = r @ t_cls.T  # (B, B): scores[i, j] = t_j^T r_i
    pos = scores.diagonal().unsqueeze(1)
    off_diag = ~torch.eye(len(r), dtype=torch.bool, device=r.device)
    return torch.clamp(margin + scores - pos, min=0.0)[off_diag].sum()


def quantization_loss(h: Tensor) -> Tensor:
    """Eq. (4): L3 = - sum_i (1/b) ||h_i - 0.5 * 1||^2, shape (B, b) -> scalar."""
    return -((h - 0.5).pow(2).sum(dim=1) / h.shape[1]).sum()


class WeakTagHashLoss(nn.Module):
    """L = lambda1 L1 + lambda2 L2 + lambda3 L3 (Section 2.5) returning the weighted terms by name.

    Args:
        lambdas: (lambda1, lambda2, lambda3); the paper uses (1, 10, 1).
        margin: Hinge margin of eq. (3).
    """

    def __init__(self, lambdas: tuple[float, float, float] = (1.0, 10.0, 1.0), margin: float = 0.2) -> None:
        super().__init__()
        if len(lambdas) != 3:
            raise ValueError(f"WeakTagHashLoss: lambdas must have 3 entries (l1, l2, l3), got {lambdas}")
        self.lambdas = tuple(float(v) for v in lambdas)
        self.margin = float(margin)

    def forward(self, h: Tensor, r: Tensor, t_cls: Tensor) -> dict[str, Tensor]:
        """Weighted terms for codes h (B, b), H2 outputs r (B, d) and tag class tokens t_cls (B, d)."""
        l1, l2, l3 = self.lambdas
        return {
            "l1_pairwise": l1 * pairwise_similarity_loss(h, t_cls),
            "l2_hinge": l2 * hinge_loss(r, t_cls, self.margin),
            "l3_quant": l3 * quantization_loss(h),
        }
