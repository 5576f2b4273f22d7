"""PNG bytes of a matplotlib figure, for the explorers' image widgets."""

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
