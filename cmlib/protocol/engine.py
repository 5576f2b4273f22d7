"""One training loop for every paper: seeding, progress, atomic checkpoints, exact resume, NaN guard, multi-GPU.

Distribution, devices and precision come from Lightning Fabric (``lightning.fabric``), which stays inside this
module: models and losses never import it. The same ``fit`` call runs

* on one CPU or GPU (``FitConfig()`` defaults),
* as DDP when launched by ``torchrun --nproc_per_node N script.py`` or ``fabric run --devices N script.py`` with
  ``FitConfig(strategy="ddp", devices=N)`` (``fabric.launch()`` is skipped automatically under ``fabric run``).

Data contract: ``batches(epoch)`` returns the *global* batches of that epoch, deterministically in ``epoch``; under
DDP every tensor of a batch is split along dim 0 across the processes (the global batch size must divide evenly), so
one process with batch B and N processes with B/N each see the same samples. Losses computed over the whole batch
(in-batch negatives) see only the local shard under DDP, as in open_clip without feature gathering.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import os
import random
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning_utilities.core.apply_func import apply_to_collection
from torch import nn

from cmlib.protocol.config import check_range
from cmlib.protocol.perturb import jitter_module_

__all__ = [
    "DeviceConfig",
    "FitConfig",
    "FitResult",
    "NonFiniteLossError",
    "PerSample",
    "close_process_group",
    "epoch_batches",
    "fit",
    "make_fabric",
    "model_device",
    "on_cpu",
    "progress_bar",
    "seed_everything",
    "set_progress",
    "to_model_device",
    "torch_threads",
]

LossFn = Callable[[nn.Module, Any], Mapping[str, torch.Tensor]]
Batches = Callable[[int], Iterable[Any]]
EvalFn = Callable[[nn.Module], Mapping[str, float]]

_PROGRESS_ENABLED = os.environ.get("CMLIB_PROGRESS", "1") != "0"  # the runner's golden runs and nbval set 0


@dataclass
class DeviceConfig:
    """Where and how training runs: the ``run.device`` section every paper's params file has (default: one CPU
    process; :class:`cmlib.protocol.run.RunConfig`).

    ``run: {device: {accelerator: gpu, devices: 1, precision: bf16-mixed}}`` trains on one GPU; with ``devices: N,
    strategy: ddp`` launch the script with ``torchrun --nproc_per_node N`` or ``fabric run`` (README, "The run
    section, and training on GPUs").

    Attributes:
        accelerator, devices, strategy, num_nodes, precision: passed to ``lightning.fabric.Fabric``.
        num_workers: DataLoader worker processes of :func:`epoch_batches` (0: load in the training process, which
            keeps CPU runs bit-reproducible). Papers whose batches are slices of tensors already in memory (CLAREL,
            DeSKPro) have no loading to overlap, so it changes nothing there.
        pin_memory: pin each batch's tensors before the host-to-GPU copy, so the copy runs asynchronously (ignored
            on CPU).
    """

    accelerator: str = "cpu"
    devices: int = 1
    strategy: str = "auto"
    num_nodes: int = 1
    precision: str = "32-true"
    num_workers: int = 0
    pin_memory: bool = False

    def __post_init__(self) -> None:
        check_range("devices", self.devices, lo=1)
        check_range("num_nodes", self.num_nodes, lo=1)
        check_range("num_workers", self.num_workers, lo=0)

    def numerics(self) -> dict[str, Any]:
        """The settings that can change a trained model's numbers (for cache keys; loading settings cannot)."""
        return {k: getattr(self, k) for k in ("accelerator", "devices", "strategy", "num_nodes", "precision")}

    def key_part(self) -> dict[str, dict[str, Any]]:
        """What a cache key adds for these settings: nothing for the default (one CPU process, so keys made before
        the device section existed stay valid), else ``{"fit": numerics()}``. A mapping key takes it as
        ``**key_part()``, a list key as ``*key_part().values()``."""
        numerics = self.numerics()
        return {} if numerics == DeviceConfig().numerics() else {"fit": numerics}

    def fit_config(self, **loop: Any) -> FitConfig:
        """The :class:`FitConfig` of one training run: these device settings plus the paper's loop settings."""
        return FitConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(DeviceConfig)}, **loop)


@dataclass
class FitConfig(DeviceConfig):
    """Settings of :func:`fit`: the device fields of :class:`DeviceConfig`, then the training loop's.

    Attributes:
        max_steps: optimizer steps in total (epochs repeat ``batches`` until then).
        seed: seeds python/numpy/torch at the start (resume restores the saved RNG states instead).
        log_every: steps between history rows (loss terms averaged over the interval).
        grad_clip: max global gradient norm, or None.
        checkpoint_dir: where ``last.pt`` is written atomically; None = no checkpoints.
        checkpoint_every: steps between checkpoints (0 = only at the end).
        resume: continue from ``checkpoint_dir/last.pt`` when it exists.
        eval_every: steps between ``eval_fn`` calls (0 = only at the end).
        select_best: restore the weights with the best ``eval_fn(...)["score"]`` at the end.
        stop_score: stop at the first evaluation whose ``score`` is >= this, keeping that step's weights (Lightning's
            ``EarlyStopping(stopping_threshold=...)``); None = train ``max_steps``.
        progress: show a tqdm bar (also subject to :func:`set_progress`).
        threads: torch intra-op threads the run trains under (0: leave torch's setting; :func:`torch_threads`);
            a paper's run section passes its own (``cmlib.protocol.run.RunConfig.fit_config``).
    """

    max_steps: int = 100
    seed: int = 0
    log_every: int = 10
    grad_clip: float | None = None
    checkpoint_dir: str | None = None
    checkpoint_every: int = 0
    resume: bool = False
    eval_every: int = 0
    select_best: bool = False
    stop_score: float | None = None
    progress: bool = False
    threads: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("threads", self.threads, lo=0)
        check_range("max_steps", self.max_steps, lo=1)
        check_range("log_every", self.log_every, lo=1)
        check_range("checkpoint_every", self.checkpoint_every, lo=0)
        check_range("eval_every", self.eval_every, lo=0)
        if self.grad_clip is not None:
            check_range("grad_clip", self.grad_clip, lo=0.0)


@dataclass
class FitResult:
    """What :func:`fit` returns. ``history`` rows: ``{"step", "loss", <term>...}`` and ``{"step", "eval/<k>"...}``."""

    history: list[dict[str, float]] = field(default_factory=list)
    final_step: int = 0
    best_step: int | None = None
    best_score: float | None = None
    wall_time_s: float = 0.0
    steps_per_s: float = 0.0


class NonFiniteLossError(FloatingPointError):
    """The summed loss became NaN/inf; the message names the step and every term."""


def set_progress(enabled: bool) -> None:
    """Globally enable/disable cmlib progress bars (``tqdm.notebook`` ignores TQDM_DISABLE, so cmlib has its own)."""
    global _PROGRESS_ENABLED
    _PROGRESS_ENABLED = bool(enabled)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch, and ask torch for deterministic algorithms (warn-only where none exists)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = False


def model_device(module: nn.Module) -> torch.device:
    """The device ``module``'s parameters (else buffers) live on; the CPU for a module with neither. After
    :func:`fit` a model sits on the training device, so evaluation code asks the model, not the config."""
    first = next(itertools.chain(module.parameters(), module.buffers()), None)  # no list of every tensor per batch
    return torch.device("cpu") if first is None else first.device


def to_model_device(module: nn.Module, data: Any) -> Any:
    """``data`` (a tensor, or a list / tuple / dict of them) moved to :func:`model_device` of ``module`` (no copy
    where it is there already, e.g. on a CPU run)."""
    device = model_device(module)
    return apply_to_collection(data, torch.Tensor, lambda t: t.to(device))


def on_cpu(data: Any) -> Any:
    """``data`` (a tensor or a collection of them) moved to the CPU, where the metrics and NumPy read it."""
    return apply_to_collection(data, torch.Tensor, lambda t: t.cpu())


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with ``n`` torch intra-op threads (0 leaves the setting alone), then restore the previous count.

    The studies pin this in their config: CPU numbers then do not depend on the machine's core count, and on a shared
    2-core machine the OpenMP threads of concurrent processes no longer spin against each other (measured by the
    DeSKPro and GRM-Net work: 0.2-0.45 s per step with one thread against 2-9 s with two under load).
    """
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def epoch_batches(
    dataset: torch.utils.data.Dataset,
    batch_size: int,
    *,
    seed: int = 0,
    shuffle: bool = True,
    drop_last: bool = True,
    collate_fn: Callable[[list[Any]], Any] | None = None,
    num_workers: int = 0,
) -> Batches:
    """A ``batches`` callable over a map-style dataset: epoch -> a DataLoader shuffled by ``(seed, epoch)``.

    ``num_workers`` (the params' ``fit.num_workers``): loader processes; the order of the batches depends only on
    ``(seed, epoch)``, so it is the same with any number of workers. Default 0: load in the training process.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size: expected >= 1, got {batch_size}")
    if len(dataset) < batch_size and drop_last:  # type: ignore[arg-type]
        raise ValueError(f"batch_size {batch_size} is larger than the dataset ({len(dataset)} items) with drop_last")

    def batches(epoch: int) -> Iterable[Any]:
        gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        return torch.utils.data.DataLoader(
            dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, collate_fn=collate_fn, generator=gen,
            num_workers=num_workers,
        )

    return batches


def make_fabric(cfg: FitConfig) -> Any:
    """Build and launch a ``lightning.fabric.Fabric`` from ``cfg`` (skipping ``launch`` under ``fabric run``).

    bf16 precision on a CPU without native bf16 kernels (no AVX512-BF16 / AMX: oneDNN then emulates them) warns once:
    the run is correct but slower than fp32 there, so a profile that chose bf16 for speed should be run with
    ``run.device.precision=32-true`` on such a machine (its models then get their own cache keys)."""
    from lightning.fabric import Fabric

    if cfg.accelerator == "cpu" and str(cfg.precision).startswith("bf16") and not cpu_has_native_bf16():
        warnings.warn(f"run.device.precision {cfg.precision!r}: this CPU has no native bf16 (AVX512-BF16 / AMX), so "
                      "bf16 is emulated and slower than fp32 here; override with run.device.precision=32-true",
                      RuntimeWarning, stacklevel=2)

    fabric = Fabric(
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        strategy=cfg.strategy,
        num_nodes=cfg.num_nodes,
        precision=cfg.precision,
    )
    import torch.distributed as dist

    had_group = dist.is_available() and dist.is_initialized()
    if not getattr(fabric, "_launched", False):
        fabric.launch()
    if not had_group and dist.is_available() and dist.is_initialized():
        _own_process_group()
    return fabric


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bf16 natively on this CPU (AVX512-BF16 or AMX), as torch reports it."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without oneDNN
        return False


_GROUP_OWNED = False


def _own_process_group() -> None:
    """The engine initialised the process group (through Fabric): it tears it down too, at exit at the latest."""
    global _GROUP_OWNED
    if not _GROUP_OWNED:
        import atexit

        atexit.register(close_process_group)
        _GROUP_OWNED = True


def close_process_group() -> None:
    """Tear the torch.distributed process group down: a barrier (no rank leaves while another still talks), then
    ``destroy_process_group``. A no-op without one.

    :func:`make_fabric` registers this at interpreter exit whenever it initialised the group, so a DDP script needs
    no teardown of its own; call it explicitly to end the group earlier (``tests/unit/ddp_worker.py``,
    ``examples/fit_distributed.py``). Without it gloo's background threads can still be alive at exit, and rank 1
    then aborts with "terminate called without an active exception" (issue 27: seen three times in CI; 0 of 30
    with the teardown, ``benchmarks/ddp_stress.py``).
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


@dataclass
class _State:
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best_step: int | None = None
    best_score: float | None = None
    best_weights: dict[str, torch.Tensor] | None = None
    stopped: bool = False  # ``stop_score`` reached


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: LossFn,
    batches: Batches,
    cfg: FitConfig,
    *,
    scheduler: Any | None = None,
    eval_fn: EvalFn | None = None,
    fabric: Any | None = None,
) -> FitResult:
    """Train ``model`` for ``cfg.max_steps`` optimizer steps.

    Args:
        model: the module; ``loss_fn`` receives it wrapped by Fabric (attribute access passes through).
        optimizer: built over ``model.parameters()`` by the caller.
        loss_fn: ``(model, batch) -> {name: scalar tensor}``; named, already-weighted terms; their sum is minimised.
        batches: ``epoch -> iterable of batches`` (see :func:`epoch_batches`); randomness only from its own generator.
        cfg: loop settings.
        scheduler: stepped once per optimizer step, or None.
        eval_fn: ``model -> {"score": float, ...}`` on held-out validation data (never the test split).
        fabric: an existing Fabric to reuse (e.g. several fits in one DDP script); built from ``cfg`` if None.

    Returns:
        A :class:`FitResult`. The model (unwrapped, the object passed in) holds the final (or best) weights.

    Raises:
        NonFiniteLossError: the loss became non-finite; names the step and terms; the last checkpoint is kept.
    """
    with torch_threads(cfg.threads):
        return _fit(model, optimizer, loss_fn, batches, cfg, scheduler=scheduler, eval_fn=eval_fn, fabric=fabric)


def _fit(model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: LossFn, batches: Batches, cfg: FitConfig, *,
         scheduler: Any | None, eval_fn: EvalFn | None, fabric: Any | None) -> FitResult:
    """:func:`fit`'s loop, under the run's thread count."""
    fabric = fabric or make_fabric(cfg)
    module = model
    wrapped, optimizer = fabric.setup(model, optimizer)
    state = _State()
    ckpt = Path(cfg.checkpoint_dir) / "last.pt" if cfg.checkpoint_dir else None
    if cfg.resume and ckpt is not None and ckpt.exists():
        state = _load_checkpoint(ckpt, wrapped, optimizer, scheduler, fabric)
    else:
        seed_everything(cfg.seed)
        jitter_module_(module, salt=cfg.seed)  # test-only, off unless the harness set a draw (cmlib.protocol.perturb)
    start_step, t0 = state.step, time.perf_counter()
    bar = _progress_bar(cfg, fabric, start_step)
    sums: dict[str, float] = {}
    counted = 0
    resumed_rng = _pop_resume_rng(state)
    while state.step < cfg.max_steps and not state.stopped:
        for i, batch in enumerate(batches(state.epoch)):
            if i < state.batch_in_epoch:
                continue  # already consumed before the interruption
            if resumed_rng is not None:
                _set_rng_state(resumed_rng)
                resumed_rng = None
            terms = _train_step(wrapped, optimizer, loss_fn, batch, cfg, fabric, state, ckpt)
            if scheduler is not None:
                scheduler.step()
            state.step += 1
            state.batch_in_epoch = i + 1
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v
            counted += 1
            if bar is not None:
                bar.update(1)
                if state.step % cfg.log_every == 0:
                    bar.set_postfix(loss=f"{terms['loss']:.4f}", refresh=False)
            if state.step % cfg.log_every == 0 or state.step == cfg.max_steps:
                state.history.append({"step": state.step, **{k: v / counted for k, v in sums.items()}})
                sums, counted = {}, 0
            if eval_fn is not None and cfg.eval_every and state.step % cfg.eval_every == 0:
                _evaluate(wrapped, module, eval_fn, state)
                if cfg.stop_score is not None and state.history[-1].get("eval/score", -math.inf) >= cfg.stop_score:
                    state.stopped = True
            if ckpt is not None and cfg.checkpoint_every and state.step % cfg.checkpoint_every == 0:
                _save_checkpoint(ckpt, wrapped, optimizer, scheduler, state, fabric)
            if state.step >= cfg.max_steps or state.stopped:
                break
        else:
            if state.batch_in_epoch == 0:
                raise ValueError(f"batches({state.epoch}) yielded no batch: the dataset is empty or too small")
            state.epoch, state.batch_in_epoch = state.epoch + 1, 0
    if bar is not None:
        bar.close()
    if eval_fn is not None and (not cfg.eval_every or state.step % cfg.eval_every != 0):
        _evaluate(wrapped, module, eval_fn, state)
    if cfg.select_best and state.best_weights is not None:
        module.load_state_dict(state.best_weights)
    if ckpt is not None:
        _save_checkpoint(ckpt, wrapped, optimizer, scheduler, state, fabric)
    wall = time.perf_counter() - t0
    done = state.step - start_step
    return FitResult(state.history, state.step, state.best_step, state.best_score, wall, done / wall if wall else 0.0)


def _train_step(
    wrapped: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: LossFn,
    batch: Any,
    cfg: FitConfig,
    fabric: Any,
    state: _State,
    ckpt: Path | None,
) -> dict[str, float]:
    """One optimizer step; returns the float value of each term and of the total ``loss``."""
    batch = _shard(batch, fabric.global_rank, fabric.world_size)
    if cfg.pin_memory and fabric.device.type == "cuda":
        batch = apply_to_collection(batch, torch.Tensor, lambda t: t if t.is_pinned() else t.pin_memory())
    batch = fabric.to_device(batch)
    wrapped.train()
    terms = dict(loss_fn(wrapped, batch))
    if not terms:
        raise ValueError("loss_fn returned no loss term")
    total = torch.stack([t.reshape(()) for t in terms.values()]).sum()
    values = {k: float(v.detach()) for k, v in terms.items()}
    if not math.isfinite(float(total.detach())):
        detail = ", ".join(f"{k}={v:.6g}" for k, v in values.items())
        kept = f"last good checkpoint kept at {ckpt}" if ckpt is not None and ckpt.exists() else "no checkpoint written"
        raise NonFiniteLossError(f"non-finite loss at step {state.step + 1}: total={float(total.detach()):.6g} ({detail}); {kept}")
    optimizer.zero_grad(set_to_none=True)
    fabric.backward(total)
    if cfg.grad_clip is not None:
        fabric.clip_gradients(wrapped, optimizer, max_norm=cfg.grad_clip)
    optimizer.step()
    return {"loss": float(total.detach()), **values}


def _evaluate(wrapped: nn.Module, module: nn.Module, eval_fn: EvalFn, state: _State) -> None:
    wrapped.eval()
    with torch.no_grad():
        scores = {k: float(v) for k, v in eval_fn(wrapped).items()}
    state.history.append({"step": state.step, **{f"eval/{k}": v for k, v in scores.items()}})
    score = scores.get("score")
    if score is not None and (state.best_score is None or score > state.best_score):
        state.best_step, state.best_score = state.step, score
        state.best_weights = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


class PerSample(list):
    """A list with one entry per sample of a batch (an image, a target dict: detection batches hold images of their
    own sizes and per-image targets). Under DDP :func:`fit` splits the list itself into ``world`` equal blocks, never
    the tensors inside an entry. A plain list or tuple is a batch *structure* (DataLoader's ``[x, y]``): each tensor
    in it is split along dim 0."""


def _shard(batch: Any, rank: int, world: int) -> Any:
    """Split every tensor of a (nested) batch along dim 0 into ``world`` equal parts and keep part ``rank``
    (a :class:`PerSample` list is split by entries)."""
    if world == 1:
        return batch
    if isinstance(batch, PerSample):
        if len(batch) % world:
            raise ValueError(f"global batch of {len(batch)} items does not split evenly over {world} processes")
        k = len(batch) // world
        return PerSample(batch[rank * k:(rank + 1) * k])
    if isinstance(batch, torch.Tensor):
        if batch.shape[0] % world:
            raise ValueError(f"global batch of {batch.shape[0]} items does not split evenly over {world} processes")
        return batch.chunk(world)[rank]
    if isinstance(batch, Mapping):
        return {k: _shard(v, rank, world) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)) and not isinstance(batch, str):
        return type(batch)(_shard(v, rank, world) for v in batch)
    if dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        return dataclasses.replace(batch, **{f.name: _shard(getattr(batch, f.name), rank, world) for f in dataclasses.fields(batch)})
    return batch


def progress_bar(total: int, desc: str, *, initial: int = 0, leave: bool = False) -> Any:
    """A tqdm bar (a widget in a notebook, text in a terminal), or None when bars are off (:func:`set_progress`, or
    the environment variable ``CMLIB_PROGRESS=0``, which the runner's golden runs and the nbval tests set so that
    stored notebooks carry no bar). Callers do ``if bar: bar.update(k)`` and ``bar.close()``."""
    if not _PROGRESS_ENABLED:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, mininterval=2.0, desc=desc, leave=leave)


def _progress_bar(cfg: FitConfig, fabric: Any, start: int) -> Any:
    if not (cfg.progress and fabric.is_global_zero):
        return None
    return progress_bar(cfg.max_steps, "fit", initial=start)


def _rng_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "python": random.getstate(),
    }


def _set_rng_state(rng: Mapping[str, Any]) -> None:
    torch.set_rng_state(rng["torch"])
    kind, keys, pos, has_gauss, gauss = rng["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = rng["python"]
    random.setstate((version, tuple(internal), gauss_next))


def _pop_resume_rng(state: _State) -> dict[str, Any] | None:
    rng = getattr(state, "_resume_rng", None)
    if rng is not None:
        del state._resume_rng  # type: ignore[attr-defined]
    return rng


def _save_checkpoint(path: Path, module: nn.Module, optimizer: Any, scheduler: Any, state: _State, fabric: Any) -> None:
    """Write ``path`` through ``fabric.save`` (atomic on rank 0 for the single-process and DDP strategies, sharded
    where the strategy shards: FSDP, DeepSpeed), then wait for every rank. ``module`` is the Fabric-wrapped model
    and ``optimizer`` the wrapped optimizer, so the strategy gathers their states itself."""
    if fabric.is_global_zero:
        path.parent.mkdir(parents=True, exist_ok=True)
    fabric.save(path, {
        "model": module,
        "optimizer": optimizer,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "step": state.step,
        "epoch": state.epoch,
        "batch_in_epoch": state.batch_in_epoch,
        "history": state.history,
        "best_step": state.best_step,
        "best_score": state.best_score,
        "best_weights": state.best_weights,
        "stopped": state.stopped,
        "rng": _rng_state(),
    })


def _load_checkpoint(path: Path, module: nn.Module, optimizer: Any, scheduler: Any, fabric: Any) -> _State:
    """Restore the wrapped ``module`` and ``optimizer`` in place through ``fabric.load`` and return the loop state."""
    try:
        payload = fabric.load(path, {"model": module, "optimizer": optimizer}, weights_only=True)
    except Exception as err:
        raise RuntimeError(f"{path}: cannot read checkpoint ({err}); delete it or set resume=False") from err
    if scheduler is not None and payload["scheduler"] is not None:
        scheduler.load_state_dict(payload["scheduler"])
    state = _State(
        step=payload["step"],
        epoch=payload["epoch"],
        batch_in_epoch=payload["batch_in_epoch"],
        history=list(payload["history"]),
        best_step=payload["best_step"],
        best_score=payload["best_score"],
        best_weights=payload["best_weights"],
        stopped=bool(payload.get("stopped", False)),
    )
    state._resume_rng = payload["rng"]  # type: ignore[attr-defined]
    _set_rng_state(payload["rng"])
    return state

