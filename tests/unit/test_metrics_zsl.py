"""ZSL / GZSL metrics: hand-computed cases, a slow reference, bad input."""

import numpy as np
import pytest

from cmlib.metrics.zsl import GZSLResult, alpha_sweep, gzsl, per_class_top1, zsl_top1


def test_per_class_top1_hand_computed():
    # class 0: 1/4 correct, class 1: 1/1 -> per-class mean 0.625 (per-sample accuracy would be 0.4)
    assert per_class_top1([0, 1, 1, 1, 1], [0, 0, 0, 0, 1]) == pytest.approx(0.625)
    assert per_class_top1([3], [3]) == 1.0  # a single sample


def test_gzsl_hand_computed_and_rescaling():
    # classes 0, 1 seen; 2 unseen. sample labels [0, 1, 2, 2]
    d = np.array([[1.0, 2.0, 1.1],   # seen 0: nearest 0; with alpha=0.2 -> 1.2 > 1.1 -> predicts 2
                  [3.0, 1.0, 2.0],   # seen 1: stays 1 (1.2 < 2)
                  [1.0, 3.0, 1.1],   # unseen 2: predicts 0; with alpha -> 1.2 > 1.1 -> 2
                  [2.0, 2.0, 1.5]])  # unseen 2: predicts 2
    labels = np.array([0, 1, 2, 2])
    assert gzsl(d, labels, [0, 1]) == GZSLResult(0.5, 1.0, pytest.approx(2 * 0.5 / 1.5))
    assert gzsl(d, labels, [0, 1], alpha=0.2) == GZSLResult(1.0, 0.5, pytest.approx(2 * 0.5 / 1.5))
    res = alpha_sweep(d, labels, [0, 1], [0.0, 0.2])
    assert res == [gzsl(d, labels, [0, 1], 0.0), gzsl(d, labels, [0, 1], 0.2)]


def test_h_is_zero_when_both_zero():
    d = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])  # everything predicted as (unseen) class 2
    assert gzsl(d, np.array([0, 1]), [1]) == GZSLResult(0.0, 0.0, 0.0)


def test_zsl_top1_restricts_to_unseen():
    d = np.array([[0.0, 2.0, 1.0], [0.0, 1.0, 2.0]])  # class 0 (seen) nearest for both, excluded in ZSL
    # among unseen {1, 2}: row 0 predicts 2, row 1 predicts 1
    assert zsl_top1(d, np.array([2, 1]), [1, 2]) == 1.0
    assert zsl_top1(d, np.array([1, 2]), [1, 2]) == 0.0
    assert zsl_top1(d, np.array([1, 1]), [1, 2]) == 0.5


def slow_gzsl(d, y, seen, alpha):
    preds = [min(range(d.shape[1]), key=lambda c: (d[i, c] * (1 + alpha) if c in seen else d[i, c], c))
             for i in range(len(y))]
    def acc(mask_fn):
        classes = sorted({int(c) for c in y if mask_fn(c)})
        return np.mean([np.mean([preds[i] == c for i in range(len(y)) if y[i] == c]) for c in classes])
    u, s = acc(lambda c: c not in seen), acc(lambda c: c in seen)
    return u, s, 2 * u * s / (u + s) if u + s else 0.0


def test_matches_slow_reference_random():
    rng = np.random.default_rng(0)
    for trial in range(5):
        d = rng.integers(0, 6, (60, 7)).astype(float)  # integer distances -> many ties (lowest class wins)
        y = rng.integers(0, 7, 60)
        seen = [0, 2, 3]
        for a in (0.0, 0.3, 1.0):
            assert tuple(gzsl(d, y, seen, a)) == pytest.approx(slow_gzsl(d, y, set(seen), a))


@pytest.mark.parametrize("d, y, match", [
    (np.ones((3, 4)), np.array([0, 1]), "labels: expected 3 rows"),
    (np.array([[np.nan, 1.0]]), np.array([0]), "distances: expected finite values, found 1 NaN"),
    (np.array([[-1.0, 1.0]]), np.array([0]), "distances: expected non-negative"),
    (np.ones((2, 2)), np.array([0, 5]), r"labels: expected integer class ids in \[0, 2\)"),
    (np.ones((2, 2)), np.array([0, 0]), "GZSL needs test samples of both seen and unseen"),
    (np.ones(3), np.array([0]), r"distances: expected shape \(N, C\)"),
])
def test_bad_input(d, y, match):
    with pytest.raises(ValueError, match=match):
        gzsl(d, y, [0])


def test_bad_class_lists():
    with pytest.raises(ValueError, match="seen_classes: expected integer class ids"):
        gzsl(np.ones((2, 2)), np.array([0, 1]), [7])
    with pytest.raises(ValueError, match="ZSL evaluates unseen-class samples only"):
        zsl_top1(np.ones((2, 3)), np.array([0, 1]), [1, 2])
    with pytest.raises(ValueError, match="alphas: expected a non-empty list"):
        alpha_sweep(np.ones((2, 2)), np.array([0, 1]), [0], [])


def test_gzsl_predictions_by_hand() -> None:
    """Distances to seen classes 0, 1 are scaled by 1 + alpha before the nearest prototype is taken."""
    from cmlib.metrics.zsl import gzsl_predictions

    d = np.array([[1.0, 2.0, 1.5], [1.0, 3.0, 1.1], [2.0, 0.5, 3.0]])
    assert gzsl_predictions(d, [0, 1], 0.0).tolist() == [0, 0, 1]
    assert gzsl_predictions(d, [0, 1], 0.2).tolist() == [0, 2, 1]  # 1.2 > 1.1
    assert gzsl_predictions(d, [0, 1], 0.6).tolist() == [2, 2, 1]  # 1.6 > 1.5; 0.8 < 3.0
