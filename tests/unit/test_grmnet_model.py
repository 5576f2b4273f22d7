"""GRM-Net model: eq. 1 reference vectors, reference selection, fused Mask R-CNN forward, bad inputs."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from cmlib.models.grmnet import GRMNet, GRMNetSpec
from cmlib.models.grmnet_heads import absolute_position, grm_vectors, reference_indices, relative_offsets, scale_offsets
from cmlib.models.refseg_baselines import BinaryRefSeg, binary_to_instances

SMALL = GRMNetSpec(num_classes=4, vocab_size=12, channels=16, embed_dim=8, lstm_hidden=8, representation_size=32,
                   mask_layers=(16,), rpn_pre_nms_top_n_train=60, rpn_post_nms_top_n_train=30,
                   rpn_pre_nms_top_n_test=60, rpn_post_nms_top_n_test=30, box_batch_size_per_image=16,
                   rpn_batch_size_per_image=32, detections_per_img=5, canvas=64)


def test_eq1_five_and_three_dim():
    cand = torch.tensor([[10.0, 20.0, 30.0, 60.0]])            # w=20, h=40
    ref = torch.tensor([[[0.0, 0.0, 10.0, 10.0]]])            # w=h=10
    d5 = relative_offsets(cand, ref, 5)[0, 0]
    assert torch.allclose(d5, torch.tensor([-10 / 20, -20 / 40, -20 / 20, -50 / 40, 100 / 800]))
    d3 = relative_offsets(cand, ref, 3)[0, 0]
    assert torch.allclose(d3, torch.tensor([(5 - 20) / 20, (5 - 40) / 40, 100 / 800]))
    pos = absolute_position(cand, (100, 200))[0]
    assert torch.allclose(pos, torch.tensor([10 / 200, 20 / 100, 30 / 200, 60 / 100, 800 / 20000]))
    with pytest.raises(ValueError, match="5 or 3"):
        relative_offsets(cand, ref, 4)


def test_consistency_is_global_distance_is_local():
    props = torch.tensor([[0, 0, 10, 10], [90, 0, 100, 10], [12, 0, 22, 10], [50, 50, 60, 60]], dtype=torch.float)
    scores = torch.tensor([0.2, 0.9, 0.1, 0.8])
    cand = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    idx, valid = reference_indices(cand, props, scores, 2, "consistency")
    assert idx.tolist() == [[1, 3]] and valid.all()          # top-2 by objectness, however far
    idx, valid = reference_indices(cand, props, scores, 2, "distance")
    assert idx.tolist() == [[2, 3]] and valid.all()          # nearest others; itself (IoU 1) skipped
    idx, valid = reference_indices(cand, props[:1], scores[:1], 3, "distance")
    assert not valid.any()
    g = grm_vectors(cand, props, scores, (100, 100), k=5, manner="consistency", dim=5, use_position=True)
    assert g.shape == (1, 5 * 5 + 5) and (g[0, 20:25] == 0).all()  # 4 proposals -> 5th reference zero


def _sample(n_inst: int, canvas: int = 64):
    boxes = torch.tensor([[4.0 + 6 * i, 30.0, 10.0 + 6 * i, 50.0] for i in range(n_inst)]).reshape(-1, 4)
    masks = torch.zeros(n_inst, canvas, canvas, dtype=torch.uint8)
    for i, b in enumerate(boxes.long()):
        masks[i, b[1]:b[3], b[0]:b[2]] = 1
    return {"boxes": boxes, "labels": torch.ones(n_inst, dtype=torch.long), "masks": masks}


@pytest.mark.parametrize("variant", [{}, {"top_k": 0, "use_position": False}, {"manner": "distance"},
                                     {"delta_dim": 3, "top_k": 3}])
def test_forward_train_and_eval(variant):
    torch.manual_seed(0)
    model = GRMNet(dataclasses.replace(SMALL, **variant))
    images = [torch.rand(3, 64, 64) for _ in range(2)]
    tokens = torch.tensor([[2, 3, 4, 0], [1, 1, 0, 0]])      # second: only <unk> words
    lengths = torch.tensor([3, 2])
    targets = [_sample(2), _sample(0)]                      # second: refers to no instance
    model.train()
    losses = model(images, tokens, lengths, targets)
    assert set(losses) == {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss_mask"}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert model.roi_heads.fusion.extra.weight.grad.abs().sum() > 0   # language + GRM reach the RoI heads
    model.eval()
    out = model(images, tokens, lengths)
    assert len(out) == 2 and out[0]["masks"].shape[1:] == (1, 64, 64)
    assert all(len(o["boxes"]) <= SMALL.detections_per_img for o in out)


def test_scene_with_more_instances_than_the_detector_limit():
    torch.manual_seed(0)
    model = GRMNet(SMALL)
    model.train()
    losses = model([torch.rand(3, 64, 64)], torch.tensor([[2, 3]]), torch.tensor([2]), [_sample(9)])
    assert torch.isfinite(sum(losses.values()))


def test_load_detector_and_determinism():
    torch.manual_seed(0)
    det = GRMNet(dataclasses.replace(SMALL, use_language=False))
    ref = GRMNet(SMALL)
    missing = ref.load_detector(det.state_dict())
    assert missing and all(k.startswith("language.") or ".fusion." in k for k in missing)
    assert torch.equal(ref.backbone.fpn.inner_blocks[0][0].weight, det.backbone.fpn.inner_blocks[0][0].weight)
    with pytest.raises(ValueError, match="unexpected"):
        det.load_detector(ref.state_dict())
    ref.eval()
    img = [torch.rand(3, 64, 64)]
    a = ref.inspect(img, torch.tensor([[2, 3]]), torch.tensor([2]))[0]
    b = ref.inspect(img, torch.tensor([[2, 3]]), torch.tensor([2]))[0]
    assert torch.equal(a["proposals"], b["proposals"]) and a["references"].shape[1] == SMALL.top_k


def test_binary_baseline_shapes():
    torch.manual_seed(0)
    m = BinaryRefSeg(SMALL)
    logits = m(torch.rand(2, 3, 64, 64), torch.tensor([[2, 3], [1, 0]]), torch.tensor([2, 1]))
    assert logits.shape == (2, 1, 64, 64)
    masks, scores = binary_to_instances(torch.zeros(64, 64))
    assert masks.shape == (0, 64, 64) and scores.shape == (0,)
    masks, scores = binary_to_instances(torch.full((64, 64), 0.8))
    assert masks.shape == (1, 64, 64) and scores.item() == pytest.approx(0.8)


def test_binary_fusion_is_gated_by_the_expression():
    """f = TiledFusion(x, e) * sigmoid(G e) + P(p) * (1 + tanh(C e)), checked by hand with zeroed gates."""
    from cmlib.models.refseg_baselines import spatial_features

    torch.manual_seed(0)
    m = BinaryRefSeg(SMALL)
    x, text = torch.randn(2, m.backbone.out_channels, 4, 4), torch.randn(2, m.language.out_dim)
    for lin in (m.gates[0], m.coord_gates[0]):
        torch.nn.init.zeros_(lin.weight)
        torch.nn.init.zeros_(lin.bias)
    pos = m.coords[0](spatial_features(4, 4, x))
    assert torch.allclose(m.fuse(0, x, text), 0.5 * m.fusions[0](x, text) + pos, atol=1e-6)
    torch.nn.init.normal_(m.gates[0].weight)
    a, b = m.fuse(0, x, text), m.fuse(0, x, text.flip(0))  # a different expression rescales the visual channels
    assert not torch.allclose(a[0], b[0], atol=1e-4)


def test_spatial_features_by_hand():
    from cmlib.models.refseg_baselines import spatial_features

    f = spatial_features(2, 4, torch.zeros(1))
    assert f.shape == (1, 8, 2, 4)
    # cell (row 1, col 0) of a 2 x 4 map: x in [-1, -0.5], y in [0, 1]
    assert f[0, :, 1, 0].tolist() == pytest.approx([-1.0, -0.5, -0.75, 0.0, 1.0, 0.5, 0.25, 0.5])


@pytest.mark.parametrize("training", [True, False])
def test_canvas_transform_skips_only_an_identity_resize(training):
    """Skipping torchvision's resize of a canvas-size image is exact (scale 1); other sizes are still resized."""
    from torchvision.models.detection.transform import GeneralizedRCNNTransform

    from cmlib.models.grmnet import CanvasTransform

    g = torch.Generator().manual_seed(0)
    ours, tv = CanvasTransform(64, 64, [0.9] * 3, [0.25] * 3), GeneralizedRCNNTransform(64, 64, [0.9] * 3, [0.25] * 3)
    ours.train(training), tv.train(training)
    image = torch.rand(3, 64, 64, generator=g)
    masks = torch.rand(2, 64, 64, generator=g) > 0.5
    target = {"boxes": torch.tensor([[1.5, 2.0, 30.25, 40.0], [0.0, 0.0, 64.0, 64.0]]), "masks": masks}
    a, ta = ours.resize(image, dict(target))
    b, tb = tv.resize(image.clone(), {k: v.clone() for k, v in target.items()})
    assert torch.equal(a, b) and torch.equal(ta["boxes"], tb["boxes"])
    assert torch.equal(ta["masks"].to(torch.uint8), tb["masks"].to(torch.uint8))
    small = torch.rand(3, 32, 48, generator=g)
    assert ours.resize(small)[0].shape[-2:] == tv.resize(small)[0].shape[-2:] != small.shape[-2:]


def test_delta_scaling_and_self_exclusion_on_hand_made_boxes() -> None:
    """Issue 33's two open forms: sign * log1p of eq. (1)'s vectors, and one exclusion rule for both manners."""
    delta = torch.tensor([[-3.0, 0.0, 1.0, 24.0, 67.0]])
    got = scale_offsets(delta, "log1p")
    want = torch.tensor([[-1.3862944, 0.0, 0.6931472, 3.2188758, 4.2195077]])  # ln 4, 0, ln 2, ln 25, ln 68
    assert torch.allclose(got, want) and torch.equal(scale_offsets(delta, "none"), delta)
    with pytest.raises(ValueError, match="delta_scaling"):
        scale_offsets(delta, "layer")
    cand = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    props = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 0.0, 11.0, 10.0], [50.0, 50.0, 60.0, 60.0],
                          [20.0, 0.0, 30.0, 10.0]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])  # the candidate itself and its near-duplicate (IoU 0.82) rank first
    idx, valid = reference_indices(cand, props, scores, 2, "consistency")  # today: itself and its duplicate
    assert idx.tolist() == [[0, 1]] and valid.all()
    idx, valid = reference_indices(cand, props, scores, 2, "consistency", "both")  # the next two others
    assert idx.tolist() == [[2, 3]] and valid.all()
    idx, valid = reference_indices(cand, props, scores, 3, "consistency", "both")  # only two others exist
    assert valid.tolist() == [[True, True, False]] and idx[0, :2].tolist() == [2, 3]
    dist, _ = reference_indices(cand, props, scores, 2, "distance", "both")
    assert dist.tolist() == reference_indices(cand, props, scores, 2, "distance")[0].tolist() == [[3, 2]]
