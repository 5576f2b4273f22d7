"""CLAREL timings (not a test): training step and inference at the CPU widths and the paper widths.

    .venv/bin/python benchmarks/clarel.py [--steps 20] [--threads 1] [--batch 32] [--k 3] [--models-per-replicate 22]
    .venv/bin/python benchmarks/clarel.py --budget [--profile study] [--workers 2] [--steps 20] [--contention 1.2]
    .venv/bin/python benchmarks/clarel.py --lstm [--steps 60] [--batch 64] [--k 1]
    .venv/bin/python benchmarks/clarel.py --modes [--profile cub100] [--steps 40]

``--modes``: the profile's own training step (replicate 0's validation stage, through
:func:`cmlib.studies.clarel.train_model`) in fp32 (``run.device.precision: 32-true``) with torch's default Adam, under
bf16 autocast (``bf16-mixed``, through Lightning Fabric: CPU AMX where present), in fp32 with the fused Adam kernel
(``train.optimizer: adam-fused``) and with both, alternated twice in one process, best of two; prints each s/step
and its ratio to the first. A mode is adopted only on this measurement, and enters the cache keys (through
``run.device`` or ``train``; issue 32, item 1: faster execution modes measured side by side).

``--lstm``: the text tower's two BiLSTM modes side by side (``ClarelModelConfig.lstm_mode``: "packed" sequences
against "masked" padded ones, the same function), CPU widths, alternated twice in one process: s/step, s per 1,000
sentences embedded, and the packed / masked ratios.

Prints seconds per optimizer step (``--batch`` pairs, K sentences of 30 tokens) and per 1,000 sentences embedded,
and the study-profile cost this implies: one model = ``--study-steps`` steps + embedding the prototypes' sentences
(``--proto-sentences``), times the models per replicate (params/clarel/study.yaml says how many), times 5
replicates. On a shared machine, compare numbers taken in the same run only.

``--budget``: notebook 01's :func:`cmlib.studies.clarel.run_study` on ``--workers`` cores, estimated before running
it. On replicate 0 of the profile, through the study's own functions, it times building the data
(:func:`~cmlib.studies.clarel.build_data`), ``--steps`` training steps on the validation and on the test stage
(:func:`~cmlib.studies.clarel.train_model`) and scoring each stage (:func:`~cmlib.studies.clarel.score`). Each task
of :func:`cmlib.studies.clarel.study_tasks` then costs data + ``train.steps`` x s/step + scoring of its stage,
times ``--contention``: one process measured alone under-states two at once on the 2-core machine by ~20%
(measured for GRM-Net), so the default is 1.2 (nothing here runs two processes). The tasks are scheduled by
run_tasks' rule (``schedule`` of benchmarks/grmnet.py, imported, not copied) and printed against the profile's
budget (study: 75 min, cub100: 45 min, on 2 cores; issue 32). Notebooks 02-06 and the replicates' evaluation load cached
models: not counted (the 200-step study run measured 02 9 s, 05 8 s).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch

from cmlib.losses.retrieval import clarel_loss
from cmlib.models.clarel import ClarelModel, ClarelModelConfig
from cmlib.protocol.run import replicate_config

WIDTHS = {"cpu": ClarelModelConfig(embed_dim=128, cnn_channels=64, lstm_hidden=64),
          "paper": ClarelModelConfig()}


def step_time(cfg: ClarelModelConfig, steps: int, k: int, word_dim: int, batch: int = 32) -> float:
    """Mean seconds per optimizer step on random features and token ids."""
    g = torch.Generator().manual_seed(0)
    model = ClarelModel(torch.randn(1000, word_dim, generator=g), n_classes=100, cfg=cfg)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(batch, 2048, generator=g)
    ids, lengths = torch.randint(2, 1000, (batch, k, 30), generator=g), torch.randint(8, 31, (batch, k), generator=g)
    labels = torch.randint(0, 100, (batch,), generator=g)
    t0 = time.perf_counter()
    for _ in range(steps):
        out = model(x, ids, lengths)
        loss = sum(clarel_loss(out["image_emb"], out["text_emb"], out["image_logits"], out["text_logits"], labels,
                               0.5, 0.5).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / steps


@torch.no_grad()
def embed_time(cfg: ClarelModelConfig, word_dim: int, n: int = 2000) -> float:
    """Seconds per 1,000 sentences through the text tower in eval mode."""
    model = ClarelModel(torch.randn(1000, word_dim), n_classes=100, cfg=cfg).eval()
    ids, lengths = torch.randint(2, 1000, (n, 30)), torch.randint(8, 31, (n,))
    t0 = time.perf_counter()
    model.encode_text(ids, lengths)
    return (time.perf_counter() - t0) / n * 1000


#: minutes on 2 cores: the study profile, all notebooks; cub100 with --only 01_gzsl,02_alpha_sweep,05_explore
BUDGET_MIN = {"study": 75.0, "cub100": 45.0}  # issue 32, item 6


def lstm_modes(steps: int, k: int, batch: int) -> None:
    """Print the training step and the embedding time of the two BiLSTM modes, alternated (module docstring)."""
    times: dict[str, list[tuple[float, float]]] = {"packed": [], "masked": []}
    for _ in range(2):
        for mode, runs in times.items():
            cfg = dataclasses.replace(WIDTHS["cpu"], lstm_mode=mode)
            runs.append((step_time(cfg, steps, k, 32, batch), embed_time(cfg, 32)))
    best = {mode: (min(s for s, _ in t), min(e for _, e in t)) for mode, t in times.items()}
    for mode, (step, embed) in best.items():
        print(f"{mode:6s}: {step:.4f} s/step (batch {batch}, K={k}), {embed:.3f} s per 1000 sentences (best of 2)")
    print(f"packed / masked: step x{best['packed'][0] / best['masked'][0]:.2f}, "
          f"embedding x{best['packed'][1] / best['masked'][1]:.2f}")


def short_config(rcfg, steps: int, precision: str | None = None, optimizer: str | None = None):
    """A replicate's config cut to ``steps`` training steps, no validation curve and no model cache (a timing run),
    optionally with another ``run.device.precision`` and ``train.optimizer``."""
    device = rcfg.run.device if precision is None else dataclasses.replace(rcfg.run.device, precision=precision)
    train = dataclasses.replace(rcfg.train, steps=steps, curve_points=0,
                                optimizer=optimizer or rcfg.train.optimizer)
    return dataclasses.replace(rcfg, train=train, run=dataclasses.replace(rcfg.run, cache_dir=None, device=device))


def execution_modes(profile: str, steps: int) -> None:
    """Print the profile's training step in fp32 with torch's default Adam, under bf16 autocast, with the fused Adam
    kernel (``train.optimizer: adam-fused``) and with both, alternated twice, best of two (module docstring)."""
    from cmlib.protocol.config import from_params, load_yaml
    from cmlib.studies import clarel

    torch.set_num_threads(1)
    cfg = from_params(clarel.Config, load_yaml(f"params/clarel/{profile}.yaml"))
    rcfg = replicate_config(cfg, cfg.run.seeds[0])
    if rcfg.train.optimizer == "sgd":
        raise SystemExit(f"params/clarel/{profile}.yaml trains with SGD: --modes compares Adam variants")
    data = clarel.build_data(rcfg)
    stage = clarel.make_stage(data, "val", rcfg.val_seen_fraction, rcfg.run.seeds[0])
    modes = {"fp32 adam": ("32-true", "adam"), "bf16 adam": ("bf16-mixed", "adam"),
             "fp32 adam-fused": ("32-true", "adam-fused"), "bf16 adam-fused": ("bf16-mixed", "adam-fused")}
    times: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(2):
        for name, (precision, optimizer) in modes.items():
            short = short_config(rcfg, steps, precision, optimizer)
            _, result = clarel.train_model(data, stage, short, rcfg.run.seeds[0], rcfg.lam, rcfg.kappa)
            times[name].append(result.wall_time_s / max(1, result.final_step))
    best = {k: min(v) for k, v in times.items()}
    for name, s in best.items():
        print(f"{profile} {name:16s}: {s:.4f} s/step over {steps} steps (best of 2, one thread)")
    for name in list(modes)[1:]:
        print(f"{name} / fp32 adam: x{best[name] / best['fp32 adam']:.2f} of the step time")


def stage_costs(cfg, steps: int) -> dict[str, float]:
    """Seconds of the parts of one task on replicate 0 of ``cfg`` (one torch thread): ``data`` (build_data, the
    second call: a pool worker imports its libraries once), and per
    stage ``val`` / ``test``: s/step over ``steps`` steps and ``score_val`` / ``score_test`` (the distance matrix)."""
    from cmlib.studies import clarel

    torch.set_num_threads(1)
    rcfg = replicate_config(cfg, cfg.run.seeds[0])
    clarel.build_data(rcfg)  # imports gensim etc. once, as a pool worker does before its first task
    t = time.perf_counter()
    data = clarel.build_data(rcfg)
    out = {"data": time.perf_counter() - t}
    short = short_config(rcfg, steps)
    for name in ("val", "test"):
        stage = clarel.make_stage(data, name, rcfg.val_seen_fraction, rcfg.run.seeds[0])
        model, result = clarel.train_model(data, stage, short, rcfg.run.seeds[0], rcfg.lam, rcfg.kappa)
        out[name] = result.wall_time_s / max(1, result.final_step)
        t = time.perf_counter()
        clarel.score(model, data, stage, rcfg.train.eval_batch)
        out[f"score_{name}"] = time.perf_counter() - t
    return out


def budget(profile: str, workers: int, steps: int, contention: float) -> None:
    """Print notebook 01's estimated wall time on ``workers`` cores against the profile's budget (module docstring)."""
    from cmlib.protocol.config import from_params, load_yaml
    from cmlib.studies import clarel

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from grmnet import schedule  # run_tasks' scheduling rule, one copy (benchmarks/grmnet.py)

    cfg = from_params(clarel.Config, load_yaml(f"params/clarel/{profile}.yaml"))
    c = stage_costs(cfg, steps)
    print(f"data {c['data']:.1f} s; val {c['val']:.3f} s/step + {c['score_val']:.1f} s scoring; "
          f"test {c['test']:.3f} s/step + {c['score_test']:.1f} s scoring (one process alone)", flush=True)
    tasks, requires = clarel.study_tasks(cfg)
    curve = {"val": cfg.train.curve_points * c["score_val"], "test": 0.0}  # validation curves: val models only
    durations = [contention * (c["data"] + cfg.train.steps * c[t[0]] + c[f"score_{t[0]}"] + curve[t[0]])
                 for t in tasks]
    index = {t: i for i, t in enumerate(tasks)}
    needs = [[index[r] for r in requires.get(t, [])] for t in tasks]
    wall = schedule(durations, needs, workers) / 60
    alone = schedule([d / contention for d in durations], needs, workers) / 60
    limit = BUDGET_MIN.get(profile)
    against = f", against {limit:.0f} min on 2 cores (ratio {wall / limit:.2f})" if limit else ""
    print(f"{profile}: {len(tasks)} trainings of {cfg.train.steps} steps ({len(tasks) // len(cfg.run.seeds)} per replicate "
          f"x {len(cfg.run.seeds)}), x{contention:g} for two processes at once: {sum(durations) / 60:.1f} core-min, "
          f"run_study ~ {wall:.1f} min on {workers} workers{against} ({alone:.1f} min at x1); notebooks 02-05 "
          "load the cached models",
          flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32, help="pairs per step (study profile: 64)")
    ap.add_argument("--k", type=int, default=3, help="sentences per image per step at the CPU widths (study: 1)")
    ap.add_argument("--study-steps", type=int, default=400, help="steps per model (params/clarel/study.yaml)")
    ap.add_argument("--proto-sentences", type=int, default=38_000,
                    help="sentences embedded per model for the prototypes (study: ~28.5k val, 48k test stage)")
    ap.add_argument("--models-per-replicate", type=int, default=22)
    ap.add_argument("--budget", action="store_true")
    ap.add_argument("--lstm", action="store_true", help="packed against masked BiLSTM, side by side")
    ap.add_argument("--modes", action="store_true",
                    help="fp32 against bf16 autocast and fused Adam, the profile's own step")
    ap.add_argument("--profile", default="study")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--contention", type=float, default=1.2,
                    help="two processes at once against one alone (GRM-Net measured ~1.2)")
    args = ap.parse_args()
    if args.budget:
        budget(args.profile, args.workers, args.steps, args.contention)
        return
    if args.modes:
        execution_modes(args.profile, args.steps)
        return
    torch.set_num_threads(args.threads)
    if args.lstm:
        lstm_modes(args.steps, args.k, args.batch)
        return
    for name, cfg in WIDTHS.items():
        word_dim = 32 if name == "cpu" else 300
        k = args.k if name == "cpu" else 5
        step, embed = step_time(cfg, args.steps, k, word_dim, args.batch), embed_time(cfg, word_dim)
        print(f"{name:5s} widths: {step:.3f} s/step (batch {args.batch}, K={k}), {embed:.3f} s per 1000 sentences")
        if name == "cpu":
            model = args.study_steps * step + args.proto_sentences / 1000 * embed
            rep = model * args.models_per_replicate
            print(f"      study: {model:.1f} s per model, {rep / 60:.1f} min per replicate, {5 * rep / 60:.1f} min "
                  f"for 5 replicates (one core; data building not counted)")


if __name__ == "__main__":
    main()
