"""Speed and memory of cmlib.metrics at dataset scale, against baselines timed in the same run (issue 3).

Run: ``.venv/bin/python benchmarks/metrics.py [--quick] [--repeat N]``. For each case it prints our time, each
baseline's time, the ratios, the targets with PASS / MISS (hashing: against the issue's NumPy XOR + popcount pass
and faiss; a compiled all-pairs XOR + popcount on all threads is printed as a stronger, informative baseline), and
the peak extra memory (RSS high-water mark above the pre-call RSS, read from /proc/self/status after resetting it
through /proc/self/clear_refs). Every fast result is checked against a slow,
obviously correct reference on a subset of queries (stable full argsort); the script exits 1 if one disagrees.
Performance targets that are missed are reported as such, not turned into a failure.

Data are synthetic (codes / features correlated with labels, a fixed seed) at the sizes of NUS-WIDE
(2,100 x 193,734, 21 labels), MIRFLICKR (2,000 x 22,581, 24 labels) and Celeb-reID (2,972 x 11,006, 632 ids).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numba
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cmlib.metrics import _hamming_kernels, hashing, reid
from cmlib.protocol import engine


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def measure(fn, *args, repeat: int = 1, **kwargs):
    """Runs fn once untimed, ``repeat`` times for the time (10 when a call takes < 0.1 s), then once for the memory.

    Returns (result, best seconds, peak extra MiB above the pre-call RSS). The first call on new inputs is slower
    (fresh pages, idle threads waking: 31 -> 23 -> 14 ms for the MIRFLICKR 8-bit MAP) and resetting the
    high-water mark (/proc/self/clear_refs) slows the call after it, so neither enters the timing.
    """
    out = None
    if repeat > 1:
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        if time.perf_counter() - t0 < 0.1:  # like timeit's autorange: short calls get more runs, 10 at least
            repeat = max(repeat, 10)
    best = float("inf")
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    before = _status_kib("VmRSS")
    fn(*args, **kwargs)
    peak = max(_status_kib("VmHWM") - before, 0) / 1024
    return out, best, peak


# ------------------------------------------------------------------------------------------------------------ data
def hashing_data(n_q: int, n_db: int, n_labels: int, bits: int, seed: int = 0):
    """Multi-hot labels and {0,1} codes = sign(label projection + noise): similar labels -> similar codes."""
    rng = np.random.default_rng(seed)
    labels = rng.random((n_q + n_db, n_labels)) < 2.0 / n_labels
    labels[np.arange(n_q + n_db), rng.integers(0, n_labels, n_q + n_db)] = True
    proj = rng.normal(size=(n_labels, bits))
    codes = (labels @ proj + 1.5 * rng.normal(size=(n_q + n_db, bits)) > 0).astype(np.uint8)
    return codes[:n_q], codes[n_q:], labels[:n_q], labels[n_q:]


def reid_data(n_q: int, n_g: int, n_ids: int, dim: int, seed: int = 0):
    """Features = identity centre + noise; query camera 0, gallery camera 1 (Celeb-reID has no camera split)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_ids, dim)).astype(np.float32)
    q_pids, g_pids = rng.integers(0, n_ids, n_q), rng.integers(0, n_ids, n_g)
    qf = centres[q_pids] + 5.0 * rng.normal(size=(n_q, dim)).astype(np.float32)
    gf = centres[g_pids] + 5.0 * rng.normal(size=(n_g, dim)).astype(np.float32)
    return torch.from_numpy(qf), torch.from_numpy(gf), q_pids, g_pids, np.zeros(n_q, int), np.ones(n_g, int)


# ------------------------------------------------------------------------------------------------------- baselines
def bare_xor_popcount(q_words: np.ndarray, d_words: np.ndarray, rows: int = 256, tile: int = 4096) -> int:
    """All query x database Hamming distances with NumPy (XOR + popcount on packed words, cache-sized tiles), nothing
    else; returns a checksum. The issue's baseline; it runs on one core (NumPy ufuncs are single-threaded)."""
    total = 0
    buf = np.empty((rows, tile), dtype=q_words.dtype)
    out = np.empty((rows, tile), dtype=np.uint16)
    for start in range(0, q_words.shape[0], rows):
        qs = q_words[start:start + rows]
        for j in range(0, d_words.shape[0], tile):
            ds = d_words[j:j + tile]
            b, o = buf[:qs.shape[0], :ds.shape[0]], out[:qs.shape[0], :ds.shape[0]]
            np.bitwise_xor(qs[:, None, 0], ds[None, :, 0], out=b)
            np.bitwise_count(b, out=o, casting="unsafe")
            for w in range(1, qs.shape[1]):
                np.bitwise_xor(qs[:, None, w], ds[None, :, w], out=b)
                o += np.bitwise_count(b).astype(np.uint16)
            total += int(o[:, 0].sum())
    return total


@numba.njit(parallel=True, cache=True)
def _compiled_bare(q: np.ndarray, d: np.ndarray) -> int:
    total = 0
    for i in numba.prange(q.shape[0]):
        s = 0
        for j in range(d.shape[0]):
            for w in range(q.shape[1]):
                s += _hamming_kernels._popcount(q[i, w] ^ d[j, w])
        total += s
    return total


def compiled_bare(q_words: np.ndarray, d_words: np.ndarray) -> int:
    """The same all-pairs XOR + popcount as one compiled loop on all threads (a stronger, informative baseline)."""
    with _hamming_kernels.threads():
        return int(_compiled_bare(*_hamming_kernels.narrow(q_words, d_words, n_bits=q_words.dtype.itemsize * 8 * q_words.shape[1])))


def faiss_search(q_codes: np.ndarray, d_codes: np.ndarray, k: int):
    import faiss

    index = faiss.IndexBinaryFlat(q_codes.shape[1])
    index.add(np.packbits(d_codes, axis=1))
    return index.search(np.packbits(q_codes, axis=1), k)


def slow_map(qc, dc, ql, dl, k):
    """Stable full argsort per query, AP over the top k / relevant retrieved, queries without hit dropped."""
    aps = []
    for i in range(qc.shape[0]):
        dist = (qc[i][None, :] != dc).sum(1)
        order = np.argsort(dist, kind="stable")[:k]
        rel = (dl[order] & ql[i]).any(1)
        if rel.any():
            hits = np.cumsum(rel)
            aps.append(np.sum(hits[rel] / (np.flatnonzero(rel) + 1)) / hits[-1])
    return float(np.mean(aps)) if aps else 0.0


def slow_rank(dist, qp, gp, qc, gc, max_rank=50):
    """CAL / torchreid standard protocol with a stable full argsort per query."""
    order = np.argsort(dist, axis=1, kind="stable")
    cmcs, aps = [], []
    for i in range(dist.shape[0]):
        keep = ~((gp[order[i]] == qp[i]) & (gc[order[i]] == qc[i]))
        good = ((gp[order[i]] == qp[i]) & (gc[order[i]] != qc[i]))[keep]
        if not good.any():
            continue
        rows = np.flatnonzero(good)
        cmcs.append(np.arange(max_rank) >= rows[0])
        aps.append(np.mean(np.arange(1, rows.size + 1) / (rows + 1)))
    return np.mean(cmcs, axis=0), float(np.mean(aps))


# ------------------------------------------------------------------------------------------------------- benchmarks
REPEAT = 2  # timings: best of REPEAT runs (faiss, the slowest, once); set by --repeat
ROWS: list[tuple[str, str]] = []  # (case, PASS/MISS summary) for the final table


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def bench_hashing(label: str, n_q: int, n_db: int, n_labels: int, bits_list, k: int, n_check: int) -> bool:
    all_ok = True
    for bits in bits_list:
        qc, dc, ql, dl = hashing_data(n_q, n_db, n_labels, bits, seed=bits)
        res, t_ours, peak = measure(hashing.mean_average_precision, qc, dc, ql, dl, topk=k, repeat=REPEAT)
        with engine.torch_threads(1):  # the NumPy baseline is single-threaded: our one-thread time, for the record
            _, t_one, _ = measure(hashing.mean_average_precision, qc, dc, ql, dl, topk=k, repeat=REPEAT)
        qw, dw = hashing.pack_codes(qc).words, hashing.pack_codes(dc).words
        _, t_xor, _ = measure(bare_xor_popcount, qw, dw, repeat=REPEAT)
        compiled_bare(qw[:2], dw[:2])  # compile outside the timing
        _, t_cxor, _ = measure(compiled_bare, qw, dw, repeat=REPEAT)
        _, t_faiss, _ = measure(faiss_search, qc, dc, k)  # once: faiss is the slowest, seconds per run
        sub = hashing.mean_average_precision(qc[:n_check], dc, ql[:n_check], dl, topk=k)
        ref = slow_map(qc[:n_check], dc, ql[:n_check], dl, k)
        ok = abs(sub.map - ref) < 1e-9
        all_ok &= ok
        r_xor, r_faiss = t_ours / t_xor, t_faiss / t_ours
        p_xor, p_faiss, p_mem = r_xor <= 2.0, r_faiss >= 8.0, peak <= 1024
        name = f"{label} MAP@{k} {bits}b"
        print(f"{name:<24} ours {t_ours:7.3f} s (1 thread {t_one:6.3f} s) | bare XOR+popcount {t_xor:6.3f} s -> "
              f"ours/bare {r_xor:5.2f}x (target <= 2: {verdict(p_xor)}; 1 thread {t_one / t_xor:5.2f}x) | compiled "
              f"bare {t_cxor:6.3f} s -> {t_ours / t_cxor:5.2f}x | faiss k={k} {t_faiss:7.3f} s -> faiss/ours "
              f"{r_faiss:5.2f}x (target >= 8: {verdict(p_faiss)}) | peak +{peak:5.0f} MiB (<= 1024: {verdict(p_mem)}) | "
              f"MAP {res.map:.4f} | reference {'OK' if ok else 'MISMATCH'}", flush=True)
        summary = (f"{verdict(p_xor and p_faiss and p_mem)} (ours/bare {r_xor:.2f}x, faiss/ours {r_faiss:.2f}x, "
                   f"+{peak:.0f} MiB)")
        ROWS.append((name, summary))
    return all_ok


def bench_reid(n_q: int, n_g: int, n_ids: int, dims, n_check: int) -> bool:
    all_ok = True
    for dim in dims:
        qf, gf, qp, gp, qc, gc = reid_data(n_q, n_g, n_ids, dim, seed=dim)

        def ours(qf=qf, gf=gf, qp=qp, gp=gp, qc=qc, gc=gc):
            return reid.evaluate_rank(reid.pairwise_distance(qf, gf, "cosine"), qp, gp, qc, gc)

        res, t_ours, peak = measure(ours, repeat=REPEAT)
        dist = reid.pairwise_distance(qf, gf, "cosine").numpy()
        _, t_sort, _ = measure(np.argsort, dist, axis=1, repeat=REPEAT)
        _, t_dist, _ = measure(reid.pairwise_distance, qf, gf, "cosine", repeat=REPEAT)
        _, t_rank, _ = measure(reid.evaluate_rank, dist, qp, gp, qc, gc, repeat=REPEAT)
        sub = reid.evaluate_rank(dist[:n_check], qp[:n_check], gp, qc[:n_check], gc)
        cmc, m_ap = slow_rank(dist[:n_check], qp[:n_check], gp, qc[:n_check], gc)
        ok = bool(np.allclose(sub.cmc, cmc, atol=1e-12) and abs(sub.mAP - m_ap) < 1e-9)
        all_ok &= ok
        p_time, p_mem = t_ours <= 1.0, peak <= 1024
        name = f"re-id {dim}-d cosine"
        print(f"{name:<24} ours {t_ours:7.3f} s (distances {t_dist:.3f} s + ranking {t_rank:.3f} s) | full argsort "
              f"{t_sort:6.3f} s -> argsort/ours {t_sort / t_ours:5.2f}x | target <= 1.0 s: {verdict(p_time)} | "
              f"peak +{peak:5.0f} MiB (<= 1024: {verdict(p_mem)}) | R1 {res.cmc[0]:.3f} mAP {res.mAP:.3f} | "
              f"reference {'OK' if ok else 'MISMATCH'}", flush=True)
        ROWS.append((name, f"{verdict(p_time and p_mem)} ({t_ours:.3f} s, +{peak:.0f} MiB)"))
    return all_ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one tenth of every size (a smoke run)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per timing, best kept (faiss: once)")
    args = parser.parse_args()
    global REPEAT
    REPEAT = args.repeat
    s = 10 if args.quick else 1
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else ["?"]
    print(f"torch threads: {torch.get_num_threads()} | quick: {args.quick} | best of {REPEAT} (10 below 0.1 s) after one untimed call (faiss: one cold call) | load average "
          f"{' '.join(load)} | wall clock on a shared machine")
    t0 = time.perf_counter()  # numba compiles the kernels on first use (or loads them from __pycache__)
    for bits in (8, 16, 32, 64):  # the dtypes of the cases below: codes by bit length, 21 / 24 labels in uint32
        hashing.mean_average_precision(*hashing_data(4, 64, 21, bits), topk=8)
    print(f"first calls (numba compile or cache load, once per process, outside every timing): "
          f"{time.perf_counter() - t0:.2f} s")
    ok = bench_hashing("NUS-WIDE", 2100 // s, 193734 // s, 21, (8, 16, 32, 64), 5000 // s, 40)
    ok &= bench_hashing("MIRFLICKR", 2000 // s, 22581 // s, 24, (8, 16, 32, 64), 5000 // s, 40)
    ok &= bench_reid(2972 // s, 11006 // s, 632 // s, (2048, 512), 300)
    print("\nsummary (speed targets of issue 3; a MISS is reported, not an error):")
    for name, line in ROWS:
        print(f"  {name:<24} {line}")
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else ["?"]
    print(f"load average at the end: {' '.join(load)}")
    print("all results agree with the references" if ok else "A RESULT DISAGREES WITH ITS REFERENCE")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
