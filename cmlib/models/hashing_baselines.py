"""Baselines of WHCMT (Yang, Chu & Dubey) Tables 2 and 4.

Unsupervised (fit on database features, Table 2):
- LSH (Charikar, STOC 2002): signs of random Gaussian projections of centred features.
- ITQ (Gong et al., TPAMI 2013): PCA to b dims, then 50 iterations of the orthogonal Procrustes rotation.
- SH (Weiss et al., NIPS 2008): PCA, then the b smallest-eigenvalue 1-D Laplacian eigenfunctions of a uniform box
  sin(pi/2 + k pi x / (max - min)), thresholded at 0.

Weakly supervised (Table 2 and Table 4): WDHT (Gattupalli et al., CVPR 2019) = backbone -> FC1, FC2 -> H1 (code),
H2 (r) trained with the same three losses as WHCMT (``cmlib.losses.hashing``), where the tag representation is the
mean of the image's (frozen) tag word vectors (WDHT's tag embedding), with no tag transformer and no cross-modal
attention. Backbones: ``cnn`` (torchvision AlexNet for the paper profile, a small AlexNet-like CNN of the same shape
family on CPU), ``vit`` (timm ``VisionTransformer``) and ``crossvit`` (the exact visual encoder of WHCMT).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torchvision
from timm.models.vision_transformer import VisionTransformer
from torch import Tensor, nn

from cmlib.models.weights import check_backbone_weights, timm_model
from cmlib.models.whcmt import (
    ONES_ID,
    CrossVitConfig,
    CrossViTEncoder,
    HashHead,
    WeakHashModel,
    check_weights_file,
    load_state_file,
    mean_tag_vector,
    warn_random_init,
)
from cmlib.protocol.config import path_field

__all__ = ["ITQ", "LSH", "SH", "UNSUPERVISED", "WDHT", "AlexNetFc7", "CrossViTFeatures", "SmallAlexNet", "ViTConfig",
           "ViTFeatures", "check_vit_weights", "mean_tag_vector"]


def _pca(x: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    if bits > x.shape[1]:
        raise ValueError(f"unsupervised hashing: {bits} bits need at least {bits} feature dims, got {x.shape[1]}")
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    return mean, vt[:bits].T


@dataclass
class LSH:
    """Random-hyperplane LSH; ``fit`` stores the mean and a Gaussian projection (D, b) drawn from ``seed``."""

    bits: int
    seed: int = 0
    mean: np.ndarray | None = None
    proj: np.ndarray | None = None

    def fit(self, x: np.ndarray) -> LSH:
        """Fit on features (N, D)."""
        self.mean = x.mean(axis=0)
        self.proj = np.random.default_rng(self.seed).standard_normal((x.shape[1], self.bits))
        return self

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Features (N, D) -> bool codes (N, b)."""
        return (x - self.mean) @ self.proj > 0


@dataclass
class ITQ:
    """Iterative quantization: PCA to b dims, rotation R minimising ||B - V R||_F (Gong et al., Alg. 1)."""

    bits: int
    seed: int = 0
    n_iter: int = 50
    mean: np.ndarray | None = None
    proj: np.ndarray | None = None

    def fit(self, x: np.ndarray) -> ITQ:
        """Fit on features (N, D)."""
        self.mean, pca = _pca(x, self.bits)
        v = (x - self.mean) @ pca
        r, _ = np.linalg.qr(np.random.default_rng(self.seed).standard_normal((self.bits, self.bits)))
        for _ in range(self.n_iter):
            b = np.sign(v @ r)
            b[b == 0] = 1
            u, _, wt = np.linalg.svd(b.T @ v)
            r = (u @ wt).T
        self.proj = pca @ r
        return self

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Features (N, D) -> bool codes (N, b)."""
        return (x - self.mean) @ self.proj > 0


@dataclass
class SH:
    """Spectral hashing with the analytical eigenfunctions of a uniform distribution on the PCA box."""

    bits: int
    mean: np.ndarray | None = None
    pca: np.ndarray | None = None
    lo: np.ndarray | None = None
    span: np.ndarray | None = None
    modes: list[tuple[int, int]] = field(default_factory=list)

    def fit(self, x: np.ndarray) -> SH:
        """Fit on features (N, D): keep the b (dim, frequency) modes with the smallest eigenvalues (k / span)^2."""
        self.mean, self.pca = _pca(x, min(self.bits, x.shape[1]))
        v = (x - self.mean) @ self.pca
        self.lo, self.span = v.min(axis=0), np.maximum(v.max(axis=0) - v.min(axis=0), 1e-12)
        cand = [((k / self.span[d]) ** 2, d, k) for d in range(v.shape[1]) for k in range(1, self.bits + 1)]
        self.modes = [(d, k) for _, d, k in sorted(cand)[: self.bits]]
        return self

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Features (N, D) -> bool codes (N, b)."""
        v = (x - self.mean) @ self.pca - self.lo
        cols = [np.sin(np.pi / 2 + k * np.pi * v[:, d] / self.span[d]) for d, k in self.modes]
        return np.stack(cols, axis=1) > 0


UNSUPERVISED = {"LSH": LSH, "ITQ": ITQ, "SH": SH}


class SmallAlexNet(nn.Module):
    """An AlexNet-shaped CNN (5 convs, ReLU, max-pools, two FC layers) for small CPU images.

    The first conv is strided like AlexNet's (stride 4 at 224 px): stride ``max(1, img_size // 32)``, so a 64 px image
    costs what a 32 px one does (measured 0.32 s/step at 64 px with stride 1, batch 50, one thread: three times a
    CrossViT step, which made the CNN baseline the study's bottleneck).

    Args:
        img_size: Input side (>= 16).
        width: Channels of the first conv; later convs use 2x, 4x, 4x, 2x that.
        out_dim: Output (fc7-like) width.
    """

    def __init__(self, img_size: int, width: int = 32, out_dim: int = 256) -> None:
        super().__init__()
        w = width
        self.stride = max(1, img_size // 32)
        self.features = nn.Sequential(
            nn.Conv2d(3, w, 5, stride=self.stride, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(4 * w, 4 * w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(4 * w, 2 * w, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2))
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(8 * w, out_dim), nn.ReLU(), nn.Linear(out_dim, out_dim),
                                nn.ReLU())
        self.out_dim = out_dim

    def forward(self, images: Tensor) -> Tensor:
        """Images (B, 3, H, W) -> features (B, out_dim)."""
        return self.fc(self.features(images))


class AlexNetFc7(nn.Module):
    """torchvision AlexNet up to fc7 (4096-d), weights from a local file (WDHT's backbone, paper profile)."""

    def __init__(self, weights_file: str | Path | None) -> None:
        super().__init__()
        net = torchvision.models.alexnet(weights=None)
        weights = check_weights_file("cnn_weights", weights_file, "a torchvision alexnet state_dict")
        if weights is None:
            warn_random_init("cnn_weights", "alexnet")
        else:
            load_state_file(net, "cnn_weights", weights)
        self.net = net
        self.out_dim = 4096

    def forward(self, images: Tensor) -> Tensor:
        """Images (B, 3, H, W) -> fc7 features (B, 4096)."""
        x = torch.flatten(self.net.avgpool(self.net.features(images)), 1)
        return self.net.classifier[:-1](x)


@dataclass
class ViTConfig:
    """timm ViT backbone for WDHT (ViT): ``variant="custom"`` builds ``VisionTransformer`` from the fields below.

    ``weights_file`` (checked to exist when params are loaded): a local timm checkpoint of a registered variant, or a
    ``torch.save``d state_dict of the custom model; None = random init (a warning for a registered variant).
    ``img_size`` applies to a registered variant too (timm resamples a checkpoint's position embedding to it).
    """

    variant: str = "custom"
    weights_file: Path | None = path_field(layout="a local timm checkpoint of the ViT variant (.pth/.safetensors)")
    img_size: int = 32
    patch_size: int = 8
    embed_dim: int = 96
    depth: int = 3
    num_heads: int = 3
    mlp_ratio: float = 3.0


def _custom_vit(cfg: ViTConfig) -> VisionTransformer:
    return VisionTransformer(img_size=cfg.img_size, patch_size=cfg.patch_size, embed_dim=cfg.embed_dim,
                             depth=cfg.depth, num_heads=cfg.num_heads, mlp_ratio=cfg.mlp_ratio, num_classes=0)


def check_vit_weights(cfg: ViTConfig, key: str = "vit.weights_file") -> None:
    """Config-time check that ``cfg.weights_file`` (if set) fits the configured ViT (meta device, no memory).

    Raises:
        FileNotFoundError, cmlib.models.weights.WeightsError: naming ``key``, the file, the model, the first keys.
    """
    check_backbone_weights(cfg, lambda: _custom_vit(cfg), key=key, model_name="custom VisionTransformer")


class ViTFeatures(nn.Module):
    """timm ViT -> [x_cls || mean of patch tokens] (B, 2 D), the same pooling WHCMT's head uses."""

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        key = "vit.weights_file"
        weights = check_weights_file(key, cfg.weights_file, f"a local checkpoint of {cfg.variant}")
        if cfg.variant == "custom":
            self.vit = _custom_vit(cfg)
            if weights is not None:
                load_state_file(self.vit, key, weights)
        else:
            if weights is None:
                warn_random_init(key, cfg.variant)
            self.vit = timm_model(cfg.variant, weights, key=key, img_size=cfg.img_size)
        self.out_dim = 2 * self.vit.embed_dim

    def forward(self, images: Tensor) -> Tensor:
        """Images (B, 3, H, W) -> (B, 2 D)."""
        x = self.vit.forward_features(images)
        n_prefix = self.vit.num_prefix_tokens
        return torch.cat([x[:, 0], x[:, n_prefix:].mean(dim=1)], dim=1)


class CrossViTFeatures(nn.Module):
    """WHCMT's visual encoder pooled like WHCMT's head input: [g^l(y^l_cls) || mean x^l_patch] (B, 2 D_L)."""

    def __init__(self, cfg: CrossVitConfig) -> None:
        super().__init__()
        self.encoder = CrossViTEncoder(cfg)
        self.out_dim = 2 * self.encoder.dim

    def forward(self, images: Tensor) -> Tensor:
        """Images (B, 3, H, W) -> (B, 2 D_L)."""
        v = self.encoder(images)
        return torch.cat([v[:, 0], v[:, 1:].mean(dim=1)], dim=1)


class WDHT(WeakHashModel):
    """WDHT: backbone features -> HashHead; t_cls = mean tag word vector (frozen).

    Args:
        backbone: Module mapping images to (B, out_dim) features, with attribute ``out_dim``.
        tag_table: Frozen word vectors (V, d) (row ``ONES_ID`` all ones).
        bits: Code length b.
        hidden: Width of FC1 / FC2.
    """

    def __init__(self, backbone: nn.Module, tag_table: Tensor, bits: int, hidden: int = 256) -> None:
        super().__init__()
        if not torch.all(tag_table[ONES_ID] == 1):
            raise ValueError("WDHT: tag_table row ONES_ID must be the all-ones vector")
        self.backbone = backbone
        self.register_buffer("tag_table", tag_table.float().clone())
        self.head = HashHead(backbone.out_dim, hidden, bits, tag_table.shape[1])
        self.bits = bits

    def forward(self, images: Tensor, tag_ids: Tensor, target_tag_ids: Tensor | None = None) -> dict[str, Tensor]:
        """Images (B, 3, H, W) and tag ids (B, T) -> h (B, b), r (B, d), t_cls (B, d) (from ``target_tag_ids`` when
        given: the images alone make h and r, so only the target matters here)."""
        h, r = self.head(self.backbone(images))
        return {"h": h, "r": r, "t_cls": mean_tag_vector(self.tag_table, tag_ids if target_tag_ids is None
                                                         else target_tag_ids)}
