"""Files every floor writes: the project root, and atomic text / JSON writes of JSON-able values.

The protocol (replicates, pretraining, config) and the execution layer (reports, index, runner) both write files; the
helpers live here, on the lower floor, so that nothing in :mod:`cmlib.protocol` imports from :mod:`cmlib.execution`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["jsonable", "project_root", "write_json_atomic", "write_text_atomic"]


def project_root(start: str | Path | None = None, *, required: bool = False) -> Path:
    """The nearest folder at or above ``start`` (default: cwd) holding cmlib's pyproject.toml.

    Falls back to the cwd when there is none, with a warning naming ``start`` (reports and params paths are then
    taken from the cwd, which is rarely what was meant outside the project).

    Raises:
        FileNotFoundError: with ``required``, when there is none (its message is the one line the runner prints).
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and 'name = "cmlib"' in pyproject.read_text():
            return folder
    if required:
        raise FileNotFoundError(f"run this from the project root (no pyproject.toml of cmlib at or above {here})")
    warnings.warn(f"project_root: no cmlib pyproject.toml at or above {here}; using the current folder {Path.cwd()} "
                  "as the project root", stacklevel=2)
    return Path.cwd()


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file (named by process id) + rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically (:func:`write_text_atomic`)."""
    write_text_atomic(path, json.dumps(jsonable(data), indent=2, sort_keys=False) + "\n")


def jsonable(obj: Any) -> Any:
    """``obj`` with NumPy scalars/arrays, tensors, paths and dataclasses turned into JSON types (non-finite floats
    as strings)."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else str(float(obj))
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        return jsonable(obj.item())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return jsonable({f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})
    if isinstance(obj, Path):
        return str(obj)
    return obj
