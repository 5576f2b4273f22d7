"""Hamming MAP@k and friends: hand-computed cases, a slow obviously-correct reference, bad input."""

import numpy as np
import pytest
import torch

from cmlib.metrics import hashing
from cmlib.metrics.hashing import MAPResult, mean_average_precision
from cmlib.protocol import engine


def slow_map(qc, dc, ql, dl, topk, convention):
    """Per query: Hamming distance, stable argsort, relevance = shared label, AP over top k."""
    aps, dropped = [], 0
    for i in range(len(qc)):
        dist = [sum(int(a != b) for a, b in zip(qc[i], row)) for row in dc]
        order = sorted(range(len(dc)), key=lambda j: (dist[j], j))[:topk]
        rel = [bool(np.any(np.logical_and(ql[i], dl[j]))) for j in order]
        hits, total = 0, 0.0
        for pos, r in enumerate(rel, start=1):
            if r:
                hits += 1
                total += hits / pos
        if hits == 0:
            dropped += 1
            if convention == "deephash":
                aps.append(0.0)
            continue
        aps.append(total / hits)
    return np.mean(aps) if aps else 0.0, dropped


def test_hand_computed_single_query_with_ties():
    # db distances to query 000: [1, 0, 1, 2]; stable ranking: idx1 (d0), idx0 (d1), idx2 (d1), idx3 (d2)
    q = np.array([[0, 0, 0]])
    db = np.array([[1, 0, 0], [0, 0, 0], [0, 1, 0], [1, 1, 0]])
    ql = np.array([[1, 0]])
    dl = np.array([[1, 0], [0, 1], [1, 1], [1, 0]])  # relevant: 0, 2, 3
    # ranked relevance: idx1 F, idx0 T, idx2 T, idx3 T -> AP = (1/2 + 2/3 + 3/4) / 3
    res = mean_average_precision(q, db, ql, dl, topk=None)
    assert res == MAPResult(pytest.approx((1 / 2 + 2 / 3 + 3 / 4) / 3), 1, 0)
    # top-2: idx1 F, idx0 T -> AP = (1/2) / 1 ; tie at distance 1 cut by index (idx0 before idx2)
    assert mean_average_precision(q, db, ql, dl, topk=2).map == pytest.approx(0.5)
    # top-1: nothing relevant -> wsdhq drops, deephash scores 0
    assert mean_average_precision(q, db, ql, dl, topk=1) == MAPResult(0.0, 0, 1)
    assert mean_average_precision(q, db, ql, dl, topk=1, convention="deephash") == MAPResult(0.0, 1, 0)


def test_empty_relevance_dropped_vs_zero():
    q = np.array([[0, 0], [1, 1]])
    db = np.array([[0, 0], [1, 1], [0, 1]])
    ql = np.array([[1, 0], [0, 1]])
    dl = np.array([[1, 0], [1, 0], [1, 0]])  # query 1 has no relevant item anywhere
    wsdhq = mean_average_precision(q, db, ql, dl)
    deephash = mean_average_precision(q, db, ql, dl, convention="deephash")
    assert wsdhq == MAPResult(1.0, 1, 1)
    assert deephash.map == pytest.approx(0.5) and deephash.n_scored == 2


@pytest.mark.parametrize("bits", [8, 13, 64, 72])
@pytest.mark.parametrize("convention", ["wsdhq", "deephash"])
def test_matches_slow_reference_on_random_inputs(bits, convention):
    rng = np.random.default_rng(bits)
    # a small code alphabet forces many exact ties; duplicate query codes exercise the shared rankings
    alphabet = rng.integers(0, 2, (12, bits))
    qc, dc = alphabet[rng.integers(0, 12, 15)], alphabet[rng.integers(0, 12, 120)]
    dc[::7] = rng.integers(0, 2, dc[::7].shape)
    ql, dl = rng.random((15, 6)) < 0.2, rng.random((120, 6)) < 0.2
    ql[0] = dl[0] = True  # at least one positive everywhere
    for topk in (1, 10, 37, None):
        ref, dropped = slow_map(qc, dc, ql, dl, topk or 120, convention)
        got = mean_average_precision(torch.as_tensor(qc * 2 - 1), dc, ql, dl, topk=topk, convention=convention)
        assert got.map == pytest.approx(ref, abs=1e-12)
        assert got.n_dropped == (dropped if convention == "wsdhq" else 0)


def test_top_k_widens_a_sampled_bound_that_keeps_too_few():
    # N=40960 > 8 x 4096 and k < N/8: the kernel brackets the k-th distance from every 10th item. Make exactly those
    # the only near items: the sampled bound (distance 0) keeps 4096 < k items and must be widened, still exact
    n, bits, k = 40960, 8, 4500
    db = np.ones((n, bits), dtype=np.int64)
    db[::10] = 0
    db[5::9, :3] = 0  # distance 5: the items that complete the ranking, in index order
    q = np.zeros((1, bits), dtype=np.int64)
    qw, dw = hashing.pack_codes(q).words, hashing.pack_codes(db).words
    np.testing.assert_array_equal(hashing.top_k_ranking(qw, dw, bits, k), _stable_top_k(qw, dw, k))


def test_packed_bits_equal_unpacked():
    rng = np.random.default_rng(1)
    qc, dc = rng.integers(0, 2, (9, 24)), rng.integers(0, 2, (50, 24))
    ql, dl = rng.integers(0, 3, 9), rng.integers(0, 3, 50)  # single-label class ids
    a = mean_average_precision(qc, dc, ql, dl, topk=20)
    b = mean_average_precision(np.packbits(qc.astype(np.uint8), axis=1), np.packbits(dc.astype(np.uint8), axis=1),
                               ql, dl, topk=20, packed=True)
    assert a == b


def test_precision_recall_radius_and_curves_hand_computed():
    q = np.array([[0, 0, 0, 0]])
    db = np.array([[0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]])
    ql, dl = np.array([[1]]), np.array([[1], [0], [1], [1]])
    prec, rec = hashing.precision_recall_radius(q, db, ql, dl, radius=2)
    assert (prec, rec) == (pytest.approx(0.5), pytest.approx(1 / 3))  # within r=2: idx0 (T), idx1 (F)
    p_curve, r_curve = hashing.pr_curve(q, db, ql, dl)
    np.testing.assert_allclose(p_curve, [1, 0.5, 0.5, 2 / 3, 0.75])
    np.testing.assert_allclose(r_curve, [1 / 3, 1 / 3, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(hashing.precision_at_n(q, db, ql, dl, [1, 2, 4]), [1, 0.5, 0.75])


def test_deterministic():
    rng = np.random.default_rng(5)
    qc, dc = rng.integers(0, 2, (30, 16)), rng.integers(0, 2, (500, 16))
    ql, dl = rng.random((30, 4)) < 0.3, rng.random((500, 4)) < 0.3
    assert mean_average_precision(qc, dc, ql, dl, topk=50) == mean_average_precision(qc, dc, ql, dl, topk=50)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"query_codes": np.array([[0, 2]])}, "query_codes: expected binary codes"),
        ({"query_codes": np.array([[0, -1]])}, "query_codes: expected binary codes"),
        ({"db_codes": np.zeros((3, 3), dtype=int)}, "query_codes has 2 bits but db_codes has 3"),
        ({"db_labels": np.array([[1], [0]])}, "db_labels: expected 3 rows to match db_codes"),
        ({"query_labels": np.array([[0]])}, "query_labels: labels have no positive entry anywhere"),
        ({"db_codes": np.zeros((0, 2), dtype=int), "db_labels": np.zeros((0, 1))}, "db_codes: expected at least one row"),
        ({"convention": "map"}, "convention: expected 'wsdhq' or 'deephash'"),
        ({"topk": 0}, "topk: expected a positive integer"),
        ({"query_codes": np.array([0, 1])}, r"query_codes: expected shape \(N, b\)"),
    ],
)
def test_bad_input_errors(kwargs, match):
    args = {"query_codes": np.array([[0, 1]]), "db_codes": np.array([[0, 1], [1, 1], [0, 0]]),
                "query_labels": np.array([[1]]), "db_labels": np.array([[1], [0], [1]])}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        mean_average_precision(**args)


def _stable_top_k(qw, dw, k):
    dist = hashing.hamming_distances(qw, dw).astype(np.int64)
    return np.argsort(dist, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("bits", [8, 16, 40, 64, 100])
def test_top_k_tie_buckets_straddling_k(bits):
    # few distinct codes -> huge tie buckets that straddle k; both the sampled-bound and the keep-all paths
    rng = np.random.default_rng(bits)
    alphabet = rng.integers(0, 2, (6, bits))
    db = alphabet[rng.integers(0, 6, 3000)]
    db[::11] = rng.integers(0, 2, db[::11].shape)
    q = np.concatenate([alphabet, rng.integers(0, 2, (9, bits))])
    qw, dw = hashing.pack_codes(q).words, hashing.pack_codes(db).words
    for k in (1, 37, 500, 1499, 2999, 3000):  # N < 8 x 4096: every k takes the exact-count path
        np.testing.assert_array_equal(hashing.top_k_ranking(qw, dw, bits, k), _stable_top_k(qw, dw, k))
    big = np.concatenate([db] * 12)  # N = 36000: small k take the sampled-bound path, ties straddle k
    bw = hashing.pack_codes(big).words
    for k in (1, 37, 500, 4499, 4500):
        np.testing.assert_array_equal(hashing.top_k_ranking(qw, bw, bits, k), _stable_top_k(qw, bw, k))
    with pytest.raises(ValueError, match="k: expected 1 <= k <= 3000"):
        hashing.top_k_ranking(qw, dw, bits, 3001)


def test_results_do_not_depend_on_the_thread_count():
    rng = np.random.default_rng(9)
    qc, dc = rng.integers(0, 2, (300, 16)), rng.integers(0, 2, (40000, 16))
    ql, dl = rng.random((300, 5)) < 0.3, rng.random((40000, 5)) < 0.3
    ql[:, 0] = True
    with engine.torch_threads(1):
        one = mean_average_precision(qc, dc, ql, dl, topk=1000)
    with engine.torch_threads(2):
        two = mean_average_precision(qc, dc, ql, dl, topk=1000)
    assert one == two and 0.0 < one.map < 1.0


def test_hamming_distances_one_and_many_words():
    rng = np.random.default_rng(3)
    for bits in (7, 64, 130):
        q, db = rng.integers(0, 2, (5, bits)), rng.integers(0, 2, (1000, bits))
        ref = (q[:, None, :] != db[None]).sum(-1)
        qw, dw = hashing.pack_codes(q).words, hashing.pack_codes(db).words
        np.testing.assert_array_equal(hashing.hamming_distances(qw, dw), ref)


def test_map_larger_random_against_reference_many_labels():
    # > 64 classes (two label words), duplicate query codes, k around a tie bucket
    rng = np.random.default_rng(11)
    qc, dc = rng.integers(0, 2, (12, 10)), rng.integers(0, 2, (900, 10))
    qc[6:] = qc[:6]
    ql, dl = rng.random((12, 70)) < 0.03, rng.random((900, 70)) < 0.03
    ql[:, 69] = True
    dl[::5, 69] = True
    for topk in (50, 333, None):
        for convention in ("wsdhq", "deephash"):
            ref, dropped = slow_map(qc, dc, ql, dl, topk or 900, convention)
            assert got_dropped(qc, dc, ql, dl, topk, convention) == (dropped if convention == "wsdhq" else 0)
            got = mean_average_precision(qc, dc, ql, dl, topk=topk, convention=convention)
            assert got.map == pytest.approx(ref, abs=1e-12)


def got_dropped(qc, dc, ql, dl, topk, convention):
    return mean_average_precision(qc, dc, ql, dl, topk=topk, convention=convention).n_dropped


def test_packed_padding_bits_are_not_code():
    # 12-bit codes in 2 bytes: garbage in the last 4 bits must not change distances or MAP
    rng = np.random.default_rng(4)
    qc, dc = rng.integers(0, 2, (6, 12)).astype(np.uint8), rng.integers(0, 2, (40, 12)).astype(np.uint8)
    ql, dl = rng.integers(0, 3, 6), rng.integers(0, 3, 40)
    qp, dp = np.packbits(qc, axis=1), np.packbits(dc, axis=1)
    qp[:, 1] |= 0x0F
    dp[::2, 1] |= 0x05
    got = mean_average_precision(qp, dp, ql, dl, topk=10, packed=True, n_bits=12)
    assert got == mean_average_precision(qc, dc, ql, dl, topk=10)
    assert hashing.pack_codes(qp, packed=True, n_bits=12).words.max() < 1 << 16
    assert (hashing.hamming_distances(hashing.pack_codes(qp, packed=True, n_bits=12).words,
                                      hashing.pack_codes(dp, packed=True, n_bits=12).words) <= 12).all()
