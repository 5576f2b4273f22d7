"""Re-id CMC / mAP: hand-computed cases, a slow full-sort reference (CAL / torchreid style), bad input."""

import numpy as np
import pytest
import torch

from cmlib.metrics.reid import evaluate_rank, pairwise_distance


def slow_rank(dist, qp, gp, qc, gc, qcl, gcl, mode, max_rank):
    """CAL ``compute_ap_cmc``-style reference with a stable full argsort per query."""
    cmcs, aps, skipped = [], [], 0
    for i in range(dist.shape[0]):
        order = np.argsort(dist[i].astype(np.float32), kind="stable")
        same_pid, same_cam = gp[order] == qp[i], gc[order] == qc[i]
        good, junk = same_pid & ~same_cam, same_pid & same_cam
        if mode != "standard":
            same_cl = gcl[order] == qcl[i]
            good = good & (~same_cl if mode == "cloth_changing" else same_cl)
            junk = junk | (same_pid & (same_cl if mode == "cloth_changing" else ~same_cl))
        good = good[~junk]
        if not good.any():
            skipped += 1
            continue
        rows = np.flatnonzero(good)
        cmc = np.zeros(max_rank)
        if rows[0] < max_rank:
            cmc[rows[0]:] = 1
        cmcs.append(cmc)
        aps.append(np.mean([(j + 1) / (r + 1) for j, r in enumerate(rows)]))
    return np.mean(cmcs, axis=0), np.mean(aps), skipped


def test_hand_computed_single_query():
    # gallery: pid [1, 2, 1, 1, 3], cam [0, 1, 1, 0, 1]; query pid 1 cam 0
    dist = np.array([[0.1, 0.2, 0.3, 0.05, 0.4]])
    res = evaluate_rank(dist, [1], [1, 2, 1, 1, 3], [0], [0, 1, 1, 0, 1], max_rank=3)
    # junk: idx0, idx3 (same pid, same cam). valid ranking: idx1 (0.2), idx2 (0.3, good), idx4
    np.testing.assert_allclose(res.cmc, [0, 1, 1])
    assert res.mAP == pytest.approx(1 / 2) and res.n_skipped == 0


def test_ties_broken_by_gallery_index():
    dist = np.array([[0.5, 0.5, 0.5]])
    a = evaluate_rank(dist, [1], [2, 1, 1], [0], [1, 1, 1])  # good at idx 1, 2 -> ranks 1, 2
    assert a.mAP == pytest.approx((1 / 2 + 2 / 3) / 2)
    np.testing.assert_allclose(a.cmc[:2], [0, 1])


def test_cloth_modes_and_skipped():
    dist = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]])
    g_p, g_c, g_cl = [1, 1, 2], [1, 1, 1], [5, 6, 5]
    cc = evaluate_rank(dist, [1, 2], g_p, [0, 0], g_c, [5, 5], g_cl, mode="cloth_changing")
    # q0: good idx1 only (idx0 same clothes -> junk) -> rank 0 among valid [idx1, idx2]; q1: idx2 same clothes -> skip
    assert cc.mAP == 1.0 and cc.n_skipped == 1
    sc = evaluate_rank(dist, [1, 2], g_p, [0, 0], g_c, [5, 5], g_cl, mode="same_clothes")
    # q0: good idx0 (same clothes), idx1 junk -> AP 1; q1: good idx2 -> AP 1
    assert sc.mAP == 1.0 and sc.n_skipped == 0


@pytest.mark.parametrize("mode", ["standard", "cloth_changing", "same_clothes"])
def test_matches_slow_reference_random(mode):
    rng = np.random.default_rng(3)
    nq, ng = 40, 300
    dist = np.round(rng.random((nq, ng)), 2)  # rounded -> many ties
    qp, gp = rng.integers(0, 12, nq), rng.integers(0, 12, ng)
    qc, gc = rng.integers(0, 3, nq), rng.integers(0, 3, ng)
    qcl, gcl = rng.integers(0, 3, nq), rng.integers(0, 3, ng)
    got = evaluate_rank(torch.as_tensor(dist), qp, gp, qc, gc, qcl, gcl, mode=mode, max_rank=20, chunk_size=7)
    cmc, m_ap, skipped = slow_rank(dist, qp, gp, qc, gc, qcl, gcl, mode, 20)
    np.testing.assert_allclose(got.cmc, cmc)
    assert got.mAP == pytest.approx(m_ap, abs=1e-12) and got.n_skipped == skipped


def test_pairwise_distance_metrics():
    rng = np.random.default_rng(0)
    qf, gf = torch.as_tensor(rng.normal(size=(5, 8))), torch.as_tensor(rng.normal(size=(7, 8)))
    cos = pairwise_distance(qf, gf, "cosine", chunk_size=2)
    ref = 1 - torch.nn.functional.cosine_similarity(qf[:, None], gf[None], dim=-1)
    torch.testing.assert_close(cos, ref.float(), atol=1e-5, rtol=0)
    torch.testing.assert_close(pairwise_distance(qf, gf, "euclidean", chunk_size=3), torch.cdist(qf, gf).float(),
                               atol=1e-4, rtol=0)


@pytest.mark.parametrize("kwargs, match", [
    ({"distmat": np.array([[np.nan, 1.0]])}, "distmat: expected finite values, found 1 NaN"),
    ({"distmat": np.zeros((1, 0)), "g_pids": [], "g_cams": []}, "distmat: the gallery is empty"),
    ({"g_pids": [1]}, "g_pids: expected 2 rows to match distmat columns"),
    ({"mode": "cloth_changing"}, "mode 'cloth_changing' needs clothes ids"),
    ({"mode": "cc"}, "mode: expected 'standard'"),
    ({"g_pids": [3, 4]}, "no query has a valid match"),
])
def test_bad_input(kwargs, match):
    args = {"distmat": np.array([[0.1, 0.2]]), "q_pids": [1], "g_pids": [1, 2], "q_cams": [0], "g_cams": [1, 1]}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        evaluate_rank(**args)


def test_pairwise_bad_input():
    with pytest.raises(ValueError, match="qf has 3 dims but gf has 4"):
        pairwise_distance(torch.ones(2, 3), torch.ones(2, 4))
    with pytest.raises(ValueError, match="gf: expected a non-empty"):
        pairwise_distance(torch.ones(2, 3), torch.ones(0, 3))


@pytest.mark.parametrize("mode", ["standard", "cloth_changing", "same_clothes"])
def test_matches_slow_reference_dense_bins_and_block_edges(mode):
    # a large gallery of few distinct values (many items share each value bin), -0.0, queries without a match,
    # a good match tied with junk and valid items; chunk sizes cut the queries at odd places
    rng = np.random.default_rng(5)
    nq, ng = 23, 4000
    dist = rng.integers(-3, 40, (nq, ng)).astype(np.float32) / 37
    dist[dist == 0] = -0.0
    dist[3] = 0.25  # one row all equal: every good match ties
    qp, gp = rng.integers(0, 30, nq), rng.integers(0, 25, ng)
    qc, gc = rng.integers(0, 2, nq), rng.integers(0, 2, ng)
    qcl, gcl = rng.integers(0, 2, nq), rng.integers(0, 2, ng)
    cmc, m_ap, skipped = slow_rank(dist, qp, gp, qc, gc, qcl, gcl, mode, 30)
    for chunk in (1, 5, 512):
        got = evaluate_rank(dist, qp, gp, qc, gc, qcl, gcl, mode=mode, max_rank=30, chunk_size=chunk)
        np.testing.assert_allclose(got.cmc, cmc)
        assert got.mAP == pytest.approx(m_ap, abs=1e-12) and got.n_skipped == skipped


def test_continuous_distances_match_reference():
    rng = np.random.default_rng(8)
    qf, gf = torch.randn(40, 16), torch.randn(2500, 16)
    qp, gp = rng.integers(0, 20, 40), rng.integers(0, 20, 2500)
    qc, gc = np.zeros(40, int), rng.integers(0, 3, 2500)
    dist = pairwise_distance(qf, gf, "cosine").numpy()
    got = evaluate_rank(dist, qp, gp, qc, gc, max_rank=50)
    cmc, m_ap, skipped = slow_rank(dist, qp, gp, qc, gc, None, None, "standard", 50)
    np.testing.assert_allclose(got.cmc, cmc)
    assert got.mAP == pytest.approx(m_ap, abs=1e-12) and got.n_skipped == skipped
