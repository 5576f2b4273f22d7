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

Speed: no index sort. Per query, the valid distances are sorted as values only, and each good item's rank is read
with ``searchsorted``; ties (rare) are resolved exactly by counting equal distances at lower gallery indices.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from cmlib.metrics._checks import ArrayLike, check_finite, check_len, check_ndim, check_nonempty, to_numpy

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
        if not torch.isfinite(t).all():
            raise ValueError(f"{name}: expected finite features, found NaN or infinite values")
    if q.shape[1] != g.shape[1]:
        raise ValueError(f"qf has {q.shape[1]} dims but gf has {g.shape[1]}; expected the same feature dimension")
    if metric not in ("cosine", "euclidean", "sqeuclidean"):
        raise ValueError(f"metric: expected 'cosine', 'euclidean' or 'sqeuclidean', got {metric!r}")
    q, g = q.float(), g.float()
    if metric == "cosine":
        q, g = F.normalize(q, dim=1), F.normalize(g, dim=1)
    out = torch.empty(q.shape[0], g.shape[0], dtype=torch.float32, device=q.device)
    g_t, g_sq = g.t().contiguous(), (g * g).sum(1)
    for start in range(0, q.shape[0], chunk_size):
        block = q[start:start + chunk_size]
        sim = block @ g_t
        if metric == "cosine":
            out[start:start + chunk_size] = 1.0 - sim
        else:
            sq = ((block * block).sum(1, keepdim=True) + g_sq[None, :] - 2.0 * sim).clamp_(min=0.0)
            out[start:start + chunk_size] = sq.sqrt_() if metric == "euclidean" else sq
    return out


def _ids(x: ArrayLike | None, n: int, name: str, other: str) -> np.ndarray:
    """Validates an id vector of length n."""
    arr = to_numpy(x, name)
    check_ndim(arr, (1,), name, "(N,)")
    check_len(arr, n, name, other)
    return arr


def _masks(qp, gp, qc, gc, qcl, gcl, mode: Mode) -> tuple[np.ndarray, np.ndarray]:
    """Good and junk masks (R, G) for a block of queries (see the module table)."""
    same_pid = qp[:, None] == gp[None, :]
    same_cam = qc[:, None] == gc[None, :]
    good = same_pid & ~same_cam
    junk = same_pid & same_cam
    if mode == "cloth_changing":
        same_cl = qcl[:, None] == gcl[None, :]
        good &= ~same_cl
        junk |= same_pid & same_cl
    elif mode == "same_clothes":
        same_cl = qcl[:, None] == gcl[None, :]
        good &= same_cl
        junk |= same_pid & ~same_cl
    return good, junk


def _good_ranks(row: np.ndarray, valid_sorted: np.ndarray, masked: np.ndarray, good_idx: np.ndarray) -> np.ndarray:
    """0-based ranks, among valid gallery items, of the good items of one query (ties by gallery index).

    Args:
        row: (G,) float32 distances of the query.
        valid_sorted: (G,) the row with junk set to +inf, sorted ascending.
        masked: (G,) the row with junk set to +inf (unsorted).
        good_idx: (M,) gallery indices of the good items, ascending.

    Returns:
        int64 (M,) ranks, ascending.
    """
    dm = row[good_idx]
    lt = np.searchsorted(valid_sorted, dm, side="left")
    eq = np.searchsorted(valid_sorted, dm, side="right") - lt
    ranks = lt.astype(np.int64)
    for j in np.flatnonzero(eq > 1):  # exact tie-break: equal valid distances at lower gallery index come first
        ranks[j] += int(np.count_nonzero(masked[: good_idx[j]] == dm[j]))
    return np.sort(ranks)


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
    first = np.full(n_q, -1, dtype=np.int64)
    ap = np.zeros(n_q, dtype=np.float64)
    for start in range(0, n_q, chunk_size):
        sl = slice(start, min(start + chunk_size, n_q))
        rows = dist[sl].astype(np.float32) + np.float32(0.0)  # -0.0 -> +0.0 so equal distances compare equal
        good, junk = _masks(qp[sl], gp, qc[sl], gc, None if qcl is None else qcl[sl], gcl, mode)
        masked = np.where(junk, np.float32(np.inf), rows)
        valid_sorted = torch.sort(torch.from_numpy(masked), dim=1).values.numpy()
        for i in range(rows.shape[0]):
            good_idx = np.flatnonzero(good[i])
            if good_idx.size == 0:
                continue
            ranks = _good_ranks(rows[i], valid_sorted[i], masked[i], good_idx)
            first[start + i] = ranks[0]
            ap[start + i] = np.mean(np.arange(1, ranks.size + 1) / (ranks + 1.0))
    scored = first >= 0
    if not scored.any():
        raise ValueError(f"q_pids/g_pids: no query has a valid match in the gallery under mode {mode!r}")
    cmc = (first[scored, None] <= np.arange(max_rank)[None, :]).mean(axis=0)
    return RankResult(cmc, float(ap[scored].mean()), int((~scored).sum()))
