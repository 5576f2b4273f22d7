"""WHCMT second pass: the pretraining stage, the validation split, replicates, chance and collapse gate, claims."""

import dataclasses

import numpy as np
import pytest
import torch

from cmlib.data.worlds import whcmt as world_lib
from cmlib.protocol.claims import claims
from cmlib.protocol.config import from_params
from cmlib.protocol.run import replicate_config
from cmlib.protocol.splits import TestSplitSealed
from cmlib.studies import whcmt

TINY = {"world": {"n_query": 30, "n_database": 120, "n_train": 100, "n_val_query": 20, "n_val_database": 60},
        "w2v_corpus_sentences": 500, "steps": 3, "hidden": 16, "bits": [8], "unsupervised": ["ITQ"],
        "pretrain_images": 64, "pretrain": {"steps": 3, "batch_size": 16}}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    cfg = from_params(whcmt.Config, {**TINY, "pretrain_dir": str(tmp_path_factory.mktemp("pre"))})
    return cfg, whcmt.prepare_data(cfg)


def test_pretraining_set_is_its_own_stream_with_shape_colour_classes():
    images, labels = world_lib.pretraining_set(50, 32, seed=0)
    again, labels2 = world_lib.pretraining_set(50, 32, seed=0)
    assert images.shape == (50, 3, 32, 32) and np.array_equal(images, again) and np.array_equal(labels, labels2)
    assert labels.min() >= 0 and labels.max() < world_lib.PRETRAIN_CLASSES and len(set(labels)) > 6
    world = world_lib.make_world(world_lib.WorldConfig(n_query=10, n_database=40, n_train=20))
    flat = world.images.reshape(len(world.images), -1)
    assert not any((flat == im.reshape(-1)).all(axis=1).any() for im in images)  # no retrieval image reused


def test_validation_split_is_disjoint_and_the_view_seals_the_test_split(tiny):
    _, data = tiny
    test_side = set(data.query) | set(data.database) | set(data.train)
    assert len(data.val_query) == 20 and len(data.val_database) == 60
    assert not (set(data.val_query) | set(data.val_database)) & test_side
    view = whcmt.validation_view(data)
    assert np.array_equal(view.query, data.val_query) and np.array_equal(view.database, data.val_database)
    with pytest.raises(TestSplitSealed):
        _ = view.sealed_test.data
    q, d = view.sealed_test.open("test of the test")
    assert np.array_equal(q, data.query) and np.array_equal(d, data.database)
    with pytest.raises(ValueError, match="n_val_query"):
        whcmt.validation_view(dataclasses.replace(data, val_query=np.zeros(0, dtype=np.int64)))


def test_with_pretrained_fills_the_weights_keys_and_models_load_them(tiny):
    cfg, data = tiny
    pcfg, info = whcmt.with_pretrained(cfg, ["WDHT-CNN", "WDHT-ViT", "WHCMT"])
    assert set(info) == {"cnn", "vit", "crossvit"} and all(0 <= v["accuracy"] <= 1 for v in info.values())
    assert pcfg.cnn_weights.is_file() and pcfg.vit.weights_file.is_file() and pcfg.visual.weights_file.is_file()
    saved = torch.load(pcfg.visual.weights_file, weights_only=True)
    model = whcmt.build_model("WHCMT", 8, data, pcfg)  # through visual.weights_file, as a user's checkpoint
    assert all(torch.equal(model.visual.backbone.state_dict()[k], v) for k, v in saved.items())
    cnn = whcmt.build_model("WDHT-CNN", 8, data, pcfg)
    cnn_saved = torch.load(pcfg.cnn_weights, weights_only=True)
    assert all(torch.equal(cnn.backbone.state_dict()[k], v) for k, v in cnn_saved.items())
    again, info2 = whcmt.with_pretrained(cfg, ["WHCMT"])
    assert info2["crossvit"]["cached"] and again.visual.weights_file == pcfg.visual.weights_file
    user = dataclasses.replace(cfg, visual=dataclasses.replace(cfg.visual, weights_file=pcfg.visual.weights_file))
    assert whcmt.with_pretrained(user, ["WHCMT"])[1] == {}  # a user's file is left alone
    assert whcmt.with_pretrained(dataclasses.replace(cfg, pretrain_images=0), ["WHCMT"]) == (
        dataclasses.replace(cfg, pretrain_images=0), {})
    with pytest.raises(ValueError, match="unknown methods"):
        whcmt.with_pretrained(cfg, ["DPSH"])


def test_code_stats_by_hand():
    codes = np.array([[1, 0], [1, 0], [1, 0], [0, 1]], dtype=bool)
    st = whcmt.code_stats(codes, collapse_share=0.75)
    assert st["n_distinct_codes"] == 2 and st["top_code_share"] == 0.75 and st["collapsed"]
    assert st["bit_balance"] == pytest.approx(0.25)  # both bits are 1 on 3/4 or 1/4 of the items
    assert not whcmt.code_stats(codes, collapse_share=0.9)["collapsed"]


def test_chance_map_is_near_the_relevant_fraction(tiny):
    cfg, data = tiny
    rel = (data.labels[data.query].astype(int) @ data.labels[data.database].T.astype(int)) > 0
    chance = whcmt.chance_map(data, cfg)
    assert rel.mean() - 0.05 < chance < rel.mean() + 0.15  # AP@K of a random ranking, slightly above the fraction


def test_replicates_vary_the_world_and_rows_carry_the_gate(tiny):
    cfg, _ = tiny
    assert replicate_config(cfg, 3).world.seed == cfg.world.seed + 3
    assert replicate_config(cfg, 3).run.seeds == [3]
    rep = whcmt.table2_replicate(cfg, 1)
    row = rep["deep"][0]
    assert row["seed"] == 1 and {"chance", "collapsed", "n_distinct_codes", "precision_r2", "pr_precision"} <= set(row)
    assert len(row["pr_precision"]) == row["bits"] + 1 and set(rep["pretrain"]) == {"cnn", "crossvit", "vit"}


def _rows(method, maps, chance=0.2, collapsed=False, bits=8):
    return [{"method": method, "bits": bits, "seed": s, "map": m, "chance": chance, "collapsed": collapsed,
             "bit_balance": 0.1, "n_distinct_codes": 5, "top_code_share": 0.3, "tag_auc": 0.55} for s, m in enumerate(maps)]


def test_collapsed_or_chance_models_make_claims_invalid_and_verdicts_need_replicates():
    good = _rows("WHCMT", [0.40, 0.42, 0.41, 0.43, 0.40])
    base = _rows("WDHT-CNN", [0.30, 0.31, 0.29, 0.30, 0.32])
    unsup = _rows("ITQ", [0.25, 0.26, 0.24, 0.25, 0.26])
    table = claims(whcmt.table2_claims(unsup, good + base))
    assert list(table["verdict"]) == ["reproduced", "reproduced"] and list(table["n"]) == [5, 5]
    # the deep-vs-unsupervised claim is gated on the replicate's best unsupervised baseline too
    lsh_chance = _rows("LSH", [0.19, 0.21, 0.20, 0.22, 0.18])
    assert claims(whcmt.table2_claims(lsh_chance, good + base))["verdict"][0] == "invalid: best unsupervised 8b at chance"
    itq_collapsed = _rows("ITQ", [0.25] * 5, collapsed=True)
    gated = claims(whcmt.table2_claims(lsh_chance + itq_collapsed, good + base))
    assert gated["verdict"][0] == "invalid: best unsupervised 8b collapsed" and gated["verdict"][1] == "reproduced"
    collapsed = _rows("WDHT-CNN", [0.30] * 5, collapsed=True)
    assert claims(whcmt.table2_claims(unsup, good + collapsed))["verdict"][1] == "invalid: WDHT-CNN 8b collapsed"
    at_chance = _rows("WDHT-CNN", [0.19, 0.21, 0.20, 0.22, 0.18])
    assert claims(whcmt.table2_claims(unsup, good + at_chance))["verdict"][1] == "invalid: WDHT-CNN 8b at chance"
    few = claims(whcmt.table2_claims(_rows("ITQ", [0.25, 0.25]), good[:2] + base[:2]))
    assert set(few["verdict"]) == {"inconclusive (n < 3)"}


def test_headroom_by_hand():
    head = whcmt.headroom(_rows("WHCMT", [0.3, 0.5]) + _rows("WHCMT", [0.2], bits=16))
    assert head[0]["n"] == 2 and head[0]["above_chance"] == pytest.approx(0.2) and head[0]["ci_low"] < 0.1
    assert head[1]["bits"] == 16 and head[1]["above_chance"] == pytest.approx(0.0)


def test_table3_and_attention_claims_show_the_paper(tiny):
    cfg, _ = tiny
    rows = [{**r, "setting": k} for k in range(1, 6) for r in _rows("WHCMT", [0.4, 0.41, 0.42])]
    names = [c.name for c in whcmt.table3_claims(rows, cfg)]
    assert len(names) == 4 and "setting 2" in names[1] and "setting 3" in names[2] and "setting 5" in names[3]
    assert whcmt.table3_claims(rows, cfg)[0].paper == "+0.178 (0.755 vs 0.577, Table 3)"
    reps = [{"informative_vs_noise": v, "run": r, "tag_auc": 0.55} for v, r in zip([1.3, 1.35, 1.32], _rows("WHCMT", [0.4, 0.41, 0.42]),
                                                                   strict=True)]
    c = claims(whcmt.attention_claims(reps))
    assert c["verdict"][0] == "reproduced" and c["rule"][0] == "> 1"


def test_unsupervised_baselines_hash_the_pretrained_cnn_features(tiny, one_thread):
    """Issue 30 item 2: ``unsup_features: pretrained`` = the WDHT CNN's fc7 output with the pretraining stage's weights
    (what WDHT-CNN starts from), standardised on the database; without a weights file it fails naming the keys."""
    from cmlib.models.hashing_baselines import SmallAlexNet
    from cmlib.protocol.config import ConfigError

    cfg, data = tiny
    pcfg, _ = whcmt.with_pretrained(dataclasses.replace(cfg, unsup_features="pretrained"), ["WDHT-CNN"])
    net = SmallAlexNet(cfg.world.image_size)
    net.load_state_dict(torch.load(pcfg.cnn_weights, weights_only=True))
    with torch.no_grad():
        raw = net.eval()(whcmt.to_input(torch.from_numpy(data.images))).numpy()
    mu, sd = raw[data.database].mean(0), raw[data.database].std(0) + 1e-6
    feats = whcmt.unsupervised_features(data, pcfg)
    assert feats.shape == (len(data.images), net.out_dim) and np.allclose(feats, (raw - mu) / sd, atol=1e-4)
    assert whcmt.unsupervised_features(data, cfg).shape[1] == 3 * cfg.unsup_pool ** 2  # pixels, the smoke default
    rows = whcmt.unsupervised_rows(data, pcfg)
    assert len(rows) == 1 and 0 < rows[0]["map"] <= 1
    with pytest.raises(ValueError, match="cnn_weights is unset"):
        whcmt.unsupervised_features(data, dataclasses.replace(cfg, unsup_features="pretrained"))
    with pytest.raises(ConfigError, match="unsup_features: 'pretrained'"):
        from_params(whcmt.Config, {"unsup_features": "pretrained", "pretrain_images": 0})
