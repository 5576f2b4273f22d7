"""Multi-instance referring segmentation metrics (GRM-Net, Section 3.1 "Quantitative Evaluation Metrics", Tables 1-2).

Two different numbers, named differently everywhere they are shown:

- ``sketchyscene_ap`` -- the **per-expression AP** of the SketchyScene-Matching code (Zou et al. 2019,
  ``SketchySceneColorization/Instance_Matching/matching_main.py`` + ``utils/eval_tools.py::compute_ap``, itself the
  Matterport Mask R-CNN ``compute_ap``): for each expression, predictions sorted by score (descending), each matched
  greedily to the unmatched ground-truth mask of highest IoU when that IoU >= t; precision/recall at every
  prediction, the precision envelope made monotone, AP = area under it (VOC "all points", recall padded with 0 and
  1, precision with 0 and 0); averaged over t in 0.50:0.05:0.95, then over expressions. An expression with no
  prediction scores AP 0 at every threshold (the reference code's ``AP_list`` stays zero).
- ``coco_mask_ap`` -- **COCO mask AP / AP50 / AP75** from pycocotools' ``COCOeval(iouType="segm")``, what GRM-Net's
  tables report ("standard COCO metrics [...] mask AP, AP50 and AP75"): each expression is one COCO image with one
  category; COCO pools all expressions' detections before computing precision (101-point interpolation, at most
  ``max_dets`` detections per expression).

Conventions where the sources are silent (documented choices): equal scores keep the given prediction order (stable
sort; the reference's ``np.argsort(...)[::-1]`` reverses ties); IoU of two empty masks is 0; an expression whose
target is empty is an error by default (SketchyScene-Matching has none; its recall would divide by zero) or, with
``empty_target="skip"``, left out of the mean. COCO: an expression with an empty target is kept (its predictions
are false positives), as COCOeval does for images without ground truth.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import Literal, TypedDict

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

__all__ = ["IOU_THRESHOLDS", "Prediction", "Target", "coco_mask_ap", "expression_ap", "mask_iou", "sketchyscene_ap",
           "sketchyscene_ap_per_threshold"]

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)


class Prediction(TypedDict):
    """Predicted instances of one expression: ``masks`` bool (P, H, W), ``scores`` float (P,)."""

    masks: np.ndarray
    scores: np.ndarray


class Target(TypedDict):
    """Ground-truth instances of one expression: ``masks`` bool (G, H, W)."""

    masks: np.ndarray


def _as_masks(x, name: str) -> np.ndarray:
    """Validates a (K, H, W) stack of binary masks (tensor or array) and returns it as bool."""
    arr = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    if arr.ndim != 3:
        raise ValueError(f"{name}: expected masks of shape (K, H, W), got shape {tuple(arr.shape)}")
    if arr.dtype != bool:
        if arr.size and not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name}: expected binary masks (bool or {{0, 1}}), found other values")
        arr = arr.astype(bool)
    return arr


def _validate(predictions: Sequence[Prediction], targets: Sequence[Target]):
    """Checks the two lists and yields (pred_masks, scores, gt_masks) per expression."""
    if len(predictions) != len(targets):
        raise ValueError(f"predictions has {len(predictions)} expressions but targets has {len(targets)}")
    if len(targets) == 0:
        raise ValueError("targets: expected at least one expression, got an empty list")
    out = []
    for i, (pred, tgt) in enumerate(zip(predictions, targets)):
        for key, src, nm in (("masks", pred, "predictions"), ("scores", pred, "predictions"), ("masks", tgt, "targets")):
            if key not in src:
                raise ValueError(f"{nm}[{i}]: missing key {key!r}")
        pm, gm = _as_masks(pred["masks"], f"predictions[{i}]['masks']"), _as_masks(tgt["masks"], f"targets[{i}]['masks']")
        sc = np.asarray(pred["scores"].detach().cpu() if hasattr(pred["scores"], "detach") else pred["scores"],
                        dtype=np.float64).reshape(-1)
        if sc.shape[0] != pm.shape[0]:
            raise ValueError(f"predictions[{i}]: {pm.shape[0]} masks but {sc.shape[0]} scores")
        if not np.isfinite(sc).all():
            raise ValueError(f"predictions[{i}]['scores']: expected finite scores, found NaN or infinite values")
        if pm.shape[0] and gm.shape[0] and pm.shape[1:] != gm.shape[1:]:
            raise ValueError(f"predictions[{i}]: mask size {pm.shape[1:]} differs from targets[{i}] {gm.shape[1:]}")
        out.append((pm, sc, gm))
    return out


def mask_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between two mask stacks (``eval_tools.compute_overlaps_masks``; empty-vs-empty gives 0).

    Args:
        a: bool (P, H, W).
        b: bool (G, H, W).

    Returns:
        float64 (P, G).
    """
    fa = a.reshape(a.shape[0], -1).astype(np.float64)
    fb = b.reshape(b.shape[0], -1).astype(np.float64)
    inter = fa @ fb.T
    union = fa.sum(1)[:, None] + fb.sum(1)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def expression_ap(iou: np.ndarray, threshold: float) -> float:
    """VOC all-points AP of one expression at one IoU threshold (``eval_tools.compute_ap``).

    Args:
        iou: (P, G) IoU of predictions (already sorted by descending score) against ground truths, G >= 1.
        threshold: IoU threshold t.

    Returns:
        AP in [0, 1].
    """
    n_pred, n_gt = iou.shape
    gt_taken = np.zeros(n_gt, dtype=bool)
    tp = np.zeros(n_pred, dtype=bool)
    for i in range(n_pred):
        cand = np.where(gt_taken, -1.0, iou[i])
        j = int(np.argmax(cand))
        if cand[j] >= threshold:
            gt_taken[j] = tp[i] = True
    hits = np.cumsum(tp)
    precision = np.concatenate(([0.0], hits / np.arange(1, n_pred + 1), [0.0]))
    recall = np.concatenate(([0.0], hits / n_gt, [1.0]))
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[:-1] != recall[1:]) + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


def sketchyscene_ap_per_threshold(predictions: Sequence[Prediction], targets: Sequence[Target],
                                  empty_target: Literal["error", "skip"] = "error") -> np.ndarray:
    """Per-expression AP averaged over expressions, one value per IoU threshold 0.50:0.05:0.95.

    Args:
        predictions: One dict per expression: ``masks`` bool (P, H, W), ``scores`` (P,).
        targets: One dict per expression: ``masks`` bool (G, H, W).
        empty_target: ``"error"`` (default) raises on an expression with G = 0; ``"skip"`` leaves it out.

    Returns:
        float64 (10,) mean AP at each threshold (the reference code's ``mAP_list``).
    """
    if empty_target not in ("error", "skip"):
        raise ValueError(f"empty_target: expected 'error' or 'skip', got {empty_target!r}")
    rows = []
    for i, (pm, sc, gm) in enumerate(_validate(predictions, targets)):
        if gm.shape[0] == 0:
            if empty_target == "error":
                raise ValueError(f"targets[{i}]: empty target (no ground-truth mask); pass empty_target='skip' "
                                 "to leave such expressions out of the mean")
            continue
        if pm.shape[0] == 0:
            rows.append(np.zeros(IOU_THRESHOLDS.size))
            continue
        order = np.argsort(-sc, kind="stable")
        iou = mask_iou(pm[order], gm)
        rows.append(np.array([expression_ap(iou, t) for t in IOU_THRESHOLDS]))
    if not rows:
        raise ValueError("targets: every expression has an empty target; nothing to evaluate")
    return np.mean(rows, axis=0)


def sketchyscene_ap(predictions: Sequence[Prediction], targets: Sequence[Target],
                    empty_target: Literal["error", "skip"] = "error") -> float:
    """SketchyScene per-expression AP@[0.5:0.95] (module docstring), a fraction in [0, 1]."""
    return float(sketchyscene_ap_per_threshold(predictions, targets, empty_target).mean())


def _coco_objects(data) -> tuple[COCO, list[dict]]:
    """Builds the ground-truth COCO object and the detection list (one image per expression, category 1)."""
    images, anns, dets = [], [], []
    for img_id, (pm, sc, gm) in enumerate(data, start=1):
        h, w = (gm.shape[1:] if gm.shape[0] else pm.shape[1:]) or (1, 1)
        images.append({"id": img_id, "height": int(h), "width": int(w)})
        for m in gm:
            rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
            anns.append({"id": len(anns) + 1, "image_id": img_id, "category_id": 1, "segmentation": rle,
                         "area": float(mask_utils.area(rle)), "bbox": mask_utils.toBbox(rle).tolist(), "iscrowd": 0})
        for m, s in zip(pm, sc):
            rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
            dets.append({"image_id": img_id, "category_id": 1, "segmentation": rle, "score": float(s)})
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "referred"}]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt, dets


def coco_mask_ap(predictions: Sequence[Prediction], targets: Sequence[Target], max_dets: int = 100) -> dict[str, float]:
    """COCO mask AP, AP50, AP75 through pycocotools' COCOeval (GRM-Net Tables 1-2), fractions in [0, 1].

    Args:
        predictions: One dict per expression: ``masks`` bool (P, H, W), ``scores`` (P,).
        targets: One dict per expression: ``masks`` bool (G, H, W).
        max_dets: Detections kept per expression (COCO default 100).

    Returns:
        ``{"AP": ..., "AP50": ..., "AP75": ...}``; 0.0 when there are no detections at all.
    """
    data = _validate(predictions, targets)
    if sum(gm.shape[0] for _, _, gm in data) == 0:
        raise ValueError("targets: no ground-truth mask in any expression; COCO AP is undefined")
    gt, dets = _coco_objects(data)
    if not dets:
        return {"AP": 0.0, "AP50": 0.0, "AP75": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, iouType="segm")
        ev.params.maxDets = [1, 10, int(max_dets)]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {"AP": max(float(ev.stats[0]), 0.0), "AP50": max(float(ev.stats[1]), 0.0),
            "AP75": max(float(ev.stats[2]), 0.0)}
