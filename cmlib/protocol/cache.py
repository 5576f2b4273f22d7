"""A small on-disk cache for things that are expensive and do not change between notebooks (trained weights,
rendered worlds, distance matrices), keyed by a stable hash of everything that determines them.

    key = stable_hash({"kind": "detector", "cfg": to_dict(cfg), "seed": 0})
    path = Path(cfg.cache_dir) / f"detector-{key}.pt"
    if path.is_file():
        blob = load(path)
    else:
        blob = train(...)
        save_atomic(blob, path)

Writes are atomic (temp file + rename), so an interrupted run never leaves half a file that a later run would load.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar

import torch

from cmlib.protocol.perturb import jitter_seed

__all__ = ["keep_recent", "load", "save_atomic", "source_text", "stable_hash"]

T = TypeVar("T")


def stable_hash(obj: Any, length: int = 16) -> str:
    """Hex digest (sha256, first ``length`` chars) of ``obj`` as sorted-key JSON; non-JSON values go through ``str``.

    Under the test-only numeric jitter (:func:`cmlib.protocol.perturb.set_jitter`, which the harness sets) the jitter draw is
    part of the key, so a perturbed run retrains instead of loading unperturbed results."""
    jitter = jitter_seed()
    if jitter:  # a perturbed run (cmlib.protocol.perturb, test-only) never reuses what an unperturbed run cached
        obj = {"numeric_jitter": jitter, "key": obj}
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


def source_text(*objs: Any) -> str:
    """The source files defining ``objs`` (modules, classes or functions), concatenated in order: put it in a
    cache key so that a trained model is retrained when its code changes, which its config alone does not say."""
    import inspect

    return "".join(Path(inspect.getsourcefile(o)).read_text(encoding="utf-8") for o in objs)


def save_atomic(payload: Any, path: str | Path) -> Path:
    """``torch.save`` ``payload`` to ``path`` through a temp file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load(path: str | Path) -> Any:
    """``torch.load`` on the CPU with ``weights_only=True`` (tensors, dicts, lists, numbers, strings only)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def keep_recent(store: dict[Hashable, T], key: Hashable, make: Callable[[], T], size: int = 2) -> T:
    """``store[key]``, made by ``make()`` when absent; ``store`` keeps the ``size`` most recently made entries (a
    per-process memo, e.g. the replicate data a pool worker reuses for its next task)."""
    if key not in store:
        while len(store) >= size:
            store.pop(next(iter(store)))
        store[key] = make()
    return store[key]
