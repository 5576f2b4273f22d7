"""Figures of the evidence behind a claim: validation curves (the convergence gate) and dose-response trends.

Both take what :mod:`cmlib.protocol.claims` stores, so a notebook draws exactly what the verdict was computed from:

* :func:`plot_curves`: one panel per compared model, its validation curve's mean over replicates with the min-max
  band, the last third of training shaded (the part the convergence gate reads);
* :func:`plot_dose`: a trend claim's effect against the knob's level, mean and 95% interval per level, zero and the
  setting of the paper (or of the study) marked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cmlib.protocol.claims import LAST_FRACTION, Curve, Dose

__all__ = ["plot_curves", "plot_dose"]


def plot_curves(curves: Mapping[str, Sequence[Curve]], *, metric: str = "validation score", width: float = 3.2) -> Any:
    """A figure with one panel per model: the mean validation curve over replicates and its min-max band.

    Args:
        curves: ``{model name: [curve per replicate]}``, each curve ``[(step, score), ...]`` with the same steps.
        metric: the y-axis label.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(width * len(curves), 2.6), squeeze=False, sharey=True)
    for ax, (name, reps) in zip(axes[0], curves.items(), strict=True):
        steps = np.asarray([s for s, _ in reps[0]], dtype=float)
        scores = np.asarray([[v for _, v in c] for c in reps], dtype=float)
        ax.fill_between(steps, scores.min(0), scores.max(0), alpha=0.25, label=f"min-max over {len(reps)} replicates")
        ax.plot(steps, scores.mean(0), marker="o", ms=3, label="mean")
        ax.axvspan(steps.max() * (1 - LAST_FRACTION), steps.max(), color="0.9", zorder=0, label="last third")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("step")
    axes[0][0].set_ylabel(metric)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_dose(dose: Dose | Mapping[str, Any], *, effect: str = "effect", title: str = "", ax: Any = None) -> Any:
    """The effect against the knob's level: mean and 95% interval over replicates at each level.

    Args:
        dose: a :class:`cmlib.protocol.claims.Dose`, or the ``dose`` entry of a stored claim row (its summary).
        effect: the y-axis label (the paired effect's name).
        title: the panel's title (e.g. the claim and its verdict).
        ax: an axis to draw on (None: a new figure).

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    summary = dose.summary() if isinstance(dose, Dose) else dict(dose)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 3.0))
    x = np.asarray(summary["levels"], dtype=float)
    mean = np.asarray(summary["mean"], dtype=float)
    lo, hi = np.asarray(summary["ci_low"], dtype=float), np.asarray(summary["ci_high"], dtype=float)
    ax.errorbar(x, mean, yerr=[mean - lo, hi - mean], marker="o", capsize=3, label="mean, 95% interval")
    ax.axhline(0.0, color="k", lw=0.8)
    if summary.get("paper_level") is not None:
        ax.axvline(float(summary["paper_level"]), color="C3", ls="--", label="the setting")
    ax.set_xlabel(str(summary.get("knob", "level")))
    ax.set_ylabel(effect)
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.figure.tight_layout()
    return ax.figure
