"""RoIAlign as a sparse interpolation matrix: torchvision's operator, the same numbers, a faster CPU backward.

``torchvision.ops.roi_align`` computes, for every output bin, the mean of ``sampling_ratio**2`` bilinear samples of
the feature map. Its CPU backward recomputes every sample's bilinear weights once per channel and scatters them one
value at a time; in GRM-Net's training step (study sizes, one thread) it was 30 % of the step (20 of 155 ms for the
7x7 box pool of 246 RoIs, benchmarks/grmnet.py ``--roi``). Here the same weights are computed once per sample, for
all channels, as a sparse matrix ``A`` of shape (R * PH * PW, N * H * W) with at most 4 * sampling_ratio**2
non-zeros a row, and

    forward:  pooled = A @ X      (X: the feature map as (N * H * W, C) rows; ``F.embedding_bag`` with weights)
    backward: dX     = A^T @ dY   (``torch.sparse.mm``)

which are torchvision's sums in another order (equal to float rounding; tests/unit/test_roi_align.py checks values
and gradients against ``torchvision.ops.roi_align``). Only a positive ``sampling_ratio`` is supported (Mask R-CNN's
poolers use 2); ``aligned`` as in torchvision.

:class:`MultiScaleRoIAlign` is torchvision's pooler (same level mapping, same scales) calling this operator.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import poolers

__all__ = ["MultiScaleRoIAlign", "interpolation", "roi_align"]


def _axis(start: Tensor, length: Tensor, pooled: int, grid: int, size: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One axis of torchvision's bilinear sampling (``bilinear_interpolate`` in roi_align_kernel.cpp).

    Args:
        start, length: (R,) RoI start and extent on this axis, in feature-map units.
        pooled: output bins on the axis; grid: samples per bin; size: feature-map extent (H or W).

    Returns:
        low, high: (R, pooled, grid) integer neighbour coordinates; w_low, w_high: their weights, zero for a sample
        outside [-1, size] (torchvision's "empty" sample, which still counts in the mean).
    """
    bins = torch.arange(pooled, dtype=start.dtype, device=start.device)
    samples = torch.arange(grid, dtype=start.dtype, device=start.device) + 0.5
    size_bin = (length / pooled)[:, None, None]
    # torchvision's order of float operations, start + p * bin + (g + 0.5) * bin / grid, so that a sample on the
    # map's edge (where its value jumps to 0) falls on the same side
    c = start[:, None, None] + bins[None, :, None] * size_bin + samples[None, None, :] * size_bin / grid
    inside = ((c >= -1.0) & (c <= size)).to(c.dtype)
    c = c.clamp(min=0.0)
    low = c.floor().long()
    edge = low >= size - 1
    low = low.clamp(max=size - 1)
    high = torch.where(edge, low, low + 1)
    frac = torch.where(edge, torch.zeros_like(c), c - low.to(c.dtype))
    return low, high, (1.0 - frac) * inside, frac * inside


def interpolation(rois: Tensor, shape: tuple[int, int, int], output_size: tuple[int, int], spatial_scale: float,
                  sampling_ratio: int, aligned: bool = False) -> tuple[Tensor, Tensor]:
    """The rows of ``A``: for each of the R * PH * PW output bins, its E = 4 * sampling_ratio**2 feature-map rows
    (indices into the (N * H * W) rows) and weights (each sample's bilinear weights / sampling_ratio**2).

    Args:
        rois: (R, 5) [image index, x1, y1, x2, y2] in image coordinates.
        shape: (N, H, W) of the feature map.

    Returns:
        index (R * PH * PW, E) int64, weight (R * PH * PW, E), bins in (roi, ph, pw) order.
    """
    if sampling_ratio <= 0:
        raise ValueError(f"roi_align: sampling_ratio must be positive here (got {sampling_ratio}); the adaptive "
                         "grid of torchvision (sampling_ratio <= 0) is not implemented")
    _, height, width = shape
    ph, pw = output_size
    g = sampling_ratio
    offset = 0.5 if aligned else 0.0
    r = rois.detach()
    x1, y1, x2, y2 = (r[:, i] * spatial_scale - offset for i in range(1, 5))
    w, h = x2 - x1, y2 - y1
    if not aligned:  # torchvision: an unaligned RoI is at least one feature cell wide
        w, h = w.clamp(min=1.0), h.clamp(min=1.0)
    yl, yh, wyl, wyh = _axis(y1, h, ph, g, height)  # (R, PH, G)
    xl, xh, wxl, wxh = _axis(x1, w, pw, g, width)   # (R, PW, G)
    # separable: the bilinear weight of neighbour (y, x) of sample (gy, gx) of bin (ph, pw) is wy * wx, its row
    # y * W + x; both axes' 2 neighbours x G samples are laid side by side and multiplied / added by broadcasting
    ys = torch.cat([yl, yh], -1) * width + (r[:, 0].long() * (height * width))[:, None, None]  # (R, PH, 2G)
    xs = torch.cat([xl, xh], -1)                                                              # (R, PW, 2G)
    wy = torch.cat([wyl, wyh], -1)
    wx = torch.cat([wxl, wxh], -1) / (g * g)
    n = r.shape[0] * ph * pw
    index = (ys[:, :, None, :, None] + xs[:, None, :, None, :]).view(n, 4 * g * g)  # (R, PH, PW, 2G, 2G) flat
    weight = (wy[:, :, None, :, None] * wx[:, None, :, None, :]).view(n, 4 * g * g)
    return index, weight


class _SparsePool(torch.autograd.Function):
    """pooled = A @ table (forward: embedding_bag), d table = A^T @ d pooled (backward: sparse mm)."""

    @staticmethod
    def forward(ctx, table: Tensor, index: Tensor, weight: Tensor) -> Tensor:
        ctx.save_for_backward(index, weight)
        ctx.rows = table.shape[0]
        return F.embedding_bag(index, table, per_sample_weights=weight.to(table.dtype), mode="sum")

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, None, None]:
        index, weight = ctx.saved_tensors
        bins, e = index.shape
        at = torch.sparse_coo_tensor(
            torch.stack([index.reshape(-1), torch.arange(bins, device=index.device).repeat_interleave(e)]),
            weight.reshape(-1).to(grad.dtype), (ctx.rows, bins), check_invariants=False)
        return torch.sparse.mm(at, grad.contiguous()), None, None


def roi_align(features: Tensor, rois: Tensor, output_size: tuple[int, int] | int, spatial_scale: float = 1.0,
              sampling_ratio: int = 2, aligned: bool = False) -> Tensor:
    """``torchvision.ops.roi_align`` for a (R, 5) RoI tensor: (N, C, H, W) features -> (R, C, PH, PW)."""
    if isinstance(output_size, int):
        output_size = (output_size, output_size)
    n, c, height, width = features.shape
    ph, pw = output_size
    if rois.shape[0] == 0:
        return features.new_zeros((0, c, ph, pw)) + 0.0 * features.sum()  # keeps the graph for an empty level
    index, weight = interpolation(rois, (n, height, width), (ph, pw), spatial_scale, sampling_ratio, aligned)
    table = features.permute(0, 2, 3, 1).reshape(n * height * width, c)
    pooled = _SparsePool.apply(table, index, weight)  # (R * PH * PW, C)
    return pooled.view(rois.shape[0], ph, pw, c).permute(0, 3, 1, 2)


class MultiScaleRoIAlign(poolers.MultiScaleRoIAlign):
    """``torchvision.ops.MultiScaleRoIAlign`` (its level mapping and scales) pooling with :func:`roi_align`."""

    def forward(self, x: dict[str, Tensor], boxes: list[Tensor], image_shapes: list[tuple[int, int]]) -> Tensor:
        feats = poolers._filter_input(x, self.featmap_names)
        if self.scales is None or self.map_levels is None:
            self.scales, self.map_levels = poolers._setup_scales(feats, image_shapes, self.canonical_scale,
                                                                 self.canonical_level)
        rois = poolers._convert_to_roi_format(boxes)
        if len(feats) == 1:
            return roi_align(feats[0], rois, self.output_size, self.scales[0], self.sampling_ratio)
        levels = self.map_levels(boxes)
        parts, order = [], []
        for level, (feat, scale) in enumerate(zip(feats, self.scales)):
            idx = torch.where(levels == level)[0]
            if idx.numel():
                parts.append(roi_align(feat, rois[idx], self.output_size, scale, self.sampling_ratio))
                order.append(idx)
        if not parts:  # no RoI at all: roi_align's empty result
            return roi_align(feats[0], rois, self.output_size, self.scales[0], self.sampling_ratio)
        pooled = torch.cat(parts)
        return pooled[torch.argsort(torch.cat(order))]

