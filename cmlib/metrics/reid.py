"""Person re-identification ranking metrics: CMC and mAP (DeSKPro, Tables 1-3: R-1, R-5, mAP).

Protocols (the ``mode`` argument), following the CAL / Simple-CCReID code (``tools/eval_metrics.py``,
``evaluate`` and ``evaluate_with_clothes``) and torchreid's ``eval_market1501``:

=================  ==============================================  ==========================================
mode               good (true matches)                             junk (removed from the ranking)
=================  ==============================================  ==========================================
``standard``       same pid, different camera                      same pid and same camera
``cloth_changing`` same pid, different camera, different clothes   same pid and (same camera or same clothes)
``same_clothes``   same pid, different camera, same clothes        same pid and (same camera or other clothes)
=================  ==============================================  ==========================================

AP of a query is the mean over its good items of the precision at each one's rank (CAL / torchreid, no
interpolation); CMC(r) is the fraction of queries whose first good item is within the top r. Queries with no good
item are skipped and counted (``n_skipped``); both means are over the remaining queries. Ranks use distances in
float32 (the dtype of torchreid / CAL distance matrices) with ties broken by gallery index (a stable ranking; the
reference code's ``np.argsort`` quicksort leaves tie order unspecified).

Speed: no sort. Same-person pairs come from the gallery grouped by id (good / junk flags per pair, vectorised);
per block of queries, each row's distances are mapped by a monotone affine map into bins spanning its good matches,
one ``bincount`` counts the valid items below each good match's bin, and only items sharing a bin with a good
match are compared exactly on (distance, gallery index) (``_block_ranks``). Cosine distances are one float32
matmul per query chunk, ``1 - sim`` in place.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from cmlib.metrics._checks import ArrayLike, check_finite, check_len, check_ndim, check_nonempty, to_numpy

__all__ = ["Metric", "Mode", "RankResult", "evaluate_rank", "pairwise_distance", "query_flags"]

Mode = Literal["standard", "cloth_changing", "same_clothes"]
Metric = Literal["cosine", "euclidean", "sqeuclidean"]


class RankResult(NamedTuple):
    """CMC curve (max_rank,), mAP and the number of queries skipped for having no valid match."""

    cmc: np.ndarray
    mAP: float
    n_skipped: int


def pairwise_distance(qf: ArrayLike, gf: ArrayLike, metric: Metric = "cosine", chunk_size: int = 4096) -> torch.Tensor:
    """Query-gallery distances computed in query chunks (float32).

    Args:
        qf: (Q, D) query features.
        gf: (G, D) gallery features.
        metric: ``"cosine"``: 1 - cosine similarity (features L2-normalised first, as DeSKPro / CAL evaluate);
            ``"euclidean"``: L2 distance; ``"sqeuclidean"``: squared L2 (torchreid's ``euclidean_squared_distance``;
            same ranking as ``"euclidean"``).
        chunk_size: Queries per block.

    Returns:
        float32 tensor (Q, G) on the features' device.
    """
    q = qf if isinstance(qf, torch.Tensor) else torch.as_tensor(to_numpy(qf, "qf"))
    g = gf if isinstance(gf, torch.Tensor) else torch.as_tensor(to_numpy(gf, "gf"))
    for name, t in (("qf", q), ("gf", g)):
        if t.ndim != 2 or t.shape[0] == 0:
            raise ValueError(f"{name}: expected a non-empty (N, D) feature matrix, got shape {tuple(t.shape)}")
        # a finite sum proves every entry finite (one fast reduction); only an inf / NaN sum, or a float32 overflow of
        # huge finite values, pays for the element-wise test (torch.isfinite(t).all() alone costs 0.15 s at 11k x 2048)
        if not torch.isfinite(t.sum()) and not torch.isfinite(t).all():
            raise ValueError(f"{name}: expected finite features, found NaN or infinite values")
    if q.shape[1] != g.shape[1]:
        raise ValueError(f"qf has {q.shape[1]} dims but gf has {g.shape[1]}; expected the same feature dimension")
    if metric not in ("cosine", "euclidean", "sqeuclidean"):
        raise ValueError(f"metric: expected 'cosine', 'euclidean' or 'sqeuclidean', got {metric!r}")
    q, g = q.float(), g.float()
    if metric == "cosine":
        q, g = F.normalize(q, dim=1), F.normalize(g, dim=1)
    out = torch.empty(q.shape[0], g.shape[0], dtype=torch.float32, device=q.device)
    g_t = g.t().contiguous()
    g_sq = (g * g).sum(1) if metric != "cosine" else None
    for start in range(0, q.shape[0], chunk_size):
        block = q[start:start + chunk_size]
        if metric == "cosine":
            dst = out[start:start + chunk_size]
            torch.mm(block, g_t, out=dst)
            dst.neg_().add_(1.0)  # 1 - sim in place: the same float32 rounding as ``1.0 - sim``
            continue
        sq = ((block * block).sum(1, keepdim=True) + g_sq[None, :] - 2.0 * (block @ g_t)).clamp_(min=0.0)
        out[start:start + chunk_size] = sq.sqrt_() if metric == "euclidean" else sq
    return out


def _ids(x: ArrayLike | None, n: int, name: str, other: str) -> np.ndarray:
    """Validates an id vector of length n."""
    arr = to_numpy(x, name)
    check_ndim(arr, (1,), name, "(N,)")
    check_len(arr, n, name, other)
    return arr


def _same_pid_pairs(qp: np.ndarray, gp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (query, gallery) index pairs with the same person id, sorted by query then gallery index."""
    g_order = np.argsort(gp, kind="stable")
    gp_sorted = gp[g_order]
    lo = np.searchsorted(gp_sorted, qp, side="left")
    n = np.searchsorted(gp_sorted, qp, side="right") - lo
    q_idx = np.repeat(np.arange(qp.shape[0]), n)
    within = np.arange(q_idx.size) - np.repeat(np.cumsum(n) - n, n)
    return q_idx, g_order[np.repeat(lo, n) + within]


def _good_junk(q_idx, g_idx, qc, gc, qcl, gcl, mode: Mode) -> tuple[np.ndarray, np.ndarray]:
    """Good and junk flags of same-pid pairs (see the module table); every other pair is a valid non-match."""
    same_cam = qc[q_idx] == gc[g_idx]
    good, junk = ~same_cam, same_cam
    if mode == "cloth_changing":
        same_cl = qcl[q_idx] == gcl[g_idx]
        good, junk = good & ~same_cl, junk | same_cl
    elif mode == "same_clothes":
        same_cl = qcl[q_idx] == gcl[g_idx]
        good, junk = good & same_cl, junk | ~same_cl
    return good, junk


_N_BINS = 1024  # value bins per query between its nearest and farthest good match (speed only; ranks are exact)


def _block_ranks(rows: np.ndarray, gq: np.ndarray, gg: np.ndarray, jq: np.ndarray, jg: np.ndarray) -> np.ndarray:
    """0-based ranks, among valid gallery items (ties by gallery index), of the good items of a block of queries.

    Counting, not sorting: each row's distances are mapped by a monotone affine map into ``_N_BINS`` bins spanning its
    good items' distances (below: bin 0, above: the last bin, junk: a bin of its own), one ``bincount`` gives the
    valid items in lower bins, and only the items sharing a bin with a good item are compared exactly on
    (distance, gallery index). Monotone binning makes the result exact whatever the rounding of the map.

    Args:
        rows: (R, G) float32 distances of the block's queries (C-contiguous).
        gq, gg: (M,) local row and gallery index of each good pair (sorted by row).
        jq, jg: local row and gallery index of each junk pair.

    Returns:
        int64 (M,) ranks, aligned with the good pairs.
    """
    n_rows, n_g = rows.shape
    width = _N_BINS + 2
    vals = rows[gq, gg].astype(np.float64)
    lo = np.full(n_rows, np.inf)
    hi = np.full(n_rows, -np.inf)
    np.minimum.at(lo, gq, vals)
    np.maximum.at(hi, gq, vals)
    has = np.isfinite(lo)
    lo, hi = np.where(has, lo, 0.0), np.where(has, hi, 0.0)
    span = hi - lo
    scale = np.where(span > 0, (_N_BINS - 2) / np.where(span > 0, span, 1.0), 1.0)
    scale = np.minimum(scale, 1e30)
    binf = np.multiply(rows, scale.astype(np.float32)[:, None])
    binf += (1.0 - lo * scale).astype(np.float32)[:, None]
    np.clip(binf, 0.0, float(_N_BINS), out=binf)
    bins = binf.astype(np.int32)
    bins += np.arange(0, n_rows * width, width, dtype=np.int32)[:, None]
    bins[jq, jg] = jq * width + _N_BINS + 1  # junk: a bin above every other, never counted
    flat_bins = bins.reshape(-1)
    hist = np.bincount(flat_bins, minlength=n_rows * width)
    below = np.cumsum(hist) - hist  # valid items of the same row in lower bins (rows are width-aligned)
    below -= np.repeat(below[::width], width)
    good_flat = gq * n_g + gg
    gbin = flat_bins[good_flat]
    lut = np.zeros(n_rows * width, dtype=bool)
    lut[gbin] = True
    sel = np.flatnonzero(np.take(lut, flat_bins))  # items sharing a bin with a good item (the good items among them)
    sel_bin = flat_bins[sel]
    sel_val = rows.reshape(-1)[sel] + np.float32(0.0)
    order = np.lexsort((sel, sel_val, sel_bin))  # by bin, then distance, then gallery index
    pos = np.empty(sel.size, dtype=np.int64)
    pos[order] = np.arange(sel.size)
    bin_start = np.searchsorted(sel_bin[order], gbin, side="left")
    return below[gbin] + pos[np.searchsorted(sel, good_flat)] - bin_start


def query_flags(q_pid: int, q_cam: int, q_clothes: int | None, g_pids: ArrayLike, g_cams: ArrayLike,
                g_clothes: ArrayLike | None, mode: Mode = "standard") -> tuple[np.ndarray, np.ndarray]:
    """(good, junk) flags (each (G,) bool) of every gallery item for one query: the rule :func:`evaluate_rank`
    applies (module table), for views that show one query's ranking (cmlib.studies.deskpro.explore)."""
    gp = np.asarray(to_numpy(g_pids, "g_pids")).reshape(-1)
    gc = np.asarray(to_numpy(g_cams, "g_cams")).reshape(-1)
    gcl = None if g_clothes is None else np.asarray(to_numpy(g_clothes, "g_clothes")).reshape(-1)
    if mode != "standard" and (q_clothes is None or gcl is None):
        raise ValueError(f"q_clothes/g_clothes: mode {mode!r} needs clothes ids for the query and gallery")
    same = np.flatnonzero(gp == q_pid)
    good, junk = np.zeros(gp.size, dtype=bool), np.zeros(gp.size, dtype=bool)
    qcl = None if q_clothes is None else np.array([q_clothes])
    g_good, g_junk = _good_junk(np.zeros(same.size, dtype=np.int64), same, np.array([q_cam]), gc, qcl, gcl, mode)
    good[same], junk[same] = g_good, g_junk
    return good, junk


def evaluate_rank(distmat: ArrayLike, q_pids: ArrayLike, g_pids: ArrayLike, q_cams: ArrayLike, g_cams: ArrayLike,
                  q_clothes: ArrayLike | None = None, g_clothes: ArrayLike | None = None, mode: Mode = "standard",
                  max_rank: int = 50, chunk_size: int = 512) -> RankResult:
    """CMC and mAP of a query-gallery distance matrix under one of three protocols.

    Args:
        distmat: (Q, G) finite distances (smaller = more similar), tensor or array.
        q_pids, g_pids: (Q,), (G,) person ids.
        q_cams, g_cams: (Q,), (G,) camera ids.
        q_clothes, g_clothes: (Q,), (G,) clothes ids; required by ``cloth_changing`` and ``same_clothes``.
        mode: ``"standard"``, ``"cloth_changing"`` or ``"same_clothes"`` (module docstring table).
        max_rank: Length of the returned CMC curve.
        chunk_size: Queries per block (bounds memory to a few (chunk, G) arrays).

    Returns:
        RankResult(cmc float64 (max_rank,), mAP in [0, 1], n_skipped queries without a good match).
    """
    if mode not in ("standard", "cloth_changing", "same_clothes"):
        raise ValueError(f"mode: expected 'standard', 'cloth_changing' or 'same_clothes', got {mode!r}")
    if not isinstance(max_rank, (int, np.integer)) or max_rank < 1:
        raise ValueError(f"max_rank: expected a positive integer, got {max_rank!r}")
    dist = to_numpy(distmat, "distmat")
    check_ndim(dist, (2,), "distmat", "(Q, G)")
    check_nonempty(dist, "distmat")
    if dist.shape[1] == 0:
        raise ValueError("distmat: the gallery is empty (shape (Q, 0)); expected at least one gallery item")
    check_finite(dist, "distmat")
    n_q, n_g = dist.shape
    qp, qc = _ids(q_pids, n_q, "q_pids", "distmat rows"), _ids(q_cams, n_q, "q_cams", "distmat rows")
    gp, gc = _ids(g_pids, n_g, "g_pids", "distmat columns"), _ids(g_cams, n_g, "g_cams", "distmat columns")
    qcl = gcl = None
    if mode != "standard":
        if q_clothes is None or g_clothes is None:
            raise ValueError(f"q_clothes/g_clothes: mode {mode!r} needs clothes ids for queries and gallery")
        qcl = _ids(q_clothes, n_q, "q_clothes", "distmat rows")
        gcl = _ids(g_clothes, n_g, "g_clothes", "distmat columns")
    pq, pg = _same_pid_pairs(qp, gp)
    good, junk = _good_junk(pq, pg, qc, gc, qcl, gcl, mode)
    gq, gg, jq, jg = pq[good], pg[good], pq[junk], pg[junk]
    first = np.full(n_q, -1, dtype=np.int64)
    ap = np.zeros(n_q, dtype=np.float64)
    chunk_size = max(1, min(int(chunk_size), (1 << 19) // n_g))  # a cache-sized block (speed only)
    g_bounds = np.searchsorted(gq, np.arange(0, n_q + chunk_size, chunk_size))
    j_bounds = np.searchsorted(jq, np.arange(0, n_q + chunk_size, chunk_size))
    for c, start in enumerate(range(0, n_q, chunk_size)):
        g0, g1 = g_bounds[c], g_bounds[c + 1]
        if g0 == g1:
            continue
        j0, j1 = j_bounds[c], j_bounds[c + 1]
        stop = min(start + chunk_size, n_q)
        rows = np.ascontiguousarray(dist[start:stop], dtype=np.float32)
        bq = gq[g0:g1]
        ranks = _block_ranks(rows, bq - start, gg[g0:g1], jq[j0:j1] - start, jg[j0:j1])
        order = np.lexsort((ranks, bq))  # per query, ranks ascending
        bq, ranks = bq[order], ranks[order]
        counts = np.bincount(bq - start, minlength=stop - start)
        starts = np.cumsum(counts) - counts
        nth = np.arange(bq.size) - np.repeat(starts, counts) + 1.0
        sums = np.bincount(bq - start, weights=nth / (ranks + 1.0), minlength=stop - start)
        has = counts > 0
        first[start:stop][has] = ranks[starts[has]]
        ap[start:stop][has] = sums[has] / counts[has]
    scored = first >= 0
    if not scored.any():
        raise ValueError(f"q_pids/g_pids: no query has a valid match in the gallery under mode {mode!r}")
    cmc = (first[scored, None] <= np.arange(max_rank)[None, :]).mean(axis=0)
    return RankResult(cmc, float(ap[scored].mean()), int((~scored).sum()))
