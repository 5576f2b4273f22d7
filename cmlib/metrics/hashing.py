"""Hamming-ranking retrieval metrics for binary codes (WHCMT, Table 2: MAP@5000 at 8/16/24/32 bits).

A database item is relevant to a query when the two share at least one label (the NUS-WIDE / MIRFLICKR convention
of WDHT, WSDHQ and DeepHash). Items are ranked by Hamming distance; ties are broken by database index (a stable
ranking), so every number here is deterministic. The reference implementations (DeepHash-pytorch ``CalcTopMap``)
use ``np.argsort``'s quicksort, whose tie order is unspecified; our stable order is the documented choice.

Speed: Hamming distances take only ``b + 1`` values, so the top-k of a query is found by counting, never by sorting
the whole database. Per distinct query code (queries that share a code share a ranking), one pass over the database
keeps the items within a distance bound sampled to hold about 1.5 k of them, and a counting-sort placement on their
distance values orders them by (distance, index); AP@k is then computed for every query of that code while the
ranking is in cache (its label masks gathered once when several queries share it; P@j from a table of 1 / j, summed
in four fixed-order partial sums, so results are deterministic and agree with a plain sum to ~1e-15). These loops are compiled with numba (``_hamming_kernels``): NumPy would need (Q, N) temporaries
that cost more than the distances themselves. Relevance comes from labels packed into bit masks (one AND per item).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np

from cmlib.metrics import _hamming_kernels as K
from cmlib.metrics._checks import ArrayLike, as_multi_hot, check_len, check_ndim, check_nonempty, to_numpy

__all__ = ["Convention", "HammingCodes", "MAPResult", "hamming_distances", "mean_average_precision", "pack_codes",
           "pack_labels", "pr_curve", "precision_at_n", "precision_recall_radius", "tag_label_auc", "top_k_ranking"]

Convention = Literal["wsdhq", "deephash"]
_WORD_DTYPES = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


class MAPResult(NamedTuple):
    """Mean average precision and how many queries entered the mean."""

    map: float
    n_scored: int
    n_dropped: int


class HammingCodes(NamedTuple):
    """Bit-packed binary codes: ``words`` (N, W) of one unsigned dtype, ``n_bits`` code length."""

    words: np.ndarray
    n_bits: int


# ----------------------------------------------------------------------------------------------------------- inputs
def pack_codes(codes: ArrayLike, name: str = "codes", packed: bool = False, n_bits: int | None = None) -> HammingCodes:
    """Validates binary codes and packs them into machine words.

    Args:
        codes: (N, b) codes in {0, 1} or in {-1, +1} (tensor or array), or, with ``packed=True``, (N, ceil(b/8))
            uint8 bytes as produced by ``np.packbits(bits, axis=1)``.
        name: Argument name used in error messages.
        packed: Whether ``codes`` are already packed bytes.
        n_bits: Code length for packed input (default: 8 x bytes); ignored otherwise.

    Returns:
        HammingCodes with ``words`` (N, W): one uint8/16/32/64 word per code up to 64 bits, else W uint64 words.
    """
    arr = to_numpy(codes, name)
    check_ndim(arr, (2,), name, "(N, b)")
    if packed:
        if arr.dtype != np.uint8:
            raise ValueError(f"{name}: packed codes must be uint8 bytes from np.packbits, got dtype {arr.dtype}")
        bits = int(n_bits) if n_bits is not None else arr.shape[1] * 8
        if not 0 < bits <= arr.shape[1] * 8:
            raise ValueError(f"{name}: n_bits={n_bits} does not fit {arr.shape[1]} packed bytes")
        if bits < arr.shape[1] * 8:  # bits past n_bits are padding, not code: zero them (distances stay <= n_bits)
            arr = arr.copy()
            arr[:, bits // 8] &= np.uint8((0xFF << (8 - bits % 8)) & 0xFF)
            arr[:, bits // 8 + 1:] = 0
        return HammingCodes(_bytes_to_words(arr), bits)
    if arr.shape[1] == 0:
        raise ValueError(f"{name}: expected at least one bit per code, got shape {tuple(arr.shape)}")
    bits01 = _to_bits(arr, name)
    return HammingCodes(_bytes_to_words(np.packbits(bits01, axis=1)), arr.shape[1])


def _to_bits(arr: np.ndarray, name: str) -> np.ndarray:
    """(N, b) {0,1} or {-1,+1} values -> bool (N, b); anything else raises."""
    if arr.dtype == bool:
        return arr
    if arr.size == 0:
        return arr.astype(bool)
    if np.issubdtype(arr.dtype, np.integer):  # two reductions decide it (the element-wise tests cost 3x more)
        lo, hi = arr.min(), arr.max()
        if lo >= 0 and hi <= 1:
            return arr > 0
        if lo >= -1 and hi <= 1 and not (arr == 0).any():
            return arr > 0
    zero_one = (arr == 0) | (arr == 1)
    if zero_one.all():
        return arr > 0
    if ((arr == -1) | (arr == 1)).all():
        return arr > 0
    values = np.unique(arr[~zero_one])
    raise ValueError(
        f"{name}: expected binary codes in {{0, 1}} or {{-1, +1}} (or packed=True bytes), found values "
        f"{values[:5].tolist()}{'...' if values.size > 5 else ''}"
    )


def _bytes_to_words(packed: np.ndarray) -> np.ndarray:
    """(N, B) uint8 -> (N, W) words of the smallest width holding B bytes (multiples of uint64 beyond 8 bytes)."""
    n_bytes = packed.shape[1]
    width = next((w for w in (1, 2, 4, 8) if n_bytes <= w), None)
    if width is None:
        width = 8 * -(-n_bytes // 8)
    padded = np.zeros((packed.shape[0], width), dtype=np.uint8)
    padded[:, :n_bytes] = packed
    dtype = _WORD_DTYPES.get(width, np.uint64)
    return np.ascontiguousarray(padded).view(dtype)


def pack_labels(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Bool (N, C) labels -> bit masks, class c at bit c: (N, 1) of the smallest unsigned dtype holding
    ``n_classes`` bits up to 64 classes (uint32 for NUS-WIDE's 21), else (N, ceil(C/64)) uint64."""
    full = np.zeros((labels.shape[0], 64 * -(-n_classes // 64)), dtype=bool)
    full[:, : labels.shape[1]] = labels
    words = np.packbits(full, axis=1, bitorder="little").view(np.uint64)
    return K.narrow(words, n_bits=n_classes)[0]


def _prepare(query_codes, db_codes, query_labels, db_labels, packed: bool, n_bits: int | None):
    """Validates the four inputs; returns (query HammingCodes, db HammingCodes, query label bits, db label bits)."""
    q = pack_codes(query_codes, "query_codes", packed, n_bits)
    d = pack_codes(db_codes, "db_codes", packed, n_bits)
    check_nonempty(q.words, "query_codes")
    check_nonempty(d.words, "db_codes")
    if q.n_bits != d.n_bits:
        raise ValueError(f"query_codes has {q.n_bits} bits but db_codes has {d.n_bits}; expected the same length")
    ql = as_multi_hot(query_labels, "query_labels")
    dl = as_multi_hot(db_labels, "db_labels")
    check_len(ql, q.words.shape[0], "query_labels", "query_codes")
    check_len(dl, d.words.shape[0], "db_labels", "db_codes")
    n_cls = max(ql.shape[1], dl.shape[1])
    return q, d, pack_labels(ql, n_cls), pack_labels(dl, n_cls)


# -------------------------------------------------------------------------------------------------------- rankings
def hamming_distances(query_words: np.ndarray, db_words: np.ndarray) -> np.ndarray:
    """Hamming distances between packed codes (XOR + popcount in a compiled loop).

    Args:
        query_words: (Q, W) packed words (``pack_codes(...).words``).
        db_words: (N, W) packed words of the same layout.

    Returns:
        uint8 (Q, N) distances for codes below 255 bits, else uint16.
    """
    n_bits = query_words.shape[1] * query_words.dtype.itemsize * 8
    out = np.empty((query_words.shape[0], db_words.shape[0]), dtype=np.uint8 if n_bits < 255 else np.uint16)
    with K.threads():
        K.distances(*K.narrow(query_words, db_words, n_bits=n_bits), out)
    return out


class _CodeGroups(NamedTuple):
    """Queries grouped by code: code u (``codes[u]``) owns queries ``members[bounds[u]:bounds[u + 1]]``."""

    codes: np.ndarray  # (U, W) distinct query codes
    members: np.ndarray  # (Q,) int64 query indices, grouped by code
    bounds: np.ndarray  # (U + 1,) int64
    inverse: np.ndarray  # (Q,) int64 code of each query


def _group_by_code(words: np.ndarray) -> _CodeGroups:
    """Distinct query codes and their queries: queries that share a code share a ranking."""
    if words.shape[1] == 1:
        uniq, inverse = np.unique(words[:, 0], return_inverse=True)
        uniq = uniq[:, None]
    else:
        uniq, inverse = np.unique(words, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1).astype(np.int64)
    members = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[members], np.arange(uniq.shape[0] + 1)).astype(np.int64)
    return _CodeGroups(uniq, members, bounds, inverse)


def _check_k(k: int, n: int) -> None:
    if not 1 <= k <= n:
        raise ValueError(f"k: expected 1 <= k <= {n} (the database size), got {k}")


def top_k_ranking(query_words: np.ndarray, db_words: np.ndarray, n_bits: int, k: int) -> np.ndarray:
    """Top-k Hamming ranking of every query: by distance, ties by database index (stable); no sort.

    Each distinct query code gets one ranking: a pass over the database keeps the items within a sampled distance
    bound, and a counting-sort placement on their ``b + 1`` distance values orders them (``_hamming_kernels``).

    Args:
        query_words: (Q, W) packed query codes.
        db_words: (N, W) packed database codes.
        n_bits: Code length b.
        k: Ranking depth, 1 <= k <= N.

    Returns:
        int64 (Q, k) database indices, nearest first.
    """
    _check_k(k, db_words.shape[0])
    groups = _group_by_code(query_words)
    ranked = np.empty((groups.codes.shape[0], k), dtype=np.int32)
    with K.threads():
        K.rank_codes(*K.narrow(groups.codes, db_words, n_bits=n_bits), n_bits, k, K.n_chunks(ranked.shape[0]), K.dist_dtype(n_bits),
                     ranked)
    return ranked.astype(np.int64)[groups.inverse]


def _ap_per_query(q: HammingCodes, d: HammingCodes, q_bits: np.ndarray, d_bits: np.ndarray,
                  k: int) -> tuple[np.ndarray, np.ndarray]:
    """AP@k and relevant-in-top-k counts of every query (``_hamming_kernels.ap_at_k``), float64 (Q,), int64 (Q,).

    ``AP = (1 / R_k) * sum_{i <= k} rel_i * P@i`` with ``R_k`` the relevant items among the top k, 0 when none
    (DeepHash-pytorch ``CalcTopMap``; WSDHQ evaluates the same quantity).
    """
    _check_k(k, d.words.shape[0])
    groups = _group_by_code(q.words)
    n_q = q.words.shape[0]
    ap, hits = np.zeros(n_q), np.zeros(n_q, dtype=np.int64)
    with K.threads():
        K.ap_at_k(*K.narrow(groups.codes, d.words, n_bits=q.n_bits), q.n_bits, k, groups.members, groups.bounds,
                  q_bits, d_bits, K.n_chunks(groups.codes.shape[0]),
                  K.dist_dtype(q.n_bits), ap, hits)
    return ap, hits


# ---------------------------------------------------------------------------------------------------------- metrics
def mean_average_precision(query_codes: ArrayLike, db_codes: ArrayLike, query_labels: ArrayLike,
                           db_labels: ArrayLike, topk: int | None = None, convention: Convention = "wsdhq",
                           packed: bool = False, n_bits: int | None = None) -> MAPResult:
    """MAP@k of Hamming ranking (WHCMT Table 2 reports MAP@5000).

    Args:
        query_codes: (Q, b) {0,1} or {-1,+1} codes, or (Q, ceil(b/8)) uint8 bytes with ``packed=True``.
        db_codes: (N, b) database codes in the same format.
        query_labels: (Q, C) multi-hot or (Q,) class ids.
        db_labels: (N, C) multi-hot or (N,) class ids. Relevant = shares at least one label with the query.
        topk: Ranking depth k (None = the whole database). Ties at the k-th distance are cut by database index.
        convention: ``"wsdhq"``: AP over the top k divided by the relevant items retrieved there; queries with no
            relevant item in the top k are dropped from the mean and counted in ``n_dropped`` (WSDHQ evaluation as
            described in issue 3). ``"deephash"``: the same per-query AP, averaged over all queries with 0 for a
            query with no hit (DeepHash-pytorch ``CalcTopMap``: ``topkmap / num_query``).
        packed: Codes are packed bytes (``np.packbits(..., axis=1)``).
        n_bits: Code length for packed codes (default 8 x bytes).

    Returns:
        MAPResult(map in [0, 1], n_scored queries in the mean, n_dropped queries left out).
    """
    if convention not in ("wsdhq", "deephash"):
        raise ValueError(f"convention: expected 'wsdhq' or 'deephash', got {convention!r}")
    q, d, q_bits, d_bits = _prepare(query_codes, db_codes, query_labels, db_labels, packed, n_bits)
    n = d.words.shape[0]
    if topk is not None and (not isinstance(topk, (int, np.integer)) or topk < 1):
        raise ValueError(f"topk: expected a positive integer or None, got {topk!r}")
    k = n if topk is None else min(int(topk), n)
    ap, hits = _ap_per_query(q, d, q_bits, d_bits, k)
    if convention == "deephash":
        return MAPResult(float(ap.mean()), int(ap.size), 0)
    scored = hits > 0
    value = float(ap[scored].mean()) if scored.any() else 0.0
    return MAPResult(value, int(scored.sum()), int((~scored).sum()))


def precision_at_n(query_codes: ArrayLike, db_codes: ArrayLike, query_labels: ArrayLike, db_labels: ArrayLike,
                   ns: Sequence[int], packed: bool = False, n_bits: int | None = None) -> np.ndarray:
    """Precision@N curve: mean over queries of the fraction of relevant items among the top N (stable ranking).

    Args:
        query_codes, db_codes, query_labels, db_labels, packed, n_bits: As in ``mean_average_precision``.
        ns: Cut-offs N (each >= 1; values above the database size are clipped to it).

    Returns:
        float64 (len(ns),) precisions in [0, 1].
    """
    q, d, q_bits, d_bits = _prepare(query_codes, db_codes, query_labels, db_labels, packed, n_bits)
    ns_arr = np.asarray(list(ns), dtype=np.int64)
    if ns_arr.size == 0 or (ns_arr < 1).any():
        raise ValueError(f"ns: expected a non-empty list of positive cut-offs, got {list(ns)}")
    ns_arr = np.minimum(ns_arr, d.words.shape[0])
    ranked = top_k_ranking(q.words, d.words, q.n_bits, int(ns_arr.max()))
    rel = (d_bits[ranked] & q_bits[:, None, :]).any(axis=-1)
    hits_cum = np.cumsum(rel, axis=1)
    return (hits_cum[:, ns_arr - 1] / ns_arr).mean(axis=0)


def _radius_counts(q: HammingCodes, d: HammingCodes, q_bits: np.ndarray,
                   d_bits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-query counts by exact distance: retrieved (Q, b+1), relevant (Q, b+1), total relevant (Q,)."""
    all_cnt = np.zeros((q.words.shape[0], q.n_bits + 1), dtype=np.int64)
    rel_cnt = np.zeros_like(all_cnt)
    with K.threads():
        K.radius_counts(*K.narrow(q.words, d.words, n_bits=q.n_bits), q_bits, d_bits, all_cnt, rel_cnt)
    return all_cnt, rel_cnt, rel_cnt.sum(axis=1)


def precision_recall_radius(query_codes: ArrayLike, db_codes: ArrayLike, query_labels: ArrayLike,
                            db_labels: ArrayLike, radius: int = 2, packed: bool = False,
                            n_bits: int | None = None) -> tuple[float, float]:
    """Mean precision and recall of the items within Hamming radius ``radius`` (2 in the hashing literature).

    A query that retrieves nothing within the radius has precision 0 (DPSH / HashNet convention); a query with no
    relevant item in the database has recall 0.

    Returns:
        (precision, recall), fractions in [0, 1].
    """
    q, d, q_bits, d_bits = _prepare(query_codes, db_codes, query_labels, db_labels, packed, n_bits)
    if not 0 <= radius <= q.n_bits:
        raise ValueError(f"radius: expected 0 <= radius <= {q.n_bits}, got {radius}")
    all_cnt, rel_cnt, total_rel = _radius_counts(q, d, q_bits, d_bits)
    got = all_cnt[:, : radius + 1].sum(axis=1)
    hit = rel_cnt[:, : radius + 1].sum(axis=1)
    prec = np.divide(hit, got, out=np.zeros(got.shape), where=got > 0)
    rec = np.divide(hit, total_rel, out=np.zeros(got.shape), where=total_rel > 0)
    return float(prec.mean()), float(rec.mean())


def pr_curve(query_codes: ArrayLike, db_codes: ArrayLike, query_labels: ArrayLike, db_labels: ArrayLike,
             packed: bool = False, n_bits: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Precision-recall curve over Hamming radii 0..b (mean over queries, conventions of ``precision_recall_radius``).

    Returns:
        (precision, recall): float64 arrays of shape (b + 1,), entry r for radius r.
    """
    q, d, q_bits, d_bits = _prepare(query_codes, db_codes, query_labels, db_labels, packed, n_bits)
    all_cnt, rel_cnt, total_rel = _radius_counts(q, d, q_bits, d_bits)
    got, hit = np.cumsum(all_cnt, axis=1), np.cumsum(rel_cnt, axis=1)
    prec = np.divide(hit, got, out=np.zeros(got.shape), where=got > 0)
    rec = np.divide(hit, total_rel[:, None], out=np.zeros(got.shape), where=total_rel[:, None] > 0)
    return prec.mean(axis=0), rec.mean(axis=0)


def tag_label_auc(tag_vectors: ArrayLike, labels: ArrayLike, *, sample: int = 3000, seed: int = 0) -> float:
    """How well tags supervise: the ROC AUC with which the cosine similarity of two images' mean tag vectors separates
    the pairs that share a label from the rest (WHCMT issue 30, item 1; the premise of every tag-supervised claim).

    Weakly-supervised hashing (WDHT, WHCMT eqs. 2-3) pulls together the codes of images whose tag vectors are close;
    this number says how often "close tags" means "a shared label", the relevance of the evaluation. 0.5 = tags carry
    no label information, 1 = tag similarity ranks every label-sharing pair above every other pair. Measured on the
    real MIRFLICKR-25K tags: 0.55 with GloVe-300, 0.59 with word2vec trained on the tag lists (issue 30).

    Args:
        tag_vectors: (N, D) mean tag vector per image; every row nonzero (drop images without a tag vector first).
        labels: (N, C) multi-hot labels; a pair is positive when the two images share at least one label.
        sample: at most this many images, drawn without replacement (``seed``), enter; every pair of them is scored
            (3,000 images = 4.5 M pairs, ~2 s).
        seed: seed of that draw.

    Returns:
        The AUC in [0, 1] (the Mann-Whitney statistic over all pairs, ties counted one half).

    Raises:
        ValueError: shapes disagree, fewer than 2 images, a zero or non-finite row, or no positive / no negative pair.
    """
    from scipy.stats import rankdata

    v = to_numpy(tag_vectors, "tag_vectors").astype(np.float64)
    y = as_multi_hot(labels, "labels")
    check_ndim(v, (2,), "tag_vectors", "(N, D)")
    check_len(y, v.shape[0], "labels", "tag_vectors")
    if v.shape[0] < 2 or sample < 2:
        raise ValueError(f"tag_label_auc: needs >= 2 images and sample >= 2, got {v.shape[0]} images, sample={sample}")
    norms = np.linalg.norm(v, axis=1)
    bad = np.flatnonzero(~(np.isfinite(norms) & (norms > 0)))
    if bad.size:
        raise ValueError(f"tag_vectors: {bad.size} rows are zero or non-finite (first: row {bad[0]}); drop images "
                         "without a tag vector first")
    if v.shape[0] > sample:
        keep = np.sort(np.random.default_rng(seed).choice(v.shape[0], sample, replace=False))
        v, y, norms = v[keep], y[keep], norms[keep]
    u = v / norms[:, None]
    upper = np.triu_indices(len(u), k=1)
    sims = (u @ u.T)[upper]
    yf = y.astype(np.float32)
    pos = (yf @ yf.T > 0)[upper]
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"tag_label_auc: {n_pos} label-sharing and {n_neg} other pairs; the AUC needs both")
    ranks = rankdata(sims)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))
