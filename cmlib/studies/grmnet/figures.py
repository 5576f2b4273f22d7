"""GRM-Net figures: world examples, Fig. 3/4-style qualitative cases, Fig. 5 (what the references do), and the
real sketches of notebook 04."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from cmlib.data.sketchyscene import ReferringExpression, SketchScene, load_categories
from cmlib.models.grmnet import GRMNet
from cmlib.studies.grmnet.config import Config
from cmlib.studies.grmnet.data import StudyData, image_of, referring_item, resize_scene
from cmlib.studies.grmnet.tables import wrong_detections
from cmlib.text import tokenize

__all__ = [
    "case_examples",
    "figure5_example",
    "plot_cases",
    "plot_figure5",
    "plot_real_examples",
    "plural_of",
    "real_examples",
    "real_expression",
    "show_scenes",
]


def _draw_boxes(ax: Any, boxes: Any, color: str, ls: str = "-", labels: list[str] | None = None) -> None:
    from matplotlib.patches import Rectangle

    for i, b in enumerate(np.asarray(boxes, dtype=float).reshape(-1, 4)):
        ax.add_patch(Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, ec=color, ls=ls, lw=1.2))
        if labels:
            ax.text(b[0], b[1] - 1, labels[i], color=color, fontsize=6)


def show_scenes(data: StudyData, exprs: list[ReferringExpression], split: str = "train", n: int = 4) -> Any:
    """Figure: n scenes, their instance masks, and one expression each with its referred instances boxed."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, n, figsize=(3 * n, 6))
    for j, e in enumerate(exprs[:n]):
        s = data.scene(split, e.scene_key)
        lab = np.zeros(s.image.shape)
        for i, inst in enumerate(s.instances):
            lab[inst.mask] = i + 1
        axes[0, j].imshow(s.image, cmap="gray")
        _draw_boxes(axes[0, j], [s.instances[i].box for i in e.instance_indices], "red")
        axes[0, j].set_title(f'"{e.expression}"', fontsize=7)
        axes[1, j].imshow(lab, cmap="tab20", interpolation="nearest")
        axes[1, j].set_title(", ".join(sorted({i.category for i in s.instances})), fontsize=7)
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    return fig


def figure5_example(without: list[dict[str, np.ndarray]], with_grm: list[dict[str, np.ndarray]],
                    targets: list[dict[str, np.ndarray]]) -> int | None:
    """An expression where the model without GRM keeps a wrong instance and GRM-Net keeps none (else fewest)."""
    best, best_key = None, None
    for i, (a, b, t) in enumerate(zip(without, with_grm, targets)):
        wa, wb = len(wrong_detections(a, t)), len(wrong_detections(b, t))
        key = (wa - wb, -wb)
        if wa > 0 and (best_key is None or key > best_key):
            best, best_key = i, key
    return best


def plot_figure5(cfg: Config, data: StudyData, e: ReferringExpression, no_grm: GRMNet, grm: GRMNet,
                 split: str = "test", n_props: int = 5) -> Any:
    """Fig. 5: input; top RPN proposals and outputs without GRM (K=0); the same with GRM; and the references of
    the highest-scoring wrong candidate kept without GRM, with GRM-Net's probability of its real class."""
    import matplotlib.pyplot as plt

    it = referring_item(data, split, e, cfg.max_tokens)
    scene = data.scene(split, e.scene_key)
    tok, ln = it["tokens"][None], torch.tensor([it["length"]])
    a, b = no_grm.inspect([it["image"]], tok, ln)[0], grm.inspect([it["image"]], tok, ln)[0]
    tgt = {"masks": it["target"]["masks"].numpy().astype(bool)}
    fig, axes = plt.subplots(1, 5, figsize=(16, 3.6))
    for ax in axes:
        ax.imshow(scene.image, cmap="gray")
        ax.axis("off")
    _draw_boxes(axes[0], it["target"]["boxes"], "green")
    axes[0].set_title(f'(a) "{e.expression}" (green: referred)', fontsize=7)
    for ax, r, name in ((axes[1], a, "(b) RPN, no GRM"), (axes[3], b, "(d) RPN, GRM")):
        _draw_boxes(ax, r["proposals"][:n_props], "orange", "--", [f"{p:.2f}" for p in r["objectness"][:n_props]])
        ax.set_title(f"{name}: top-{n_props} proposals", fontsize=7)
    for ax, r, name in ((axes[2], a, "(c) output, no GRM"), (axes[4], b, "(e) output, GRM")):
        d = r["detections"]
        keep = (d["scores"] >= cfg.kept_score).numpy()
        pred = {"masks": (d["masks"][:, 0] > 0.5).numpy()[keep], "scores": d["scores"].numpy()[keep]}
        wrong = set(wrong_detections(pred, tgt).tolist())
        for i, box in enumerate(d["boxes"][keep]):
            _draw_boxes(ax, box, "red" if i in wrong else "blue", "-", [f"{pred['scores'][i]:.2f}"])
        ax.set_title(f"{name} (score >= {cfg.kept_score:g}; red: wrong)", fontsize=7)
    da = a["detections"]
    pa = {"masks": (da["masks"][:, 0] > 0.5).numpy(), "scores": da["scores"].numpy()}
    wrong = wrong_detections(pa, tgt)
    if len(wrong) and grm.spec.top_k > 0:
        cand = da["boxes"][int(wrong[0])][None]
        probs = grm.classify_boxes([it["image"]], tok, ln, [cand])[0][0]
        idx = grm.inspect([it["image"]], tok, ln)[0]
        from cmlib.models.grmnet_heads import reference_indices

        refs, valid = reference_indices(cand, idx["proposals"], idx["objectness"], grm.spec.top_k, grm.spec.manner)
        _draw_boxes(axes[4], idx["proposals"][refs[0][valid[0]]], "purple", ":")
        _draw_boxes(axes[4], cand, "red", "--")
        real = int(da["labels"][int(wrong[0])])
        axes[4].set_xlabel(f"dashed red: wrong candidate of (c); dotted purple: its {int(valid[0].sum())} references; "
                           f"P({data.categories[real - 1]}) = {probs[real]:.2f}", fontsize=6)
        axes[4].axis("on")
        axes[4].set_xticks([])
        axes[4].set_yticks([])
    fig.tight_layout()
    return fig


def real_examples(cfg: Config) -> list[tuple[str, SketchScene, list[Any]]]:
    """The 12 real sketches in ``examples_dir`` (resized to ``canvas``) with the original authors' Mask R-CNN
    predictions (*not* ground truth); [] when the folder is absent."""
    from PIL import Image

    from cmlib.data.sketchyscene import load_example_predictions

    root = Path(cfg.examples_dir)
    sk = root / "example_scenes" / "sketches"
    if not sk.is_dir():
        return []
    cats = load_categories(root / "colorMapC46.mat")
    out = []
    for png in sorted(sk.glob("*.png")):
        img = np.array(Image.open(png).convert("L"), dtype=np.uint8)
        npz = root / "example_scenes" / "seg_data" / f"{png.stem}_datas.npz"
        preds = load_example_predictions(npz, cats, size=img.shape[0]) if npz.is_file() else []
        scene = resize_scene(SketchScene(int(png.stem), img, tuple(preds)), cfg.canvas)
        out.append((png.stem, scene, list(scene.instances)))
    return out


def plural_of(category: str, vocab: Any = None) -> str | None:
    """The plural of ``category`` in the expression language: the world's ``PLURAL`` table, else the first of
    ``<c>s``, ``<c>es``, ``<c>`` that the MATCHING vocabulary holds (``chicken`` -> ``chickens``); None if none is in
    ``vocab`` (e.g. ``picnic rug``: SketchyScene-MATCHING has no expression about it). Without ``vocab``: the table.
    """
    from cmlib.data.worlds.grmnet import PLURAL

    if category in PLURAL:
        return PLURAL[category]
    if vocab is None:
        return None
    return next((w for w in (category + "s", category + "es", category) if w in vocab), None)


def real_expression(instances: list[Any], categories: list[str], vocab: Any = None) -> str | None:
    """'all the <plural>' for the most frequent category among the authors' predictions that the expression
    language can name (:func:`plural_of`: the world's table, else the MATCHING vocabulary), if any."""
    names = [i.category for i in instances if i.category in categories and plural_of(i.category, vocab)]
    if not names:
        return None
    cat = max(sorted(set(names)), key=names.count)
    return f"all the {plural_of(cat, vocab)}"


def plot_real_examples(cfg: Config, data: StudyData, model: GRMNet, examples: list[tuple[str, SketchScene, list[Any]]],
                       n: int = 6) -> Any:
    """Top row: GRM-Net's instances (score > 0.5) for "all the <category>"; bottom: the authors' predictions."""
    import matplotlib.pyplot as plt

    shown = [(k, s, p, real_expression(p, data.categories, data.vocab)) for k, s, p in examples]
    shown = [x for x in shown if x[3] is not None][:n]
    fig, axes = plt.subplots(2, max(1, len(shown)), figsize=(2.6 * max(1, len(shown)), 5.4), squeeze=False)
    for j, (key, scene, preds, expr) in enumerate(shown):
        ids, length = data.vocab.encode(tokenize(expr), cfg.max_tokens)
        with torch.no_grad():
            det = model.eval()([image_of(scene)], ids[None], torch.tensor([length]))[0]
        keep = det["scores"] > 0.5
        out, ref = np.zeros(scene.image.shape), np.zeros(scene.image.shape)
        for i, m in enumerate(det["masks"][keep][:, 0] > 0.5):
            out[m.numpy()] = i + 1
        for i, p in enumerate(preds):
            ref[p.mask] = i + 1
        for ax, lab, title in ((axes[0, j], out, f'{key}: "{expr}"\nGRM-Net (world-trained): {int(keep.sum())}'),
                               (axes[1, j], ref, "authors' Mask R-CNN instances (not GT)")):
            ax.imshow(scene.image, cmap="gray")
            ax.imshow(np.ma.masked_equal(lab, 0), cmap="tab20", alpha=0.6, interpolation="nearest")
            ax.set_title(title, fontsize=6)
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    return fig


def case_examples(data: StudyData, exprs: list[ReferringExpression], split: str) -> dict[str, int]:
    """Indices of the first expression of each Fig. 3/4 case: every instance of a category meant, a single
    target, an ordinal ("the second ..."); a case with no example is left out."""
    out: dict[str, int] = {}
    for i, e in enumerate(exprs):
        inst = data.scene(split, e.scene_key).instances
        cats = {inst[j].category for j in e.instance_indices}
        every = len(e.instance_indices) > 1 and len(cats) == 1 and \
            sum(x.category in cats for x in inst) == len(e.instance_indices)
        kind = ("ordinal" if "second" in e.expression.split() else "every instance of a category" if every
                else "single target" if len(e.instance_indices) == 1 else None)
        if kind is not None and kind not in out:
            out[kind] = i
    return out


def plot_cases(data: StudyData, exprs: list[ReferringExpression], cases: dict[str, int],
               preds: dict[str, list[dict[str, np.ndarray]]], split: str, kept: float) -> Any:
    """Fig. 3/4-style panels: one row per case, the referred instances then each method's instances kept
    (score >= ``kept``), one colour per instance."""
    import matplotlib.pyplot as plt

    cols = ["ground truth", *preds]
    fig, axes = plt.subplots(max(1, len(cases)), len(cols), figsize=(2.6 * len(cols), 2.8 * max(1, len(cases))),
                             squeeze=False)
    for r, (case, i) in enumerate(cases.items()):
        e = exprs[i]
        scene = data.scene(split, e.scene_key)
        shown = {"ground truth": np.stack([scene.instances[j].mask for j in e.instance_indices])}
        for name, p in preds.items():
            shown[name] = p[i]["masks"][p[i]["scores"] >= kept]
        for c, name in enumerate(cols):
            lab = np.zeros(scene.image.shape)
            for k, m in enumerate(shown[name]):
                lab[m] = k + 1
            ax = axes[r, c]
            ax.imshow(scene.image, cmap="gray")
            ax.imshow(np.ma.masked_equal(lab, 0), cmap="tab10", alpha=0.6, interpolation="nearest", vmin=0, vmax=10)
            ax.set_title((f'{case}: "{e.expression}"\n' if c == 0 else "\n") + f"{name}: {len(shown[name])}",
                         fontsize=6)
            ax.axis("off")
    fig.tight_layout()
    return fig
