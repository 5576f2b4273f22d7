"""DeSKPro timings (not a test): s/step of each stream kind, the per-replicate and whole-study estimate, and the
notebooks' wall times, against the issue's budget (study <= 75 min on 2 cores, pretraining and notebook 05 included;
issue 31; it was 35 min without notebook 05 at 64x32, issue 16).

    .venv/bin/python benchmarks/deskpro.py                    # step times + estimate for the study profile
    .venv/bin/python benchmarks/deskpro.py --smoke            # + the four smoke notebooks (budget 90 s each)
    .venv/bin/python benchmarks/deskpro.py --study            # + the study notebooks on a fresh run cache
    .venv/bin/python benchmarks/deskpro.py --from-reports     # the estimate checked against reports/deskpro/study
    .venv/bin/python benchmarks/deskpro.py --modes            # only fp32 against bf16 autocast, side by side

Step times are measured on this process's CPU with one torch thread (the replicates' setting): a few optimiser steps
of a fresh MultiBranchNet at the profile's sizes and P x K batch, for a body stream (with CSA), a face stream and the
OSNet pretraining classifier, alone and with two processes stepping at once (the study's ``jobs: 0`` on 2 cores).
The replicate's other work is measured too (:func:`replicate_overheads`: rendering the world, a validation pass
per stream kind, the whole test evaluation). The estimate: pretraining once + rounds of replicates x (3 body
streams x body_steps + 3 face streams x face_steps) x s/step + validation passes + world + test evaluation; "on 2
cores" runs two replicates at once at the two-process speed, which is how the budget is stated. (Before
2026-12-02 the estimate counted neither validation passes nor the test evaluation nor the two-process slowdown,
and the measured run took 1.9x its figure.) On a shared machine the figures depend on the load.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
SMOKE_BUDGET_S = 90.0  # per notebook
STUDY_BUDGET_S = 75 * 60.0  # all notebooks, >= 5 replicates, pretraining once, notebook 05, on 2 cores (issue 31)
BENCH_DIR = Path("build/bench/deskpro")
N_BODY, N_FACE = 3, 3  # G, G+CSA, G+CSA+Latt; teacher, student-, student+ (world; a real PRCC root adds one)


def dose_streams(cfg) -> dict[str, int]:
    """Streams notebook 05 trains per replicate beyond the cached study setting: G and G+CSA at every palette level
    but the study's, the three face streams at every body_identity level but the study's; and the worlds it renders."""
    body = 2 * sum(p != cfg.world.palette_size for p in cfg.palette_levels)
    face = 3 * sum(b != cfg.world.body_identity for b in cfg.body_identity_levels)
    return {"body": body, "face": face, "worlds": body // 2 + face // 3}


def step_seconds(cfg, kind: str, n: int = 12, warmup: int = 3, bf16: bool = False) -> float:
    """Median seconds of one optimiser step (forward, loss, backward, Adam) of a fresh stream, after ``warmup`` steps
    (a fresh process's first steps are up to 2x slower); ``bf16``: the forward and loss under CPU bf16 autocast, what
    ``run.device: {precision: bf16-mixed}`` makes Lightning Fabric do."""
    import contextlib

    import torch

    from cmlib.models.deskpro import MultiBranchNet
    from cmlib.studies.deskpro.priors import OSNetFeatures

    torch.set_num_threads(1)
    w, b = cfg.world, cfg.p * cfg.k
    if kind == "pretrain":
        net, x = nn_classifier(OSNetFeatures(cfg.model.width), cfg.pretrain_ids), torch.randn(cfg.pretrain.batch_size, 3, w.height, w.width)
        loss_of = lambda: torch.nn.functional.cross_entropy(net(x), torch.zeros(len(x), dtype=torch.long))
    else:
        size = (w.height, w.width) if kind == "body" else (w.face_size, w.face_size)
        net, x = MultiBranchNet(w.n_train_ids, cfg.model.width, cfg.model.feat_dim, csa=kind == "body"), torch.randn(b, 3, *size)
        loss_of = lambda: sum(l.logsumexp(1).mean() for l in net(x).logits)
    opt = torch.optim.Adam(net.parameters())
    times = []
    cast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    for i in range(n + warmup):
        t0 = time.perf_counter()
        with cast():
            loss = loss_of()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def nn_classifier(backbone, n_classes: int):
    import torch

    return torch.nn.Sequential(backbone, torch.nn.Linear(backbone.out_dim, max(n_classes, 2)))


def _load(profile: str):
    sys.path.insert(0, str(ROOT))
    from cmlib.protocol.config import from_params, load_yaml
    from cmlib.studies import deskpro

    return from_params(deskpro.Config, load_yaml(ROOT / f"params/deskpro/{profile}.yaml"))


def _steps_pair(args: tuple[str, str, bool]) -> float:
    """Worker of the two-process measurement: s/step of ``kind`` for ``profile`` (``bf16``: under autocast)."""
    profile, kind, bf16 = args
    return step_seconds(_load(profile), kind, bf16=bf16)


def concurrent_steps(profile: str, kind: str, bf16: bool = False) -> float:
    """s/step of ``kind`` while two processes step at once (how ``jobs: 0`` runs replicates on 2 cores)."""
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(2) as pool:
        return max(pool.map(_steps_pair, [(profile, kind, bf16)] * 2))


def modes(profile: str, repeats: int = 2) -> None:
    """fp32 against bf16 autocast, side by side in this run: s/step of a body and a face stream, one process and two
    at once, best of ``repeats`` each, alternating the modes so that a drift of the machine hits both."""
    from cmlib.protocol.engine import cpu_has_native_bf16

    cfg = _load(profile)
    print(f"== deskpro {profile}: fp32 vs bf16 autocast (native bf16 on this CPU: {cpu_has_native_bf16()})")
    for kind in ("body", "face"):
        best = {False: [float("inf")] * 2, True: [float("inf")] * 2}
        for _ in range(repeats):
            for bf16 in (False, True):
                best[bf16][0] = min(best[bf16][0], step_seconds(cfg, kind, bf16=bf16))
                best[bf16][1] = min(best[bf16][1], concurrent_steps(profile, kind, bf16))
        print(f"  {kind}: one process fp32 {best[False][0]:.3f} s/step, bf16 {best[True][0]:.3f} "
              f"(x{best[True][0] / best[False][0]:.2f}); two at once fp32 {best[False][1]:.3f}, bf16 "
              f"{best[True][1]:.3f} (x{best[True][1] / best[False][1]:.2f})", flush=True)


def replicate_overheads(cfg) -> dict[str, float]:
    """Seconds of a replicate's work that is not optimiser steps, on one thread: rendering the seed's world (and
    restoring its faces), one validation pass of a body and of a face stream, and the test evaluation of every
    table (``run_seed`` with each stream replaced by an untrained one: descriptors, rankings, Fig. 3, the cost
    table). Measured on seed 0 in a fresh cache."""
    import torch

    from cmlib.models.deskpro import MultiBranchNet
    from cmlib.studies import deskpro
    from cmlib.studies.deskpro import experiments, streams
    from cmlib.studies.deskpro.priors import FaceRestorer

    torch.set_num_threads(1)
    restorer = FaceRestorer(cfg.restore.channels).eval()
    with tempfile.TemporaryDirectory(prefix="deskpro-bench-") as tmp:
        cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, cache_dir=tmp))
        t0 = time.perf_counter()
        world = deskpro.build_world(cfg, 0, restorer)
        world_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        deskpro.build_world(cfg, 0, restorer)  # what run_seed repeats: the cached read
        reload_s = time.perf_counter() - t0
        n_cls = int(torch.unique(world.train.pids).numel())
        fresh = {n: MultiBranchNet(n_cls, cfg.model.width, cfg.model.feat_dim, csa=spec.csa).eval()
                 for n, spec in deskpro.STREAMS.items()}
        val = {}
        for kind, name in (("body", "G+CSA"), ("face", "student-")):
            score = streams._val_score(deskpro.STREAMS[name], world)
            t0 = time.perf_counter()
            score(fresh[name])
            val[kind] = time.perf_counter() - t0
        with (mock.patch.object(experiments, "train_stream", lambda c, w, name, seed, **k: (fresh[name], {})),
              mock.patch.object(experiments, "prepare", lambda c: (c, restorer, {}))):
            t0 = time.perf_counter()
            experiments.run_seed(cfg, 0)
            eval_s = time.perf_counter() - t0 - reload_s
    return {"world_s": world_s, "val_body_s": val["body"], "val_face_s": val["face"], "test_eval_s": max(eval_s, 0.0)}


def estimate(profile: str) -> dict[str, float]:
    """Step times (one process, and two at once), the replicate's other costs, and the study estimate (seconds)."""
    cfg = _load(profile)
    s = {k: step_seconds(cfg, k) for k in ("body", "face", "pretrain")}
    s2 = {k: concurrent_steps(profile, k) for k in ("body", "face")}
    over = replicate_overheads(cfg)
    dose = dose_streams(cfg)
    n_body, n_face = N_BODY + dose["body"], N_FACE + dose["face"]
    n_val = {"body": n_body * (cfg.body_steps // cfg.eval_every), "face": n_face * (cfg.face_steps // cfg.eval_every)}
    steps = {"body": n_body * cfg.body_steps, "face": n_face * cfg.face_steps}

    def replicate(step_s: dict[str, float], slow: float) -> float:
        """One replicate's seconds; ``slow`` scales the non-step work like the steps (two processes share memory)."""
        other = (1 + dose["worlds"]) * over["world_s"] + over["test_eval_s"] + sum(n_val[k] * over[f"val_{k}_s"] for k in n_val)
        return sum(steps[k] * step_s[k] for k in steps) + slow * other

    slow = s2["body"] / s["body"]
    pretrain = (cfg.pretrain.steps * s["pretrain"] + cfg.restore.steps * 0.05) if cfg.pretrain_ids else 0.0
    one_core = pretrain + len(cfg.run.seeds) * replicate(s, 1.0)
    workers = 2 if cfg.run.workers in (0, 2) else 1
    two_cores = pretrain + -(-len(cfg.run.seeds) // workers) * replicate(s2, slow)
    print(f"== deskpro {profile}: s/step body {s['body']:.3f}, face {s['face']:.3f}, pretrain {s['pretrain']:.3f} "
          f"(one thread); two processes at once: body {s2['body']:.3f}, face {s2['face']:.3f} (x{slow:.2f})")
    print(f"  per replicate: world {over['world_s']:.1f} s, validation pass body {over['val_body_s']:.2f} s / face "
          f"{over['val_face_s']:.2f} s ({n_val['body']} + {n_val['face']}), test evaluation {over['test_eval_s']:.1f} s; "
          f"alone ~{replicate(s, 1.0) / 60:.1f} min, beside another ~{replicate(s2, slow) / 60:.1f} min")
    print(f"  pretraining ~{pretrain / 60:.1f} min; {len(cfg.run.seeds)} replicates: ~{one_core / 60:.1f} min on one core, "
          f"~{two_cores / 60:.1f} min on 2 cores ({workers} at once; budget {STUDY_BUDGET_S / 60:.0f} min, ratio "
          f"{two_cores / STUDY_BUDGET_S:.2f})", flush=True)
    return {**{f"s_per_step_{k}": v for k, v in s.items()}, **{f"s_per_step_{k}_two": v for k, v in s2.items()},
            **over, "replicate_s": replicate(s, 1.0), "pretrain_s": pretrain, "one_core_s": one_core,
            "two_cores_s": two_cores}


def run_profile(profile: str, cache_dir: Path | None) -> list[tuple[str, bool, float]]:
    """Execute the profile's notebooks (reports under build/bench/deskpro/); (notebook, ok, seconds) each."""
    sys.path.insert(0, str(ROOT))
    from cmlib.runner import execute, plan

    os.environ.setdefault("PYTHONHASHSEED", "0")
    out = []
    for job in plan(ROOT, ["deskpro"], profile):
        name = job.notebook.stem
        params = dict(job.params)
        if cache_dir is not None:
            params.update(run={**params.get("run", {}), "cache_dir": str(cache_dir)}, pretrain_dir=str(cache_dir / "pretrain"))
        report = BENCH_DIR / profile / name
        job = dataclasses.replace(job, params=params, report_dir=report,
                                  output=report.with_name(f"{name}.partial") / f"{name}.ipynb")
        res = execute(job, ROOT)
        budget = f"  budget {SMOKE_BUDGET_S:.0f} s" if profile == "smoke" else ""
        print(f"  {name:20s} {'ok' if res.ok else 'FAILED'} in {res.seconds:7.1f} s{budget}", flush=True)
        out.append((name, res.ok, res.seconds))
    if profile != "smoke":
        total = sum(r[2] for r in out)
        print(f"  {'total':20s} {total:7.1f} s on one core (budget {STUDY_BUDGET_S:.0f} s on 2 cores)")
    return out


def from_reports() -> None:
    """Notebook wall times and per-stream training seconds of reports/deskpro/study."""
    total = 0.0
    for info in sorted((ROOT / "reports/deskpro/study").glob("*/run_info.json")):
        secs = float(json.loads(info.read_text()).get("notebook_wall_time_s", float("nan")))
        total += secs
        print(f"  {info.parent.name:20s} {secs:7.1f} s")
    print(f"  {'total':20s} {total:7.1f} s on one core, jobs 1 (budget {STUDY_BUDGET_S:.0f} s on 2 cores = "
          f"{2 * STUDY_BUDGET_S:.0f} core-seconds)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="run the smoke notebooks")
    ap.add_argument("--study", action="store_true", help="run the study notebooks on a fresh cache (~40 min)")
    ap.add_argument("--from-reports", action="store_true", help="read the wall times of reports/deskpro/study")
    ap.add_argument("--modes", action="store_true", help="only fp32 against bf16 autocast, side by side")
    args = ap.parse_args()
    if args.modes:
        modes("study")
        return 0
    figures = estimate("study")
    (ROOT / BENCH_DIR).mkdir(parents=True, exist_ok=True)
    (ROOT / BENCH_DIR / "estimate.json").write_text(json.dumps(figures, indent=1))
    ok = True
    for profile in (["smoke"] if args.smoke else []) + (["study"] if args.study else []):
        tmp = Path(tempfile.mkdtemp(prefix="deskpro-bench-")) if profile == "study" else None
        try:
            ok &= all(r[1] for r in run_profile(profile, tmp))
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
    if args.from_reports:
        from_reports()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
