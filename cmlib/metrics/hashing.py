"""Hamming-ranking retrieval metrics for binary codes (WHCMT, Table 2: MAP@5000 at 8/16/24/32 bits).

A database item is relevant to a query when the two share at least one label (the NUS-WIDE / MIRFLICKR convention
of WDHT, WSDHQ and DeepHash). Items are ranked by Hamming distance; ties are broken by database index (a stable
ranking), so every number here is deterministic. The reference implementations (DeepHash-pytorch ``CalcTopMap``)
use ``np.argsort``'s quicksort, whose tie order is unspecified; our stable order is the documented choice.

Speed: Hamming distances take only ``b + 1`` values, so the top-k of a query is found by counting, never by sorting
the whole database. One pass over cache-sized database tiles computes each tile's distances (XOR + popcount on packed
words) and keeps only the items below a per-row threshold that drops, as the tiles go by, to the smallest distance
already reached by k items (``_rank_block``): what is kept is every item closer than the k-th distance plus a prefix,
by index, of the tie bucket, about 1.5 k items per row. A radix sort on the 16-bit ``(row, distance)`` key orders them.
Relevance comes from labels packed into uint64 bit masks. Queries that share a code share a ranking, so rankings are
computed once per distinct query code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np

from cmlib.metrics._checks import ArrayLike, as_multi_hot, check_len, check_ndim, check_nonempty, to_numpy

Convention = Literal["wsdhq", "deephash"]
_WORD_DTYPES = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
_SAMPLE = 4096  # database sample size used to bracket each query's k-th distance (correctness never depends on it)
_FULL_SORT_RATIO = 10  # N <= ratio * k: a per-row radix argsort of the distances is cheaper than the tiled pass
_TILE_BYTES = 1 << 20  # XOR temporary per database tile (about the L2 cache; speed only)


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
    """Bool (N, C) labels -> (N, ceil(C/64)) uint64 bit masks (padded to ``n_classes`` columns)."""
    full = np.zeros((labels.shape[0], 64 * -(-n_classes // 64)), dtype=bool)
    full[:, : labels.shape[1]] = labels
    return np.packbits(full, axis=1, bitorder="little").view(np.uint64)


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


# ------------------------------------------------------------------------------------------------------- distances
def _dist_dtype(words: np.ndarray) -> type:
    """uint8 distances while every level 0..b+1 fits (word capacity below 255 bits), else uint16."""
    return np.uint8 if words.shape[1] * words.dtype.itemsize * 8 < 255 else np.uint16


def _tile_cols(n_rows: int, words: np.ndarray) -> int:
    """Database columns per tile so that the (rows, tile) XOR temporary stays near ``_TILE_BYTES`` (L2 sized)."""
    return int(max(256, min(16384, _TILE_BYTES // max(1, n_rows * words.dtype.itemsize))))


def _hamming_tile(query_words: np.ndarray, db_words: np.ndarray, out: np.ndarray, buf: np.ndarray) -> None:
    """Writes the (R, T) Hamming distances of query_words (R, W) and db_words (T, W) into ``out``.

    ``buf`` is an (R, T) scratch array of the word dtype (the XOR); multi-word codes add one popcount per word.
    """
    np.bitwise_xor(query_words[:, None, 0], db_words[None, :, 0], out=buf)
    np.bitwise_count(buf, out=out, casting="unsafe")
    for w in range(1, query_words.shape[1]):
        np.bitwise_xor(query_words[:, None, w], db_words[None, :, w], out=buf)
        out += np.bitwise_count(buf).astype(out.dtype, copy=False)


def hamming_distances(query_words: np.ndarray, db_words: np.ndarray, tile: int | None = None) -> np.ndarray:
    """Hamming distances between packed codes, computed in cache-sized database tiles (XOR + popcount).

    Args:
        query_words: (Q, W) packed words.
        db_words: (N, W) packed words of the same dtype.
        tile: Database items per block (default keeps the Q x tile XOR temporary near ``_TILE_BYTES``).

    Returns:
        uint8 (Q, N) distances for codes below 255 bits, else uint16.
    """
    n_q, n = query_words.shape[0], db_words.shape[0]
    out = np.empty((n_q, n), dtype=_dist_dtype(query_words))
    tile = int(tile or _tile_cols(n_q, query_words))
    buf = np.empty((n_q, min(tile, n)), dtype=query_words.dtype)
    for start in range(0, n, tile):
        stop = min(start + tile, n)
        _hamming_tile(query_words, db_words[start:stop], out[:, start:stop], buf[:, : stop - start])
    return out


def _bracket(sample: np.ndarray, k: float, n_bits: int, slack: float) -> np.ndarray:
    """Per-row distance threshold expected to keep at least k items, from distances to a database sample.

    Args:
        sample: (R, S) distances of each row to S evenly spaced database items.
        k: Items wanted per row at the sample's scale (k_database x S / N).
        n_bits: Code length b (distances lie in 0..b).
        slack: Multiplier on the wanted count (>1 keeps a margin; a failing row is retried by the caller with more).

    Returns:
        int64 (R,) inclusive thresholds in 0..b.
    """
    rows, n_sample = sample.shape
    hist = np.bincount((sample.astype(np.int64) + (n_bits + 1) * np.arange(rows)[:, None]).ravel(),
                       minlength=rows * (n_bits + 1))
    cum = np.cumsum(hist.reshape(rows, n_bits + 1), axis=1)
    want = min(float(n_sample), slack * k + 8.0)
    return np.minimum((cum < want).sum(axis=1), n_bits)


def _rank_block(query_words: np.ndarray, db_words: np.ndarray, n_bits: int, k: int, slack: float = 1.5,
                tile: int | None = None) -> np.ndarray:
    """Top-k ranking, by (distance, database index), of a block of query codes; counting, never a full sort.

    One pass over database tiles: each tile's distances are computed in cache and only the items below a per-row
    strict threshold ``u`` are kept (row, column, distance). ``u`` starts one above a sample-based bracket of the
    k-th distance and drops to ``v`` as soon as the tiles seen so far hold k items at distance <= v: the true k-th
    distance t is then <= v, and the tie items at distance v that the ranking needs (the first ones by index) are
    already kept, so later tiles only need distance < v. The kept candidates hold every item at distance < t and a
    prefix, by index, of the distance-t bucket at least as long as needed; a stable radix sort on the small
    ``(row, distance)`` key then orders them by distance and index, and the first k per row are the ranking. Rows
    whose bracket kept fewer than k items are redone with a wider bracket (finally the whole database). When k is a
    large share of the database (``N <= _FULL_SORT_RATIO * k``) a stable per-row radix argsort of the uint8 / uint16
    distances (cache-resident, one pass per byte) is cheaper and is used instead.

    Args:
        query_words: (R, W) packed query codes (R * (b + 1) < 2**16 keeps the sort key 16-bit).
        db_words: (N, W) packed database codes.
        n_bits: Code length b.
        k: Ranking depth, 1 <= k <= N.
        slack: Margin of the first bracket.
        tile: Database columns per tile (default: ``_tile_cols``).

    Returns:
        int32 (R, k) database indices, nearest first.
    """
    n_rows, n = query_words.shape[0], db_words.shape[0]
    levels = n_bits + 1
    if n <= _FULL_SORT_RATIO * k:  # k a large share of the database: one cache-resident radix sort per row
        return np.argsort(hamming_distances(query_words, db_words), axis=1, kind="stable")[:, :k].astype(np.int32)
    if slack * k >= n:
        u = np.full(n_rows, levels, dtype=np.int64)
    else:
        sample_words = db_words[:: max(1, n // _SAMPLE)]
        sample = hamming_distances(query_words, sample_words)
        u = _bracket(sample, k * sample.shape[1] / n, n_bits, slack).astype(np.int64) + 1
    dist_dtype = _dist_dtype(query_words)
    shift = max(8, int(tile or _tile_cols(n_rows, query_words)).bit_length() - 1)
    tile = 1 << shift  # a power of two: rows and columns of a flat index are a shift and a mask
    buf = np.empty((n_rows, tile), dtype=query_words.dtype)
    dist = np.empty((n_rows, tile), dtype=dist_dtype)
    cnt = np.zeros((n_rows, levels), dtype=np.int64)
    parts = []
    u_small = u.astype(dist_dtype)[:, None]
    for start in range(0, n, tile):
        width = min(tile, n - start)
        _hamming_tile(query_words, db_words[start:start + width], dist[:, :width], buf[:, :width])
        if width < tile:
            dist[:, width:] = np.iinfo(dist_dtype).max  # padding never passes (u <= b + 1 < max)
        flat = np.flatnonzero(dist < u_small)
        if not flat.size:
            continue
        key = (flat >> shift) * levels + dist.reshape(-1)[flat]  # (row, distance): the sort key
        cnt += np.bincount(key, minlength=n_rows * levels).reshape(n_rows, levels)
        parts.append((key.astype(np.uint16 if n_rows * levels <= 65536 else np.int64),
                      ((flat & (tile - 1)) + start).astype(np.int32)))
        v = (np.cumsum(cnt, axis=1) < k).sum(axis=1)
        if (v < u).any():
            np.minimum(u, v, out=u)
            u_small = u.astype(dist_dtype)[:, None]
    failed = (np.cumsum(cnt, axis=1) < k).sum(axis=1) > u
    out = np.empty((n_rows, k), dtype=np.int32)
    if failed.any():
        out[failed] = _rank_block(query_words[failed], db_words, n_bits, k, slack * 4.0, tile)
        if failed.all():
            return out
    order = np.argsort(np.concatenate([p[0] for p in parts]), kind="stable")  # radix sort on a 16-bit key
    cols = np.concatenate([p[1] for p in parts])
    counts = cnt.sum(axis=1)  # every kept item was counted once, at its distance
    starts = np.cumsum(counts) - counts
    if failed.any():
        ok = np.flatnonzero(~failed)
        out[ok] = cols[order[starts[ok, None] + np.arange(k)]]
    else:
        out = cols[order[starts[:, None] + np.arange(k)]]
    return out


def _block_rows(n_bits: int, n: int, k: int) -> int:
    """Distinct query codes per block: small blocks keep each block's candidates (about 1.5 k per row) and its
    radix sort in cache; the full-sort path takes rows whose (rows, N) int64 argsort stays near 64 MiB."""
    if n <= _FULL_SORT_RATIO * k:
        return int(max(1, min(256, (64 << 20) // (8 * n))))
    return int(max(1, min(16, 65536 // (n_bits + 1), (256 << 20) // (24 * max(1, min(2 * k, n))))))


def top_k_ranking(query_words: np.ndarray, db_words: np.ndarray, n_bits: int, k: int,
                  chunk: int | None = None) -> np.ndarray:
    """Top-k Hamming ranking of every query (stable: ties by database index), computed once per distinct code.

    Args:
        query_words: (Q, W) packed query codes.
        db_words: (N, W) packed database codes.
        n_bits: Code length b.
        k: Ranking depth, 1 <= k <= N.
        chunk: Distinct query codes per block (default ``_block_rows``).

    Returns:
        int64 (Q, k) database indices, nearest first.
    """
    uniq, inverse = np.unique(query_words, axis=0, return_inverse=True)
    chunk = chunk or _block_rows(n_bits, db_words.shape[0], k)
    ranked = np.empty((uniq.shape[0], k), dtype=np.int64)
    for start in range(0, uniq.shape[0], chunk):
        ranked[start:start + chunk] = _rank_block(uniq[start:start + chunk], db_words, n_bits, k)
    return ranked[inverse.reshape(-1)]


def _relevance(ranked: np.ndarray, q_bits: np.ndarray, d_bits: np.ndarray) -> np.ndarray:
    """Bool (Q, k): does ranked item j share a label with query i (uint64 label masks, one AND per word)."""
    if q_bits.shape[1] == 1:
        shared = np.take(np.ascontiguousarray(d_bits[:, 0]), ranked)
        np.bitwise_and(shared, q_bits[:, :1], out=shared)
        return shared != 0
    return (d_bits[ranked] & q_bits[:, None, :]).any(axis=-1)


# ---------------------------------------------------------------------------------------------------------- metrics
def average_precision_at_k(rel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AP over a ranked relevance list, normalised by the relevant items retrieved.

    ``AP = (1 / R_k) * sum_{i <= k} rel_i * P@i`` with ``R_k`` the relevant items among the top k (DeepHash-pytorch
    ``CalcTopMap``; WSDHQ evaluates the same quantity).

    Args:
        rel: Bool (Q, k) relevance of each ranked item.

    Returns:
        (ap, hits): float64 (Q,) AP (0 where no hit) and int64 (Q,) hits in the top k.
    """
    hits_cum = np.cumsum(rel, axis=1, dtype=np.int32)
    hits = hits_cum[:, -1].astype(np.int64) if rel.shape[1] else np.zeros(rel.shape[0], dtype=np.int64)
    prec = hits_cum / np.arange(1, rel.shape[1] + 1)
    total = np.where(rel, prec, 0.0).sum(axis=1)
    return np.divide(total, hits, out=np.zeros_like(total), where=hits > 0), hits


def _ap_per_query(q: HammingCodes, d: HammingCodes, q_bits: np.ndarray, d_bits: np.ndarray,
                  k: int) -> tuple[np.ndarray, np.ndarray]:
    """AP@k and hits of every query, one block of distinct query codes at a time (memory: one block's ranking)."""
    uniq, inverse = np.unique(q.words, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    by_code = np.argsort(inverse, kind="stable")
    chunk = _block_rows(q.n_bits, d.words.shape[0], k)
    sub = max(1, (4 << 20) // k)  # queries per relevance block: (sub, k) bools and int64 cumsums
    ap, hits = np.zeros(inverse.size), np.zeros(inverse.size, dtype=np.int64)
    code_sorted = inverse[by_code]

    for start in range(0, uniq.shape[0], chunk):
        ranked = _rank_block(uniq[start:start + chunk], d.words, q.n_bits, k)
        lo, hi = np.searchsorted(code_sorted, (start, start + chunk))
        for s0 in range(lo, hi, sub):
            qq = by_code[s0:min(s0 + sub, hi)]
            ap[qq], hits[qq] = average_precision_at_k(_relevance(ranked[inverse[qq] - start], q_bits[qq], d_bits))
    return ap, hits


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
    rel = _relevance(top_k_ranking(q.words, d.words, q.n_bits, int(ns_arr.max())), q_bits, d_bits)
    hits_cum = np.cumsum(rel, axis=1)
    return (hits_cum[:, ns_arr - 1] / ns_arr).mean(axis=0)


def _radius_counts(q, d, q_bits, d_bits, chunk: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-query counts by exact distance: retrieved (Q, b+1), relevant (Q, b+1), total relevant (Q,)."""
    b = q.n_bits
    n_q = q.words.shape[0]
    all_cnt = np.zeros((n_q, b + 1), dtype=np.int64)
    rel_cnt = np.zeros((n_q, b + 1), dtype=np.int64)
    for start in range(0, n_q, chunk):
        dist = hamming_distances(q.words[start:start + chunk], d.words).astype(np.int64)
        rel = (q_bits[start:start + chunk, None, :] & d_bits[None]).any(axis=-1)
        offs = dist + (b + 1) * np.arange(dist.shape[0])[:, None]
        size = dist.shape[0] * (b + 1)
        all_cnt[start:start + chunk] = np.bincount(offs.ravel(), minlength=size).reshape(-1, b + 1)
        rel_cnt[start:start + chunk] = np.bincount(offs[rel], minlength=size).reshape(-1, b + 1)
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
