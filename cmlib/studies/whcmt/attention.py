"""WHCMT attention maps (notebook 04): cross-modal and cross-scale attention of the visual class token."""

from __future__ import annotations

import numpy as np
import torch

from cmlib.data.worlds import whcmt as world_lib
from cmlib.models.whcmt import ONES_ID, PAD_ID, WHCMT
from cmlib.studies.whcmt.config import Config
from cmlib.studies.whcmt.data import WhcmtData, to_input


@torch.no_grad()
def attention_maps(model: WHCMT, data: WhcmtData, idx: np.ndarray, with_tags: bool = True) -> dict[str, np.ndarray]:
    """Head-averaged attention of the visual class token for images ``idx``.

    Args:
        model: A trained WHCMT.
        data: The data (images, tag ids).
        idx: Image indices.
        with_tags: Use the images' tags (training view) or the all-ones token (retrieval view).

    Returns:
        ``patches`` (n, g_L, g_L): cross-modal attention over the L-branch patches; ``tags`` (n, 1 + T): over
        [t_cls || tags] (padding gets 0); ``cross_scale`` (n, g_S, g_S): eq. (1) attention over the S patches;
        ``modality_share`` (n, 2): attention mass on [visual tokens, tag tokens].
    """
    model.eval()
    model.set_keep_attention(True)
    try:
        ids = data.tag_ids[idx] if with_tags else torch.full((len(idx), 1), ONES_ID, dtype=torch.long)
        model(to_input(torch.from_numpy(data.images[idx])), ids)
        cm = model.cross_modal.last_attn.mean(dim=1)  # (n, 1 + N_L + 1 + T)
        cs = model.visual.last_cross_scale_attn.mean(dim=1)  # (n, 1 + N_S)
    finally:
        model.set_keep_attention(False)
    g_l, g_s = model.visual.l_grid, model.visual.s_grid
    n_vis = 1 + g_l * g_l
    return {"patches": cm[:, 1:n_vis].reshape(-1, g_l, g_l).numpy(), "tags": cm[:, n_vis:].numpy(),
            "cross_scale": cs[:, 1:].reshape(-1, g_s, g_s).numpy(), "tag_ids": ids.numpy(),
            "modality_share": torch.stack([cm[:, :n_vis].sum(1), cm[:, n_vis:].sum(1)], 1).numpy()}


def plot_attention(maps: dict[str, np.ndarray], data: WhcmtData, idx: np.ndarray):
    """Figure: image, cross-modal attention over patches (overlay), cross-scale attention, and tag attention bars."""
    import matplotlib.pyplot as plt

    n = len(idx)
    fig, axes = plt.subplots(n, 4, figsize=(12, 2.8 * n), squeeze=False)
    for r, i in enumerate(idx):
        img = data.images[i].transpose(1, 2, 0)
        size = img.shape[0]
        labels = ", ".join(data.label_names[j] for j in np.flatnonzero(data.labels[i]))
        axes[r, 0].imshow(img)
        axes[r, 0].set_title(labels, fontsize=7)
        for c, (key, title) in enumerate([("patches", "cross-modal: cls -> L patches"),
                                          ("cross_scale", "cross-scale (eq. 1): cls -> S patches")], start=1):
            axes[r, c].imshow(img)
            axes[r, c].imshow(maps[key][r], cmap="jet", alpha=0.5, extent=(0, size, size, 0),
                              interpolation="nearest")
            axes[r, c].set_title(title, fontsize=8)
        ids = maps["tag_ids"][r]
        names = ["[tag cls]"] + [("[all ones]" if t == ONES_ID else data.vocab.itos[t]) for t in ids if t != PAD_ID]
        axes[r, 3].barh(range(len(names)), maps["tags"][r][: len(names)])
        axes[r, 3].set_yticks(range(len(names)), names, fontsize=7)
        axes[r, 3].invert_yaxis()
        axes[r, 3].set_title("cross-modal: cls -> tags", fontsize=8)
        for ax in axes[r, :3]:
            ax.axis("off")
    fig.tight_layout()
    return fig


def attention_examples(data: WhcmtData, n: int) -> np.ndarray:
    """The first ``n`` query images that carry at least two known tags (deterministic)."""
    known = ((data.tag_ids > ONES_ID).sum(dim=1) >= 2).numpy()
    idx = data.query[known[data.query]]
    return idx[:n] if len(idx) >= n else data.query[:n]


def _informative_tags(data: WhcmtData, i: int) -> tuple[set[str], set[str]]:
    """(tags naming a present concept, tags naming no concept at all) of image ``i``."""
    present = np.flatnonzero(data.labels[i])
    if data.label_names == world_lib.concept_names():
        names = {c: set(world_lib.concept_synonyms(c)) for c in range(world_lib.N_CONCEPTS)}
    else:
        names = {c: {n, n.replace("_", "")} for c, n in enumerate(data.label_names)}
    concept_words = set().union(*names.values())
    inf = set().union(*(names[c] for c in present)) if len(present) else set()
    return inf, {t for t in data.tags[i] if t not in concept_words}


@torch.no_grad()
def attention_summary(model: WHCMT, data: WhcmtData, cfg: Config, n_max: int = 200) -> dict[str, float]:
    """Tag-side attention share and the informative/noise attention ratio over up to ``n_max`` query images."""
    idx = data.query[:n_max]
    shares, ratios = [], []
    for start in range(0, len(idx), 50):
        part = idx[start:start + 50]
        maps = attention_maps(model, data, part, with_tags=True)
        shares.extend(maps["modality_share"][:, 1].tolist())
        for row, i in enumerate(part):
            inf, noise = _informative_tags(data, int(i))
            toks = [data.vocab.itos[t] for t in maps["tag_ids"][row] if t > ONES_ID]
            att = maps["tags"][row][1:1 + len(toks)]
            a_inf = [a for t, a in zip(toks, att) if t in inf]
            a_noise = [a for t, a in zip(toks, att) if t in noise]
            if a_inf and a_noise:
                ratios.append(float(np.mean(a_inf) / max(np.mean(a_noise), 1e-12)))
    return {"tag_share": float(np.mean(shares)), "informative_vs_noise": float(np.mean(ratios)) if ratios else
            float("nan"), "n_images_with_both": len(ratios)}
