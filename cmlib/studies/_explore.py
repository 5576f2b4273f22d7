"""What the explorers share: PNG bytes of a figure, an image widget redrawn when its controls move, the query/top-k
pickers, and the gallery figure of a ranking (query image, then its top-k framed green or red)."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["figure_png", "gallery_figure", "query_pickers", "redrawn_image"]


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


def redrawn_image(draw: Callable[[], Any], controls: Sequence[Any]) -> Any:
    """An ``ipywidgets.Image`` showing ``draw()`` (a figure), drawn now and again whenever a control's value moves."""
    import ipywidgets as widgets

    image = widgets.Image(format="png")

    def redraw(_: Any = None) -> None:
        image.value = figure_png(draw())

    for control in controls:
        control.observe(redraw, names="value")
    redraw()
    return image


def query_pickers(n_queries: int, n_items: int, k: int) -> tuple[Any, Any]:
    """The two sliders of a ranking explorer: the query index and the length of the list (at most 20)."""
    import ipywidgets as widgets

    pick = widgets.IntSlider(value=0, min=0, max=n_queries - 1, description="query", continuous_update=False)
    top = widgets.IntSlider(value=k, min=1, max=min(20, n_items), description="top k", continuous_update=False)
    return pick, top


def _hwc(img: Any) -> np.ndarray:
    """(3, H, W) image (tensor or array) -> (H, W, 3) for ``imshow``."""
    return np.transpose(np.asarray(img), (1, 2, 0))


def gallery_figure(rows: Mapping[str, tuple[Any, list[tuple[Any, bool, str]]]], *, cell: tuple[float, float],
                   fontsize: float, dpi: int = 72) -> Any:
    """One row per ranking: its query image titled with the row's name, then each ranked image framed green (a true
    match) or red, titled with its caption.

    Args:
        rows: name -> (query image (3, H, W), [(image (3, H, W), match, caption), ...]); the name is the query
            panel's title.
        cell: inches per panel (width, height).
        fontsize: of every title.
        dpi: about 80-pixel thumbnails at 72, which keeps a report of photo-like images small.
    """
    import matplotlib.pyplot as plt

    k = max(len(items) for _, items in rows.values())
    fig, axes = plt.subplots(len(rows), k + 1, figsize=(cell[0] * (k + 1), cell[1] * len(rows)), squeeze=False,
                             dpi=dpi)
    for r, (name, (query, items)) in enumerate(rows.items()):
        axes[r, 0].imshow(_hwc(query))
        axes[r, 0].set_title(name, fontsize=fontsize)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
        for ax, (img, match, caption) in zip(axes[r, 1:], items):
            ax.imshow(_hwc(img))
            colour = "tab:green" if match else "tab:red"
            for spine in ax.spines.values():
                spine.set(color=colour, linewidth=3)
            ax.set_title(caption, fontsize=fontsize, color=colour)
    fig.tight_layout()
    return fig
