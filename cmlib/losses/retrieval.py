"""CLAREL retrieval and classifier losses (Oreshkin et al., "CLAREL: Classification via retrieval loss for
zero-shot learning", CVPRW 2020), as functions over embeddings (never over models).

* Eq. (p): p(i=j | v_i, t_j, tau) = exp(-d(f(v_i), f(t_j))) / sum_{t_j' in tau} exp(-d(f(v_i), f(t_j'))),
  d the Euclidean distance, tau the texts of the batch.
* J_TR (text retrieval) = -1/B sum_{i,j} l_ij log p(i=j | v_i, t_j, {t_j'}): the cross-entropy of the row
  softmax over texts; J_IR (image retrieval) exchanges images and texts (column softmax over images).
* Total (Algorithm 1, missing from the text; official code boreshkinai/CLAREL train.py, as restated in issue 4):
  lambda (1 - kappa) J_TR + (1 - lambda)(1 - kappa) J_IR + kappa (CE_image + CE_text).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cmlib.losses.terms import LossTerms

__all__ = ["ClarelLoss", "clarel_loss", "euclidean_distances", "image_retrieval_loss", "text_retrieval_loss"]


def euclidean_distances(a: Tensor, b: Tensor, eps: float = 1e-12) -> Tensor:
    """Pairwise Euclidean distances d(a_i, b_j).

    Args:
        a: (N, D) embeddings.
        b: (M, D) embeddings.
        eps: clamp of the squared distance before the square root (finite gradient at d = 0).

    Returns:
        (N, M) distances.
    """
    sq = (a * a).sum(1, keepdim=True) - 2.0 * a @ b.T + (b * b).sum(1)[None, :]
    return sq.clamp_min(eps).sqrt()


def text_retrieval_loss(image_emb: Tensor, text_emb: Tensor) -> Tensor:
    """J_TR: for each image v_i retrieve its own text t_i among the batch's texts (softmax over -d, Eq. (p)).

    Args:
        image_emb: (B, D) f_phi(v_i).
        text_emb: (B, D) f_theta(t_i); row i describes image i.

    Returns:
        Scalar mean cross-entropy over the batch.
    """
    logits = -euclidean_distances(image_emb, text_emb)
    return F.cross_entropy(logits, torch.arange(len(image_emb), device=image_emb.device))


def image_retrieval_loss(image_emb: Tensor, text_emb: Tensor) -> Tensor:
    """J_IR: J_TR with images and texts exchanged (for each text, retrieve its image among the batch's images).

    Args:
        image_emb: (B, D).
        text_emb: (B, D).

    Returns:
        Scalar mean cross-entropy over the batch.
    """
    return text_retrieval_loss(text_emb, image_emb)


def clarel_loss(image_emb: Tensor, text_emb: Tensor, image_logits: Tensor, text_logits: Tensor, labels: Tensor,
                lam: float, kappa: float) -> LossTerms:
    """The composite CLAREL loss as named, already-weighted terms (their sum is minimised).

    Args:
        image_emb: (B, D) image embeddings.
        text_emb: (B, D) text embeddings (each the mean over the image's sampled sentences).
        image_logits: (B, C_seen) image classifier head output.
        text_logits: (B, C_seen) text classifier head output.
        labels: (B,) int64 seen-class index in [0, C_seen).
        lam: lambda in [0, 1], weight of J_TR against J_IR.
        kappa: kappa in [0, 1], weight of the classifier losses against the retrieval losses.

    Returns:
        LossTerms {"text_retrieval": lam (1-kappa) J_TR, "image_retrieval": (1-lam)(1-kappa) J_IR,
        "image_ce": kappa CE_image, "text_ce": kappa CE_text}; ``.total()`` is their sum, ``.backward()`` its gradient.

    Raises:
        ValueError: lam or kappa outside [0, 1].
    """
    for name, value in (("lambda", lam), ("kappa", kappa)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"clarel_loss: {name}={value} must be in [0, 1]")
    return LossTerms({
        "text_retrieval": lam * (1.0 - kappa) * text_retrieval_loss(image_emb, text_emb),
        "image_retrieval": (1.0 - lam) * (1.0 - kappa) * image_retrieval_loss(image_emb, text_emb),
        "image_ce": kappa * F.cross_entropy(image_logits, labels),
        "text_ce": kappa * F.cross_entropy(text_logits, labels),
    })


class ClarelLoss(nn.Module):
    """Module form of :func:`clarel_loss` holding lambda and kappa (open_clip style: a loss taking features)."""

    def __init__(self, lam: float = 0.5, kappa: float = 0.5) -> None:
        super().__init__()
        for name, value in (("lambda", lam), ("kappa", kappa)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"ClarelLoss: {name}={value} must be in [0, 1]")
        self.lam, self.kappa = lam, kappa

    def forward(self, image_emb: Tensor, text_emb: Tensor, image_logits: Tensor, text_logits: Tensor,
                labels: Tensor) -> LossTerms:
        """See :func:`clarel_loss`."""
        return clarel_loss(image_emb, text_emb, image_logits, text_logits, labels, self.lam, self.kappa)
