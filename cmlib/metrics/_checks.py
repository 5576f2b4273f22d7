"""Input conversion and validation shared by the metric modules.

Every metric raises ``ValueError`` naming the argument and what was expected; no ``assert`` is used for user input.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

ArrayLike = Any  # torch.Tensor | np.ndarray | sequence


def to_numpy(x: ArrayLike, name: str) -> np.ndarray:
    """Converts a tensor, array or sequence to a NumPy array (no copy when possible).

    Args:
        x: torch.Tensor (any device), np.ndarray or a (nested) sequence of numbers.
        name: Argument name used in error messages.

    Returns:
        The values as an ``np.ndarray``.
    """
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: expected a tensor or array, got {type(x).__name__}") from err


def check_ndim(x: np.ndarray, ndims: tuple[int, ...], name: str, shape_doc: str) -> None:
    """Raises ValueError when ``x.ndim`` is not one of ``ndims``."""
    if x.ndim not in ndims:
        raise ValueError(f"{name}: expected shape {shape_doc}, got shape {tuple(x.shape)}")


def check_len(x: np.ndarray, n: int, name: str, other: str) -> None:
    """Raises ValueError when ``len(x) != n`` (``other`` names the argument that fixes n)."""
    if x.shape[0] != n:
        raise ValueError(f"{name}: expected {n} rows to match {other}, got {x.shape[0]}")


def check_nonempty(x: np.ndarray, name: str) -> None:
    """Raises ValueError when ``x`` has no rows."""
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one row, got shape {tuple(x.shape)}")


def check_finite(x: np.ndarray, name: str) -> None:
    """Raises ValueError when ``x`` holds NaN or infinite values."""
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        n_nan = int(np.isnan(x).sum())
        n_inf = int(np.isinf(x).sum())
        raise ValueError(f"{name}: expected finite values, found {n_nan} NaN and {n_inf} infinite entries")


def as_multi_hot(labels: ArrayLike, name: str) -> np.ndarray:
    """Validates labels as a multi-hot matrix.

    Args:
        labels: (N, C) multi-hot {0, 1} (bool, int or float) or (N,) integer class ids (turned into one-hot).
        name: Argument name used in error messages.

    Returns:
        Bool array (N, C).
    """
    arr = to_numpy(labels, name)
    check_ndim(arr, (1, 2), name, "(N, C) multi-hot or (N,) class ids")
    if arr.ndim == 1:
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{name}: 1-D labels must be integer class ids, got dtype {arr.dtype}")
        if arr.size and arr.min() < 0:
            raise ValueError(f"{name}: class ids must be >= 0, got min {int(arr.min())}")
        n_cls = int(arr.max()) + 1 if arr.size else 0
        out = np.zeros((arr.shape[0], n_cls), dtype=bool)
        out[np.arange(arr.shape[0]), arr] = True
        return out
    if arr.dtype != bool:
        if not np.isin(arr, (0, 1)).all():
            bad = arr[~np.isin(arr, (0, 1))].ravel()[:3].tolist()
            raise ValueError(f"{name}: expected multi-hot {{0, 1}} labels, found values such as {bad}")
        arr = arr.astype(bool)
    if arr.size and not arr.any():
        raise ValueError(f"{name}: labels have no positive entry anywhere; expected at least one 1")
    return arr
