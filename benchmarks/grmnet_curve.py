"""GRM-Net learning curves on probe seeds (not a test): what the training lengths of ``params/grmnet/study.yaml``
are chosen from, under the rules written first in ``params/grmnet/tuning.yaml``.

    .venv/bin/python benchmarks/grmnet_curve.py --seeds 1000 1001 --rows 7 3 2 --steps 2400 --points 8 \
        [--set delta_scaling=log1p self_exclusion=both] [--binary] [--matcher] [--profile study]

Per probe seed (cmlib.protocol.seeds: 1000 and up, never a study or stability seed) it builds the replicate's world
and detector at the profile's sizes (plus the ``--set`` overrides), trains each asked Table 2 row (and the binary
baseline / the two-stage matcher) for ``--steps`` steps with the profile's schedule, scoring the validation split
``--points`` times (:func:`cmlib.studies.grmnet.validation_fn`: COCO mask AP overall and per expression type). It
prints one line per validation point, the mean curve over the seeds and its gain over the last third
(:func:`cmlib.protocol.claims.last_third_gain`, the convergence gate's reading). The test split is never opened.
Models are cached under ``.cache/grmnet-probe`` (keys as in the study), so a rerun only prints.
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from cmlib.protocol.claims import last_third_gain
from cmlib.protocol.config import from_params, profile_params
from cmlib.protocol.seeds import PROBE
from cmlib.studies import grmnet


def probe_config(profile: str, steps: int, points: int, sets: list[str]) -> grmnet.Config:
    """The profile's config with the probe's training length, curve points, overrides and cache folder."""
    params = profile_params("grmnet", profile, sets)
    cfg = from_params(grmnet.Config, params)
    return dataclasses.replace(cfg, referring_steps=steps, baseline_steps=steps, matcher_steps=steps,
                               curve_points=points, run=dataclasses.replace(cfg.run, cache_dir=".cache/grmnet-probe"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1000, 1001])
    ap.add_argument("--rows", type=int, nargs="*", default=[7, 3, 2])
    ap.add_argument("--steps", type=int, default=2400)
    ap.add_argument("--points", type=int, default=8)
    ap.add_argument("--profile", default="study")
    ap.add_argument("--set", nargs="*", default=[], help="dotted overrides, e.g. delta_scaling=log1p")
    ap.add_argument("--binary", action="store_true")
    ap.add_argument("--matcher", action="store_true")
    args = ap.parse_args()
    bad = [s for s in args.seeds if s not in PROBE]
    if bad:
        raise SystemExit(f"--seeds {bad}: probes use seeds in {PROBE} (cmlib.protocol.seeds), never study seeds")
    cfg = probe_config(args.profile, args.steps, args.points, args.set)
    models = [f"row{r}" for r in args.rows] + ["binary"] * args.binary + ["matcher"] * args.matcher
    curves: dict[str, list] = {m: [] for m in models}
    for seed in args.seeds:
        data = grmnet.build_data(cfg, seed)
        det, _ = grmnet.train_detector(cfg, data)
        for m in models:
            t = time.perf_counter()
            if m == "binary":
                info = grmnet.train_binary(cfg, data, det)[1]
            elif m == "matcher":
                info = grmnet.train_two_stage(cfg, data, det)[1]
            else:
                info = grmnet.train_referring(cfg, data, det, **grmnet.variant_of(int(m[3:])))[1]
            curves[m].append(info["curve"])
            for i, (step, val) in enumerate(info["curve"]):
                kinds = " ".join(f"{k} {info['curves'][k][i][1]:5.1f}" for k in grmnet.KINDS if k in info["curves"])
                print(f"seed {seed} {m:7s} step {int(step):5d}  val COCO AP {val:5.1f}  ({kinds})", flush=True)
            print(f"seed {seed} {m}: {time.perf_counter() - t:.0f} s (cached {bool(info['cached'])}, "
                  f"{info['s_per_step']:.3f} s/step)", flush=True)
    for m, cs in curves.items():
        mean = np.mean([[v for _, v in c] for c in cs], axis=0)
        steps = [int(s) for s, _ in cs[0]]
        print(f"{m}: mean over seeds {args.seeds}: " + " ".join(f"{s}:{v:.1f}" for s, v in zip(steps, mean)) +
              f"  last-third gain {last_third_gain(cs):+.2f}", flush=True)


if __name__ == "__main__":
    main()
