"""Interactive explorers: one module per paper, each built on the study's cached models.

Every explorer is three layers, so that the part that computes is tested like any other function:

* a plain callback (``alpha_view``, ``ranked_gallery``...) that takes the study's arrays and returns numbers;
* a static figure of the same view (what the study reports show, and what the notebook shows headless);
* an ``ipywidgets`` wrapper that redraws the figure when a control moves (``notebooks/<paper>/*_explore.py``).

The paper modules are imported on first use (``from cmlib.explore import clarel``).
"""

from cmlib._lazy import lazy_exports

_EXPORTS: dict[str, tuple[str, ...]] = {name: () for name in ("clarel", "deskpro", "grmnet", "whcmt")}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
