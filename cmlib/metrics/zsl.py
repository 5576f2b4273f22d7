"""(Generalized) zero-shot classification metrics (CLAREL, Section 2.1 "metric rescaling", Tables 1-3).

Conventions:
- Top-1 accuracy is the per-class mean top-1 accuracy of Xian et al. (TPAMI 2018, "ZSL - the good, the bad and the
  ugly", Eq. 1), the protocol of the GZSL splits CLAREL uses: accuracy is computed per class, then averaged over the
  classes present in ``labels``.
- GZSL: ``u`` is the per-class top-1 over test samples of unseen classes, ``s`` over test samples of seen classes,
  both predicting over the union of seen and unseen classes. ``H = 2us / (u + s)`` (Xian et al.; CLAREL's text
  writes ``u*s/(u+s)``, dropping the factor 2 of the standard harmonic mean; we use the standard one), 0 when u+s=0.
- Metric rescaling (CLAREL, the scaled distance ``d_alpha``): distances to seen-class prototypes are multiplied by
  ``1 + alpha``; distances must therefore be non-negative.
- Prediction is the class with the smallest distance; ties go to the lowest class index (``argmin``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from cmlib.metrics._checks import ArrayLike, check_finite, check_len, check_ndim, check_nonempty, to_numpy

__all__ = ["GZSLResult", "alpha_sweep", "gzsl", "gzsl_predictions", "per_class_top1", "zsl_top1"]


class GZSLResult(NamedTuple):
    """GZSL accuracies as fractions: unseen ``u``, seen ``s`` and their harmonic mean ``h``."""

    u: float
    s: float
    h: float


def per_class_top1(pred: ArrayLike, labels: ArrayLike) -> float:
    """Per-class mean top-1 accuracy (Xian et al. 2018, Eq. 1).

    Args:
        pred: (N,) predicted class ids.
        labels: (N,) true class ids.

    Returns:
        Mean over the distinct classes in ``labels`` of the fraction of that class's samples predicted correctly.
    """
    p = to_numpy(pred, "pred")
    y = to_numpy(labels, "labels")
    check_ndim(p, (1,), "pred", "(N,)")
    check_ndim(y, (1,), "labels", "(N,)")
    check_nonempty(y, "labels")
    check_len(p, y.shape[0], "pred", "labels")
    classes, inverse = np.unique(y, return_inverse=True)
    correct = np.bincount(inverse, weights=(p == y).astype(np.float64), minlength=classes.size)
    return float((correct / np.bincount(inverse, minlength=classes.size)).mean())


def _check_distances(distances: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validates (N, C) non-negative finite distances and (N,) integer labels in [0, C)."""
    d = to_numpy(distances, "distances")
    y = to_numpy(labels, "labels")
    check_ndim(d, (2,), "distances", "(N, C)")
    check_ndim(y, (1,), "labels", "(N,)")
    check_nonempty(d, "distances")
    check_len(y, d.shape[0], "labels", "distances")
    check_finite(d, "distances")
    if d.shape[1] == 0:
        raise ValueError("distances: expected at least one class column, got shape (N, 0)")
    if (d < 0).any():
        raise ValueError(f"distances: expected non-negative distances (metric rescaling multiplies them by 1+alpha), "
                         f"got min {float(d.min())}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= d.shape[1]:
        raise ValueError(f"labels: expected integer class ids in [0, {d.shape[1]}), got dtype {y.dtype}, "
                         f"range [{y.min()}, {y.max()}]")
    return d.astype(np.float64, copy=False), y


def _class_ids(classes: Sequence[int] | ArrayLike, n_classes: int, name: str) -> np.ndarray:
    """Validates a set of class ids in [0, n_classes)."""
    ids = np.unique(to_numpy(classes, name).reshape(-1))
    if ids.size == 0:
        raise ValueError(f"{name}: expected at least one class id")
    if not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0 or ids.max() >= n_classes:
        raise ValueError(f"{name}: expected integer class ids in [0, {n_classes}), got {ids[:5].tolist()}")
    return ids


def zsl_top1(distances: ArrayLike, labels: ArrayLike, unseen_classes: Sequence[int] | ArrayLike) -> float:
    """ZSL top-1: per-class mean accuracy when predicting among the unseen classes only (CLAREL Table 2).

    Args:
        distances: (N, C) distances of each test image to every class prototype.
        labels: (N,) true class ids; every one must be an unseen class.
        unseen_classes: Class ids of the unseen classes (the candidate set).

    Returns:
        Per-class mean top-1 accuracy in [0, 1].
    """
    d, y = _check_distances(distances, labels)
    unseen = _class_ids(unseen_classes, d.shape[1], "unseen_classes")
    stray = np.setdiff1d(np.unique(y), unseen)
    if stray.size:
        raise ValueError(f"labels: ZSL evaluates unseen-class samples only, found seen classes {stray[:5].tolist()}")
    pred = unseen[np.argmin(d[:, unseen], axis=1)]
    return per_class_top1(pred, y)


def gzsl(distances: ArrayLike, labels: ArrayLike, seen_classes: Sequence[int] | ArrayLike,
         alpha: float = 0.0) -> GZSLResult:
    """GZSL accuracies with metric rescaling (CLAREL Section 2.1: ``d_alpha = (1 + alpha) d`` for seen classes).

    Args:
        distances: (N, C) non-negative distances to all class prototypes (seen and unseen).
        labels: (N,) true class ids; the test set must hold samples of both seen and unseen classes.
        seen_classes: Class ids seen in training; every other column is an unseen class.
        alpha: Rescaling factor (>= -1; CLAREL uses alpha >= 0).

    Returns:
        GZSLResult(u, s, h) as fractions in [0, 1].
    """
    d, y = _check_distances(distances, labels)
    seen = _class_ids(seen_classes, d.shape[1], "seen_classes")
    if not np.isfinite(alpha) or alpha < -1:
        raise ValueError(f"alpha: expected a finite value >= -1, got {alpha}")
    return _gzsl_scores(d, y, seen, float(alpha))


def _rescaled_argmin(d: np.ndarray, is_seen_col: np.ndarray, alpha: float) -> np.ndarray:
    """Eq. (1) with d_alpha: the nearest prototype after multiplying distances to seen ones by ``1 + alpha``."""
    return np.argmin(np.where(is_seen_col[None, :], d * (1.0 + alpha), d), axis=1)


def gzsl_predictions(distances: ArrayLike, seen_classes: Sequence[int] | ArrayLike, alpha: float = 0.0) -> np.ndarray:
    """(N,) predicted class ids of GZSL with metric rescaling: what :func:`gzsl` scores, for views that need the
    predictions themselves (e.g. how many unseen images go to a seen class, cmlib.studies.clarel.explore)."""
    d = to_numpy(distances, "distances")
    check_ndim(d, (2,), "distances", "(N, C)")
    is_seen_col = np.zeros(d.shape[1], dtype=bool)
    is_seen_col[_class_ids(seen_classes, d.shape[1], "seen_classes")] = True
    return _rescaled_argmin(d.astype(np.float64, copy=False), is_seen_col, float(alpha))


def _gzsl_scores(d: np.ndarray, y: np.ndarray, seen: np.ndarray, alpha: float) -> GZSLResult:
    """GZSL from validated inputs."""
    is_seen_col = np.zeros(d.shape[1], dtype=bool)
    is_seen_col[seen] = True
    sample_seen = is_seen_col[y]
    if sample_seen.all() or not sample_seen.any():
        kind = "unseen" if sample_seen.all() else "seen"
        raise ValueError(f"labels: GZSL needs test samples of both seen and unseen classes; found no {kind} sample")
    pred = _rescaled_argmin(d, is_seen_col, alpha)
    u = per_class_top1(pred[~sample_seen], y[~sample_seen])
    s = per_class_top1(pred[sample_seen], y[sample_seen])
    h = 2.0 * u * s / (u + s) if u + s > 0 else 0.0
    return GZSLResult(u, s, h)


def alpha_sweep(distances: ArrayLike, labels: ArrayLike, seen_classes: Sequence[int] | ArrayLike,
                alphas: Sequence[float]) -> list[GZSLResult]:
    """GZSL accuracies over a grid of rescaling factors (CLAREL Fig. 2: H against alpha).

    Args:
        distances, labels, seen_classes: As in ``gzsl``.
        alphas: Grid of alpha values.

    Returns:
        One GZSLResult per alpha, in order.
    """
    d, y = _check_distances(distances, labels)
    seen = _class_ids(seen_classes, d.shape[1], "seen_classes")
    grid = [float(a) for a in alphas]
    if not grid or any(not np.isfinite(a) or a < -1 for a in grid):
        raise ValueError(f"alphas: expected a non-empty list of finite values >= -1, got {list(alphas)}")
    return [_gzsl_scores(d, y, seen, a) for a in grid]
