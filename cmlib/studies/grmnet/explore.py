"""GRM-Net explorer: pick a scene and an expression and see the instances kept with and without the global reference
mechanism (K = 0 against the study's K), each marked as referred (correct) or not (wrong), and the referred instances
missed.

The callbacks work on predictions in the metric's format (cmlib.metrics.refseg: ``masks`` (P, H, W) bool,
``scores`` (P,)) and the referred instances' masks, so they serve any referring model, not only GRM-Net.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cmlib.metrics.refseg import mask_iou
from cmlib.text import tokenize

__all__ = ["InstanceView", "expression_explorer", "instance_view", "plot_instances"]

_COLOURS = {"correct": (0.1, 0.6, 0.2), "wrong": (0.85, 0.1, 0.1), "missed": (0.2, 0.4, 0.95),
            "kept": (0.95, 0.55, 0.0)}


@dataclass(frozen=True)
class InstanceView:
    """What a referring model kept for one expression.

    Attributes:
        kept: indices of the predictions with score >= the threshold, by descending score.
        correct / wrong: the kept ones that do / do not overlap a referred instance (mask IoU >= ``iou``).
        missed: indices of the referred instances no kept prediction overlaps.
    """

    kept: tuple[int, ...]
    correct: tuple[int, ...]
    wrong: tuple[int, ...]
    missed: tuple[int, ...]


def instance_view(pred: Mapping[str, np.ndarray], target_masks: np.ndarray, kept_score: float = 0.5,
                  iou: float = 0.5) -> InstanceView:
    """Sort a prediction's instances into correct / wrong and the referred instances into found / missed.

    Args:
        pred: ``masks`` (P, H, W) bool and ``scores`` (P,).
        target_masks: (T, H, W) bool masks of the referred instances (T may be 0).
        kept_score: a prediction is kept when its score is at least this.
        iou: mask IoU for a kept prediction to count as a referred instance.
    """
    masks, scores = np.asarray(pred["masks"], dtype=bool), np.asarray(pred["scores"], dtype=np.float64)
    target = np.asarray(target_masks, dtype=bool)
    if masks.shape[0] != scores.shape[0]:
        raise ValueError(f"pred: {masks.shape[0]} masks but {scores.shape[0]} scores; expected one score per mask")
    kept = [int(i) for i in np.argsort(-scores, kind="stable") if scores[i] >= kept_score]
    if not kept or target.shape[0] == 0:
        return InstanceView(tuple(kept), (), tuple(kept), tuple(range(target.shape[0])))
    overlap = mask_iou(masks[kept], target) >= iou  # (K, T)
    correct = tuple(k for k, hit in zip(kept, overlap.any(axis=1)) if hit)
    wrong = tuple(k for k, hit in zip(kept, overlap.any(axis=1)) if not hit)
    missed = tuple(int(t) for t in np.flatnonzero(~overlap.any(axis=0)))
    return InstanceView(tuple(kept), correct, wrong, missed)


def _overlay(image: np.ndarray, masks: Sequence[np.ndarray], colour: tuple[float, float, float],
             canvas: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) float image: the sketch in grey with ``masks`` tinted ``colour``."""
    out = np.repeat(np.asarray(image, dtype=np.float64)[..., None], 3, axis=2) if canvas is None else canvas
    if out.max() > 1.0:
        out = out / 255.0
    for m in masks:
        out[m] = 0.45 * out[m] + 0.55 * np.asarray(colour)
    return out


def plot_instances(image: np.ndarray, expression: str, preds: Mapping[str, Mapping[str, np.ndarray]],
                   target_masks: np.ndarray, kept_score: float = 0.5, iou: float = 0.5, *,
                   ground_truth: bool = True) -> Any:
    """The referred instances, then one panel per model: kept instances green (referred) or red (wrong), referred
    instances it missed outlined in blue. ``image``: (H, W) grey sketch, 0-255 or 0-1. With ``ground_truth=False``
    (a typed expression) the kept instances are orange and nothing is marked right or wrong."""
    import matplotlib.pyplot as plt

    target = np.asarray(target_masks, dtype=bool)
    fig, axes = plt.subplots(1, len(preds) + 1, figsize=(3.2 * (len(preds) + 1), 3.4), squeeze=False)
    axes = axes[0]
    axes[0].imshow(_overlay(image, list(target), _COLOURS["correct"]))
    axes[0].set_title(f'"{expression}"\n{len(target)} referred', fontsize=7)
    truth = ground_truth and len(target) > 0
    if not ground_truth:
        axes[0].set_title(f'"{expression}"\n(typed: no ground truth)', fontsize=7)
    for ax, (name, pred) in zip(axes[1:], preds.items()):
        v = instance_view(pred, target, kept_score, iou)
        masks = np.asarray(pred["masks"], dtype=bool)
        if ground_truth:
            img = _overlay(image, [masks[i] for i in v.correct], _COLOURS["correct"])
            img = _overlay(image, [masks[i] for i in v.wrong], _COLOURS["wrong"], canvas=img)
            what = f"{len(v.correct)} right, {len(v.wrong)} wrong, {len(v.missed)} missed"
        else:
            img, what = _overlay(image, [masks[i] for i in v.kept], _COLOURS["kept"]), f"{len(v.kept)} kept"
        ax.imshow(img)
        for t in v.missed if truth else ():
            ax.contour(target[t], levels=[0.5], colors=[_COLOURS["missed"]], linewidths=1.0)
        ax.set_title(f"{name}: {what}\n(score >= {kept_score:g})", fontsize=7)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def expression_explorer(items: Sequence[Mapping[str, Any]], kept_score: float = 0.5, *,
                        predict: Callable[[int, str], Mapping[str, Mapping[str, np.ndarray]]] | None = None,
                        vocabulary: Container[str] | None = None) -> Any:
    """An ``ipywidgets`` expression picker and score-threshold slider redrawing :func:`plot_instances`.

    ``items``: one mapping per expression with ``image`` (H, W), ``expression`` (str), ``target_masks`` (T, H, W)
    and ``preds`` (model name -> prediction), e.g. the study's K = 0 and K = 10 models on the same expression.
    With ``predict(item index, text) -> preds``, a text box runs the models on an expression you type for the picked
    item's scene (no ground truth then); words outside ``vocabulary`` are named instead of being run.
    """
    import ipywidgets as widgets

    from cmlib.studies._explore import figure_png

    if not items:
        raise ValueError("expression_explorer: no expression to show")
    pick = widgets.Dropdown(options=[(f"{i}: {it['expression']}", i) for i, it in enumerate(items)], value=0,
                            description="expression", layout=widgets.Layout(width="60%"))
    thr = widgets.FloatSlider(value=kept_score, min=0.05, max=0.95, step=0.05, description="score >=",
                              continuous_update=False)
    typed = widgets.Text(value="", placeholder="type an expression for this scene", description="or type",
                         continuous_update=False, disabled=predict is None)
    note = widgets.Label(value="")
    image = widgets.Image(format="png")

    def redraw(_: Any = None) -> None:
        it, text = items[pick.value], typed.value.strip()
        note.value = ""
        if text and predict is not None:
            unknown = [w for w in tokenize(text) if vocabulary is not None and w not in vocabulary]
            if unknown:
                note.value = f"not in the vocabulary: {', '.join(unknown)}"
            else:
                image.value = figure_png(plot_instances(it["image"], text, predict(pick.value, text),
                                                        np.zeros((0, *np.shape(it["image"])), dtype=bool), thr.value,
                                                        ground_truth=False))
                return
        image.value = figure_png(plot_instances(it["image"], it["expression"], it["preds"], it["target_masks"],
                                                thr.value))

    def picked(_: Any) -> None:
        typed.value = ""  # a new scene: back to its own expression
        redraw()

    pick.observe(picked, names="value")
    thr.observe(redraw, names="value")
    typed.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([pick, thr]), widgets.HBox([typed, note]), image])
