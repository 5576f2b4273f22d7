"""DeSKPro explorer: pick a query person and see the ranked gallery of G, the propagated student and DeSKPro, with
each item marked as the same or another identity and as same or changed clothes.

The ranking is the one the metric scores (cmlib.metrics.reid): items the protocol removes (``junk``: same person
in the same camera, and under the cloth-changing protocol same person in the same clothes) are left out, and ties
keep gallery order, as :func:`cmlib.metrics.reid.evaluate_rank` breaks them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from cmlib.data.reid_folders import ReIDSet
from cmlib.metrics.reid import Mode, query_flags
from cmlib.studies._explore import gallery_figure, query_pickers, redrawn_image
from cmlib.studies.deskpro.config import ABLATION_ROWS
from cmlib.studies.deskpro.evaluation import descriptors, distances

__all__ = ["EXPLORED_ROWS", "Ranked", "gallery_explorer", "model_distances", "plot_ranked", "ranked_gallery"]

# Table 3 rows shown side by side: the global-stream baseline, the propagated student, DeSKPro.
EXPLORED_ROWS: tuple[str, ...] = ("1 (baseline)", "5", "DeSKPro")


@dataclass(frozen=True)
class Ranked:
    """One gallery item in a query's ranking.

    Attributes:
        rank: 1-based position after junk removal. index: the item's row in the gallery. pid, clothes: its ids.
        distance: its distance to the query. match: same person as the query (a "good" item). same_clothes: in the
        query's clothes.
    """

    rank: int
    index: int
    pid: int
    clothes: int
    distance: float
    match: bool
    same_clothes: bool


def ranked_gallery(dist_row: torch.Tensor | np.ndarray, query: ReIDSet, gallery: ReIDSet, q: int, k: int = 8,
                   mode: Mode = "cloth_changing") -> list[Ranked]:
    """The top ``k`` gallery items for query ``q`` from its (G,) distance row, junk removed, stable order."""
    d = np.asarray(dist_row, dtype=np.float32).reshape(-1)
    if d.size != len(gallery):
        raise ValueError(f"dist_row: expected {len(gallery)} distances (one per gallery item), got {d.size}")
    if not 0 <= q < len(query):
        raise ValueError(f"q: expected a query index in [0, {len(query)}), got {q}")
    qp, qc, qcl = int(query.pids[q]), int(query.camids[q]), int(query.clothes[q])
    good, junk = query_flags(qp, qc, qcl, gallery.pids, gallery.camids, gallery.clothes, mode)
    order = [int(i) for i in np.argsort(d, kind="stable") if not junk[i]][:k]
    return [Ranked(r, i, int(gallery.pids[i]), int(gallery.clothes[i]), float(d[i]), bool(good[i]),
                   int(gallery.clothes[i]) == qcl and int(gallery.pids[i]) == qp) for r, i in enumerate(order, 1)]


def model_distances(models: Mapping[str, torch.nn.Module], query: ReIDSet, gallery: ReIDSet,
                    rows: Sequence[str] = EXPLORED_ROWS) -> dict[str, torch.Tensor]:
    """(Q, G) distances of each Table 3 row in ``rows``, scored as the study scores it (:func:`cmlib.studies.deskpro.evaluation.distances`:
    the mean cosine over the streams both images have)."""
    streams = dict(ABLATION_ROWS)
    out = {}
    for row in rows:
        names = streams[row]
        q = [descriptors(models[s], s, query) for s in names]
        g = [descriptors(models[s], s, gallery) for s in names]
        out[row] = distances(q, g)
    return out


def plot_ranked(query: ReIDSet, gallery: ReIDSet, q: int, ranked: Mapping[str, list[Ranked]], *,
                dpi: int = 72) -> Any:
    """One row per model: the query image, then its top-k gallery images framed green (same person) or red,
    captioned with the distance and "same clothes" / "new clothes" for the matches. ``dpi``: thumbnails of about 80
    pixels, which keeps a report of photo-like images small."""
    rows = {f"{name}\nquery id {int(query.pids[q])}": (query.images[q], [
        (gallery.images[it.index], it.match, f"{it.rank}. {it.distance:.2f}\n"
         + (("same clothes" if it.same_clothes else "new clothes") if it.match else f"id {it.pid}")) for it in items])
        for name, items in ranked.items()}
    return gallery_figure(rows, cell=(1.1, 2.3), fontsize=7, dpi=dpi)


def gallery_explorer(dists: Mapping[str, torch.Tensor], query: ReIDSet, gallery: ReIDSet, k: int = 8,
                     mode: Mode = "cloth_changing") -> Any:
    """An ``ipywidgets`` query picker (and a k slider) redrawing :func:`plot_ranked` for every model in ``dists``."""
    import ipywidgets as widgets

    pick, top = query_pickers(len(query), len(gallery), k)

    def draw() -> Any:
        ranked = {name: ranked_gallery(d[pick.value], query, gallery, pick.value, top.value, mode)
                  for name, d in dists.items()}
        return plot_ranked(query, gallery, pick.value, ranked)

    return widgets.VBox([widgets.HBox([pick, top]), redrawn_image(draw, [pick, top])])
