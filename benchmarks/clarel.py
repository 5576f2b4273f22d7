"""CLAREL timings (not a test): training step and inference at the CPU widths and the paper widths.

    .venv/bin/python benchmarks/clarel.py [--steps 20] [--threads 1]

Prints seconds per optimizer step (batch 32, K sentences of 30 tokens) and per 1,000 sentences embedded. On a
shared machine, compare numbers taken in the same run only.
"""

from __future__ import annotations

import argparse
import time

import torch

from cmlib.losses.retrieval import clarel_loss
from cmlib.models.clarel import ClarelModel, ClarelModelConfig

WIDTHS = {"cpu": ClarelModelConfig(embed_dim=128, cnn_channels=64, lstm_hidden=64),
          "paper": ClarelModelConfig()}


def step_time(cfg: ClarelModelConfig, steps: int, k: int, word_dim: int) -> float:
    """Mean seconds per optimizer step on random features and token ids."""
    g = torch.Generator().manual_seed(0)
    model = ClarelModel(torch.randn(1000, word_dim, generator=g), n_classes=100, cfg=cfg)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(32, 2048, generator=g)
    ids, lengths = torch.randint(2, 1000, (32, k, 30), generator=g), torch.randint(8, 31, (32, k), generator=g)
    labels = torch.randint(0, 100, (32,), generator=g)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for name, cfg in WIDTHS.items():
        word_dim = 32 if name == "cpu" else 300
        k = 3 if name == "cpu" else 5
        print(f"{name:5s} widths: {step_time(cfg, args.steps, k, word_dim):.3f} s/step (K={k}), "
              f"{embed_time(cfg, word_dim):.3f} s per 1000 sentences")


if __name__ == "__main__":
    main()
