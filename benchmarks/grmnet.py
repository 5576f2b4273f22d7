"""GRM-Net benchmark and tuning (not a test).

    .venv/bin/python benchmarks/grmnet.py [--canvas 128 256] [--steps 5] [--threads 1]
    .venv/bin/python benchmarks/grmnet.py --tune [--profile study] [--seed 100] [--lrs 0.0002 0.001 0.003]
    .venv/bin/python benchmarks/grmnet.py --budget [--profile study] [--workers 2] [--eval-s 48]
    .venv/bin/python benchmarks/grmnet.py --roi
    .venv/bin/python benchmarks/grmnet.py --modes [--profile study] [--steps 10]

Step times: one row per (canvas, model): median s/step over ``steps`` steps after one warm-up step, batch 4, the
smoke model sizes. Wall times on a shared machine are inflated by other jobs; compare rows of the same run.

``--tune``: the learning rate and the step counts of ``params/grmnet/<profile>.yaml`` chosen on validation. On a
tuning replicate (``--seed``, not one of the study's seeds) it trains the detector, GRM-Net (Table 2 #7) and both
baselines at each learning rate and prints their validation COCO AP (the paper's metric; the test split is never
opened), then, at the best learning rate for GRM-Net, the same at half the step counts (is the budget's length
still worth its cost?). The printout is what study.yaml records.

``--budget``: the study's wall time on ``--workers`` cores, estimated before running it: the step time of every
model kind at the profile's sizes (one torch thread, ``--workers`` processes measuring at once, as the study
trains), times its step count, gives each training
task of :func:`cmlib.studies.grmnet.training_tasks`; the tasks are then scheduled as :func:`cmlib.protocol.replicates.run_tasks`
starts them for :func:`cmlib.studies.grmnet.run_study` (:func:`cmlib.studies.grmnet.study_tasks`: a free worker takes
the first task in order whose requirements are done), each replicate's evaluation (``--eval-s``, measured from a
cached run) once its models are trained.
Printed against the 75-min budget (issue 33), notebook 06 included.

``--modes``: GRM-Net #7's training step at the profile's sizes, side by side in one process: as it is, under bf16
autocast, and with two shrinks (canvas 96; half the RoIs sampled per image); ratios to the first.

``--roi``: RoIAlign forward + backward at the study's shapes, torchvision's operator against the sparse-matrix one
GRM-Net uses (:mod:`cmlib.models.roi_align`), with the ratio and the largest differences.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch

from cmlib.studies import grmnet


def step_time(model: torch.nn.Module, batch: tuple, steps: int, language: bool) -> float:
    """Median seconds per AdamW step of ``model`` on ``batch``."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    times = []
    for i in range(steps + 1):
        t = time.perf_counter()
        images, tokens, lengths, targets = batch
        losses = model(images, tokens if language else None, lengths if language else None, targets)
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def validation_scores(cfg: grmnet.Config, seed: int) -> dict[str, float]:
    """Validation COCO AP of GRM-Net (#7), the two baselines (threshold chosen on the same split) and the
    language-blind detector, for one tuning replicate; plus the wall time it took."""
    t = time.perf_counter()
    data = grmnet.build_data(cfg, seed)
    det, _ = grmnet.train_detector(cfg, data)
    model, _ = grmnet.train_referring(cfg, data, det, **grmnet.variant_of(7))
    matcher, _, dets = grmnet.train_two_stage(cfg, data, det)
    binary, _ = grmnet.train_binary(cfg, data, det)
    tg = grmnet.targets_of(data, data.val, "val")
    ap = lambda p: grmnet.score(p, tg)["coco_AP"]
    s_val = grmnet.two_stage_scores(matcher, dets, data, data.val, cfg.max_tokens, "val")
    b_val = grmnet.binary_probabilities(binary, data, data.val, cfg.max_tokens, "val")
    return {"GRM-Net": ap(grmnet.predict_grmnet(model, data, data.val, cfg.max_tokens, "val")),
            "two-stage": grmnet.choose_threshold(cfg.two_stage_thresholds,
                                                 lambda x: ap(grmnet.two_stage_predictions(s_val, x)))[1],
            "binary": grmnet.choose_threshold(cfg.binary_thresholds,
                                              lambda x: ap(grmnet.binary_predictions(b_val, x)))[1],
            "blind": ap(grmnet.predict_blind(dets, data.val, "val")), "wall_s": time.perf_counter() - t}


def tune(profile: str, seed: int, lrs: list[float]) -> None:
    """Print validation COCO AP per learning rate, then at half the steps for the best one (see the docstring)."""
    from cmlib.protocol.config import from_params, load_yaml

    cfg = from_params(grmnet.Config, load_yaml(f"params/grmnet/{profile}.yaml"))
    if seed in cfg.run.seeds:
        raise SystemExit(f"--seed {seed} is one of the {profile} seeds {cfg.run.seeds}: tune on another replicate")
    cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, cache_dir=".cache/grmnet-tune"))
    res = {}
    for lr in lrs:
        res[lr] = validation_scores(dataclasses.replace(cfg, lr=lr), seed)
        print(f"lr {lr:g}: val COCO AP {res[lr]}", flush=True)
    best = max(lrs, key=lambda lr: res[lr]["GRM-Net"])
    half = dataclasses.replace(cfg, lr=best, detector_steps=cfg.detector_steps // 2,
                               referring_steps=cfg.referring_steps // 2, baseline_steps=cfg.baseline_steps // 2,
                               matcher_steps=cfg.matcher_steps // 2)
    print(f"best lr for GRM-Net on validation: {best:g}; at half the steps: {validation_scores(half, seed)}",
          flush=True)


def kind_step_times(cfg: grmnet.Config, steps: int) -> dict[str, float]:
    """s/step of the detector, each Table 2 row, the binary baseline and the matcher, trained for ``steps`` steps
    through the study's own training functions (its data, batches and :func:`cmlib.protocol.engine.fit`) on replicate 0,
    into a temporary cache."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        short = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, cache_dir=tmp), detector_steps=steps,
                                    referring_steps=steps, baseline_steps=steps, matcher_steps=steps,
                                    curve_points=0)  # step time only: the curve points are counted apart
        data = grmnet.build_data(short, short.run.seeds[0])
        det, info = grmnet.train_detector(short, data)
        out = {"detector": info["s_per_step"]}
        for r in range(1, 8):
            out[f"row{r}"] = grmnet.train_referring(short, data, det, **grmnet.variant_of(r))[1]["s_per_step"]
        out["binary"] = grmnet.train_binary(short, data, det)[1]["s_per_step"]
        out["matcher"] = grmnet.train_two_stage(short, data, det)[1]["s_per_step"]
    return out


def _kind_step_times_one_thread(cfg: grmnet.Config, steps: int) -> dict[str, float]:
    torch.set_num_threads(1)
    return kind_step_times(cfg, steps)


def concurrent_step_times(cfg: grmnet.Config, steps: int, processes: int) -> dict[str, float]:
    """:func:`kind_step_times` in ``processes`` processes at once (one torch thread each), averaged: the study runs
    one training per core, and two at once on this machine's two cores are ~20 % slower a step than one alone."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        runs = list(pool.map(_kind_step_times_one_thread, [cfg] * processes, [steps] * processes))
    return {k: statistics.mean(r[k] for r in runs) for k in runs[0]}


def roi_pool_times(repeats: int = 20) -> None:
    """Forward + backward ms of torchvision's RoIAlign and :mod:`cmlib.models.roi_align` at the study's shapes
    (GRM-Net #7 training step, canvas 128: the 7x7 box pool of ~246 RoIs and the 14x14 mask pool of ~35 positives
    over a (4, 32, 32, 32) stride-4 map), measured side by side; and the largest difference of values and gradients."""
    import torchvision

    from cmlib.models.roi_align import roi_align

    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 32, 32, 32, generator=g)
    for k, size in ((246, (7, 7)), (35, (14, 14))):
        xy = torch.rand(k, 2, generator=g) * 120
        rois = torch.cat([torch.randint(0, 4, (k, 1), generator=g).float(), xy,
                          xy + 1 + torch.rand(k, 2, generator=g) * 60], 1)
        grad = torch.randn(k, 32, *size, generator=g)
        res = {}
        for name, op in (("torchvision", torchvision.ops.roi_align), ("cmlib", roi_align)):
            times = []
            for _ in range(repeats + 1):
                f = x.clone().requires_grad_()
                t = time.perf_counter()
                y = op(f, rois, size, 0.25, 2)
                y.backward(grad)
                times.append(time.perf_counter() - t)
            res[name] = (statistics.median(times[1:]) * 1e3, y.detach(), f.grad)
        tv, ours = res["torchvision"], res["cmlib"]
        print(f"RoIAlign {k} RoIs {size[0]}x{size[1]}: torchvision {tv[0]:.2f} ms, cmlib {ours[0]:.2f} ms "
              f"(ratio {ours[0] / tv[0]:.2f}); max |diff| values {(tv[1] - ours[1]).abs().max():.1e}, "
              f"gradients {(tv[2] - ours[2]).abs().max():.1e}", flush=True)


def schedule(durations: list[float], requires: list[list[int]], workers: int) -> float:
    """Finishing time of the tasks under :func:`cmlib.protocol.replicates.run_tasks`' rule: whenever a worker is free it
    takes the first task in list order whose required tasks (indices) have all finished."""
    end: list[float | None] = [None] * len(durations)
    pending, running, now = list(range(len(durations))), [], 0.0
    while pending or running:
        for i in [i for i in pending if all(end[r] is not None and end[r] <= now for r in requires[i])]:
            if len(running) >= workers:
                break
            pending.remove(i)
            end[i] = now + durations[i]
            running.append(end[i])
        now = min(running)
        running = [e for e in running if e > now]
    return max(e for e in end if e is not None)


def mode_step_times(profile: str, rounds: int) -> None:
    """GRM-Net #7 training step at the profile's sizes, side by side in one process (rounds interleaved, median):
    the profile as it is, bf16 autocast (CPU AMX where present), and two shrinks of the world / model (canvas 96,
    half the RoIs sampled per image). Printed as s/step and the ratio to the profile's own step."""
    from cmlib.protocol.config import from_params, profile_params
    from cmlib.studies.grmnet.data import collate, referring_item

    base = from_params(grmnet.Config, profile_params("grmnet", profile))
    variants = {"as is": (base, False), "bf16 autocast": (base, True),
                "canvas 96": (dataclasses.replace(base, canvas=96), False),
                "box_batch 32": (dataclasses.replace(base, model=dataclasses.replace(
                    base.model, box_batch_size_per_image=base.model.box_batch_size_per_image // 2)), False)}
    built = {}
    for name, (cfg, _) in variants.items():
        data = grmnet.build_data(cfg, 1000)  # a probe seed; only its training images are used
        torch.manual_seed(0)
        model = grmnet.GRMNet(grmnet.model_spec(cfg, data, **grmnet.variant_of(7))).train()
        batch = collate([referring_item(data, "train", e, cfg.max_tokens) for e in data.train[:cfg.batch_size]])
        built[name] = (model, batch, torch.optim.AdamW(model.parameters(), lr=1e-4))
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(rounds + 1):
        for name, (_, bf16) in variants.items():
            model, (images, tokens, lengths, targets), opt = built[name]
            t = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                losses = model(images, tokens, lengths, targets)
            opt.zero_grad()
            sum(losses.values()).backward()
            opt.step()
            times[name].append(time.perf_counter() - t)
    ref = statistics.median(times["as is"][1:])
    for name, v in times.items():
        med = statistics.median(v[1:])
        print(f"{name:14s} {med:.3f} s/step  ratio {med / ref:.2f}", flush=True)


def curve_eval_s(cfg: grmnet.Config) -> float:
    """Seconds of one validation-curve point (:func:`cmlib.studies.grmnet.validation_fn` on replicate 0's validation
    split, a fresh #7 model: the same forward work as a trained one's, one torch thread)."""
    data = grmnet.build_data(cfg, cfg.run.seeds[0])
    model = grmnet.GRMNet(grmnet.model_spec(cfg, data, **grmnet.variant_of(7)))
    fn = grmnet.validation_fn(data, lambda m, ex: grmnet.predict_grmnet(m, data, ex, cfg.max_tokens, "val"))
    t = time.perf_counter()
    fn(model)
    return time.perf_counter() - t


def budget(profile: str, workers: int, eval_s: float, steps: int) -> None:
    """Print the estimated study wall time on ``workers`` cores (see the module docstring): notebook 01's tasks
    (their validation-curve points included), notebooks 02-05 (about a minute) and notebook 06 (the rows of
    :data:`cmlib.studies.grmnet.DOSE_ROWS` at every level other than the study's, on ``dose_replicates`` replicates;
    its detectors and the study level's rows come from notebook 01's cache)."""
    from cmlib.protocol.config import from_params, profile_params

    cfg = from_params(grmnet.Config, profile_params("grmnet", profile))
    st = concurrent_step_times(cfg, steps, workers)
    for name, s in st.items():
        print(f"{name:9s} {s:.3f} s/step ({workers} processes at once)", flush=True)
    point = curve_eval_s(cfg)
    print(f"one validation-curve point {point:.1f} s (x {cfg.curve_points} per row and baseline)", flush=True)
    tasks, requires = grmnet.study_tasks(cfg)
    n = {"detector": cfg.detector_steps, "binary": cfg.baseline_steps, "matcher": cfg.matcher_steps,
         "row": cfg.referring_steps}
    curve = cfg.curve_points * point
    durations = [eval_s if t[0] == "replicate" else
                 n[t[0]] * st[f"row{t[2]}" if t[0] == "row" else t[0]] + (curve if t[0] != "detector" else 0.0)
                 for t in tasks]
    index = {t: i for i, t in enumerate(tasks)}
    wall = schedule(durations, [[index[r] for r in requires.get(t, [])] for t in tasks], workers) / 60
    others = [lv for lv in cfg.reference_levels if cfg.reference_fraction is None or lv != cfg.reference_fraction]
    dose_core = len(grmnet.dose_seeds(cfg)) * len(others) * sum(
        cfg.referring_steps * st[f"row{r}"] + curve for r in grmnet.DOSE_ROWS)
    dose_wall = dose_core / 60 / min(workers, len(grmnet.dose_seeds(cfg)))
    total = wall + 1.0 + dose_wall
    print(f"{len(tasks)} tasks: {sum(durations) / 60:.1f} core-min, notebook 01 ~ {wall:.1f} min on {workers} "
          f"workers; notebooks 02-05 ~ 1 min; notebook 06 {dose_core / 60:.1f} core-min ~ {dose_wall:.1f} min; total "
          f"~ {total:.1f} min against the 75-min budget (ratio {total / 75:.2f})", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--canvas", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tune", action="store_true")
    ap.add_argument("--profile", default="study")
    ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--lrs", type=float, nargs="+", default=[0.0002, 0.001, 0.003])
    ap.add_argument("--budget", action="store_true")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--eval-s", type=float, default=48.0, help="one replicate's evaluation from cached models")
    ap.add_argument("--roi", action="store_true", help="RoIAlign: torchvision against cmlib.models.roi_align")
    ap.add_argument("--modes", action="store_true", help="#7's step: as is, bf16 autocast, canvas 96, half the RoIs")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.roi:
        roi_pool_times()
        return
    if args.modes:
        mode_step_times(args.profile, max(args.steps, 10))
        return
    if args.budget:
        budget(args.profile, args.workers, args.eval_s, args.steps)
        return
    if args.tune:
        tune(args.profile, args.seed, args.lrs)
        return
    for canvas in args.canvas:
        cfg = grmnet.Config(canvas=canvas, n_train_scenes=8, n_test_scenes=1)
        data = grmnet.build_data(cfg, 0)
        batch = grmnet.collate([grmnet.referring_item(data, "train", e, 15) for e in data.train[:4]])
        for name, variant in (("detector", {"use_language": False, "top_k": 0, "use_position": False}),
                              ("GRM-Net K=0", grmnet.variant_of(3)), ("GRM-Net K=10", grmnet.variant_of(7))):
            torch.manual_seed(0)
            model = grmnet.GRMNet(grmnet.model_spec(cfg, data, **variant))
            s = step_time(model, batch, args.steps, variant.get("use_language", True))
            print(f"canvas {canvas:4d}  {name:14s} {s:.3f} s/step  (threads={args.threads}, batch 4)")


if __name__ == "__main__":
    main()
