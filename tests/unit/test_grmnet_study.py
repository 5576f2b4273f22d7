"""GRM-Net study glue: Table 2 rows, scoring with an empty target, config and index validation."""
from __future__ import annotations

import numpy as np
import pytest

from cmlib.config import ConfigError, from_params
from cmlib.data.sketchyscene import ReferringExpression
from cmlib.studies import grmnet


def test_table2_rows_are_the_papers():
    assert [grmnet.variant_of(r) for r in (1, 7)] == [
        {"manner": "distance", "use_position": True, "top_k": 10, "delta_dim": 5},
        {"manner": "consistency", "use_position": True, "top_k": 10, "delta_dim": 5}]
    assert [grmnet.variant_of(r)["top_k"] for r in range(1, 8)] == [10, 0, 0, 5, 20, 10, 10]
    with pytest.raises(ValueError, match="rows 1-7"):
        grmnet.variant_of(8)


def test_empty_target_is_skipped_by_sketchyscene_ap_and_counts_against_coco():
    m = np.zeros((1, 8, 8), dtype=bool)
    m[0, 2:5, 2:5] = True
    hit = {"masks": m, "scores": np.array([0.9])}
    one = grmnet.score([hit], [{"masks": m}])
    two = grmnet.score([hit, {"masks": m, "scores": np.array([0.95])}], [{"masks": m}, {"masks": m[:0]}])
    assert one["sketchyscene_AP"] == pytest.approx(100.0) and two["sketchyscene_AP"] == pytest.approx(100.0)
    assert two["coco_AP"] < one["coco_AP"]


def test_config_and_index_errors_are_named():
    with pytest.raises((ConfigError, ValueError), match="data_root"):
        from_params(grmnet.Config, {"data_root": "."})
    with pytest.raises(ConfigError, match="canvas"):
        from_params(grmnet.Config, {"canvas": 16})
    cfg = grmnet.Config(n_train_scenes=4, n_test_scenes=2, expressions_per_scene=2)
    data = grmnet.build_data(cfg)
    bad = ReferringExpression(0, "the tree", (99,))
    with pytest.raises(ValueError, match="out of range"):
        grmnet.referring_item(data, "train", bad, 15)
    item = grmnet.referring_item(data, "train", ReferringExpression(0, "zebra quantum", ()), 15)
    assert item["tokens"][:2].tolist() == [1, 1] and item["target"]["boxes"].shape == (0, 4)


def test_build_data_is_deterministic():
    cfg = grmnet.Config(n_train_scenes=4, n_test_scenes=2)
    a, b = grmnet.build_data(cfg), grmnet.build_data(cfg)
    assert [e.expression for e in a.train] == [e.expression for e in b.train]
    assert a.vocab.itos == b.vocab.itos and grmnet.world_summary(a) == grmnet.world_summary(b)
    k1 = grmnet._cache_path(cfg, "grmnet", seed=0, variant=grmnet.variant_of(7))
    k2 = grmnet._cache_path(cfg, "grmnet", seed=0, variant=grmnet.variant_of(6))
    assert k1 != k2 and k1 == grmnet._cache_path(cfg, "grmnet", seed=0, variant=grmnet.variant_of(7))
