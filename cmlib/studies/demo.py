"""A tiny study that proves the pipeline (config -> engine -> replicates -> reporting -> runner -> nbval) before any
paper, with the discipline every paper follows.

The world: two Gaussian classes in ``dim`` dimensions whose means differ along one direction; a logistic regression
trained by :func:`cmlib.protocol.engine.fit` separates them. Each replicate (one seed) draws its own world, split,
initialisation and batch order; the learning rate is chosen from ``lrs`` on the replicate's validation split, and the
test split (a :class:`cmlib.protocol.splits.SealedSplit`) is read once, for the final score. The claims checked: the trained
model beats chance, and the validated learning rate beats the smallest one of the grid on test.

It also shows the evidence rules of :mod:`cmlib.protocol.claims` end to end (issue 26): every model carries its validation
curve (accuracy on the validation split every ``log_every`` steps) for the convergence gate; the premise of the
comparison (the classes are separable: the distance between the training split's class means along ``e_0``) is
measured per replicate; and a dose-response claim measures the trained model's gain over chance at several levels of
the world's knob, the class ``separation`` (``dose_levels``), one replicate set per level.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import torch
from torch import nn

from cmlib.protocol.claims import Claim, Dose, ModelCheck, Premise, curve_from_history, paired, trend
from cmlib.protocol.config import ConfigError, check_range
from cmlib.protocol.engine import epoch_batches, fit, seed_everything
from cmlib.protocol.run import MOVED, RunConfig
from cmlib.protocol.splits import SealedSplit

__all__ = ["Config", "demo_claims", "fit_main", "make_world", "run_seed"]

Split = torch.utils.data.TensorDataset


@dataclass
class Config:
    """Demo config; the defaults are the smoke profile.

    Attributes:
        steps, log_every: optimizer steps of each training, and steps between its history rows (and validation
            points, which the convergence gate reads).
        run: the run section every paper shares (:class:`cmlib.protocol.run.RunConfig`): one replicate per
            ``run.seeds`` entry (world, split, initialisation and batch order all follow it; default 0, 1, 2);
            ``run.workers`` processes (default 0: one per CPU core); ``run.cache_dir`` keeps finished replicates
            so that an interrupted run resumes (None: not kept); ``run.executor`` names where the replicates run
            (the local pool, SLURM via submitit, or a Dask cluster).
        lrs: learning rates tried; each replicate keeps the one with the best validation accuracy.
        dose_levels: class separations at which the dose-response claim measures the gain over chance, each level
            a world of its own trained at the learning rate validated at ``separation`` (a level equal to
            ``separation`` reuses the replicate itself); empty: no dose-response.
    """

    n_train: int = 256
    n_val: int = 256
    n_test: int = 512
    dim: int = 8
    separation: float = 1.0
    batch_size: int = 32
    lrs: list[float] = field(default_factory=lambda: [0.003, 0.1])
    dose_levels: list[float] = field(default_factory=lambda: [0.25, 0.5, 1.0])
    steps: int = 40
    log_every: int = 10
    run: RunConfig = field(default_factory=lambda: RunConfig(seeds=[0, 1, 2], workers=0))

    MOVED_KEYS: ClassVar[dict[str, str]] = MOVED

    def __post_init__(self) -> None:
        check_range("n_train", self.n_train, lo=self.batch_size)
        check_range("n_val", self.n_val, lo=1)
        check_range("separation", self.separation, lo=0.0)
        check_range("steps", self.steps, lo=1)
        check_range("log_every", self.log_every, lo=1)
        if not self.lrs or min(self.lrs) <= 0:
            raise ConfigError(f"lrs: a non-empty list of positive learning rates, got {self.lrs}")


def make_world(cfg: Config, seed: int) -> tuple[Split, Split, SealedSplit[Split]]:
    """Train, validation and (sealed) test sets of one replicate: x ~ N(+-separation/2 * e_0, I) of shape (N, dim),
    y in {0, 1} of shape (N,), all drawn from a generator seeded by ``seed``."""
    gen = torch.Generator().manual_seed(10_000 + seed)

    def draw(n: int) -> Split:
        y = torch.randint(0, 2, (n,), generator=gen)
        x = torch.randn(n, cfg.dim, generator=gen)
        x[:, 0] += (y.float() - 0.5) * cfg.separation
        return torch.utils.data.TensorDataset(x, y)

    return draw(cfg.n_train), draw(cfg.n_val), SealedSplit(draw(cfg.n_test), f"demo test (seed {seed})")


def run_seed(cfg: Config, seed: int) -> dict[str, float]:
    """One replicate: train one model per learning rate, keep the best on validation, score it (and the smallest
    learning rate's model, for the paired claim) on the test split, read once.

    Returns:
        seed, lr (validated), val_accuracy, accuracy (test, validated lr), accuracy_lr_min (test, smallest lr),
        chance (test majority rate), final_loss, separation_measured (the premise), curve_best / curve_lr_min (the
        validation curves ``[(step, accuracy)]``), dose (test accuracy - chance at each of ``dose_levels``, in order).
    """
    out = _replicate(cfg, seed)
    gain = out.pop("gain")
    # the learning rate validated at the study's setting stays fixed across the levels (the knob changes the
    # world, not the tuning); the level equal to the setting is this replicate itself
    fixed = replace(cfg, lrs=[out["lr"]])
    out["dose"] = [gain if level == cfg.separation else _replicate(replace(fixed, separation=level), seed)["gain"]
                   for level in cfg.dose_levels]
    return out


def _replicate(cfg: Config, seed: int) -> dict[str, Any]:
    train, val, sealed = make_world(cfg, seed)
    trained = {lr: _train(cfg, train, seed, lr, val) for lr in cfg.lrs}
    val_acc = {lr: _accuracy(model, val) for lr, (model, _, _) in trained.items()}
    best = max(cfg.lrs, key=lambda lr: (val_acc[lr], -lr))
    test = sealed.open("final score")
    y = test.tensors[1].float()
    chance = max(y.mean().item(), 1 - y.mean().item())
    accuracy = _accuracy(trained[best][0], test)
    x, labels = train.tensors
    separation = (x[labels == 1, 0].mean() - x[labels == 0, 0].mean()).item()
    return {"seed": seed, "lr": best, "val_accuracy": val_acc[best], "accuracy": accuracy,
            "accuracy_lr_min": _accuracy(trained[min(cfg.lrs)][0], test), "chance": chance,
            "final_loss": trained[best][1], "separation_measured": separation, "gain": accuracy - chance,
            "curve_best": trained[best][2], "curve_lr_min": trained[min(cfg.lrs)][2]}


def _train(cfg: Config, train: Split, seed: int, lr: float, val: Split | None = None,
           ) -> tuple[nn.Module, float, list[tuple[float, float]]]:
    """One model; with ``val``, its validation accuracy every ``log_every`` steps (evaluation draws no random
    number and selects no weights, so the trained model is the same with or without it)."""
    seed_everything(seed)  # before building the model: its initial weights come from the global RNG
    model = nn.Linear(cfg.dim, 2)
    optim = torch.optim.SGD(model.parameters(), lr=lr)
    every = cfg.log_every if val is not None else 0
    fit_cfg = cfg.run.fit_config(max_steps=cfg.steps, seed=seed, log_every=cfg.log_every, eval_every=every)
    batches = epoch_batches(train, cfg.batch_size, seed=seed, num_workers=cfg.run.device.num_workers)
    eval_fn = None if val is None else (lambda m: {"score": _accuracy(m, val)})
    result = fit(model, optim, _loss, batches, fit_cfg, eval_fn=eval_fn)
    loss = [row["loss"] for row in result.history if "loss" in row][-1]
    return model, loss, curve_from_history(result.history)


def fit_main(cfg: Config, seed: int) -> dict[str, Any]:
    """Train the main model once (the first learning rate) with the params' ``run.device`` settings: what
    ``examples/fit_distributed.py`` launches on one GPU or under torchrun. Returns final_loss."""
    train, _, _ = make_world(cfg, seed)
    return {"model": f"linear, lr {cfg.lrs[0]}", "final_loss": _train(cfg, train, seed, cfg.lrs[0])[1]}


def demo_claims(rows: list[dict[str, Any]], cfg: Config) -> list[Claim]:
    """The demo's claims under the rules of :mod:`cmlib.protocol.claims`.

    Margins (no paper; fixed here before any run): 0.05 accuracy for "beats chance" and for the learning-rate
    comparison (a twentieth of the [0.5, 1] range of a two-class accuracy: anything smaller is not worth a
    sentence), 0.05 accuracy per unit of separation for the dose-response slope. The premise of the learning-rate
    comparison: the classes are separable at all (measured class-mean distance >= 0.1 standard deviations).
    """
    acc, acc_min, chance = ([r[k] for r in rows] for k in ("accuracy", "accuracy_lr_min", "chance"))
    gates = [ModelCheck("lr*", acc, chance, curves=[r["curve_best"] for r in rows]),
             ModelCheck("min lr", acc_min, chance, curves=[r["curve_lr_min"] for r in rows])]
    premise = Premise("class-mean distance on e_0 (train split)", [r["separation_measured"] for r in rows], 0.1)
    out = [Claim("the trained model beats chance", paired(acc, chance), ">", 0.0, "accuracy - chance", margin=0.05,
                 headline=True),
           Claim("the validated learning rate beats the smallest one", paired(acc, acc_min), ">", 0.0,
                 "accuracy(lr*) - accuracy(min lr), test", margin=0.05, models=gates, premise=premise)]
    if cfg.dose_levels:
        dose = Dose(cfg.dose_levels, [[r["dose"][i] for r in rows] for i in range(len(cfg.dose_levels))],
                    "class separation", cfg.separation)
        out.append(trend("the gain over chance grows with the class separation", dose, margin=0.05,
                         statistic="slope of accuracy - chance per unit of separation"))
    return out


@torch.no_grad()
def _accuracy(model: nn.Module, split: Split) -> float:
    x, y = split.tensors
    return (model(x).argmax(1) == y).float().mean().item()


def _loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
    x, y = batch
    return {"ce": nn.functional.cross_entropy(model(x), y)}
