"""WHCMT explorer: pick a query image and see its top-k retrieved database images at each code length, with the
Hamming distance and the labels each one shares with the query.

The ranking is the metric's (cmlib.metrics.hashing): by Hamming distance, ties by database index. Relevance is a
shared label (the WSDHQ convention the study scores with); labels are evaluation-only, never seen in training.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cmlib.metrics.hashing import hamming_distances, pack_codes
from cmlib.studies._explore import gallery_figure, query_pickers, redrawn_image

__all__ = ["Retrieved", "plot_retrieval", "retrieval_explorer", "retrieved"]


@dataclass(frozen=True)
class Retrieved:
    """One database image in a query's Hamming ranking.

    Attributes:
        rank: 1-based. index: row in the database arrays. hamming: distance to the query's code.
        shared: names of the labels it shares with the query (relevant if any).
    """

    rank: int
    index: int
    hamming: int
    shared: tuple[str, ...]

    @property
    def relevant(self) -> bool:
        return bool(self.shared)


def retrieved(q_codes: np.ndarray, db_codes: np.ndarray, q_labels: np.ndarray, db_labels: np.ndarray, q: int,
              k: int = 8, label_names: Sequence[str] | None = None) -> list[Retrieved]:
    """The top ``k`` database items of query ``q``: codes (Q, b) / (N, b) in {0, 1}, labels (Q, C) / (N, C)."""
    if not 0 <= q < len(q_codes):
        raise ValueError(f"q: expected a query index in [0, {len(q_codes)}), got {q}")
    qw = pack_codes(np.asarray(q_codes[q:q + 1]), "q_codes")
    dw = pack_codes(np.asarray(db_codes), "db_codes")
    if qw.n_bits != dw.n_bits:
        raise ValueError(f"q_codes has {qw.n_bits} bits but db_codes has {dw.n_bits}; expected the same length")
    dist = hamming_distances(qw.words, dw.words)[0].astype(np.int64)
    order = np.argsort(dist, kind="stable")[:k]
    names = list(label_names) if label_names is not None else [str(c) for c in range(np.shape(q_labels)[1])]
    ql = np.asarray(q_labels[q]).astype(bool)
    return [Retrieved(r, int(i), int(dist[i]), tuple(n for n, a, b in zip(names, ql, np.asarray(db_labels[i]).astype(bool))
                                                      if a and b)) for r, i in enumerate(order, 1)]


def plot_retrieval(q_image: np.ndarray, db_images: np.ndarray, ranked: Mapping[int, list[Retrieved]], *,
                   q_label_names: Sequence[str] = (), dpi: int = 72) -> Any:
    """One row per code length: the query image, then its top-k images framed green (shares a label) or red,
    captioned with the Hamming distance and the shared labels. ``db_images``: (N, 3, H, W) uint8."""
    rows = {f"{bits} bits\nquery: {', '.join(q_label_names) or '-'}": (q_image, [
        (db_images[it.index], it.relevant, f"{it.rank}. d={it.hamming}\n{', '.join(it.shared[:2]) or 'no shared label'}")
        for it in items]) for bits, items in ranked.items()}
    return gallery_figure(rows, cell=(1.2, 1.6), fontsize=6, dpi=dpi)


def retrieval_explorer(codes: Mapping[int, tuple[np.ndarray, np.ndarray]], q_labels: np.ndarray,
                       db_labels: np.ndarray, q_images: np.ndarray, db_images: np.ndarray,
                       label_names: Sequence[str], k: int = 8) -> Any:
    """An ``ipywidgets`` query picker and k slider redrawing :func:`plot_retrieval` at every code length.

    ``codes``: bits -> (query codes (Q, bits), database codes (N, bits)).
    """
    import ipywidgets as widgets

    pick, top = query_pickers(len(q_labels), len(db_labels), k)

    def draw() -> Any:
        q = pick.value
        ranked = {b: retrieved(qc, dc, q_labels, db_labels, q, top.value, label_names) for b, (qc, dc) in codes.items()}
        names = [n for n, on in zip(label_names, np.asarray(q_labels[q]).astype(bool)) if on]
        return plot_retrieval(q_images[q], db_images, ranked, q_label_names=names)

    return widgets.VBox([widgets.HBox([pick, top]), redrawn_image(draw, [pick, top])])
