"""CLAREL validation curves for choosing the training length (a tuning probe, not a test; issue 32).

    .venv/bin/python benchmarks/clarel_curve.py --profile study --seed 1000 --steps 2000 --points 20 \
        [--set train.lr_drops=[] ...] [--lam 0.5 --kappa 0.5]

Trains one validation-stage model of the profile (the test split is not read) on a probe seed
(cmlib.protocol.seeds.PROBE) and prints its validation curve, best H over the profile's alphas every
``steps / points`` steps, with the seconds it took and the convergence gate's reading
(cmlib.protocol.claims.last_third_gain). ``--set`` takes OmegaConf dotlist overrides of the params file. The rule
each probe serves is written in params/clarel/tuning.yaml before it runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import torch

from cmlib.protocol.claims import curve_from_history, last_third_gain
from cmlib.protocol.config import from_params, profile_params
from cmlib.protocol.run import replicate_config
from cmlib.protocol.seeds import seed_role
from cmlib.studies.clarel.config import Config
from cmlib.studies.clarel.data import build_data, make_stage
from cmlib.studies.clarel.runs import train_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="study")
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--points", type=int, default=20)
    ap.add_argument("--lam", type=float, default=None)
    ap.add_argument("--kappa", type=float, default=None)
    ap.add_argument("--set", nargs="*", default=[], help="OmegaConf dotlist overrides, e.g. train.lr=2e-3")
    args = ap.parse_args()
    if seed_role(args.seed) != "probe":
        raise SystemExit(f"--seed {args.seed}: a tuning probe uses a probe seed (>= 1000), not a {seed_role(args.seed)} one")
    torch.set_num_threads(1)
    cfg = from_params(Config, profile_params("clarel", args.profile, args.set), where=f"params/clarel/{args.profile}")
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=args.steps, curve_points=args.points))
    rcfg = replicate_config(cfg, args.seed)
    lam = rcfg.lam if args.lam is None else args.lam
    kappa = rcfg.kappa if args.kappa is None else args.kappa
    t0 = time.perf_counter()
    data = build_data(rcfg)
    stage = make_stage(data, "val", rcfg.val_seen_fraction, args.seed)
    _, result = train_model(data, stage, rcfg, args.seed, lam, kappa)
    curve = curve_from_history(result.history)
    out = {"profile": args.profile, "seed": args.seed, "steps": args.steps, "set": args.set, "lam": lam,
           "kappa": kappa, "curve": [(int(s), round(v, 2)) for s, v in curve],
           "gain_last_third": round(last_third_gain([curve]), 2), "wall_s": round(time.perf_counter() - t0, 1)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
