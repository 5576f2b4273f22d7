"""WHCMT study glue: config errors, tag encoding, deterministic training, the run cache, the real-tags profile."""

import dataclasses

import numpy as np
import pytest
import torch

from cmlib.losses.hashing import WeakTagHashLoss
from cmlib.models.whcmt import ONES_ID, PAD_ID
from cmlib.protocol.config import ConfigError, from_params
from cmlib.studies import whcmt
from cmlib.text import Vocabulary

TINY = {"world": {"n_query": 30, "n_database": 120, "n_train": 100}, "w2v_corpus_sentences": 500, "steps": 3,
        "hidden": 16, "bits": [8], "unsupervised": ["ITQ"]}


@pytest.fixture(scope="module")
def tiny():
    cfg = from_params(whcmt.Config, TINY)
    return cfg, whcmt.prepare_data(cfg)


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="steps"):
        from_params(whcmt.Config, {"steps": 0})
    with pytest.raises(ConfigError, match="unknown method 'PQ'"):
        from_params(whcmt.Config, {"unsupervised": ["PQ"]})
    with pytest.raises(ConfigError, match="data_root"):
        from_params(whcmt.Config, {"data": "mirflickr_tags"})
    with pytest.raises(ConfigError, match="img_size"):
        from_params(whcmt.Config, {"world": {"image_size": 64}})


def test_encode_tags_drops_unknown_and_marks_untagged():
    vocab = Vocabulary.from_tokens(["sky", "sea"])
    ids, dropped, untagged = whcmt.encode_tags([["sky", "zzz"], [], ["qqq"], ["sea", "sky", "sea"]], vocab, 2)
    assert dropped == 2 and untagged == 2
    assert ids[0].tolist() == [2, PAD_ID] and ids[1].tolist() == [ONES_ID, PAD_ID] and ids[2, 0] == ONES_ID
    assert ids[3].tolist() == [3, 2]  # truncated to max_tags


def test_prepared_data_is_deterministic_and_tag_table_is_set_up(tiny):
    cfg, data = tiny
    again = whcmt.prepare_data(cfg)
    assert torch.equal(data.tag_table, again.tag_table) and torch.equal(data.tag_ids, again.tag_ids)
    assert torch.all(data.tag_table[PAD_ID] == 0) and torch.all(data.tag_table[ONES_ID] == 1)
    assert data.tag_table[2:].mean(0).abs().max() < 1e-4  # centred word vectors
    assert data.stats["map_topk"] == round(5000 * 120 / 22581)


def test_train_run_is_deterministic_and_cached(tiny, tmp_path, capsys):
    cfg, data = tiny
    cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, cache_dir=str(tmp_path)))
    row, model = whcmt.train_run("WHCMT", 8, data, cfg, seed=1)
    row2, _ = whcmt.train_run("WHCMT", 8, data, dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, cache_dir=None)), seed=1)
    assert row["map"] == row2["map"] and row["final_loss"] == row2["final_loss"] and not row["cached"]
    row3, model3 = whcmt.train_run("WHCMT", 8, data, cfg, seed=1)
    assert row3["cached"] and row3["map"] == row["map"]
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), model3.state_dict().values()))
    row4, _ = whcmt.train_run("WHCMT", 8, data, cfg, seed=1, lambdas=(1.0, 1.0, 1.0))
    assert not row4["cached"]
    assert "reused from cache" in capsys.readouterr().out
    with pytest.raises(ValueError, match="method"):
        whcmt.build_model("DPSH", 8, data, cfg)


def test_tables_and_claims_from_rows(tiny):
    cfg, data = tiny
    unsup = whcmt.unsupervised_rows(data, cfg)
    chance = whcmt.chance_map(data, cfg)
    assert all(r["chance"] == chance and 0 < r["top_code_share"] <= 1 and 1 <= r["n_distinct_codes"] <= 2 ** 8
               for r in unsup)
    deep = [{"method": m, "bits": 8, "seed": 0, "map": v, "chance": 0.2, "collapsed": False, "tag_auc": 0.53}
            for m, v in (("WDHT-CNN", 0.3), ("WHCMT", 0.4))]
    cl = whcmt.table2_claims(unsup, deep)
    assert cl[1].values == [pytest.approx(0.1)] and cl[1].paper == "+0.048 (0.752 vs 0.704, Table 2)"
    assert [m.name for m in cl[1].models] == ["WHCMT 8b", "WDHT-CNN 8b"]
    t4 = whcmt.table4_summary(deep + [{"method": "WDHT-ViT", "bits": 8, "seed": 0, "map": 0.33}])
    assert {r["method"]: round(r["improvement_pct"], 1) for r in t4}["WDHT-ViT"] == 10.0


def _map_rows(maps, **extra):
    return [{"seed": s, "map": v, "chance": 0.2, "collapsed": False, "tag_auc": 0.53, **extra}
            for s, v in enumerate(maps)]


def test_table3_little_claims_are_equivalence_claims_by_hand():
    from cmlib.protocol.claims import claims

    cfg = from_params(whcmt.Config, {})
    base = [0.40, 0.42, 0.41]
    # setting 2 - setting 1 per replicate: +0.005, -0.005, +0.003 -> mean 0.001, sd 0.00529, half-width
    # 4.303 * 0.00529 / sqrt(3) = 0.01314: [-0.0121, 0.0141] inside +-0.02: reproduced.
    # setting 3: -0.03, -0.04, -0.035 -> [-0.0474, -0.0226], wholly below -0.02: not reproduced.
    # setting 5: +0.01, -0.03, +0.02 -> mean 0, half-width 0.0657: crosses +-0.02: inconclusive.
    diffs = {1: [0.0] * 3, 2: [0.005, -0.005, 0.003], 3: [-0.03, -0.04, -0.035], 4: [-0.1] * 3, 5: [0.01, -0.03, 0.02]}
    rows = [r for k, d in diffs.items() for r in _map_rows([b + x for b, x in zip(base, d)], setting=k)]
    table = claims(whcmt.table3_claims(rows, cfg))
    assert list(table["rule"]) == ["> 0.05", "within 0 ± 0.02", "within 0 ± 0.02", "within 0 ± 0.02"]
    assert list(table["verdict"]) == ["reproduced", "reproduced", "not reproduced", "inconclusive"]
    assert table["ci_high"].iloc[1] == pytest.approx(0.0141, abs=1e-4)
    assert list(table["paper_effect"]) == [pytest.approx(0.178), pytest.approx(0.0), pytest.approx(-0.002),
                                           pytest.approx(-0.003)]
    assert whcmt.table3_claims(rows, cfg)[0].effective_margin() == pytest.approx(0.0445)


def test_table2_and_4_claims_carry_the_paper_effect_and_the_headline():
    from cmlib.protocol.claims import claims

    deep = [r for bits in (8, 12) for m, v in (("WHCMT", 0.5), ("WDHT-CNN", 0.4))
            for r in _map_rows([v, v + 0.01, v + 0.02], method=m, bits=bits)]
    unsup = [r for bits in (8, 12) for r in _map_rows([0.3, 0.3, 0.31], method="ITQ", bits=bits)]
    table = claims(whcmt.table2_claims(unsup, deep))
    assert list(table["headline"]) == [False, True, False, True]
    assert table["paper_effect"].iloc[0] == pytest.approx(0.704 - 0.641)
    assert table["paper_effect"].iloc[1] == pytest.approx(0.752 - 0.704) and table["margin"].iloc[1] == 0.012
    # 12 bits is not in Table 2: a quarter of the paper's smallest effect over 8/16/24/32 bits
    at12 = whcmt.table2_claims(unsup, deep)[2:]
    assert at12[1].paper_effect is None and at12[1].effective_margin() == pytest.approx((0.755 - 0.733) / 4)
    assert at12[0].effective_margin() == pytest.approx((0.704 - 0.641) / 4)
    level = whcmt.headline_level(deep)
    assert level["model"] == "WHCMT 8 bits" and level["ours"] == pytest.approx(0.51) and level["paper"] == 0.752
    t4 = [r for m, v in (("WDHT-CNN", 0.4), ("WDHT-ViT", 0.45), ("WDHT-CrossViT", 0.45), ("WHCMT", 0.5))
          for r in _map_rows([v, v + 0.01, v - 0.01], method=m, bits=8)]
    assert [c.paper_effect for c in whcmt.table4_claims(t4)] == [pytest.approx(0.025), pytest.approx(0.029),
                                                                  pytest.approx(0.022)]


def test_attention_maps_and_summary(tiny):
    cfg, data = tiny
    _, model = whcmt.train_run("WHCMT", 8, data, cfg, seed=0, verbose=False)
    idx = whcmt.attention_examples(data, 2)
    maps = whcmt.attention_maps(model, data, idx)
    assert maps["patches"].shape == (2, 4, 4) and maps["cross_scale"].shape == (2, 8, 8)
    assert np.allclose(maps["modality_share"].sum(1), 1.0, atol=1e-5)
    summary = whcmt.attention_summary(model, data, cfg, n_max=20)
    assert 0 < summary["tag_share"] < 1


def test_mean_reduction_divides_by_the_number_of_terms():
    h, r, t = torch.rand(5, 8), torch.randn(5, 4), torch.randn(5, 4)
    s = WeakTagHashLoss(reduction="sum")(h, r, t)
    m = WeakTagHashLoss(reduction="mean")(h, r, t)
    assert torch.allclose(m["l1_pairwise"] * 25, s["l1_pairwise"]) and torch.allclose(m["l2_hinge"] * 20, s["l2_hinge"])
    assert torch.allclose(m["l3_quant"] * 5, s["l3_quant"])


def test_real_mirflickr_tags_on_rendered_images(shared_datasets):
    cfg = from_params(whcmt.Config, {**TINY, "data": "mirflickr_tags", "max_database": 300,
                                     "data_root": str(shared_datasets / "mirflickr25k")})
    data = whcmt.prepare_data(cfg)
    assert len(data.query) == 2000 - data.stats["split_entries_without_record_query"]
    assert len(data.database) == 300 and set(data.train) <= set(data.database)
    assert data.images.shape == (len(data.query) + 300, 3, 32, 32)
    assert len(data.train) > 0 and len(data.vocab) > 2 and data.stats["train_tags_dropped_oov"] == 0
    assert data.label_names[0] == "animals" and data.labels.shape[1] == 24
    # a database cap above the training-set size keeps every training image (sampling the whole database used to
    # drop three quarters of them and leave word2vec a corpus too small to separate the tags)
    full = whcmt.prepare_data(dataclasses.replace(cfg, max_database=None))
    capped = whcmt.prepare_data(dataclasses.replace(cfg, max_database=len(full.train) + 500))
    assert len(capped.train) == len(full.train) and len(capped.database) == len(full.train) + 500


def test_threads_come_from_the_config(tiny, monkeypatch):
    """prepare_data runs under run.threads and leaves the caller's (the kernel's) thread count as it found it."""
    from cmlib.studies.whcmt import data as data_mod

    cfg, _ = tiny
    seen, real = [], data_mod._load_source
    monkeypatch.setattr(data_mod, "_load_source", lambda c: seen.append(torch.get_num_threads()) or real(c))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        whcmt.prepare_data(dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, threads=1)))
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ConfigError, match="threads"):
        from_params(whcmt.Config, {"run": {"threads": -1}})


def test_main_runs_are_not_clipped_and_the_literal_sums_are(tiny, monkeypatch):
    """A clip at 10 divided the transformers' early updates by ~30 (WDHT-ViT at chance): main runs use grad_clip."""
    from cmlib.studies.whcmt import runs

    cfg, data = tiny
    seen = []
    real_fit = runs.fit

    def spy(model, opt, loss_fn, batches, fit_cfg, **kw):
        seen.append(fit_cfg.grad_clip)
        return real_fit(model, opt, loss_fn, batches, fit_cfg, **kw)

    monkeypatch.setattr(runs, "fit", spy)
    assert whcmt.Config().grad_clip is None
    whcmt.train_run("WDHT-ViT", 8, data, cfg, verbose=False)
    whcmt.literal_sum_row(data, cfg)
    assert seen == [None, cfg.sum_grad_clip]


def test_tag_dropout_feeds_the_retrieval_token_and_keeps_real_targets(tiny, monkeypatch):
    cfg, data = tiny
    calls = []
    real_forward = whcmt.runs.WHCMT.forward

    def spy(self, images, tag_ids, target_tag_ids=None):
        if self.training:
            calls.append((tag_ids.clone(), None if target_tag_ids is None else target_tag_ids.clone()))
        return real_forward(self, images, tag_ids, target_tag_ids)

    monkeypatch.setattr(whcmt.runs.WHCMT, "forward", spy)
    base, _ = whcmt.train_run("WHCMT", 8, data, cfg, verbose=False)
    n_plain = len(calls)
    assert all(t is None for _, t in calls)
    dropped, _ = whcmt.train_run("WHCMT", 8, data, dataclasses.replace(cfg, tag_dropout=1.0), verbose=False)
    inputs, targets = calls[-1]
    assert len(calls) > n_plain and targets is not None
    assert (inputs[:, 0] == ONES_ID).all() and (inputs[:, 1:] == PAD_ID).all() and (targets > ONES_ID).any()
    assert dropped["final_loss"] != base["final_loss"]
    with pytest.raises(ConfigError, match="tag_dropout"):
        from_params(whcmt.Config, {"tag_dropout": 1.5})


def test_whcmt_paper_row_trains_without_tag_dropout_and_gets_its_own_claim(tiny):
    cfg, data = tiny
    plain, _ = whcmt.train_run("WHCMT", 8, data, cfg, verbose=False)  # tiny: tag_dropout 0
    paper, _ = whcmt.train_run("WHCMT-paper", 8, data, dataclasses.replace(cfg, tag_dropout=1.0), verbose=False)
    dropped, _ = whcmt.train_run("WHCMT", 8, data, dataclasses.replace(cfg, tag_dropout=1.0), verbose=False)
    # same seed, same model: WHCMT-paper ignores the config's tag_dropout, so it equals WHCMT trained without it
    assert paper["final_loss"] == plain["final_loss"] and paper["map"] == plain["map"]
    assert dropped["final_loss"] != paper["final_loss"]
    rows = [{"method": m, "seed": 0, "map": v, "chance": 0.18, "collapsed": False, "tag_auc": 0.53} for m, v in
            (("WDHT-CNN", 0.20), ("WDHT-ViT", 0.21), ("WDHT-CrossViT", 0.22), ("WHCMT", 0.25), ("WHCMT-paper", 0.19))]
    claims = whcmt.table4_claims(rows)
    assert len(claims) == 4 and "paper training" in claims[-1].name
    assert claims[-1].values == pytest.approx([-0.03]) and claims[-2].values == pytest.approx([0.03])
    assert claims[-2].paper == "+0.022 (0.755 vs 0.733, Table 4)"
    assert len(whcmt.table4_claims(rows[:-1])) == 3


def test_backbone_claims_need_matched_pretraining():
    """Issue 30 item 2: a backbone gain from stand-ins pretrained to unequal accuracy is invalid (premise absent)."""
    from cmlib.protocol.claims import claims

    rows = [{"method": m, "seed": s, "map": v + 0.01 * s, "chance": 0.18, "collapsed": False, "tag_auc": 0.56}
            for s in range(3) for m, v in (("WDHT-CNN", 0.20), ("WDHT-ViT", 0.25), ("WDHT-CrossViT", 0.26),
                                           ("WHCMT", 0.27))]
    unequal = {"cnn": {"accuracy": 0.712}, "vit": {"accuracy": 0.536}, "crossvit": {"accuracy": 0.700}}
    vit, crossvit, cross = whcmt.table4_claims(rows, unequal)
    # hand: 0.03 - |0.536 - 0.712| = -0.146 (absent); 0.03 - |0.700 - 0.712| = 0.018 (present)
    assert vit.premise.values == pytest.approx([-0.146] * 3) and vit.premise.absent()
    assert claims([vit]).iloc[0]["verdict"].startswith("invalid: premise absent (matched pretraining")
    assert crossvit.premise.values == pytest.approx([0.018] * 3) and not crossvit.premise.absent()
    assert "tag supervision" in cross.premise.name  # the cross-modal claim keeps its tag premise
    assert whcmt.table4_claims(rows)[0].premise is None  # no records (a user's own checkpoints): no premise
    with pytest.raises(KeyError, match="vit"):
        whcmt.matched_pretraining({"cnn": {"accuracy": 0.7}}, "vit", "cnn", 3)
