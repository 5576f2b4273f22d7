"""Numba kernels behind ``cmlib.metrics.hashing``: Hamming top-k rankings by counting, AP@k, radius counts.

Why compiled loops: a Hamming distance takes only ``b + 1`` values, so the top-k of a query needs no sort: a
vectorised pass stores the distances, a count (of every distance, or of a sample) gives the k-th distance, a
branch-free pass compacts the items within it in index order, and a counting-sort placement orders them by
(distance, index) (``_rank_one``). NumPy can only express this with several (Q, N) temporaries, which cost more
than the distances themselves; numba (a maintained JIT, no C code of ours) runs it below the cost of NumPy's own
XOR + popcount sweep (``benchmarks/metrics.py``). Queries sharing a code share a ranking, so rankings are made once
per distinct code and AP is computed for every query of that code while the ranking is in cache.

Codes and label masks arrive as (., W) unsigned words of one dtype (``narrow``); distances are ``popcount(q ^ d)``
summed over words, through LLVM's ``ctpop`` intrinsic (one instruction on x86-64). Every loop is a fixed order over
queries and items, so results are bit-identical whatever the thread count; threads follow
``torch.get_num_threads()`` (``threads``). Compiled code is cached next to this file (``cache=True``): the first
call in a fresh checkout compiles for a few seconds.
"""

from __future__ import annotations

from contextlib import contextmanager

import numba
import numpy as np
from numba import njit, prange
from numba.extending import intrinsic

_CHUNKS_PER_THREAD = 8  # work items per thread of a parallel loop (load balance; speed only)


@intrinsic
def _popcount(typingctx, x):
    """Number of set bits of an unsigned integer (LLVM ``ctpop``); returns the argument's type."""

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return x(x), codegen


@njit(inline="always")
def _distance(q: np.ndarray, db: np.ndarray, i: int) -> int:
    """Hamming distance between query words q (W,) and database row i of db (N, W)."""
    d = 0
    for w in range(q.shape[0]):
        d += _popcount(q[w] ^ db[i, w])
    return d


_SAMPLE = 4096  # database items whose distances bracket each query's k-th distance (speed only)
_SLACK = 1.5  # the bracket aims at this many times k candidates, plus a few (speed only)
_EXACT_SHARE = 8  # k >= N / 8: count every distance instead of bracketing from a sample (speed only)
_LEVEL_PASS_BITS = 16  # codes up to this length count distances level by level (few levels; speed only)


@njit(cache=True)
def _fill_distances(q: np.ndarray, db: np.ndarray, dist: np.ndarray) -> None:
    """dist[i] = Hamming distance of q (W,) to db[i] (db (N, W), dist (N,)); a vectorised loop for one word."""
    if q.shape[0] == 1:  # one word (codes up to 64 bits): a flat, unit-stride loop that LLVM vectorises
        q0 = q[0]
        flat = db.reshape(db.shape[0])
        for i in range(flat.shape[0]):
            dist[i] = _popcount(q0 ^ flat[i])
    else:
        for i in range(db.shape[0]):
            dist[i] = _distance(q, db, i)


@njit(cache=True)
def _count(dist: np.ndarray, hist: np.ndarray, step: int) -> None:
    """hist[d] = number of items dist[::step] at distance d."""
    hist[:] = 0
    for i in range(0, dist.shape[0], step):
        hist[dist[i]] += 1


@njit(cache=True)
def _count_to(dist: np.ndarray, hist: np.ndarray, k: int) -> None:
    """hist[d] = number of items at distance d, for d = 0, 1, ... up to the first level whose cumulative count
    reaches k; later levels are left 0 (the exact placement reads no level past that one).

    One vectorised compare-and-count pass per level instead of a scatter histogram (whose increments of the same
    counter wait on each other): about 4 passes for 8-bit codes at k = N / 4.5, 3x faster than one scatter pass;
    used up to ``_LEVEL_PASS_BITS`` bits (longer codes need more levels than a scatter pass costs).
    """
    hist[:] = 0
    seen = 0
    for d in range(hist.shape[0] - 1):
        c = 0
        for i in range(dist.shape[0]):
            c += dist[i] == d
        hist[d] = c
        seen += c
        if seen >= k:
            return


@njit(cache=True)
def _level(hist: np.ndarray, want: float) -> int:
    """Smallest distance t whose cumulative count reaches ``want`` (the last level if none does)."""
    t, seen = 0, hist[0]
    while seen < want and t < hist.shape[0] - 2:
        t += 1
        seen += hist[t]
    return t


@njit(cache=True)
def _compact(dist: np.ndarray, u: int, cand: np.ndarray) -> int:
    """Indices of the items at distance <= u, in index order, into cand (N + 1,); returns their number.

    Branch-free: every index is written at the current end and the end advances only when the item is kept.
    """
    m = 0
    for i in range(dist.shape[0]):
        cand[m] = i
        m += dist[i] <= u
    return m


@njit(cache=True)
def _place(dist: np.ndarray, cand: np.ndarray, m: int, k: int, hist: np.ndarray, out: np.ndarray) -> None:
    """Counting-sort placement of the m candidates (index order) into out[:k] by (distance, index).

    ``hist`` holds the candidates' distance counts on entry; it is turned into bucket start slots. Bucket t (the
    k-th distance) fills the slots left after all closer items; its later items, like farther ones, land in the
    dump slot out[k] (branch-free).
    """
    t = _level(hist, k)
    start = 0
    for d in range(t + 1):  # hist[d] becomes the next free slot of bucket d
        c = hist[d]
        hist[d] = start
        start += c
    hist[t + 1:] = k
    for j in range(m):
        i = cand[j]
        d = dist[i]
        p = hist[d]
        out[min(p, k)] = i
        hist[d] = p + 1


@njit(cache=True)
def _place_exact(dist: np.ndarray, k: int, hist: np.ndarray, cand: np.ndarray, out: np.ndarray) -> None:
    """Top-k placement from exact counts of every distance (``hist``), in one fused pass over the database.

    With t the k-th distance, the pass writes the items closer than t to ``cand`` (index order) and appends the
    first ``k - closer`` items at distance t, in index order, straight to their final slots out[closer:k] (later
    ones to the dump slot out[k]); the closer items are then placed by counting sort.
    """
    t = _level(hist, k)
    start = 0
    for d in range(t):  # hist[d] becomes the next free slot of bucket d
        c = hist[d]
        hist[d] = start
        start += c
    m, tie = 0, 0
    ties = cand[dist.shape[0] + 1:]  # the second half of the scratch
    for i in range(dist.shape[0]):
        d = dist[i]
        cand[m] = i
        m += d < t
        ties[tie] = i
        tie += d == t
    out[start:k] = ties[:k - start]
    for j in range(m):
        i = cand[j]
        d = dist[i]
        p = hist[d]
        out[p] = i
        hist[d] = p + 1


@njit(cache=True)
def _rank_one(q: np.ndarray, db: np.ndarray, k: int, hist: np.ndarray, dist: np.ndarray, cand: np.ndarray,
              out: np.ndarray) -> None:
    """Writes the top-k ranking of one query code into ``out``: by distance, ties by database index.

    A vectorised pass stores every distance. When k is a large share of the database (k >= N / 8) every distance
    is counted and ``_place_exact`` builds the ranking in one more pass. Otherwise the candidates are the items
    within a bound sampled from every (N / 4096)-th distance to hold about 1.5 k items (widened one level at a
    time if it kept fewer than k), compacted in index order and placed by counting sort (``_place``).

    Args:
        q: (W,) query words; db: (N, W) database words; k: depth, 1 <= k <= N.
        hist: (b + 2,) int64 scratch; dist: (N,) uint8 (b < 256) or uint16 scratch; cand: (2N + 2,) int32
            scratch.
        out: (k + 1,) int32 output; out[:k] is the ranking, out[k] a dump slot.
    """
    n = db.shape[0]
    n_bits = hist.shape[0] - 2
    _fill_distances(q, db, dist)
    if k * _EXACT_SHARE >= n or n < 8 * _SAMPLE:
        if n_bits <= _LEVEL_PASS_BITS:
            _count_to(dist, hist, k)
        else:
            _count(dist, hist, 1)
        _place_exact(dist, k, hist, cand, out)
        return
    step = n // _SAMPLE
    _count(dist, hist, step)
    u = _level(hist, _SLACK * k / step + 8.0)
    m = _compact(dist, u, cand)
    while m < k and u < n_bits:
        u += 1
        m = _compact(dist, u, cand)
    hist[:] = 0
    for j in range(m):
        hist[dist[cand[j]]] += 1
    _place(dist, cand, m, k, hist, out)


@njit(cache=True)
def _scratch(n: int, n_bits: int, k: int, dist_dtype):
    """Per-worker scratch of ``_rank_one``: hist (b + 2,), dist (N,), cand (2N + 2,), ranking (k + 1,)."""
    return (np.empty(n_bits + 2, np.int64), np.empty(n, dist_dtype), np.empty(2 * n + 2, np.int32),
            np.empty(k + 1, np.int32))


@njit(parallel=True, cache=True)
def rank_codes(codes: np.ndarray, db: np.ndarray, n_bits: int, k: int, n_chunks: int, dist_dtype,
               out: np.ndarray) -> None:
    """Top-k rankings of U query codes.

    Args:
        codes: (U, W) query words (``narrow``).
        db: (N, W) database words of the same dtype.
        n_bits: Code length b (distances lie in 0..b).
        k: Ranking depth, 1 <= k <= N.
        n_chunks: Parallel work items (each allocates its scratch once).
        dist_dtype: ``dist_dtype(b)``, the scratch dtype of the distances.
        out: (U, k) int32, filled with database indices, nearest first.
    """
    n_codes = codes.shape[0]
    for c in prange(n_chunks):
        hist, dist, cand, ranking = _scratch(db.shape[0], n_bits, k, dist_dtype)
        for u in range(c * n_codes // n_chunks, (c + 1) * n_codes // n_chunks):
            _rank_one(codes[u], db, k, hist, dist, cand, ranking)
            out[u] = ranking[:k]


@njit(inline="always")
def _shares_label(a: np.ndarray, i: int, b: np.ndarray, j: int) -> bool:
    """Whether label masks a[i] and b[j] share a set bit (branch-free: relevance is unpredictable)."""
    acc = a[i, 0] & b[j, 0]
    for w in range(1, a.shape[1]):
        acc |= a[i, w] & b[j, w]
    return acc != 0


@njit(cache=True)
def _hit_ranks(q_labels: np.ndarray, qi: int, labels: np.ndarray, ranking: np.ndarray, k: int,
               hit_at: np.ndarray) -> int:
    """Ranks (0-based, ascending) of the top-k items sharing a label with query qi, into ``hit_at`` (k + 1,);
    returns their number.

    The j-th ranked item's labels are ``labels[ranking[j]]``, or ``labels[j]`` when ``ranking`` is empty (labels
    already gathered in rank order: a contiguous scan). Branch-free: relevance is a coin flip the branch predictor
    cannot learn. One label word (up to 64 classes) takes a single AND per item.
    """
    h = 0
    gathered = ranking.shape[0] == 0
    if labels.shape[1] == 1:
        mask = q_labels[qi, 0]
        col = labels[:, 0]
        if gathered:
            for j in range(k):
                hit_at[h] = j
                h += (col[j] & mask) != 0
        else:
            for j in range(k):
                hit_at[h] = j
                h += (col[ranking[j]] & mask) != 0
    else:
        for j in range(k):
            hit_at[h] = j
            h += _shares_label(q_labels, qi, labels, j if gathered else ranking[j])
    return h


@njit(cache=True)
def _precision_sum(hit_at: np.ndarray, h: int, inv_rank: np.ndarray) -> float:
    """sum_{i < h} P@(hit_at[i] + 1) = sum_i (i + 1) / (hit_at[i] + 1), as (i + 1) * inv_rank[hit_at[i]].

    Four partial sums in a fixed interleaving (term i goes to sum i % 4), added in a fixed order: the float
    additions no longer wait on each other, and the result does not depend on threads or data (deterministic).
    """
    s0 = s1 = s2 = s3 = 0.0
    i = 0
    while i + 4 <= h:
        s0 += (i + 1.0) * inv_rank[hit_at[i]]
        s1 += (i + 2.0) * inv_rank[hit_at[i + 1]]
        s2 += (i + 3.0) * inv_rank[hit_at[i + 2]]
        s3 += (i + 4.0) * inv_rank[hit_at[i + 3]]
        i += 4
    while i < h:
        s0 += (i + 1.0) * inv_rank[hit_at[i]]
        i += 1
    return (s0 + s1) + (s2 + s3)


@njit(parallel=True, cache=True)
def ap_at_k(codes: np.ndarray, db: np.ndarray, n_bits: int, k: int, members: np.ndarray, bounds: np.ndarray,
            q_labels: np.ndarray, d_labels: np.ndarray, n_chunks: int, dist_dtype, ap: np.ndarray,
            hits: np.ndarray) -> None:
    """AP@k of every query, one ranking per distinct query code.

    ``AP = (1 / R_k) * sum_{j <= k} rel_j * P@j`` with ``R_k`` the relevant items in the top k (0 when R_k = 0);
    relevant = sharing a label bit with the query. Per code, the ranked items' label masks are gathered once into a
    contiguous (k, L) block that every query of the code scans (``_hit_ranks``); P@j uses a table of 1 / j
    (``_precision_sum``).

    Args:
        codes: (U, W) distinct query codes (``narrow``).
        db: (N, W) database words of the same dtype.
        n_bits: Code length b.
        k: Ranking depth.
        members: (Q,) query indices grouped by code: code u owns ``members[bounds[u]:bounds[u + 1]]``.
        bounds: (U + 1,) int64 group boundaries.
        q_labels: (Q, L) query label masks (``narrow``).
        d_labels: (N, L) database label masks of the same dtype.
        n_chunks: Parallel work items.
        dist_dtype: ``dist_dtype(b)``, the scratch dtype of the distances.
        ap: (Q,) float64 output.
        hits: (Q,) int64 output, relevant items in the top k.
    """
    n_codes = codes.shape[0]
    inv_rank = 1.0 / np.arange(1.0, k + 1.0)
    for c in prange(n_chunks):
        hist, dist, cand, ranking = _scratch(db.shape[0], n_bits, k, dist_dtype)
        hit_at = np.empty(k + 1, np.int32)
        ranked_labels = np.empty((k, d_labels.shape[1]), d_labels.dtype)
        for u in range(c * n_codes // n_chunks, (c + 1) * n_codes // n_chunks):
            _rank_one(codes[u], db, k, hist, dist, cand, ranking)
            labels, order = d_labels, ranking
            if bounds[u + 1] - bounds[u] > 1:  # several queries scan this ranking: gather its labels once
                for j in range(k):
                    for w in range(d_labels.shape[1]):
                        ranked_labels[j, w] = d_labels[ranking[j], w]
                labels, order = ranked_labels, ranking[:0]
            for m in range(bounds[u], bounds[u + 1]):
                qi = members[m]
                h = _hit_ranks(q_labels, qi, labels, order, k, hit_at)
                hits[qi] = h
                ap[qi] = _precision_sum(hit_at, h, inv_rank) / h if h > 0 else 0.0


@njit(parallel=True, cache=True)
def radius_counts(q: np.ndarray, db: np.ndarray, q_labels: np.ndarray, d_labels: np.ndarray,
                  all_cnt: np.ndarray, rel_cnt: np.ndarray) -> None:
    """Per query, database items (``all_cnt``) and relevant items (``rel_cnt``) at each Hamming distance.

    Args:
        q: (Q, W) query words; db: (N, W) database words (``narrow``).
        q_labels: (Q, L), d_labels: (N, L) label masks (``narrow``).
        all_cnt, rel_cnt: (Q, b + 1) int64 outputs, zero on entry.
    """
    for qi in prange(q.shape[0]):
        for i in range(db.shape[0]):
            d = _distance(q[qi], db, i)
            all_cnt[qi, d] += 1
            if _shares_label(q_labels, qi, d_labels, i):
                rel_cnt[qi, d] += 1


@njit(parallel=True, cache=True)
def distances(q: np.ndarray, db: np.ndarray, out: np.ndarray) -> None:
    """(Q, N) Hamming distances of words q (Q, W) and db (N, W) (``narrow``) into ``out`` (uint8 or uint16)."""
    for qi in prange(q.shape[0]):
        for i in range(db.shape[0]):
            out[qi, i] = _distance(q[qi], db, i)


def dist_dtype(n_bits: int) -> type:
    """uint8 distances below 256 bits (a quarter of the cache traffic of int32), else uint16."""
    return np.uint8 if n_bits < 256 else np.uint16


def narrow(*arrays: np.ndarray, n_bits: int) -> tuple[np.ndarray, ...]:
    """(N, W) unsigned words holding ``n_bits`` significant bits -> C-contiguous words of one shared dtype.

    One word per row becomes the smallest unsigned dtype of at least ``n_bits`` bits: codes and label masks stay
    cache-sized (193,734 8-bit codes: 190 KiB instead of 1.5 MiB of uint64), and the dtype, hence the compiled
    specialisation, depends only on the code length or label count, never on the values. Values, hence bits and
    distances, are unchanged. Multi-word rows stay uint64.
    """
    if any(a.shape[1] != 1 for a in arrays) or n_bits > 64:
        return tuple(np.ascontiguousarray(a, dtype=np.uint64) for a in arrays)
    dtype = next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64) if n_bits <= np.iinfo(t).bits)
    return tuple(np.ascontiguousarray(a, dtype=dtype) for a in arrays)


@contextmanager
def threads():
    """Runs numba's parallel loops with ``torch.get_num_threads()`` threads (the project's one thread knob)."""
    import torch

    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield numba.get_num_threads()
    finally:
        numba.set_num_threads(before)


def n_chunks(n: int) -> int:
    """Parallel work items for n tasks under the current thread count."""
    return max(1, min(n, numba.get_num_threads() * _CHUNKS_PER_THREAD))
