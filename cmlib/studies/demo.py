"""A tiny study that proves the pipeline (config -> engine -> reporting -> runner -> nbval) before any paper.

The world: two Gaussian classes in ``dim`` dimensions whose means differ along one direction; a logistic regression
trained by :func:`cmlib.engine.fit` separates them. The claim checked: the trained model beats chance accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from cmlib.config import check_range
from cmlib.engine import FitConfig, epoch_batches, fit, seed_everything

__all__ = ["Config", "make_world", "run_seed"]


@dataclass
class Config:
    """Demo config; the defaults are the smoke profile."""

    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    n_train: int = 256
    n_test: int = 512
    dim: int = 8
    separation: float = 1.0
    batch_size: int = 32
    lr: float = 0.1
    fit: FitConfig = field(default_factory=lambda: FitConfig(max_steps=40, log_every=10))

    def __post_init__(self) -> None:
        check_range("n_train", self.n_train, lo=self.batch_size)
        check_range("separation", self.separation, lo=0.0)
        check_range("lr", self.lr, lo=0.0)


def make_world(cfg: Config, seed: int) -> tuple[torch.utils.data.TensorDataset, torch.utils.data.TensorDataset]:
    """Train and test sets: x ~ N(+-separation/2 * e_0, I) of shape (N, dim), y in {0, 1} of shape (N,)."""
    gen = torch.Generator().manual_seed(10_000 + seed)

    def draw(n: int) -> torch.utils.data.TensorDataset:
        y = torch.randint(0, 2, (n,), generator=gen)
        x = torch.randn(n, cfg.dim, generator=gen)
        x[:, 0] += (y.float() - 0.5) * cfg.separation
        return torch.utils.data.TensorDataset(x, y)

    return draw(cfg.n_train), draw(cfg.n_test)


def run_seed(cfg: Config, seed: int) -> dict[str, float]:
    """Train a logistic regression on one seed's world; return test accuracy, chance level and the last loss."""
    train, test = make_world(cfg, seed)
    seed_everything(seed)  # before building the model: its initial weights come from the global RNG
    model = nn.Linear(cfg.dim, 2)
    optim = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    fit_cfg = FitConfig(**{**cfg.fit.__dict__, "seed": seed})
    result = fit(model, optim, _loss, epoch_batches(train, cfg.batch_size, seed=seed), fit_cfg)
    x, y = test.tensors
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    chance = max(y.float().mean().item(), 1 - y.float().mean().item())
    return {"seed": seed, "accuracy": acc, "chance": chance, "final_loss": result.history[-1]["loss"]}


def _loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
    x, y = batch
    return {"ce": nn.functional.cross_entropy(model(x), y)}
