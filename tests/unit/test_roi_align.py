"""cmlib.models.roi_align against torchvision.ops.roi_align (values and gradients) and a hand-computed case."""
from __future__ import annotations

import pytest
import torch
import torchvision

from cmlib.models.roi_align import MultiScaleRoIAlign, roi_align


def _rois(n_images: int, k: int, extent: float, generator: torch.Generator) -> torch.Tensor:
    """(k, 5) RoIs over an ``extent``-wide image: random ones, plus off-edge, degenerate and full-image boxes."""
    b = torch.randint(0, n_images, (k,), generator=generator).float()
    xy = torch.rand(k, 2, generator=generator) * extent
    wh = torch.rand(k, 2, generator=generator) * extent / 2
    rois = torch.cat([b[:, None], xy, xy + wh], 1)
    rois[0, 1:] = torch.tensor([-0.3 * extent, -0.2 * extent, 0.1 * extent, 1.3 * extent])  # off the edges
    rois[1, 1:] = torch.tensor([5.0, 5.0, 5.0, 5.0])  # zero size
    rois[2, 1:] = torch.tensor([0.0, 0.0, extent, extent])  # the whole image
    return rois


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [1, 2, 3])
@pytest.mark.parametrize("output_size", [(7, 7), (14, 14), (3, 5)])
def test_matches_torchvision_values_and_gradients(aligned: bool, sampling_ratio: int, output_size: tuple) -> None:
    g = torch.Generator().manual_seed(sampling_ratio * 10 + output_size[1])
    x = torch.randn(3, 4, 16, 12, generator=g)
    rois = _rois(3, 40, 64.0, g)
    grad = torch.randn(40, 4, *output_size, generator=g)
    outs = []
    for fn in (lambda f: torchvision.ops.roi_align(f, rois, output_size, 0.25, sampling_ratio, aligned),
               lambda f: roi_align(f, rois, output_size, 0.25, sampling_ratio, aligned)):
        f = x.clone().requires_grad_()
        y = fn(f)
        (y * grad).sum().backward()
        outs.append((y.detach(), f.grad))
    (y_tv, g_tv), (y_ours, g_ours) = outs
    assert y_ours.shape == y_tv.shape == (40, 4, *output_size)
    torch.testing.assert_close(y_ours, y_tv, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(g_ours, g_tv, atol=2e-5, rtol=1e-5)  # sums of float32 terms, reordered
    assert y_tv.abs().sum() > 0 and g_tv.abs().sum() > 0  # the comparison is not between zeros


def test_hand_computed_linear_map() -> None:
    """Bilinear sampling of v(y, x) = 3y + x is exact inside the map, so each bin is v at its samples' mean:
    RoI (0, 0)-(2, 2), one 1x1 bin, 2x2 samples at 0.5 / 1.5 -> v(1, 1) = 4; two 1x2 bins at x in {0.25, 0.75} /
    {1.25, 1.75}, y at 0.5 / 1.5 -> v(1, 0.5) = 3.5 and v(1, 1.5) = 4.5."""
    v = (3 * torch.arange(3.0)[:, None] + torch.arange(3.0)[None, :])[None, None]  # (1, 1, 3, 3)
    roi = torch.tensor([[0.0, 0.0, 0.0, 2.0, 2.0]])
    assert roi_align(v, roi, (1, 1), 1.0, 2).item() == pytest.approx(4.0)
    assert roi_align(v, roi, (1, 2), 1.0, 2).flatten().tolist() == pytest.approx([3.5, 4.5])


def test_no_rois_and_adaptive_grid() -> None:
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    out = roi_align(x, torch.zeros(0, 5), 7, 0.5, 2)
    assert out.shape == (0, 3, 7, 7)
    out.sum().backward()  # an empty level still backpropagates (zeros)
    assert torch.equal(x.grad, torch.zeros_like(x))
    with pytest.raises(ValueError, match="sampling_ratio must be positive"):
        roi_align(x, torch.tensor([[0.0, 0.0, 0.0, 4.0, 4.0]]), 7, 0.5, 0)


def test_multiscale_pooler_matches_torchvision_over_levels() -> None:
    """Boxes of every size land on the three levels as torchvision maps them; pooled values and gradients agree."""
    g = torch.Generator().manual_seed(0)
    names = ["0", "1", "2"]
    feats = {n: torch.randn(2, 4, 64 // 2 ** i, 64 // 2 ** i, generator=g) for i, n in enumerate(names)}
    boxes = []
    for _ in range(2):
        xy = torch.rand(30, 2, generator=g) * 100
        wh = torch.cat([torch.rand(10, 2, generator=g) * 20, 60 + torch.rand(10, 2, generator=g) * 100,
                        200 + torch.rand(10, 2, generator=g) * 50])
        boxes.append(torch.cat([xy, xy + wh], 1))
    shapes = [(256, 256), (256, 256)]
    results = []
    for pool in (torchvision.ops.MultiScaleRoIAlign(names, 7, 2), MultiScaleRoIAlign(names, 7, 2)):
        f = {n: t.clone().requires_grad_() for n, t in feats.items()}
        y = pool(f, boxes, shapes)
        (y * torch.arange(y.numel()).view_as(y).sin()).sum().backward()
        results.append((y.detach(), [f[n].grad for n in names]))
    levels = torchvision.ops.MultiScaleRoIAlign(names, 7, 2)
    levels(feats, boxes, shapes)
    assert len(set(levels.map_levels(boxes).tolist())) == 3  # the test does exercise several levels
    torch.testing.assert_close(results[1][0], results[0][0], atol=1e-5, rtol=1e-5)
    for ours, tv in zip(results[1][1], results[0][1]):
        torch.testing.assert_close(ours, tv, atol=1e-5, rtol=1e-5)
