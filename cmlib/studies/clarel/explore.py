"""CLAREL explorer: slide the metric-rescaling alpha (Section 2.1) and watch u, s, H and the seen/unseen confusion.

The view works on a trained model's distance matrix (:class:`cmlib.studies.clarel.Scored`), by default the
*validation* model of the study (alpha is a setting chosen on validation; the test split is read once, by
notebook 01, for the final score).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cmlib.metrics import zsl
from cmlib.studies._explore import redrawn_image
from cmlib.studies.clarel.runs import Scored

__all__ = ["AlphaView", "alpha_explorer", "alpha_view", "plot_alpha_view"]


@dataclass(frozen=True)
class AlphaView:
    """GZSL at one alpha.

    Attributes:
        alpha: the rescaling (distances to seen prototypes times 1 + alpha, Eq. (1) with d_alpha).
        u, s, h: per-class accuracy on unseen and seen images and their harmonic mean, in %.
        confusion: (2, 2) fractions; row = true kind of the image (seen, unseen), column = kind of the predicted
            class (seen, unseen); rows sum to 1. ``confusion[1, 0]`` is P(predicted class is seen | unseen image).
    """

    alpha: float
    u: float
    s: float
    h: float
    confusion: np.ndarray

    @property
    def p_seen_given_unseen(self) -> float:
        return float(self.confusion[1, 0])


def alpha_view(scored: Scored, alpha: float) -> AlphaView:
    """u, s, H (cmlib.metrics.zsl.gzsl) and the seen/unseen confusion of the nearest prototype at ``alpha``."""
    r = zsl.gzsl(scored.distances, scored.labels, scored.seen_cols, alpha=alpha)
    seen_col = np.zeros(scored.distances.shape[1], dtype=bool)
    seen_col[list(scored.seen_cols)] = True
    pred_seen = seen_col[zsl.gzsl_predictions(scored.distances, scored.seen_cols, alpha)]
    true_seen = seen_col[np.asarray(scored.labels)]
    conf = np.array([[np.mean(pred_seen[true_seen == t]), np.mean(~pred_seen[true_seen == t])] for t in (True, False)])
    return AlphaView(float(alpha), 100 * float(r.u), 100 * float(r.s), 100 * float(r.h), conf)


def plot_alpha_view(scored: Scored, alpha: float, alphas: list[float], *, title: str = "") -> Any:
    """Left: u, s, H against ``alphas`` with ``alpha`` marked; right: the seen/unseen confusion at ``alpha``."""
    import matplotlib.pyplot as plt

    views = [alpha_view(scored, a) for a in alphas]
    here = alpha_view(scored, alpha)
    fig, (ax, cx) = plt.subplots(1, 2, figsize=(9, 3.4), gridspec_kw={"width_ratios": [1.6, 1]})
    for key, style in (("u", "-o"), ("s", "-s"), ("h", "-^")):
        ax.plot(alphas, [getattr(v, key) for v in views], style, ms=3, label=key.upper() if key == "h" else key)
    ax.axvline(alpha, color="k", lw=0.8, ls="--")
    ax.set(xlabel="alpha", ylabel="%", title=title or f"alpha = {alpha:g}: u {here.u:.1f}, s {here.s:.1f}, "
           f"H {here.h:.1f}")
    ax.legend(loc="best", fontsize=8)
    cx.imshow(here.confusion, vmin=0, vmax=1, cmap="Blues")
    for (i, j), v in np.ndenumerate(here.confusion):
        cx.text(j, i, f"{v:.2f}", ha="center", va="center", color="white" if v > 0.5 else "black")
    cx.set(xticks=[0, 1], xticklabels=["seen", "unseen"], yticks=[0, 1], yticklabels=["seen", "unseen"],
           xlabel="predicted class", ylabel="image", title="seen/unseen confusion")
    fig.tight_layout()
    return fig


def alpha_explorer(scored: Scored, alphas: list[float]) -> Any:
    """An ``ipywidgets`` slider over alpha (the study's grid range) redrawing :func:`plot_alpha_view`."""
    import ipywidgets as widgets

    hi = max(alphas) if max(alphas) > 0 else 1.0
    slider = widgets.FloatSlider(value=0.0, min=0.0, max=hi, step=hi / 100, description="alpha",
                                 continuous_update=False, readout_format=".3f")
    return widgets.VBox([slider, redrawn_image(lambda: plot_alpha_view(scored, slider.value, alphas), [slider])])
