"""One module per paper: its Config dataclass (defaults = smoke profile) and the glue the notebooks call.

The paper modules are imported on first use (``from cmlib.studies import clarel``); their names (``Config``...)
repeat across papers, so they are reached through the module: ``clarel.Config()``.
"""

from cmlib._lazy import lazy_exports

_EXPORTS: dict[str, tuple[str, ...]] = {name: () for name in ("clarel", "demo", "deskpro", "grmnet", "whcmt")}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
