"""Interactive explorers: one module per paper, each built on the study's cached models.

Every explorer is three layers, so that the part that computes is tested like any other function:

* a plain callback (``alpha_view``, ``ranked_gallery``...) that takes the study's arrays and returns numbers;
* a static figure of the same view (what the study reports show, and what the notebook shows headless);
* an ``ipywidgets`` wrapper that redraws the figure when a control moves (``notebooks/<paper>/*_explore.py``).
"""

from __future__ import annotations

import io
from typing import Any

__all__ = ["figure_png"]


def figure_png(fig: Any, dpi: int = 80) -> bytes:
    """A matplotlib figure as PNG bytes (closed afterwards): what the explorers' ``ipywidgets.Image`` shows.

    The widgets redraw an Image's value rather than ``display`` into an ``Output``: under papermill (the runner,
    nbval) a large figure displayed into an Output widget stalled nbclient; an Image is plain widget state.
    """
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
