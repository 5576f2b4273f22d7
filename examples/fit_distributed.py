"""Train one paper's main model with the device settings of its params' ``fit`` section (cmlib.protocol.engine.DeviceConfig):
the script the README's one-GPU and several-GPU examples launch.

    python examples/fit_distributed.py clarel --profile study                      # as the params file says (CPU)
    python examples/fit_distributed.py clarel --profile study --accelerator gpu --precision bf16-mixed --pin-memory
    torchrun --nproc_per_node 2 examples/fit_distributed.py clarel --profile smoke --devices 2 --strategy ddp
    fabric run --accelerator cpu --devices 2 --strategy ddp examples/fit_distributed.py clarel --profile smoke

Each paper exposes ``cmlib.studies.<paper>.fit_main(cfg, seed)``; this script loads ``params/<paper>/<profile>.yaml``
(checked like the runner does), applies the command-line device settings to its ``fit`` section, trains on the
profile's first seed and prints, on rank 0 only, one JSON line: paper, profile, world size, and what ``fit_main``
returned (steps, final loss, wall time). ``--cache-dir`` points the paper's model cache elsewhere (every process must
get the same value).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import Any

from cmlib.protocol.config import from_params, load_profile
from cmlib.protocol.engine import close_process_group
from cmlib.protocol.files import jsonable, project_root

# `fabric run --accelerator X --devices N --strategy S --precision P` exports these; they fill what the command line
# of this script leaves unset, so the Fabric object agrees with the launcher.
FABRIC_ENV = {"accelerator": "LT_ACCELERATOR", "devices": "LT_DEVICES", "strategy": "LT_STRATEGY",
              "precision": "LT_PRECISION"}


def _params(paper: str, profile: str, args: argparse.Namespace) -> dict[str, Any]:
    params = load_profile(project_root() / "params" / paper, profile)  # extends followed
    run = dict(params.get("run") or {})
    device = dict(run.get("device") or {})
    for key in ("accelerator", "devices", "strategy", "precision", "num_workers"):
        value = getattr(args, key)
        if value is None and key in FABRIC_ENV and os.environ.get(FABRIC_ENV[key]):  # set by `fabric run`
            value = int(os.environ[FABRIC_ENV[key]]) if key == "devices" else os.environ[FABRIC_ENV[key]]
        if value is not None:
            device[key] = value
    if args.pin_memory:
        device["pin_memory"] = True
    run["device"] = device
    if args.cache_dir is not None:
        run["cache_dir"] = args.cache_dir
    params["run"] = run
    return params


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paper", help="demo, clarel, deskpro, whcmt or grmnet")
    ap.add_argument("--profile", default="smoke")
    ap.add_argument("--accelerator", default=None, help="cpu, gpu, cuda, mps, auto")
    ap.add_argument("--devices", type=int, default=None)
    ap.add_argument("--strategy", default=None, help="auto, ddp, ...")
    ap.add_argument("--precision", default=None, help="32-true, bf16-mixed, 16-mixed")
    ap.add_argument("--num-workers", dest="num_workers", type=int, default=None)
    ap.add_argument("--pin-memory", action="store_true")
    ap.add_argument("--cache-dir", default=None)
    args = ap.parse_args(argv)
    study = importlib.import_module(f"cmlib.studies.{args.paper}")
    os.chdir(project_root())
    cfg = from_params(study.Config, _params(args.paper, args.profile, args))
    out = study.fit_main(cfg, cfg.run.seeds[0])
    if int(os.environ.get("RANK", "0")) == 0:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        print(json.dumps({"paper": args.paper, "profile": args.profile, "world_size": world, **jsonable(out)}), flush=True)
    close_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
