"""A tiny fit used by test_engine's DDP test: run alone (1 process) or under torchrun (2 processes on CPU/gloo).

    python -m torch.distributed.run --nproc_per_node 2 tests/unit/ddp_worker.py OUT.pt [JITTER]

JITTER: the test-only numeric jitter draw of the test process (cmlib.protocol.perturb), so both fits are perturbed alike.
"""

from __future__ import annotations

import sys

import torch
from torch import nn

from cmlib.protocol.engine import FitConfig, close_process_group, epoch_batches, fit, seed_everything
from cmlib.protocol.perturb import set_jitter

GLOBAL_BATCH = 8


def train(devices: int, steps: int = 12) -> dict[str, torch.Tensor]:
    """Fit a linear regression with a fixed global batch; returns the final weights."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 5, generator=gen)
    y = x @ torch.arange(1.0, 6.0).unsqueeze(1) + 0.1 * torch.randn(64, 1, generator=gen)
    seed_everything(0)
    model = nn.Linear(5, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    strategy = "ddp" if devices > 1 else "auto"
    cfg = FitConfig(max_steps=steps, log_every=4, devices=devices, strategy=strategy, seed=0)
    data = torch.utils.data.TensorDataset(x, y)
    fit(model, opt, lambda m, b: {"mse": ((m(b[0]) - b[1]) ** 2).mean()}, epoch_batches(data, GLOBAL_BATCH, seed=0), cfg)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


if __name__ == "__main__":
    import torch.distributed as dist

    set_jitter(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    weights = train(devices=2)
    if not dist.is_initialized() or dist.get_rank() == 0:
        torch.save(weights, sys.argv[1])
    close_process_group()
