"""DeSKPro timings (not a test): s/step of each stream kind, the per-replicate and whole-study estimate, and the
notebooks' wall times, against the issue's budget (study <= 35 min on 2 cores, pretraining included; issue 16).

    .venv/bin/python benchmarks/deskpro.py                    # step times + estimate for the study profile
    .venv/bin/python benchmarks/deskpro.py --smoke            # + the four smoke notebooks (budget 90 s each)
    .venv/bin/python benchmarks/deskpro.py --study            # + the study notebooks on a fresh run cache
    .venv/bin/python benchmarks/deskpro.py --from-reports     # the estimate checked against reports/deskpro/study

Step times are measured on this process's CPU with one torch thread (the replicates' setting): a few optimiser steps
of a fresh MultiBranchNet at the profile's sizes and P x K batch, for a body stream (with CSA), a face stream and the
OSNet pretraining classifier. The estimate: pretraining once + replicates x (3 body streams x body_steps + 3 face
streams x face_steps) x s/step, plus validation passes; "on 2 cores" halves the replicates' part (``jobs: 2`` runs two
replicates at once), which is how the budget is stated. On a shared machine the figures depend on the load.
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

ROOT = Path(__file__).resolve().parents[1]
SMOKE_BUDGET_S = 90.0  # per notebook
STUDY_BUDGET_S = 35 * 60.0  # all notebooks, >= 5 replicates, pretraining once, on 2 cores (issue 16)
BENCH_DIR = Path("build/bench/deskpro")
N_BODY, N_FACE = 3, 3  # G, G+CSA, G+CSA+Latt; teacher, student-, student+ (world; a real PRCC root adds one)


def step_seconds(cfg, kind: str, n: int = 4) -> float:
    """Mean seconds of one optimiser step (forward, loss, backward, Adam) of a fresh stream, after one warm-up."""
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
    for i in range(n + 1):
        t0 = time.perf_counter()
        loss = loss_of()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t0)
    return sum(times) / len(times)


def nn_classifier(backbone, n_classes: int):
    import torch

    return torch.nn.Sequential(backbone, torch.nn.Linear(backbone.out_dim, max(n_classes, 2)))


def estimate(profile: str) -> dict[str, float]:
    """Step times and the study estimate (seconds) of a profile."""
    sys.path.insert(0, str(ROOT))
    from cmlib.config import from_params, load_yaml
    from cmlib.studies import deskpro

    cfg = from_params(deskpro.Config, load_yaml(ROOT / f"params/deskpro/{profile}.yaml"))
    s = {k: step_seconds(cfg, k) for k in ("body", "face", "pretrain")}
    evals = (cfg.body_steps // cfg.eval_every) * N_BODY + (cfg.face_steps // cfg.eval_every) * N_FACE
    replicate = N_BODY * cfg.body_steps * s["body"] + N_FACE * cfg.face_steps * s["face"] + evals * 1.0
    pretrain = cfg.pretrain.steps * s["pretrain"] + cfg.restore.steps * 0.05 if cfg.pretrain_ids else 0.0
    one_core = pretrain + len(cfg.seeds) * replicate
    two_cores = pretrain + -(-len(cfg.seeds) // 2) * replicate
    print(f"== deskpro {profile}: s/step body {s['body']:.3f}, face {s['face']:.3f}, pretrain {s['pretrain']:.3f} "
          f"(one thread); {evals} validation passes per replicate (~1 s each)")
    print(f"  per replicate ~{replicate / 60:.1f} min; pretraining ~{pretrain / 60:.1f} min; {len(cfg.seeds)} replicates: "
          f"~{one_core / 60:.1f} min on one core, ~{two_cores / 60:.1f} min on 2 cores (budget {STUDY_BUDGET_S / 60:.0f} "
          f"min, ratio {two_cores / STUDY_BUDGET_S:.2f})", flush=True)
    return {**{f"s_per_step_{k}": v for k, v in s.items()}, "replicate_s": replicate, "pretrain_s": pretrain,
            "one_core_s": one_core, "two_cores_s": two_cores}


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
            params.update(cache_dir=str(cache_dir), pretrain_dir=str(cache_dir / "pretrain"))
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
    args = ap.parse_args()
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
