"""The explorers' callbacks (cmlib.studies.<paper>.explore), checked on hand-computed cases; the widgets wrap these."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cmlib.studies.clarel import Scored
from cmlib.studies.clarel.explore import alpha_explorer, alpha_view, plot_alpha_view

# 3 classes: 0 and 1 seen, 2 unseen. Images 0-1 are unseen (class 2), image 2 is class 1, image 3 is class 0.
D = torch.tensor([[1.0, 2.0, 1.5], [1.0, 3.0, 1.1], [2.0, 0.5, 3.0], [1.2, 1.0, 2.0]])
SCORED = Scored(D, torch.tensor([2, 2, 1, 0]), [0, 1], [2], [], 0.0)


@pytest.mark.parametrize(("alpha", "u", "s", "p_seen"), [
    (0.0, 0.0, 50.0, 1.0),   # both unseen images go to class 0 (1.0 < 1.5, 1.0 < 1.1)
    (0.2, 50.0, 50.0, 0.5),  # image 1: 1.2 > 1.1 -> class 2; image 0: 1.2 < 1.5 stays seen
    (0.6, 100.0, 50.0, 0.0),  # image 0: 1.6 > 1.5 -> class 2
])
def test_alpha_view_by_hand(alpha: float, u: float, s: float, p_seen: float) -> None:
    v = alpha_view(SCORED, alpha)
    assert (v.u, v.s) == pytest.approx((u, s))
    assert v.h == pytest.approx(0.0 if u * s == 0 else 2 * u * s / (u + s))
    assert v.p_seen_given_unseen == pytest.approx(p_seen)
    assert v.confusion[0].tolist() == [1.0, 0.0]  # seen images stay with seen classes (image 3 wrong, still seen)
    np.testing.assert_allclose(v.confusion.sum(axis=1), 1.0)


def test_the_figure_and_the_widget_build() -> None:
    import matplotlib

    matplotlib.use("Agg")
    fig = plot_alpha_view(SCORED, 0.2, [0.0, 0.2, 0.6])
    assert len(fig.axes) >= 2
    box = alpha_explorer(SCORED, [0.0, 0.2, 0.6])
    slider = box.children[0]
    slider.value = 0.6  # the callback redraws without error
    assert slider.max == pytest.approx(0.6)


def _reid(pids: list[int], cams: list[int], clothes: list[int]):
    from cmlib.data.reid_folders import ReIDSet

    n = len(pids)
    t = lambda v: torch.tensor(v, dtype=torch.long)
    return ReIDSet(torch.zeros(n, 3, 8, 4, dtype=torch.uint8), None, torch.zeros(n, 3, 4, 4, dtype=torch.uint8), None,
                   torch.ones(n, dtype=torch.bool), t(pids), t(cams), t(clothes))


def test_ranked_gallery_drops_junk_and_keeps_ties_in_gallery_order() -> None:
    from cmlib.studies.deskpro.explore import ranked_gallery

    query = _reid([1], [0], [5])
    # item 0: same person, other camera, same clothes -> junk (cloth-changing); item 1: same camera -> junk;
    # item 2: another person; item 3: same person in new clothes -> the match; item 4: another person, tied with 2.
    gallery = _reid([1, 1, 2, 1, 3], [1, 0, 1, 1, 1], [5, 6, 5, 7, 5])
    ranked = ranked_gallery(torch.tensor([0.1, 0.2, 0.3, 0.25, 0.3]), query, gallery, 0, k=3)
    assert [(r.rank, r.index, r.match) for r in ranked] == [(1, 3, True), (2, 2, False), (3, 4, False)]
    assert not ranked[0].same_clothes
    standard = ranked_gallery(torch.tensor([0.1, 0.2, 0.3, 0.25, 0.3]), query, gallery, 0, k=2, mode="standard")
    assert [(r.index, r.match, r.same_clothes) for r in standard] == [(0, True, True), (3, True, False)]
    with pytest.raises(ValueError, match="one per gallery item"):
        ranked_gallery(torch.zeros(3), query, gallery, 0)


def test_the_ranked_figure_and_widget_build() -> None:
    import matplotlib

    from cmlib.studies.deskpro.explore import gallery_explorer, plot_ranked, ranked_gallery

    matplotlib.use("Agg")
    query, gallery = _reid([1, 2], [0, 0], [5, 5]), _reid([1, 2, 2], [1, 1, 1], [6, 5, 6])
    d = torch.tensor([[0.1, 0.5, 0.4], [0.3, 0.2, 0.1]])
    fig = plot_ranked(query, gallery, 1, {"G": ranked_gallery(d[1], query, gallery, 1, 3)})
    assert len(fig.axes) == 3  # the query and its 2 ranked items (item 1 is junk: same person, same clothes)
    box = gallery_explorer({"G": d, "DeSKPro": d}, query, gallery, k=2)
    box.children[0].children[0].value = 1  # pick the second query: the callback redraws


def test_retrieved_ranks_by_hamming_with_ties_in_database_order() -> None:
    from cmlib.studies.whcmt.explore import retrieved

    q = np.array([[1, 0, 1, 1]])
    db = np.array([[1, 0, 1, 1], [0, 1, 0, 0], [1, 0, 1, 0], [1, 0, 0, 1], [1, 1, 1, 1]])
    ql, dl = np.array([[1, 0, 1]]), np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1], [1, 0, 1], [0, 1, 0]])
    top = retrieved(q, db, ql, dl, 0, k=4, label_names=["sky", "dog", "car"])
    assert [(r.rank, r.index, r.hamming) for r in top] == [(1, 0, 0), (2, 2, 1), (3, 3, 1), (4, 4, 1)]
    assert [r.shared for r in top] == [(), ("car",), ("sky", "car"), ()]  # the same code need not share a label
    assert [r.relevant for r in top] == [False, True, True, False]
    with pytest.raises(ValueError, match="same length"):
        retrieved(q, db[:, :3], ql, dl, 0)


def test_the_retrieval_figure_and_widget_build() -> None:
    import matplotlib

    from cmlib.studies.whcmt.explore import retrieval_explorer

    matplotlib.use("Agg")
    rng = np.random.default_rng(0)
    codes = {8: (rng.integers(0, 2, (3, 8)), rng.integers(0, 2, (6, 8))),
             16: (rng.integers(0, 2, (3, 16)), rng.integers(0, 2, (6, 16)))}
    imgs = rng.integers(0, 255, (6, 3, 8, 8), dtype=np.uint8)
    box = retrieval_explorer(codes, rng.integers(0, 2, (3, 4)), rng.integers(0, 2, (6, 4)), imgs[:3], imgs,
                             ["a", "b", "c", "d"], k=3)
    first = box.children[1].value
    box.children[0].children[0].value = 2  # another query redraws the image
    assert first and box.children[1].value != first


def _box(h: int, w: int, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    m = np.zeros((h, w), dtype=bool)
    m[r0:r1, c0:c1] = True
    return m


def test_instance_view_sorts_kept_instances_by_hand() -> None:
    from cmlib.studies.grmnet.explore import instance_view

    a, b, c = _box(8, 8, 0, 4, 0, 4), _box(8, 8, 4, 8, 4, 8), _box(8, 8, 0, 4, 4, 8)
    target = np.stack([a, b])  # two referred instances
    # predictions: exactly a (0.9), c (wrong, 0.8), b shifted by one row (IoU 12/20 = 0.6, 0.3), a again (0.2)
    shifted = _box(8, 8, 3, 7, 4, 8)
    pred = {"masks": np.stack([a, c, shifted, a]), "scores": np.array([0.9, 0.8, 0.3, 0.2])}
    v = instance_view(pred, target, kept_score=0.5)
    assert v == (v.__class__((0, 1), (0,), (1,), (1,)))  # b is missed: its match scored 0.3
    low = instance_view(pred, target, kept_score=0.25)
    assert (low.kept, low.correct, low.wrong, low.missed) == ((0, 1, 2), (0, 2), (1,), ())
    strict = instance_view(pred, target, kept_score=0.25, iou=0.7)
    assert strict.correct == (0,) and strict.wrong == (1, 2) and strict.missed == (1,)
    none = instance_view(pred, np.zeros((0, 8, 8), dtype=bool))
    assert none.wrong == none.kept == (0, 1) and none.missed == ()


def test_the_instances_figure_and_widget_build() -> None:
    import matplotlib

    from cmlib.studies.grmnet.explore import expression_explorer

    matplotlib.use("Agg")
    a, b = _box(8, 8, 0, 4, 0, 4), _box(8, 8, 4, 8, 4, 8)
    item = {"image": np.full((8, 8), 255.0), "expression": "all cats", "target_masks": np.stack([a, b]),
            "preds": {"K=0": {"masks": np.stack([a]), "scores": np.array([0.9])},
                      "K=10": {"masks": np.stack([a, b]), "scores": np.array([0.9, 0.6])}}}
    calls: list[tuple[int, str]] = []

    def predict(i: int, text: str) -> dict:
        calls.append((i, text))
        return {"K=0": {"masks": np.stack([b]), "scores": np.array([0.8])}}

    box = expression_explorer([item, {**item, "expression": "the left cat"}], predict=predict,
                              vocabulary={"the", "cat", "cats", "all", "left"})
    image, (typed, note) = box.children[2], box.children[1].children
    first = image.value
    box.children[0].children[1].value = 0.95  # a higher threshold keeps nothing: the picture changes
    assert first and image.value != first
    typed.value = "the dog"  # a word the models never saw: named, not run
    assert note.value == "not in the vocabulary: dog" and calls == []
    typed.value = "the left cat"
    assert calls == [(0, "the left cat")] and note.value == ""
