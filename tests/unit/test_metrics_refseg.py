"""Referring-segmentation AP: SketchyScene per-expression AP and COCO mask AP on known answers, a slow reference."""

import numpy as np
import pytest

from cmlib.metrics.refseg import coco_mask_ap, sketchyscene_ap, sketchyscene_ap_per_threshold


def square(y, x, h, w, size=32):
    m = np.zeros((size, size), dtype=bool)
    m[y:y + h, x:x + w] = True
    return m


def pred(masks, scores):
    return {"masks": np.stack(masks) if masks else np.zeros((0, 32, 32), bool), "scores": np.asarray(scores, float)}


def tgt(masks):
    return {"masks": np.stack(masks) if masks else np.zeros((0, 32, 32), bool)}


A, B = square(0, 0, 10, 10), square(20, 20, 10, 10)
A64 = square(0, 0, 8, 8)  # IoU(A64, A) = 64 / 100


def test_perfect_predictions():
    p, t = [pred([A, B], [0.9, 0.8])], [tgt([A, B])]
    assert sketchyscene_ap(p, t) == 1.0
    assert coco_mask_ap(p, t) == {"AP": 1.0, "AP50": 1.0, "AP75": 1.0}


def test_false_positive_ranked_first_halves_ap():
    p, t = [pred([B, A], [0.9, 0.5])], [tgt([A])]
    assert sketchyscene_ap(p, t) == pytest.approx(0.5)
    assert coco_mask_ap(p, t) == pytest.approx({"AP": 0.5, "AP50": 0.5, "AP75": 0.5})


def test_iou_between_thresholds():
    p, t = [pred([A64], [1.0])], [tgt([A])]
    per_t = sketchyscene_ap_per_threshold(p, t)
    np.testing.assert_allclose(per_t, [1, 1, 1, 0, 0, 0, 0, 0, 0, 0])  # matched at t = .50, .55, .60 only
    assert sketchyscene_ap(p, t) == pytest.approx(0.3)
    assert coco_mask_ap(p, t) == pytest.approx({"AP": 0.3, "AP50": 1.0, "AP75": 0.0})


def test_half_recall_shows_voc_vs_coco_interpolation():
    p, t = [pred([A], [1.0])], [tgt([A, B])]
    assert sketchyscene_ap(p, t) == pytest.approx(0.5)  # VOC all points: area under a step to recall 0.5
    assert coco_mask_ap(p, t)["AP"] == pytest.approx(51 / 101)  # COCO: 101 recall points, 0..0.5 inclusive


def test_no_prediction_scores_zero_and_mean_over_expressions():
    p, t = [pred([], []), pred([A], [1.0])], [tgt([A]), tgt([A])]
    assert sketchyscene_ap(p, t) == pytest.approx(0.5)
    assert coco_mask_ap([pred([], [])], [tgt([A])]) == {"AP": 0.0, "AP50": 0.0, "AP75": 0.0}


def test_empty_target_error_or_skip():
    p, t = [pred([A], [1.0]), pred([A], [1.0])], [tgt([]), tgt([A])]
    with pytest.raises(ValueError, match=r"targets\[0\]: empty target"):
        sketchyscene_ap(p, t)
    assert sketchyscene_ap(p, t, empty_target="skip") == 1.0
    # COCO keeps the expression: its prediction is a false positive ranked with the true positive (same score)
    assert coco_mask_ap(p, t)["AP50"] < 1.0


def slow_expression_ap(pm, sc, gm, thr):
    """Per-expression VOC all-points AP written out step by step."""
    order = sorted(range(len(sc)), key=lambda i: -sc[i])
    taken, tps = set(), []
    for i in order:
        ious = []
        for j in range(len(gm)):
            inter, union = np.logical_and(pm[i], gm[j]).sum(), np.logical_or(pm[i], gm[j]).sum()
            ious.append(inter / union if union else 0.0)
        best = max((j for j in range(len(gm)) if j not in taken), key=lambda j: (ious[j], -j), default=None)
        ok = best is not None and ious[best] >= thr
        if ok:
            taken.add(best)
        tps.append(ok)
    prec = [sum(tps[:n + 1]) / (n + 1) for n in range(len(tps))]
    rec = [sum(tps[:n + 1]) / len(gm) for n in range(len(tps))]
    ap, prev_r = 0.0, 0.0
    for n in range(len(tps)):
        if rec[n] > prev_r:
            ap += (rec[n] - prev_r) * max(prec[n:])
            prev_r = rec[n]
    return ap


def test_sketchyscene_matches_slow_reference_random():
    rng = np.random.default_rng(0)
    preds, tgts, ref = [], [], []
    for _ in range(12):
        gts = [square(*rng.integers(0, 20, 2), *rng.integers(4, 12, 2)) for _ in range(rng.integers(1, 4))]
        ps = [np.logical_xor(gts[rng.integers(len(gts))], rng.random((32, 32)) < 0.05) for _ in range(rng.integers(0, 5))]
        sc = np.round(rng.random(len(ps)), 1)
        preds.append(pred(ps, sc))
        tgts.append(tgt(gts))
        thresholds = np.linspace(0.5, 0.95, 10)
        ref.append(np.mean([slow_expression_ap(ps, sc, gts, t) for t in thresholds]) if ps else 0.0)
    assert sketchyscene_ap(preds, tgts) == pytest.approx(np.mean(ref), abs=1e-12)


@pytest.mark.parametrize("p, t, match", [
    ([pred([A], [1.0])], [], "predictions has 1 expressions but targets has 0"),
    ([pred([A], [1.0, 0.5])], [tgt([A])], r"predictions\[0\]: 1 masks but 2 scores"),
    ([{"masks": np.full((1, 32, 32), 2)} | {"scores": np.ones(1)}], [tgt([A])], "expected binary masks"),
    ([pred([A], [np.nan])], [tgt([A])], "expected finite scores"),
    ([pred([square(0, 0, 2, 2, size=16)], [1.0])], [tgt([A])], "mask size"),
    ([{"masks": np.ones((32, 32), bool), "scores": np.ones(1)}], [tgt([A])], r"expected masks of shape \(K, H, W\)"),
])
def test_bad_input(p, t, match):
    with pytest.raises(ValueError, match=match):
        sketchyscene_ap(p, t)
