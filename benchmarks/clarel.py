"""CLAREL timings (not a test): training step and inference at the CPU widths and the paper widths.

    .venv/bin/python benchmarks/clarel.py [--steps 20] [--threads 1] [--batch 32] [--k 3] [--models-per-replicate 22]

Prints seconds per optimizer step (``--batch`` pairs, K sentences of 30 tokens) and per 1,000 sentences embedded,
and the study-profile cost this implies: one model = ``--study-steps`` steps + embedding the prototypes' sentences
(``--proto-sentences``), times the models per replicate (params/clarel/study.yaml says how many), times 5
replicates. On a shared machine, compare numbers taken in the same run only.
"""

from __future__ import annotations

import argparse
import time

import torch

from cmlib.losses.retrieval import clarel_loss
from cmlib.models.clarel import ClarelModel, ClarelModelConfig

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
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
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
