"""GRM-Net step-time benchmark (not a test): seconds per training step of the CPU detector and GRM-Net variants.

    .venv/bin/python benchmarks/grmnet.py [--canvas 128 256] [--steps 5] [--threads 1]

Prints one row per (canvas, model): median s/step over ``steps`` steps after one warm-up step, batch 4, the smoke
model sizes. Wall times on a shared machine are inflated by other jobs; compare rows of the same run.
"""
from __future__ import annotations

import argparse
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--canvas", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for canvas in args.canvas:
        cfg = grmnet.Config(canvas=canvas, n_train_scenes=8, n_test_scenes=1)
        data = grmnet.build_data(cfg)
        batch = grmnet.collate([grmnet.referring_item(data, "train", e, 15) for e in data.train[:4]])
        for name, variant in (("detector", {"use_language": False, "top_k": 0, "use_position": False}),
                              ("GRM-Net K=0", grmnet.variant_of(3)), ("GRM-Net K=10", grmnet.variant_of(7))):
            torch.manual_seed(0)
            model = grmnet.GRMNet(grmnet.model_spec(cfg, data, **variant))
            s = step_time(model, batch, args.steps, variant.get("use_language", True))
            print(f"canvas {canvas:4d}  {name:14s} {s:.3f} s/step  (threads={args.threads}, batch 4)")


if __name__ == "__main__":
    main()
