"""Lazy package exports (PEP 562): ``from cmlib.losses import clarel_loss`` without importing torch on ``import cmlib``.

A package ``__init__`` declares which names each of its submodules exports and attaches a module-level
``__getattr__``; a submodule is imported the first time one of its names (or the submodule itself) is asked for::

    _EXPORTS = {"retrieval": ("ClarelLoss", "clarel_loss"), "hashing": ("WeakTagHashLoss",)}
    __getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

``__all__`` lists the submodules and their names; ``tests/unit/test_public_api.py`` checks that it agrees with
each submodule's own ``__all__``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, Sequence[str]]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """Module-level ``__getattr__``, ``__dir__`` and ``__all__`` for a package with lazily imported submodules.

    Args:
        package: the package's ``__name__`` (e.g. ``"cmlib.losses"``).
        exports: submodule name -> the names it exports at package level (an empty sequence exports only the
            submodule itself, e.g. a paper module whose ``Config`` would clash with another paper's).

    Returns:
        ``(__getattr__, __dir__, __all__)``: ``__all__`` is the submodules, then the names, each group sorted.

    Raises:
        ValueError: a name is exported by two submodules, or is also a submodule's name.
    """
    owner: dict[str, str] = {}
    for module, names in exports.items():
        for name in names:
            if name in exports:
                raise ValueError(f"{package}: {module!r} exports {name!r}, which is also a submodule's name")
            if name in owner:
                raise ValueError(f"{package}: {name!r} is exported by both {owner[name]!r} and {module!r}")
            owner[name] = module
    public = sorted(exports) + sorted(owner)

    def __getattr__(name: str) -> Any:
        if name in exports:
            return importlib.import_module(f"{package}.{name}")
        if name in owner:
            value = getattr(importlib.import_module(f"{package}.{owner[name]}"), name)
            setattr(sys.modules[package], name, value)  # later look-ups skip this function
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(public))

    return __getattr__, __dir__, public
