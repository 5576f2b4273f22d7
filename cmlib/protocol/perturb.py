"""A test-only numeric perturbation that stands in for another processor.

Another CPU rounds a few operations differently (its BLAS or vector kernels), and a few hundred optimiser steps grow
those last-bit differences into a different model. To measure how far trained numbers move, and to check that the
golden tests tolerate such a move without a second machine, a run can be perturbed at the two places where every
trained number of the study starts:

* :func:`cmlib.protocol.engine.fit` multiplies each floating parameter of the model by ``1 + eps * u`` before the first step
  (``u`` uniform in [-1, 1] from a generator of its own, ``eps`` = :data:`REL_SCALE`, about 2 float32 ulps), and
* :func:`cmlib.text.train_word2vec` does the same to gensim's initial vectors,

so the global random streams (batch order, dropout) stay as they were: only rounding-scale noise is added.

The switch is the environment variable ``CMLIB_NUMERIC_JITTER=<int>`` (unset or 0: off), read here and nowhere else:
it must reach kernels that papermill and nbval start, and it is never set by a params file, a test or CI. While it is
on, :func:`cmlib.protocol.cache.stable_hash` mixes it into every cache key, so nothing trained unperturbed is reused.
``make golden`` runs each smoke notebook under a few jitter values to store the measured band of every number
(``<notebook>.band.json``); ``CMLIB_NUMERIC_JITTER=7 make test`` checks that the suite passes under a draw it has not
seen.
"""

from __future__ import annotations

import os

import numpy as np
import torch

__all__ = ["ENV", "REL_SCALE", "jitter_array_", "jitter_module_", "jitter_seed"]

ENV = "CMLIB_NUMERIC_JITTER"
REL_SCALE = 2.0**-22


def jitter_seed() -> int:
    """The active jitter draw (0: off). Raises ValueError naming the variable when it is not an integer."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return 0
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{ENV}={raw!r}: expected an integer (0 or unset: off)") from None


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
