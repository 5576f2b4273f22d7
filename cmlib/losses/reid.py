"""Re-ID losses of DeSKPro (Wu et al., ICASSP 2023), eq. (3)-(7), as functions and modules on tensors.

- :func:`cloth_irrelevant_mask` eq. (3) and :func:`attention_loss` eq. (4): L_att, the MSE between the CSA map
  Psi_hat and the cloth-irrelevant mask resized to h_f x w_f.
- :func:`knowledge_propagation_loss` eq. (5): L_fkp = tau^2 * sum_i KL(S(I_t_i, tau) || S(I_s_i, tau)).
- :func:`batch_hard_triplet` (Hermans et al. [17]) and :func:`label_smoothing_ce` for eq. (6).
- :class:`DeSKProLoss` eq. (7): L = lambda L_att + L_trip + (alpha L_fkp + (1 - alpha) L_ce^s) + L_ce^g.

Choices where the paper is silent, from the official code (KimbingNg/DeskPro):

- Triplet: batch-hard with a margin ranking loss, margin 0.7, Euclidean distance on pre-BNNeck features
  (``loss/triplet.py``, ``config_files/base.yaml: margin: 0.7``).
- CE: label smoothing with epsilon 0.1 (``if_labelsmooth: true``, ``CrossEntropyLabelSmooth``).
- KL: ``KLDivLoss(reduction='batchmean')`` on the softened logits, teacher detached (``loss/kd_loss.py``).
- L_att: mean over batch and grid (``nn.MSELoss()``); the mask is resized bilinearly (``cv2.resize`` default).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from cmlib.losses.terms import LossTerms

__all__ = [
    "DeSKProLoss",
    "attention_loss",
    "batch_hard_triplet",
    "cloth_irrelevant_mask",
    "knowledge_propagation_loss",
    "label_smoothing_ce",
]


def cloth_irrelevant_mask(parsing: torch.Tensor, cloth_labels: Sequence[int], epsilon: float = 0.1) -> torch.Tensor:
    """Eq. (3): epsilon where the parsing label is in the cloth set C, 1 elsewhere.

    Args:
        parsing: (B, H, W) integer parsing labels.
        cloth_labels: the set C of cloth-related label ids.
        epsilon: value on clothing pixels.

    Returns:
        (B, 1, H, W) float mask Psi_tilde.
    """
    cloth = torch.isin(parsing, torch.as_tensor(list(cloth_labels), device=parsing.device, dtype=parsing.dtype))
    mask = torch.where(cloth, torch.full_like(parsing, 0, dtype=torch.float32) + epsilon, 1.0)
    return mask.unsqueeze(1).float()


def attention_loss(psi_hat: torch.Tensor, psi_tilde: torch.Tensor) -> torch.Tensor:
    """Eq. (4): mean squared error between Psi_hat and Psi_tilde resized to Psi_hat's grid.

    Args:
        psi_hat: (B, 1, h_f, w_f) CSA attention map.
        psi_tilde: (B, 1, H, W) cloth-irrelevant mask at image (or mask-file) resolution.

    Returns:
        Scalar L_att (averaged over the batch too).
    """
    if psi_hat.shape[0] != psi_tilde.shape[0]:
        raise ValueError(f"attention_loss: batch sizes differ: Psi_hat {tuple(psi_hat.shape)}, mask {tuple(psi_tilde.shape)}")
    resized = F.interpolate(psi_tilde, size=psi_hat.shape[-2:], mode="bilinear", align_corners=False)
    return F.mse_loss(psi_hat, resized)


def knowledge_propagation_loss(
    student_logits: Sequence[torch.Tensor], teacher_logits: Sequence[torch.Tensor], tau: float
) -> torch.Tensor:
    """Eq. (5): tau^2 * sum over the logits i of KL(S(I_t_i / tau) || S(I_s_i / tau)), batch-mean KL.

    Args:
        student_logits: the set I^s, tensors (B, C).
        teacher_logits: the set I^t, same shapes; detached here (the teacher is fixed).
        tau: temperature.

    Returns:
        Scalar L_fkp.
    """
    if len(student_logits) != len(teacher_logits):
        raise ValueError(f"knowledge_propagation_loss: {len(student_logits)} student vs {len(teacher_logits)} teacher logits")
    total = student_logits[0].new_zeros(())
    for s, t in zip(student_logits, teacher_logits):
        log_p_s = F.log_softmax(s / tau, dim=1)
        p_t = F.softmax(t.detach() / tau, dim=1)
        total = total + F.kl_div(log_p_s, p_t, reduction="batchmean")
    return total * tau * tau


def batch_hard_triplet(features: torch.Tensor, labels: torch.Tensor, margin: float = 0.7) -> torch.Tensor:
    """Batch-hard triplet loss [17]: hardest positive and hardest negative per anchor, Euclidean distance.

    Args:
        features: (B, D).
        labels: (B,) identity ids; every anchor needs a positive and a negative in the batch.
        margin: ranking margin (0.7 in the official config).

    Returns:
        Scalar mean of max(0, d(a, p_hard) - d(a, n_hard) + margin).

    Raises:
        ValueError: if some anchor has no other image of its identity or no other identity in the batch.
    """
    dist = torch.cdist(features.float(), features.float()).clamp_min(1e-12)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    if not bool(((same & ~eye).any(1)).all()) or not bool((~same).any(1).all()):
        raise ValueError("batch_hard_triplet: every identity needs >= 2 images and the batch >= 2 identities (use a P x K sampler)")
    d_ap = dist.masked_fill(~same, float("-inf")).amax(1)
    d_an = dist.masked_fill(same, float("inf")).amin(1)
    return F.relu(d_ap - d_an + margin).mean()


def label_smoothing_ce(logits: torch.Tensor, labels: torch.Tensor, epsilon: float = 0.1) -> torch.Tensor:
    """Cross-entropy with uniform label smoothing: targets (1 - eps) one-hot + eps / C.

    Args:
        logits: (B, C).
        labels: (B,) in [0, C).

    Returns:
        Scalar loss.
    """
    return F.cross_entropy(logits, labels, label_smoothing=epsilon)


class DeSKProLoss(nn.Module):
    """Eq. (7) as named terms; any stream may be absent (the ablation models 1-7 of Table 3).

    Args:
        lam: lambda, weight of L_att.
        alpha: alpha, balances L_fkp and the student's CE.
        tau: temperature of L_fkp.
        margin: triplet margin.
        smoothing: CE label smoothing.
    """

    def __init__(self, lam: float = 7.0, alpha: float = 0.7, tau: float = 5.0, margin: float = 0.7, smoothing: float = 0.1):
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"DeSKProLoss: alpha must be in [0, 1], got {alpha}")
        if tau <= 0:
            raise ValueError(f"DeSKProLoss: tau must be > 0, got {tau}")
        self.lam, self.alpha, self.tau, self.margin, self.smoothing = lam, alpha, tau, margin, smoothing

    def stream_terms(self, logits: Sequence[torch.Tensor], features: Sequence[torch.Tensor], labels: torch.Tensor):
        """Eq. (6) for one stream: (sum of CE over I, sum of batch-hard triplet over R)."""
        ce = sum(label_smoothing_ce(z, labels, self.smoothing) for z in logits)
        trip = sum(batch_hard_triplet(f, labels, self.margin) for f in features)
        return ce, trip

    def forward(
        self,
        labels: torch.Tensor,
        body=None,
        body_mask: torch.Tensor | None = None,
        student=None,
        student_labels: torch.Tensor | None = None,
        teacher_logits: Sequence[torch.Tensor] | None = None,
    ) -> LossTerms:
        """Weighted terms of eq. (7).

        Args:
            labels: (B,) identities of the body batch.
            body: the global stream's MBNOutput, or None.
            body_mask: (B, 1, H, W) Psi_tilde; L_att is added when given (needs CSA).
            student: the face stream's MBNOutput (student, or a teacher being trained), or None.
            student_labels: identities of the face batch (defaults to ``labels``).
            teacher_logits: I^t for the same face batch; L_fkp is added when given.

        Returns:
            Named, already weighted scalar terms (the engine minimises their sum, ``.total()``).
        """
        terms = LossTerms()
        if body is not None:
            terms["ce_g"], terms["trip_g"] = self.stream_terms(body.logits, body.features, labels)
            if body_mask is not None:
                if body.attention is None:
                    raise ValueError("DeSKProLoss: a cloth mask was given but the global stream has no CSA module")
                terms["att"] = self.lam * attention_loss(body.attention, body_mask)
        if student is not None:
            y = labels if student_labels is None else student_labels
            ce_s, terms["trip_s"] = self.stream_terms(student.logits, student.features, y)
            if teacher_logits is not None:
                terms["fkp"] = self.alpha * knowledge_propagation_loss(student.logits, teacher_logits, self.tau)
                terms["ce_s"] = (1.0 - self.alpha) * ce_s
            else:
                terms["ce_s"] = ce_s
        if not terms:
            raise ValueError("DeSKProLoss: neither a body nor a face stream output was given")
        return terms
