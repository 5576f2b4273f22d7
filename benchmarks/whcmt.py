"""WHCMT timings (not a test): each notebook's wall time and each training run's s/step against the issue's budgets.

    .venv/bin/python benchmarks/whcmt.py                 # the four smoke notebooks (budget 60 s each)
    .venv/bin/python benchmarks/whcmt.py --study         # + every study notebook (budget 60 min together, issue 30)
    .venv/bin/python benchmarks/whcmt.py --tune --no-smoke   # the validation grid behind params/whcmt/study.yaml
    .venv/bin/python benchmarks/whcmt.py --tune --tune-seed 1000 --tune-lrs 0.0001,0.0003,0.001 --tune-clips 10 \
        --tune-dropouts 0.5 --tune-steps 300 --no-smoke          # a re-tuning on a probe seed
    .venv/bin/python benchmarks/whcmt.py --study --reuse-cache   # study runs reused from .cache/whcmt/study
    .venv/bin/python benchmarks/whcmt.py --only 03 --strict
    .venv/bin/python benchmarks/whcmt.py --premise --no-smoke        # world tag AUC vs p_concept_tag (issue 30)
    .venv/bin/python benchmarks/whcmt.py --crossmodal 100 --no-smoke # why the tag branch carries the loss (issue 30)
    .venv/bin/python benchmarks/whcmt.py --crossmodal 0 --crossmodal-profile study --probe-seeds 1000,1001 --no-smoke
    .venv/bin/python benchmarks/whcmt.py --pretrain-probe cnn --no-smoke  # a stand-in's held-out accuracy curve
    .venv/bin/python benchmarks/whcmt.py --length-probe WDHT-CrossViT:8,WHCMT-meanvec:8 --probe-seeds 1000,1001 \
        --length-world world.mean_noise_tags=4 --no-smoke     # validation curves to 300 steps (issue 30 item 4)
    .venv/bin/python benchmarks/whcmt.py --length-choose 100,200,300 --no-smoke  # the gate's reading of them

Runs the notebooks exactly as ``cmlib.runner`` does (papermill, the profile's params) but writes their reports under
``build/bench/whcmt/<profile>/``, so ``reports/`` and its index are left alone. The study profile runs on a fresh,
empty run cache by default (a cold run is what the budget is about; notebooks 02-04 still reuse the runs notebook 01
trained in the same benchmark). Prints per notebook: wall time (kernel start included), budget and ratio; per training
run: method, bits, seed, train seconds, s/step and whether it came from the cache. Figures, not asserts: the exit code
is 1 when a notebook fails, and 2 for a missed budget only with ``--strict``. On a shared machine the figures depend
on the load; compare numbers taken in the same run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMOKE_BUDGET_S = 60.0  # per notebook (issue 5)
STUDY_BUDGET_S = 60 * 60.0  # every study notebook together (01-06), 5 replicates, pretraining included (issue 30 item 7)
BENCH_DIR = Path("build/bench/whcmt")


def run_profile(profile: str, only: str, cache_dir: Path | None) -> list[tuple[str, bool, float, list[dict], str]]:
    """Execute the profile's notebooks; returns (notebook, ok, seconds, training-run rows, error) per notebook."""
    sys.path.insert(0, str(ROOT))
    from cmlib.runner import execute, plan

    os.environ.setdefault("PYTHONHASHSEED", "0")
    out = []
    for job in plan(ROOT, ["whcmt"], profile, only=only):
        name = job.notebook.stem
        params = dict(job.params)
        if cache_dir is not None:
            params["run"] = {**params.get("run", {}), "cache_dir": str(cache_dir)}
        report = BENCH_DIR / profile / name
        job = dataclasses.replace(job, params=params, report_dir=report,
                                  output=report.with_name(f"{name}.partial") / f"{name}.ipynb")
        res = execute(job, ROOT)
        rows: list[dict] = []
        metrics = ROOT / report / "metrics.json"
        if res.ok and metrics.is_file():
            rows = json.loads(metrics.read_text()).get("runs", [])
        print(f"  {name:20s} {'ok' if res.ok else 'FAILED'} in {res.seconds:7.1f} s", flush=True)
        out.append((name, res.ok, res.seconds, rows, res.error))
    return out


def report(profile: str, results: list[tuple[str, bool, float, list[dict], str]]) -> bool:
    """Print the figures of one profile; True when every budget is met."""
    print(f"\n== whcmt {profile}: notebooks")
    total = sum(r[2] for r in results)
    met = True
    for name, ok, secs, rows, err in results:
        line = f"  {name:20s} {secs:7.1f} s"
        if profile == "smoke":
            ratio = secs / SMOKE_BUDGET_S
            met &= ratio <= 1.0
            line += f"  budget {SMOKE_BUDGET_S:.0f} s  ratio {ratio:.2f}{'' if ratio <= 1 else '  OVER'}"
        print(line + ("" if ok else f"  FAILED: {err}"))
    if profile != "smoke":
        ratio = total / STUDY_BUDGET_S
        met &= ratio <= 1.0
        print(f"  {'total':20s} {total:7.1f} s  budget {STUDY_BUDGET_S:.0f} s  ratio {ratio:.2f}"
              f"{'' if ratio <= 1 else '  OVER'}")
    print(f"== whcmt {profile}: training runs (notebook, method, bits, seed, lambdas, train s, s/step)")
    for name, _, _, rows, _ in results:
        for r in rows:
            how = "cached" if r.get("cached") else f"{r.get('train_s', float('nan')):6.1f} s"
            lam = ",".join(f"{v:g}" for v in r.get("lambdas", []))
            print(f"  {name:20s} {r['method']:14s} {r['bits']:2d} bits seed {r['seed']} l=({lam:9s}) {how:>9s}  "
                  f"{r.get('s_per_step', float('nan')):.3f} s/step")
    return met


def tune(seed: int = 0, lrs: tuple[float, ...] = (0.001, 0.003), clips: tuple[float | None, ...] = (None, 10.0),
         drops: tuple[float, ...] = (0.5, 0.0), max_steps: int = 250) -> None:
    """The validation grid of params/whcmt/study.yaml: lr x grad_clip (x tag_dropout for WHCMT), MAP@K every 50 steps
    on the validation split of replicate ``seed`` (test split sealed; a probe seed >= 1000 for a new tuning), and the
    setting with the best mean over methods. Rows go to ``tune-<seed>.json``."""
    sys.path.insert(0, str(ROOT))
    from cmlib.protocol.config import from_params, load_yaml
    from cmlib.studies import whcmt
    from cmlib.studies.whcmt.tuning import choose

    cfg = from_params(whcmt.Config, load_yaml(ROOT / "params/whcmt/study.yaml"))
    rows = whcmt.tune_on_validation(cfg, list(whcmt.METHODS), list(lrs), list(clips), list(drops),
                                    seed=seed, max_steps=max_steps, eval_every=50)
    out = ROOT / BENCH_DIR / f"tune-{seed}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))
    print(f"validation grid written to {out}; choice: {choose(rows)}")


def premise() -> None:
    """Issue 30 item 1: the world's tag premise at several levels of world.p_concept_tag on probe seeds 1000-1004, at
    the study profile's sizes (world generation and word2vec only; the choice is recorded in params/whcmt/tuning.yaml)."""
    sys.path.insert(0, str(ROOT))
    from cmlib.protocol.config import from_params, load_yaml
    from cmlib.studies import whcmt
    from cmlib.studies.whcmt.tuning import premise_probe

    cfg = from_params(whcmt.Config, load_yaml(ROOT / "params/whcmt/study.yaml"))
    rows = premise_probe(cfg, "p_concept_tag", [0.4, 0.5, 0.55, 0.6], list(range(1000, 1005)))
    for level in dict.fromkeys(r["level"] for r in rows):
        vals = [r["tag_auc"] for r in rows if r["level"] == level]
        print(f"p_concept_tag {level:.2f}: " + " ".join(f"{v:.3f}" for v in vals) + f" = {sum(vals) / len(vals):.3f}"
              f" (real {whcmt.REAL_TAG_AUC})")


#: the method whose backbone each ``--pretrain-probe`` kind pretrains
PROBE_METHOD = {"cnn": "WDHT-CNN", "vit": "WDHT-ViT", "crossvit": "WDHT-CrossViT"}


def pretrain_probe(kind: str, seed: int, steps: int, every: int) -> None:
    """Issue 30 item 2: one stand-in pretrained at the study's sizes on pretrain seed ``seed`` (its own images,
    held-out split, init and batch order) for ``steps`` steps, the selection half's held-out accuracy every ``every``
    steps (target 1.0: never stops early). One backbone per call, so the three run as parallel processes."""
    sys.path.insert(0, str(ROOT))
    from cmlib.protocol.config import from_params, load_yaml
    from cmlib.studies import whcmt

    params = load_yaml(ROOT / "params/whcmt/study.yaml")
    params["pretrain"] = {**params.get("pretrain", {}), "seed": seed, "steps": steps, "target_accuracy": 1.0,
                          "check_every": every}
    params["pretrain_dir"] = str(ROOT / BENCH_DIR / "pretrain-probe")
    cfg = from_params(whcmt.Config, params)
    _, info = whcmt.with_pretrained(cfg, [PROBE_METHOD[kind]])
    row = info[kind]
    print(json.dumps({"kind": kind, "seed": seed, "best": max(a for _, a in row["curve"]), "curve": row["curve"],
                      "report_half": row["accuracy"], "chance": row["chance"], "train_s": row["train_s"]}))


#: Issue 30 item 3: WHCMT training variants of the cross-modal probe (``--crossmodal``).
CROSSMODAL_VARIANTS = {
    "paper (tags in, stop-grad)": {"method": "WHCMT", "tag_dropout": 0.0},
    "tag dropout 0.5": {"method": "WHCMT", "tag_dropout": 0.5},
    "no tags in (notags)": {"method": "WHCMT-notags"},
    "tags in, grad into t_cls": {"method": "WHCMT", "tag_dropout": 0.0, "tag_target_grad": True},
    "dropout 0.5, grad into t_cls": {"method": "WHCMT", "tag_dropout": 0.5, "tag_target_grad": True},
    "meanvec target, dropout 0.5": {"method": "WHCMT-meanvec", "tag_dropout": 0.5},
    "WDHT-CrossViT": {"method": "WDHT-CrossViT"},
}


def crossmodal(steps: int, seeds: list[int], profile: str = "smoke", variants: list[str] | None = None) -> None:
    """Issue 30 item 3: every variant of :data:`CROSSMODAL_VARIANTS` (or the named ones) on the validation view of
    probe replicates (test sealed). ``smoke``: the smoke world (32 px) with a 100 / 400 validation split, its
    pretraining, ``steps`` steps; ``study``: the study profile as its params file stands (its world, validation
    split, pretrained stand-ins and, with ``steps`` 0, its steps)."""
    sys.path.insert(0, str(ROOT))
    from cmlib.protocol.config import from_params, load_yaml
    from cmlib.studies import whcmt
    from cmlib.studies.whcmt.tuning import crossmodal_probe

    if profile == "study":
        params = load_yaml(ROOT / "params/whcmt/study.yaml")
        params["steps"] = steps or params["steps"]
    else:
        params = {"world": {"n_val_query": 100, "n_val_database": 400}, "steps": steps, "curve_points": 4,
                  "pretrain_dir": str(ROOT / BENCH_DIR / "pretrain")}
    cfg = from_params(whcmt.Config, params)
    chosen = {k: v for k, v in CROSSMODAL_VARIANTS.items() if not variants or k in variants}
    rows = crossmodal_probe(cfg, chosen, seeds)
    out = ROOT / BENCH_DIR / f"crossmodal-{profile}-{'-'.join(map(str, seeds))}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))
    print(f"\n{'variant':30s} val MAP@K  with own tags  final loss (l1 / l2 / l3)  (means over seeds {seeds})")
    for name in chosen:
        sel = [r for r in rows if r["variant"] == name]
        mean = {k: sum(r[k] for r in sel) / len(sel) for k in ("val_map", "val_map_with_own_tags", "final_loss")}
        terms = [sum(r["final_terms"][k] for r in sel) / len(sel) for k in ("l1_pairwise", "l2_hinge", "l3_quant")]
        print(f"{name:30s} {mean['val_map']:.3f}      {mean['val_map_with_own_tags']:.3f}          "
              f"{mean['final_loss']:.3f} ({' / '.join(f'{t:.3f}' for t in terms)})")


def length_probe(specs: list[str], seeds: list[int], profile: str, max_steps: int, every: int,
                 overrides: list[str]) -> None:
    """Issue 30 item 4: validation curves (every ``every`` steps up to ``max_steps``) of ``METHOD:BITS`` runs on
    probe replicates of ``profile`` with dotted ``overrides`` (e.g. a dose level's ``world.mean_noise_tags=4``), at
    the profile's lr, clip and tag dropout; validation view, test sealed. Rows go to ``length-*.json`` for
    ``--length-choose``."""
    sys.path.insert(0, str(ROOT))
    from cmlib.protocol.config import from_params, profile_params
    from cmlib.studies import whcmt

    cfg = from_params(whcmt.Config, profile_params("whcmt", profile, overrides))
    by_bits: dict[int, list[str]] = {}
    for spec in specs:
        method, bits = spec.split(":")
        by_bits.setdefault(int(bits), []).append(method)
    world = ",".join(overrides) or "as profiled"
    rows = []
    for seed in seeds:
        for bits, methods in by_bits.items():
            grid = whcmt.tune_on_validation(cfg, methods, [cfg.lr], [cfg.grad_clip], [cfg.tag_dropout], bits=bits,
                                            seed=seed, max_steps=max_steps, eval_every=every)
            for method in methods:
                curve = [(r["step"], r["val_map"]) for r in grid if r["method"] == method]
                rows.append({"profile": profile, "world": world, "method": method, "bits": bits, "seed": seed,
                             "curve_points": cfg.curve_points, "curve": curve})
    tag = re.sub(r"[^\w.=-]+", "_", "-".join(overrides) or "base")
    probed = re.sub(r"[^\w.=-]+", "_", "+".join(specs))  # the methods too: probes of other methods on the same seeds
    out = ROOT / BENCH_DIR / f"length-{profile}-{tag}-{probed}-{'-'.join(map(str, seeds))}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))
    print(f"curves written to {out}")


def length_choose(candidates: list[int], tolerance: float, pattern: str = "length-*.json", for_good: bool = False
                  ) -> None:
    """Reads every ``length-*.json`` of ``--length-probe`` and prints, per profile, world, method and bits, the mean
    curve and the gate's gain at each candidate length (:func:`cmlib.studies.whcmt.tuning.choose_length`), then per
    method the smallest length that passes in every world (None: none does)."""
    sys.path.insert(0, str(ROOT))
    from cmlib.studies.whcmt.tuning import choose_length

    rows = [r for f in sorted((ROOT / BENCH_DIR).glob(pattern)) for r in json.loads(f.read_text())]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["profile"], r["method"], r["bits"], r["world"]), []).append(r)
    chosen: dict[tuple, list] = {}
    for (profile, method, bits, world), sel in sorted(groups.items()):
        length, gains = choose_length([r["curve"] for r in sel], candidates, sel[0]["curve_points"], tolerance,
                                      for_good=for_good)
        steps = [s for s, _ in sel[0]["curve"]]
        mean = [sum(r["curve"][i][1] for r in sel) / len(sel) for i in range(len(steps))]
        print(f"{profile} {method} {bits}b [{world}] seeds {sorted(r['seed'] for r in sel)}: mean curve "
              + " ".join(f"{v:.3f}" for v in mean) + f" at {steps[0]:g}..{steps[-1]:g}; gain over the last third "
              + ", ".join(f"L={k}: {g:+.4f}" for k, g in gains.items()) + f" -> {length}")
        chosen.setdefault((profile, method), []).append(length)
    for (profile, method), lengths in chosen.items():
        pick = None if None in lengths else max(lengths)
        print(f"{profile} {method}: {pick} steps (tolerance {tolerance})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", action="store_true", help="also run the study profile (budget 60 min)")
    ap.add_argument("--no-smoke", action="store_true", help="skip the smoke profile")
    ap.add_argument("--reuse-cache", action="store_true", help="study: keep the profile's cache_dir (warm runs)")
    ap.add_argument("--only", default="", help="comma-separated parts of notebook names (e.g. 01,03)")
    ap.add_argument("--strict", action="store_true", help="exit 2 when a budget is missed")
    ap.add_argument("--tune", action="store_true", help="run the validation grid of the study profile first")
    ap.add_argument("--tune-seed", type=int, default=0, help="--tune: the replicate (probe seeds >= 1000)")
    ap.add_argument("--tune-lrs", default="0.001,0.003", help="--tune: learning rates")
    ap.add_argument("--tune-clips", default="none,10", help="--tune: grad_clip values (none = no clipping)")
    ap.add_argument("--tune-dropouts", default="0.5,0", help="--tune: WHCMT tag_dropout values")
    ap.add_argument("--tune-steps", type=int, default=250, help="--tune: the longest run (MAP every 50 steps)")
    ap.add_argument("--premise", action="store_true", help="the world's tag premise vs p_concept_tag (probe seeds)")
    ap.add_argument("--crossmodal", type=int, default=0, metavar="STEPS",
                    help="the cross-modal probe of issue 30 item 3 at STEPS steps (smoke world, probe seeds)")
    ap.add_argument("--probe-seeds", default="1000,1001", help="probe seeds of --crossmodal")
    ap.add_argument("--crossmodal-profile", choices=["smoke", "study"], default="smoke",
                    help="--crossmodal: the smoke world or the study profile (STEPS 0: the study's steps)")
    ap.add_argument("--variants", default="", help="--crossmodal: variant names separated by | (default all)")
    ap.add_argument("--pretrain-probe", choices=sorted(PROBE_METHOD), help="one stand-in's pretraining curve")
    ap.add_argument("--probe-steps", default="3000,250", help="--pretrain-probe: steps,check_every")
    ap.add_argument("--length-probe", default="", help="METHOD:BITS,...: validation curves for a length (item 4)")
    ap.add_argument("--length-profile", default="study", help="--length-probe: the params profile")
    ap.add_argument("--length-world", default="", help="--length-probe: dotted overrides, comma-separated")
    ap.add_argument("--length-steps", default="300,20", help="--length-probe: max_steps,every")
    ap.add_argument("--length-choose", default="", help="candidate lengths: read the length-*.json files")
    ap.add_argument("--length-tolerance", type=float, default=0.0055, help="--length-choose: the gate's tolerance")
    ap.add_argument("--length-glob", default="length-*.json", help="--length-choose: which probe files to read")
    ap.add_argument("--length-for-good", action="store_true",
                    help="--length-choose: the length must pass at every longer candidate too")
    args = ap.parse_args()
    if args.length_probe:
        steps, every = (int(v) for v in args.length_steps.split(","))
        length_probe(args.length_probe.split(","), [int(s) for s in args.probe_seeds.split(",")],
                     args.length_profile, steps, every, [o for o in args.length_world.split(",") if o])
    if args.length_choose:
        length_choose([int(v) for v in args.length_choose.split(",")], args.length_tolerance, args.length_glob,
                      args.length_for_good)
    if args.pretrain_probe:
        steps, every = (int(v) for v in args.probe_steps.split(","))
        pretrain_probe(args.pretrain_probe, int(args.probe_seeds.split(",")[0]), steps, every)
    if args.premise:
        premise()
    if args.crossmodal or args.crossmodal_profile == "study":
        crossmodal(args.crossmodal, [int(s) for s in args.probe_seeds.split(",")], args.crossmodal_profile,
                   [v for v in args.variants.split("|") if v])
    if args.tune:
        tune(args.tune_seed, tuple(float(v) for v in args.tune_lrs.split(",")),
             tuple(None if v == "none" else float(v) for v in args.tune_clips.split(",")),
             tuple(float(v) for v in args.tune_dropouts.split(",")), args.tune_steps)
    profiles = ([] if args.no_smoke else ["smoke"]) + (["study"] if args.study else [])
    failed, all_met = False, True
    for profile in profiles:
        tmp = None
        if profile == "study" and not args.reuse_cache:
            tmp = Path(tempfile.mkdtemp(prefix="whcmt-bench-cache-"))
        print(f"running whcmt {profile} notebooks{' (fresh run cache)' if tmp else ''}", flush=True)
        try:
            results = run_profile(profile, args.only, tmp)
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
        failed |= not all(r[1] for r in results)
        all_met &= report(profile, results)
    if failed:
        return 1
    return 2 if args.strict and not all_met else 0


if __name__ == "__main__":
    sys.exit(main())
