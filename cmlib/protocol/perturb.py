"""A test-only numeric perturbation that stands in for another processor.

Another CPU rounds a few operations differently (its BLAS or vector kernels), and a few hundred optimiser steps grow
those last-bit differences into a different model. To measure how far trained numbers move, and to check that the
golden tests tolerate such a move without a second machine, a run can be perturbed at the two places where every
trained number of the study starts:

* :func:`cmlib.protocol.engine.fit` multiplies each floating parameter of the model by ``1 + eps * u`` before the first step
  (``u`` uniform in [-1, 1] from a generator of its own, ``eps`` = :data:`REL_SCALE`, about 2 float32 ulps), and
* :func:`cmlib.text.train_word2vec` does the same to gensim's initial vectors,

so the global random streams (batch order, dropout) stay as they were: only rounding-scale noise is added.

The switch is process state, off (0) unless the harness turns it on with :func:`set_jitter` (or the :func:`jitter`
context manager); the library reads no environment variable. The harness takes the draw from ``CMLIB_NUMERIC_JITTER=<int>``
(:data:`ENV`, parsed by :func:`parse_jitter`) and hands it on explicitly to every process that computes:

* ``tests/conftest.py`` sets it in the pytest process at session start, and in each kernel nbval starts, before the
  notebook's first cell;
* :mod:`cmlib.runner` sets it in its own process and in each notebook kernel it starts (a kernel start-up line,
  :func:`jitter_line`); ``make golden``'s band runs (:func:`cmlib.execution.golden.variants`) set their own draws;
* :func:`cmlib.protocol.executors.open_pool` gives the parent's draw to its workers (the local pool's initializer;
  with every call on submitit and Dask).

It is never set by a params file or CI. While it is on, :func:`cmlib.protocol.cache.stable_hash` mixes it into every
cache key, so nothing trained unperturbed is reused. ``make golden`` runs each smoke notebook under a few jitter values
to store the measured band of every number (``<notebook>.band.json``); ``CMLIB_NUMERIC_JITTER=7 make test`` checks
that the suite passes under a draw it has not seen.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np
import torch

__all__ = ["ENV", "REL_SCALE", "call_with_jitter", "jitter", "jitter_array_", "jitter_line", "jitter_module_",
           "jitter_seed", "parse_jitter", "set_jitter"]

#: the harness's variable (tests/conftest.py, cmlib.runner, benchmarks); never read by the library
ENV = "CMLIB_NUMERIC_JITTER"
REL_SCALE = 2.0**-22
T = TypeVar("T")

_draw = 0  # the active draw of this process; 0: off


def parse_jitter(raw: str | None) -> int:
    """The draw a value of :data:`ENV` asks for (None, blank or 0: off), for the harness that read it.

    Raises:
        ValueError: not an integer (naming the variable and the value).
    """
    text = (raw or "").strip()
    if not text:
        return 0
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{ENV}={text!r}: expected an integer (0 or unset: off)") from None


def set_jitter(draw: int) -> int:
    """Turn the jitter on with ``draw`` (0: off) for this process; returns the previous draw.

    Raises:
        TypeError: ``draw`` is not an int (a value of :data:`ENV` goes through :func:`parse_jitter` first).
    """
    global _draw
    previous, _draw = _draw, _checked(draw, "set_jitter")
    return previous


def jitter_seed() -> int:
    """The active jitter draw of this process (0: off)."""
    return _draw


@contextlib.contextmanager
def jitter(draw: int) -> Iterator[int]:
    """``with jitter(3):`` runs the block under draw 3 (0: off) and restores the previous draw after it."""
    previous = set_jitter(draw)
    try:
        yield draw
    finally:
        set_jitter(previous)


def call_with_jitter(draw: int, fn: Callable[..., T], /, *args: Any) -> T:
    """``fn(*args)`` under ``draw``: what a pool whose workers outlive the call (a Dask worker, a submitit job) runs,
    so each call carries the draw of the process that submitted it."""
    with jitter(draw):
        return fn(*args)


def jitter_line(draw: int) -> str:
    """One line of Python that sets ``draw`` in a fresh interpreter (a notebook kernel) and binds no name there."""
    return f"__import__({__name__!r}, fromlist=['set_jitter']).set_jitter({_checked(draw, 'jitter_line')})"


def _checked(draw: int, who: str) -> int:
    if not isinstance(draw, int) or isinstance(draw, bool):
        raise TypeError(f"{who}: expected an int draw (0: off), got {draw!r}")
    return draw


@torch.no_grad()
def jitter_module_(module: torch.nn.Module, salt: int = 0) -> bool:
    """Multiply every floating parameter and buffer of ``module`` by ``1 + REL_SCALE * U(-1, 1)`` in place when the
    jitter is on (a generator seeded by the jitter draw and ``salt``; the global RNG is untouched). Returns whether
    it did."""
    seed = jitter_seed()
    if not seed:
        return False
    gen = torch.Generator().manual_seed(seed * 1_000_003 + salt)
    for tensor in [*module.parameters(), *module.buffers()]:
        if tensor.is_floating_point() and tensor.numel():
            noise = torch.rand(tensor.shape, generator=gen, dtype=torch.float64) * 2 - 1
            tensor.mul_((1 + REL_SCALE * noise).to(device=tensor.device, dtype=tensor.dtype))
    return True


def jitter_array_(array: np.ndarray, salt: int = 0) -> bool:
    """The same for a floating NumPy array (gensim's vectors), in place. Returns whether it did."""
    seed = jitter_seed()
    if not seed:
        return False
    rng = np.random.default_rng(seed * 1_000_003 + salt)
    array *= (1 + REL_SCALE * rng.uniform(-1, 1, size=array.shape)).astype(array.dtype)
    return True
