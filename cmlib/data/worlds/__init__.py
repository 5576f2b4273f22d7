"""Procedurally generated, deterministic synthetic worlds: the embedded default data of each paper.

One module per paper (``clarel``, ``deskpro``, ``grmnet`` with its ``grmnet_strokes``, ``whcmt``), imported on first
use; their names (``WorldConfig``, ``make_world``...) repeat across papers, so they are reached through the module:
``from cmlib.data.worlds import clarel; clarel.make_world(clarel.WorldConfig())``.
"""

from cmlib._lazy import lazy_exports

_EXPORTS: dict[str, tuple[str, ...]] = {name: () for name in ("clarel", "deskpro", "grmnet", "grmnet_strokes", "whcmt")}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
