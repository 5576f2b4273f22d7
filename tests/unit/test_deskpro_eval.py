"""DeSKPro inference: faceless images scored without a bias, ties in a random order, chance of random rankings."""

import pytest
import torch
from torch.nn import functional as F

from cmlib.data.reid_folders import ReIDSet
from cmlib.studies import deskpro


def _set(pids, has_face=None, camids=None, clothes=None, cam0: int = 100) -> ReIDSet:
    n = len(pids)
    z = torch.zeros(n, 3, 4, 4, dtype=torch.uint8)
    return ReIDSet(z, None, z, None, torch.tensor(has_face or [True] * n), torch.tensor(pids),
                   torch.tensor(camids or list(range(cam0, cam0 + n))), torch.tensor(clothes or list(range(n))))


def test_a_faceless_pair_is_scored_by_the_global_stream_on_the_same_scale():
    body_q, body_g = F.normalize(torch.tensor([[1.0, 0.0]]), dim=1), F.normalize(torch.tensor([[1.0, 1.0], [1.0, 0.0]]), dim=1)
    face_q, face_g = torch.tensor([[0.0, 1.0]]), torch.tensor([[0.0, 1.0], [0.0, 0.0]])  # gallery 1 has no face
    d = deskpro.distances([body_q, face_q], [body_g, face_g])
    # gallery 0: mean of body cos (1/sqrt 2) and face cos (1); gallery 1: body cos 1 alone (not 1 + 0)
    assert d[0, 0].item() == pytest.approx(1 - (2 ** -0.5 + 1) / 2)
    assert d[0, 1].item() == pytest.approx(0.0)
    official = 1 - torch.cat([body_q, face_q], 1) @ torch.cat([body_g, face_g], 1).T
    assert official[0, 0] < official[0, 1]  # the concatenation ranks the faceless gallery image lower: the bias


def test_face_only_pairs_without_a_face_get_a_random_score_that_depends_on_the_generator():
    q, g = torch.zeros(1, 4), F.normalize(torch.randn(50, 4), dim=1)  # a faceless query, face-only model
    d1 = deskpro.distances([q], [g], torch.Generator().manual_seed(1))
    d2 = deskpro.distances([q], [g], torch.Generator().manual_seed(2))
    assert not torch.equal(d1, d2) and 0 <= float(d1.min()) and float(d1.max()) <= 2


def test_ties_are_broken_in_a_random_order_not_by_gallery_index():
    query, gallery = _set([0], cam0=0), _set([0, 1, 2, 3])  # the match is gallery index 0
    same = [torch.ones(1, 2)], [torch.ones(4, 2)]  # every score equal
    r1 = [deskpro.evaluate(*same, query, gallery, "standard", torch.Generator().manual_seed(s))["R1"] for s in range(200)]
    assert 10 < sum(r1) / len(r1) < 45  # about 100 / 4, never 100 every time


def test_metrics_on_a_hand_computed_ranking():
    query, gallery = _set([0], cam0=0), _set([1, 0, 2])
    g = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])  # match second by cosine
    res = deskpro.evaluate([torch.tensor([[1.0, 0.0]])], [g], query, gallery, "standard")
    assert res["R1"] == 0.0 and res["R5"] == 100.0 and res["mAP"] == pytest.approx(50.0)


def test_chance_level_is_the_expected_map_of_a_random_ranking():
    query, gallery = _set([0], cam0=0), _set([0, 1, 2, 3])  # one match among four: E[1/rank] = (1 + 1/2 + 1/3 + 1/4) / 4
    ch = deskpro.chance_level(query, gallery, "standard", draws=4000)
    assert ch["mAP"] == pytest.approx(100 * (1 + 1 / 2 + 1 / 3 + 1 / 4) / 4, abs=2.0)
    assert ch["R1"] == pytest.approx(25.0, abs=2.5)
