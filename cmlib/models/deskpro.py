"""DeSKPro: Identity-Sensitive Knowledge Propagation for Cloth-Changing Person Re-ID (Wu et al., ICASSP 2023).

Architecture of Sec. 2 / Fig. 2:

- truncated OSNet stem (``conv1 .. conv3[0]``) giving F of size h_f x w_f x c_f;
- Cloth-irrelevant Spatial Attention (CSA), eq. (1) Psi_hat = sigmoid(W_pw * F + b) and eq. (2) F_att = F (x) Psi_hat;
- the Multi-Branch Network (MBN) of LightMBN [4]: a global, a part and a channel branch giving seven embeddings
  whose logits form the set I and whose training features form the set R (Sec. 2.1, "following [4]");
- the same OSNet + MBN network serves as the face teacher phi_t (restored face) and the face student phi_s
  (low-resolution face crop), Sec. 2.2.

Choices where the paper is silent, taken from the official code (KimbingNg/DeskPro, which builds on LightMBN):

- R holds the three *pre-BNNeck* features LightMBN feeds to the triplet loss (global avg, global drop-block max,
  part-branch max) and I the seven BNNeck logits (``branches.py``: ``bnneck_return(..., fea_indices)``); the seven
  *post-BNNeck* embeddings are the inference descriptor ("before the last fully connected layer", Sec. 2.3).
- Each branch deep-copies ``conv3[1:]``, ``conv4``, ``conv5``; the global branch adds an OSBlock and a
  Top-DropBlock (drop the 1/3 of rows with the highest activation, training only; LightMBN ``attention.py``);
  the part branch pools 2 horizontal stripes; the channel branch splits the channels into two halves and shares
  a 1x1 reduction (``branches.py``).
- Inference (``main.py``): flip-averaged embeddings, each 512-d embedding L2-normalised, concatenated; the face
  part of an image with no face crop is zero, so its similarity comes from the global stream alone.
- CSA: the paper's eq. (1) is one point-wise convolution with a bias, and that is what is built here (the
  official ``cbam.SpatialAttention(kernel_size=1)`` stacks two bias-free 1x1 convolutions with a ReLU).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from cmlib.models.osnet import OSBlock, load_osnet_weights, osnet

__all__ = [
    "CSA",
    "BNNeck",
    "BatchDropTop",
    "ChannelBranch",
    "GlobalBranch",
    "MBNOutput",
    "MultiBranchNet",
    "PartBranch",
    "flip_averaged_embedding",
    "two_stream_descriptor",
]


class CSA(nn.Module):
    """Cloth-irrelevant Spatial Attention, eq. (1)-(2).

    Args:
        channels: c_f, the channels of F.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.pw = nn.Conv2d(channels, 1, kernel_size=1, bias=True)

    def forward(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """F (B, c_f, h_f, w_f) -> (F_att (B, c_f, h_f, w_f), Psi_hat (B, 1, h_f, w_f))."""
        psi_hat = torch.sigmoid(self.pw(feat))  # eq. (1)
        return feat * psi_hat, psi_hat  # eq. (2), broadcast Hadamard product over channels


class BNNeck(nn.Module):
    """Optional 1x1 reduction, BatchNorm1d with a frozen bias, bias-free classifier (LightMBN ``BNNeck3``).

    Args:
        cin: input channels of the pooled (B, cin, 1, 1) map.
        num_classes: identities of the training set.
        feat_dim: embedding size after the reduction (None: no reduction, as in LightMBN ``BNNeck``).
    """

    def __init__(self, cin: int, num_classes: int, feat_dim: int | None = None) -> None:
        super().__init__()
        dim = cin if feat_dim is None else feat_dim
        self.reduction = nn.Conv2d(cin, dim, 1, bias=False) if feat_dim is not None else nn.Identity()
        if feat_dim is not None:
            nn.init.kaiming_normal_(self.reduction.weight, mode="fan_in")
        self.bn = nn.BatchNorm1d(dim)
        self.bn.bias.requires_grad_(False)
        self.classifier = nn.Linear(dim, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)

    def forward(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, cin, 1, 1) -> (after_neck (B, D), logits (B, num_classes), before_neck (B, D))."""
        before = self.reduction(pooled).flatten(1)
        after = self.bn(before)
        return after, self.classifier(after), before


class BatchDropTop(nn.Module):
    """Top-DropBlock: zero the ``round(h_ratio * H)`` rows with the highest activation (training only).

    Deterministic (no random draw): rows ranked by the row-max of the L2-normalised channel energy.
    """

    def __init__(self, h_ratio: float = 0.33) -> None:
        super().__init__()
        self.h_ratio = h_ratio

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> same shape."""
        if not self.training:
            return x
        b, _, h, w = x.shape
        rh = round(self.h_ratio * h)
        if rh == 0:
            return x
        act = F.normalize(x.pow(2).sum(1).reshape(b, h * w), p=2, dim=1).reshape(b, h, w)
        top = act.amax(dim=2).argsort(dim=1, stable=True)[:, -rh:]
        keep = torch.ones(b, h, device=x.device, dtype=x.dtype).scatter_(1, top, 0.0)
        return x * keep[:, None, :, None]


class _Branch(nn.Module):
    def __init__(self, trunk: nn.Module) -> None:
        super().__init__()
        self.trunk = copy.deepcopy(trunk)


class GlobalBranch(_Branch):
    """Global branch: trunk -> OSBlock -> avg-pooled and Top-DropBlock max-pooled embeddings (2 of 7)."""

    def __init__(self, trunk: nn.Module, channels: int, num_classes: int, feat_dim: int) -> None:
        super().__init__(trunk)
        self.bottleneck = OSBlock(channels, channels)
        self.drop = BatchDropTop(0.33)
        self.neck_avg = BNNeck(channels, num_classes, feat_dim)
        self.neck_drop = BNNeck(channels, num_classes, feat_dim)

    def forward(self, x: torch.Tensor) -> tuple[list, list]:
        f = self.bottleneck(self.trunk(x))
        g = self.neck_avg(F.adaptive_avg_pool2d(f, 1))
        d = self.neck_drop(F.adaptive_max_pool2d(self.drop(f), 1))
        return [g, d], [g[2], d[2]]


class PartBranch(_Branch):
    """Part branch: max-pooled whole map plus two horizontal stripes (3 of 7)."""

    def __init__(self, trunk: nn.Module, channels: int, num_classes: int, feat_dim: int) -> None:
        super().__init__(trunk)
        self.necks = nn.ModuleList(BNNeck(channels, num_classes, feat_dim) for _ in range(3))

    def forward(self, x: torch.Tensor) -> tuple[list, list]:
        f = self.trunk(x)
        stripes = F.adaptive_avg_pool2d(f, (2, 1))
        pooled = [F.adaptive_max_pool2d(f, 1), stripes[:, :, 0:1], stripes[:, :, 1:2]]
        outs = [neck(p) for neck, p in zip(self.necks, pooled)]
        return outs, [outs[0][2]]


class ChannelBranch(_Branch):
    """Channel branch: the pooled channels split in two halves, a shared 1x1 reduction (2 of 7)."""

    def __init__(self, trunk: nn.Module, channels: int, num_classes: int, feat_dim: int) -> None:
        super().__init__(trunk)
        self.half = channels // 2
        self.shared = nn.Sequential(nn.Conv2d(self.half, feat_dim, 1, bias=False), nn.BatchNorm2d(feat_dim), nn.ReLU())
        nn.init.kaiming_normal_(self.shared[0].weight, mode="fan_in")
        self.necks = nn.ModuleList(BNNeck(feat_dim, num_classes) for _ in range(2))

    def forward(self, x: torch.Tensor) -> tuple[list, list]:
        f = F.adaptive_avg_pool2d(self.trunk(x), 1)
        halves = [f[:, : self.half], f[:, self.half : 2 * self.half]]
        outs = [neck(self.shared(h)) for neck, h in zip(self.necks, halves)]
        return outs, []


@dataclass
class MBNOutput:
    """What a multi-branch network returns.

    Attributes:
        logits: the set I, 7 tensors (B, num_classes).
        features: the set R, 3 pre-BNNeck tensors (B, feat_dim) for the triplet loss.
        embeddings: (B, feat_dim, 7) post-BNNeck inference embeddings.
        attention: Psi_hat (B, 1, h_f, w_f) when CSA is on, else None.
        feature_map: F (B, c_f, h_f, w_f), the stem output before attention.
    """

    logits: list[torch.Tensor]
    features: list[torch.Tensor]
    embeddings: torch.Tensor
    attention: torch.Tensor | None
    feature_map: torch.Tensor


class MultiBranchNet(nn.Module):
    """Truncated OSNet + optional CSA + LightMBN heads: the global stream G (/+CSA) and the face teacher/student.

    Args:
        num_classes: training identities.
        width: OSNet width multiplier (1.0 in the paper).
        feat_dim: embedding size (512 in the paper).
        csa: insert the CSA module after the stem (models 2, 3, DeSKPro).
        pretrained: optional local OSNet ImageNet state dict (torchreid format); never downloaded.
    """

    def __init__(
        self,
        num_classes: int,
        width: float = 1.0,
        feat_dim: int = 512,
        csa: bool = False,
        pretrained: str | None = None,
    ) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"MultiBranchNet needs num_classes >= 2, got {num_classes}")
        net = osnet(width)
        if pretrained:
            load_osnet_weights(net, pretrained)
        c_f, c_out = net.channels[2], net.channels[3]
        self.stem = net.stem()
        self.csa = CSA(c_f) if csa else None
        trunk = net.trunk()
        self.branches = nn.ModuleList(
            [
                GlobalBranch(trunk, c_out, num_classes, feat_dim),
                PartBranch(trunk, c_out, num_classes, feat_dim),
                ChannelBranch(trunk, c_out, num_classes, feat_dim),
            ]
        )
        self.feat_dim = feat_dim

    def attend(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Stem and CSA: (B, 3, H, W) -> (F, F_att, Psi_hat or None); F_att is F when CSA is off."""
        feat = self.stem(x)
        if self.csa is None:
            return feat, feat, None
        refined, psi_hat = self.csa(feat)
        return feat, refined, psi_hat

    def forward(self, x: torch.Tensor) -> MBNOutput:
        """(B, 3, H, W) -> :class:`MBNOutput`."""
        feat, refined, psi_hat = self.attend(x)
        necks, features = [], []
        for branch in self.branches:
            outs, feats = branch(refined)
            necks.extend(outs)
            features.extend(feats)
        embeddings = torch.stack([n[0] for n in necks], dim=2)
        return MBNOutput([n[1] for n in necks], features, embeddings, psi_hat, feat)


@torch.no_grad()
def flip_averaged_embedding(model: MultiBranchNet, images: torch.Tensor) -> torch.Tensor:
    """Inference descriptor of one stream (official ``extract_feature``).

    Args:
        model: a stream in eval mode.
        images: (B, 3, H, W).

    Returns:
        (B, 7 * feat_dim): embeddings of the image and its mirror summed, each of the 7 L2-normalised.
    """
    emb = model(images).embeddings + model(images.flip(3)).embeddings
    emb = F.normalize(emb, p=2, dim=1)
    return emb.transpose(1, 2).reshape(emb.shape[0], -1)


def two_stream_descriptor(body: torch.Tensor, face: torch.Tensor, has_face: torch.Tensor) -> torch.Tensor:
    """Concatenate global and face descriptors; a missing face contributes zeros (Sec. 2.3, "Inference").

    With zeros in its face part, a query's cosine score against any gallery image is its global-stream score.

    Args:
        body: (N, Db) global-stream descriptors.
        face: (N, Df) face-stream descriptors.
        has_face: (N,) bool.

    Returns:
        (N, Db + Df).
    """
    return torch.cat([body, face * has_face[:, None].to(face.dtype)], dim=1)
