"""GRM-Net components: language encoder, language fusion, global reference mechanism, language-aware RPN.

Paper: Ling, Mo, Gao, "Multi-instance Referring Image Segmentation of Scene Sketches based on Global Reference
Mechanism", Pacific Graphics / Eurographics 2022. Sec. 2.2 (language model, RPN and RoI fusion steps), Sec. 2.3
(global reference mechanism, eq. 1 = the 5-d reference vector), Sec. 3.3.1 (the 3-d variant and the ablation).
Built on torchvision's detection components (RegionProposalNetwork, RoIAlign, NMS, losses), not rewritten.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import RegionProposalNetwork, concat_box_prediction_layers
from torchvision.ops import box_iou

__all__ = ["LanguageEncoder", "LanguageRPN", "TiledFusion", "absolute_position", "grm_vectors", "reference_indices",
           "relative_offsets", "scale_offsets"]


class LanguageEncoder(nn.Module):
    """Word embeddings + bidirectional LSTM (Sec. 2.2, 3.1: "bidirectional LSTM with a maximum time step of 15").

    The expression vector is the concatenation of the last forward and backward hidden states (the paper is silent
    on the pooling; this is the usual choice for a bidirectional encoder, e.g. MAttNet's RNN encoder).
    """

    def __init__(self, vocab_size: int, embed_dim: int = 256, hidden: int = 512) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.lstm = nn.LSTM(embed_dim, hidden, batch_first=True, bidirectional=True)
        self.out_dim = 2 * hidden

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """Encode padded token ids.

        Args:
            tokens: LongTensor (B, T), 0 = <pad>.
            lengths: LongTensor (B,); a length of 0 (empty expression) is read as one <pad> step.

        Returns:
            (B, 2 * hidden) expression vectors.
        """
        emb = self.embed(tokens)
        lengths = lengths.clamp(min=1, max=tokens.shape[1]).cpu()
        packed = pack_padded_sequence(emb, lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)
        return torch.cat([h[-2], h[-1]], dim=1)


class TiledFusion(nn.Module):
    """Tile a vector over a feature map, concatenate, project back with a 1x1 conv (Sec. 3.1 "Implementation").

    ``conv1x1(concat(x, tile(v)))`` is computed as ``W_x * x + (W_v v)[..., None, None]`` (the same linear map,
    without materialising the tiled channels). Initialised as the identity on ``x`` and zero on ``v`` so that a
    pre-trained detector is unchanged at the start of referring training (our choice; the paper is silent).
    """

    def __init__(self, channels: int, extra_dim: int) -> None:
        super().__init__()
        self.visual = nn.Conv2d(channels, channels, 1)
        self.extra = nn.Linear(extra_dim, channels, bias=False)
        with torch.no_grad():
            self.visual.weight.copy_(torch.eye(channels)[:, :, None, None])
            self.visual.bias.zero_()
            self.extra.weight.zero_()

    def forward(self, x: Tensor, v: Tensor) -> Tensor:
        """x: (N, C, H, W) features; v: (N, D) per-map vectors -> (N, C, H, W)."""
        return self.visual(x) + self.extra(v)[:, :, None, None]


def reference_indices(cand: Tensor, props: Tensor, scores: Tensor, k: int,
                      manner: Literal["consistency", "distance"],
                      self_exclusion: Literal["distance", "both"] = "distance") -> tuple[Tensor, Tensor]:
    """Pick K references among an image's RPN proposals for each candidate (Sec. 2.3).

    consistency: the top-K proposals after NMS by objectness (the paper's global references; the same for every
    candidate). distance: the K proposals whose centres are nearest to the candidate's centre, skipping proposals
    with IoU >= 0.5 with it (MAttNet's surrounding objects are other objects than the candidate; our reading).

    ``self_exclusion`` (issue 33, decided on validation: the study uses ``"both"``): ``"distance"`` (the earlier
    form) excludes the candidate and its near-duplicates (IoU >= 0.5) from the distance-based references only, so a
    consistency-based candidate can reference itself; ``"both"`` applies the same exclusion to the consistency-based
    references (the top-K by objectness among the proposals with IoU < 0.5 to the candidate, then per candidate).

    Args:
        cand: (N, 4) candidate boxes (x0, y0, x1, y1).
        props: (P, 4) RPN proposals after NMS; scores: (P,) their objectness probabilities.
        k: references per candidate.

    Returns:
        (idx (N, k) long into props, valid (N, k) bool); invalid slots (fewer than k proposals) have idx 0.
    """
    n, p = cand.shape[0], props.shape[0]
    idx = torch.zeros(n, k, dtype=torch.long, device=cand.device)
    valid = torch.zeros(n, k, dtype=torch.bool, device=cand.device)
    if k == 0 or p == 0 or n == 0:
        return idx, valid
    if manner == "consistency" and self_exclusion == "distance":
        top = torch.argsort(scores, descending=True, stable=True)[:k]
        idx[:, : len(top)] = top
        valid[:, : len(top)] = True
        return idx, valid
    # per candidate: a key to rank proposals by (smallest first), the candidate's near-duplicates ranked never
    if manner == "consistency":  # the same objectness ranking, the candidate's own near-duplicates left out
        key = (-scores)[None, :].expand(n, -1)
    else:
        key = torch.cdist(0.5 * (cand[:, :2] + cand[:, 2:]), 0.5 * (props[:, :2] + props[:, 2:]))
    key = key.masked_fill(box_iou(cand, props) >= 0.5, float("inf"))
    m = min(k, p)
    d, near = torch.topk(key, m, dim=1, largest=False)
    idx[:, :m] = near
    valid[:, :m] = torch.isfinite(d)
    return idx, valid


def scale_offsets(delta: Tensor, scaling: Literal["none", "log1p"]) -> Tensor:
    """Eq. (1)'s reference vectors as the network sees them: ``"none"`` as the paper writes them (offsets in units of
    the candidate's size, up to ~24 and an area ratio up to ~67 measured on ground-truth boxes, against absolute
    positions in [0, 1]); ``"log1p"``: sign(x) * log(1 + |x|), which keeps order and sign and brings them to the
    positions' range. The paper (like MAttNet) gives no scaling; issue 33 decides it on validation."""
    if scaling == "none":
        return delta
    if scaling == "log1p":
        return torch.sign(delta) * torch.log1p(delta.abs())
    raise ValueError(f"delta_scaling: 'none' or 'log1p', got {scaling!r}")


def relative_offsets(cand: Tensor, refs: Tensor, dim: Literal[5, 3] = 5) -> Tensor:
    """Reference information delta_ij (eq. 1 for dim=5; the 3-d centre-offset variant of Sec. 3.3.1 for dim=3).

    delta^(5)_ij = [dx_tl / w_i, dy_tl / h_i, dx_br / w_i, dy_br / h_i, w_j h_j / (w_i h_i)], with d* = ref_j - cand_i.
    delta^(3)_ij = [dx_center / w_i, dy_center / h_i, w_j h_j / (w_i h_i)].

    Args:
        cand: (N, 4) candidate boxes; refs: (N, K, 4) their references.

    Returns:
        (N, K, dim).
    """
    w = (cand[:, 2] - cand[:, 0]).clamp(min=1.0)[:, None]
    h = (cand[:, 3] - cand[:, 1]).clamp(min=1.0)[:, None]
    wj = (refs[..., 2] - refs[..., 0]).clamp(min=0.0)
    hj = (refs[..., 3] - refs[..., 1]).clamp(min=0.0)
    area = wj * hj / (w * h)
    if dim == 5:
        d = refs - cand[:, None, :]
        return torch.stack([d[..., 0] / w, d[..., 1] / h, d[..., 2] / w, d[..., 3] / h, area], dim=-1)
    if dim == 3:
        dc = 0.5 * (refs[..., :2] + refs[..., 2:]) - 0.5 * (cand[:, None, :2] + cand[:, None, 2:])
        return torch.stack([dc[..., 0] / w, dc[..., 1] / h, area], dim=-1)
    raise ValueError(f"GRM reference dimension must be 5 or 3, got {dim}")


def absolute_position(cand: Tensor, image_size: tuple[int, int]) -> Tensor:
    """Absolute RoI position, MAttNet's 5-d [x_tl/W, y_tl/H, x_br/W, y_br/H, wh/(WH)].

    The paper writes [x_tl/M, y_tl/M, x_br/M, hw/HW] (4 terms, "M" undefined); the issue asks for MAttNet's 5-d form.

    Args:
        cand: (N, 4); image_size: (H, W) of the (resized) input image.

    Returns:
        (N, 5).
    """
    hgt, wid = float(image_size[0]), float(image_size[1])
    w = cand[:, 2] - cand[:, 0]
    h = cand[:, 3] - cand[:, 1]
    return torch.stack([cand[:, 0] / wid, cand[:, 1] / hgt, cand[:, 2] / wid, cand[:, 3] / hgt,
                        w * h / (wid * hgt)], dim=1)


def grm_vectors(cand: Tensor, props: Tensor, scores: Tensor, image_size: tuple[int, int], *, k: int,
                manner: Literal["consistency", "distance"], dim: Literal[5, 3], use_position: bool,
                scaling: Literal["none", "log1p"] = "none",
                self_exclusion: Literal["distance", "both"] = "distance") -> Tensor:
    """Per-candidate GRM input: K reference vectors (concatenated, ordered by rank; :func:`scale_offsets`) and the
    absolute position.

    Returns:
        (N, k * dim + 5 * use_position); missing references are zero.
    """
    idx, valid = reference_indices(cand, props, scores, k, manner, self_exclusion)
    parts = []
    if k > 0:
        refs = props[idx] if props.shape[0] else cand[:, None, :].expand(-1, k, -1)
        delta = scale_offsets(relative_offsets(cand, refs, dim), scaling) * valid[..., None]
        parts.append(delta.flatten(1))
    if use_position:
        parts.append(absolute_position(cand, image_size))
    if not parts:
        return cand.new_zeros(cand.shape[0], 0)
    return torch.cat(parts, dim=1)


class LanguageRPN(RegionProposalNetwork):
    """RPN Fusion Step (Sec. 2.2): objectness over language-fused features means "an object the expression refers to".

    The expression vector is tiled over every pyramid level and fused (:class:`TiledFusion`) before torchvision's RPN
    head; with ``text=None`` it is torchvision's RPN. Returns the post-NMS proposals *and* their objectness
    probabilities, which the GRM ranks (Sec. 2.3).
    """

    def __init__(self, *args, fusion: TiledFusion | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fusion = fusion

    def forward(self, images: ImageList, features: dict[str, Tensor], text: Tensor | None = None,
                targets: list[dict[str, Tensor]] | None = None
                ) -> tuple[list[Tensor], list[Tensor], dict[str, Tensor]]:
        """Proposals for each image.

        Args:
            images: the batch; features: pyramid {name: (B, C, H, W)}; text: (B, D) expression vectors or None.
            targets: referred instances (training only).

        Returns:
            (boxes [(P_b, 4)], objectness probabilities [(P_b,)], losses).
        """
        feats = list(features.values())
        if text is not None and self.fusion is not None:
            feats = [self.fusion(f, text) for f in feats]
        objectness, deltas = self.head(feats)
        anchors = self.anchor_generator(images, feats)
        num_per_level = [o[0].numel() for o in objectness]
        objectness, deltas = concat_box_prediction_layers(objectness, deltas)
        proposals = self.box_coder.decode(deltas.detach(), anchors).view(len(anchors), -1, 4)
        boxes, scores = self.filter_proposals(proposals, objectness, images.image_sizes, num_per_level)
        losses: dict[str, Tensor] = {}
        if self.training:
            if targets is None:
                raise ValueError("LanguageRPN: targets are required in training mode")
            labels, matched = self.assign_targets_to_anchors(anchors, targets)
            reg_targets = self.box_coder.encode(matched, anchors)
            loss_obj, loss_box = self.compute_loss(objectness, deltas, labels, reg_targets)
            losses = {"loss_objectness": loss_obj, "loss_rpn_box_reg": loss_box}
        return boxes, scores, losses
