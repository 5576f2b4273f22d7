"""GRM-Net study glue: Table 2 rows, the replicate's splits, scoring, thresholds chosen on validation, the
baselines' post-processing, the collapse flag, Fig. 5's count and the claims built from replicates."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from cmlib.data.sketchyscene import ReferringExpression
from cmlib.protocol.claims import claims
from cmlib.protocol.config import ConfigError, from_params
from cmlib.protocol.replicates import run_replicates
from cmlib.protocol.run import RunConfig
from cmlib.protocol.splits import TestSplitSealed
from cmlib.studies import grmnet


def test_table2_rows_are_the_papers():
    assert [grmnet.variant_of(r) for r in (1, 7)] == [
        {"manner": "distance", "use_position": True, "top_k": 10, "delta_dim": 5},
        {"manner": "consistency", "use_position": True, "top_k": 10, "delta_dim": 5}]
    assert [grmnet.variant_of(r)["top_k"] for r in range(1, 8)] == [10, 0, 0, 5, 20, 10, 10]
    assert [grmnet.PAPER_TABLE2[r][0] for r in range(1, 8)] == [53.35, 53.29, 53.55, 59.03, 57.32, 57.46, 59.39]
    with pytest.raises(ValueError, match="rows 1-7"):
        grmnet.variant_of(8)


def test_empty_target_is_skipped_by_sketchyscene_ap_and_counts_against_coco():
    m = np.zeros((1, 8, 8), dtype=bool)
    m[0, 2:5, 2:5] = True
    hit = {"masks": m, "scores": np.array([0.9])}
    one = grmnet.score([hit], [{"masks": m}])
    two = grmnet.score([hit, {"masks": m, "scores": np.array([0.95])}], [{"masks": m}, {"masks": m[:0]}])
    assert one["sketchyscene_AP"] == pytest.approx(100.0) and two["sketchyscene_AP"] == pytest.approx(100.0)
    assert one["coco_AP"] == pytest.approx(100.0) and two["coco_AP"] < one["coco_AP"]
    with pytest.raises(ValueError, match="no predictions"):
        grmnet.score([], [])


def test_config_and_index_errors_are_named():
    with pytest.raises((ConfigError, ValueError), match="data_root"):
        from_params(grmnet.Config, {"data_root": "."})
    with pytest.raises(ConfigError, match="canvas"):
        from_params(grmnet.Config, {"canvas": 16})
    with pytest.raises(ConfigError, match="two_stage_thresholds"):
        from_params(grmnet.Config, {"two_stage_thresholds": [1.5]})
    with pytest.raises(ConfigError, match="seeds"):
        from_params(grmnet.Config, {"run": {"seeds": [1, 1]}})
    with pytest.raises(ConfigError, match="referring_schedule.*'linear'"):
        from_params(grmnet.Config, {"referring_schedule": "linear"})
    cfg = grmnet.Config(n_train_scenes=4, n_test_scenes=2, expressions_per_scene=2)
    data = grmnet.build_data(cfg, 0)
    bad = ReferringExpression(0, "the tree", (99,))
    with pytest.raises(ValueError, match="out of range"):
        grmnet.referring_item(data, "train", bad, 15)
    item = grmnet.referring_item(data, "train", ReferringExpression(0, "zebra quantum", ()), 15)
    assert item["tokens"][:2].tolist() == [1, 1] and item["target"]["boxes"].shape == (0, 4)


def test_replicate_data_follows_its_seed_and_seals_test():
    cfg = grmnet.Config(n_train_scenes=4, n_val_scenes=3, n_test_scenes=3)
    a, b, c = grmnet.build_data(cfg, 0), grmnet.build_data(cfg, 0), grmnet.build_data(cfg, 1)
    assert [e.expression for e in a.train] == [e.expression for e in b.train]
    assert a.vocab.itos == b.vocab.itos and grmnet.world_summary(a) == grmnet.world_summary(b)
    img = lambda d, split, k: d.scene(split, k).image
    assert not np.array_equal(img(a, "train", 0), img(c, "train", 0))  # the world varies with the replicate
    val = [img(a, "val", k) for k in range(3)]
    test = [img(a, "test", k) for k in range(3)]
    assert not any(np.array_equal(v, t) for v in val for t in test)  # validation scenes are not test scenes
    with pytest.raises(TestSplitSealed):
        _ = a.test.data
    assert len(a.test.open("test")) == grmnet.world_summary(a)["test_expressions"]
    with pytest.raises(TestSplitSealed):
        a.test.open("again")


def test_cache_keys():
    cfg = grmnet.Config(n_train_scenes=4, n_test_scenes=2)
    k1 = grmnet.cache_path(cfg, "grmnet", seed=0, variant=grmnet.variant_of(7))
    assert k1 != grmnet.cache_path(cfg, "grmnet", seed=0, variant=grmnet.variant_of(6))
    assert k1 != grmnet.cache_path(cfg, "grmnet", seed=1, variant=grmnet.variant_of(7))
    longer = grmnet.Config(n_train_scenes=4, n_test_scenes=2, referring_steps=99, two_stage_thresholds=[0.3])
    assert grmnet.cache_path(cfg, "detector", seed=0) == grmnet.cache_path(longer, "detector", seed=0)
    assert k1 != grmnet.cache_path(longer, "grmnet", seed=0, variant=grmnet.variant_of(7))
    cosine = grmnet.Config(n_train_scenes=4, n_test_scenes=2, referring_schedule="constant")  # default: cosine
    assert k1 != grmnet.cache_path(cosine, "grmnet", seed=0, variant=grmnet.variant_of(7))
    for kind in ("detector", "binary", "matcher"):  # only the referring trainings follow the schedule
        assert grmnet.cache_path(cfg, kind, seed=0) == grmnet.cache_path(cosine, kind, seed=0)
    cos_bin = grmnet.Config(n_train_scenes=4, n_test_scenes=2, binary_schedule="cosine")
    assert grmnet.cache_path(cfg, "binary", seed=0) != grmnet.cache_path(cos_bin, "binary", seed=0)
    for kind in ("detector", "matcher"):
        assert grmnet.cache_path(cfg, kind, seed=0) == grmnet.cache_path(cos_bin, kind, seed=0)
    # notebook 06's levels share the replicate's detector (same scenes); its rows and the curves' count retrain
    level = grmnet.Config(n_train_scenes=4, n_test_scenes=2, reference_fraction=0.3, curve_points=5)
    assert grmnet.cache_path(cfg, "detector", seed=0) == grmnet.cache_path(level, "detector", seed=0)
    assert k1 != grmnet.cache_path(level, "grmnet", seed=0, variant=grmnet.variant_of(7))


def test_cosine_schedule_decays_the_referring_lr_to_zero(tmp_path, monkeypatch):
    """cosine: the last step's lr is ~0 and the first is cfg.lr; constant: cfg.lr throughout (AdamW's lr read at
    each step)."""
    seen: dict[str, list[float]] = {}
    real_step = torch.optim.AdamW.step

    def step(self, *a, **k):
        seen.setdefault(run, []).append(self.param_groups[0]["lr"])
        return real_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    for run in ("constant", "cosine"):
        cfg = grmnet.Config(n_train_scenes=4, n_test_scenes=2, expressions_per_scene=2, detector_steps=1,
                            referring_steps=4, referring_schedule=run, run=RunConfig(cache_dir=str(tmp_path / run)))
        data = grmnet.build_data(cfg, 0)
        det, _ = grmnet.train_detector(cfg, data)
        seen[run] = []
        grmnet.train_referring(cfg, data, det, **grmnet.variant_of(7))
    assert seen["constant"] == [pytest.approx(1e-3)] * 4
    assert seen["cosine"][0] == pytest.approx(1e-3) and seen["cosine"][-1] < 0.2e-3
    assert all(a > b for a, b in zip(seen["cosine"], seen["cosine"][1:]))


def test_threshold_choice_and_two_stage_filter():
    best, scores = grmnet.choose_threshold([0.5, 0.1, 0.25], lambda t: {0.1: 3.0, 0.25: 5.0, 0.5: 5.0}[t])
    assert best == 0.25 and scores == {0.5: 5.0, 0.1: 3.0, 0.25: 5.0}  # tie: the smaller threshold
    masks = np.zeros((3, 4, 4), dtype=bool)
    scored = [{"masks": masks, "p": np.array([0.9, 0.3, 0.05]), "det": np.array([0.5, 1.0, 1.0])}]
    keep_all, keep_half = grmnet.two_stage_predictions(scored, 0.0)[0], grmnet.two_stage_predictions(scored, 0.5)[0]
    assert keep_all["scores"].tolist() == pytest.approx([0.45, 0.3, 0.05]) and len(keep_half["masks"]) == 1


def test_binary_predictions_are_never_empty():
    prob = torch.zeros(8, 8)
    prob[2, 3] = 0.2
    prob[2, 4] = 0.1
    (p,) = grmnet.binary_predictions([prob], 0.7)
    assert p["masks"].shape == (1, 8, 8) and p["masks"].sum() == 1 and p["scores"][0] == pytest.approx(0.2)
    (q,) = grmnet.binary_predictions([prob], 0.4)
    assert q["masks"].sum() == 2 and q["scores"][0] == pytest.approx(0.15)


def test_collapse_flag():
    e = [ReferringExpression(0, "a", (0,)), ReferringExpression(0, "b", (1,)), ReferringExpression(1, "c", (0,))]
    m = np.zeros((1, 4, 4), dtype=bool)
    m2 = m.copy()
    m2[0, 0, 0] = True
    empty = {"masks": m[:0], "scores": np.zeros(0)}
    same = {"masks": m2, "scores": np.ones(1)}
    assert grmnet.collapsed([empty] * 3, e)
    assert grmnet.collapsed([same, same, empty], e)  # scene 0: the same output for both expressions
    assert not grmnet.collapsed([same, empty, empty], e)
    reranked = {"masks": m2, "scores": np.full(1, 0.5)}  # the same instances, ranked by the expression
    assert not grmnet.collapsed([same, reranked, empty], e)


def test_wrong_count_by_hand():
    a = np.zeros((2, 6, 6), dtype=bool)
    a[0, :3, :3] = True
    a[1, 3:, 3:] = True
    target = {"masks": a[:1]}
    pred = {"masks": a, "scores": np.array([0.9, 0.8])}  # the second instance is wrong
    assert grmnet.wrong_count([pred], [target], kept=0.5) == 1.0
    assert grmnet.wrong_count([pred], [target], kept=0.85) == 0.0
    assert grmnet.wrong_count([pred, pred], [target, {"masks": a}], kept=0.5) == 0.5


def _fake_replicate(seed: int, row_ap: dict[int, float], blind: float) -> dict:
    rows = [{"row": r, **grmnet.variant_of(r), "coco_AP": ap, "coco_AP50": ap, "coco_AP75": ap,
             "sketchyscene_AP": ap / 2, "single_coco_AP": ap, "collapsed": False} for r, ap in row_ap.items()]
    t1 = [{"method": name, "coco_AP": ap, "coco_AP50": ap, "coco_AP75": ap, "sketchyscene_AP": ap / 2,
           "single_coco_AP": ap, "collapsed": False}
          for name, ap in ((grmnet.BINARY, 5.0), (grmnet.TWO_STAGE, 20.0), (grmnet.BLIND, blind))]
    t1.insert(2, {**rows[6], "method": grmnet.GRM})
    return {"seed": seed, "table1": t1, "table2": rows,
            "fig5": {"wrong_per_expr_K0": 1.0 + seed, "wrong_per_expr_K10": 0.5, "test_expressions": 10}}


def test_claims_from_replicates_by_hand():
    reps = [_fake_replicate(s, {1: 20 + s, 2: 10, 3: 12, 4: 25, 5: 24, 6: 23, 7: 30 + s}, blind=4.0)
            for s in range(3)]
    table = claims(grmnet.table2_claims(reps))
    first = table.iloc[0]
    assert first["claim"].startswith("GRM with K=10 beats no GRM") and first["n"] == 3
    assert first["mean"] == pytest.approx(19.0) and first["verdict"] == "reproduced"
    assert "+5.84 COCO AP" in first["paper"]  # 59.39 - 53.55
    pos = table[table["claim"].str.startswith("absolute position")].iloc[0]
    assert pos["mean"] == pytest.approx(2.0)
    fig5 = claims(grmnet.fig5_claims(reps)).iloc[0]
    assert fig5["mean"] == pytest.approx(1.5)
    t1 = claims(grmnet.table1_claims(reps))
    assert t1.iloc[0]["mean"] == pytest.approx(11.0)  # GRM-Net (#7: 30, 31, 32) - two-stage 20
    # every model at the language-blind level: every comparison is invalid, never a verdict
    at_chance = [_fake_replicate(s, {r: 4.0 + 0.01 * r for r in range(1, 8)}, blind=50.0) for s in range(3)]
    assert all(v.startswith("invalid") for v in claims(grmnet.table2_claims(at_chance))["verdict"])


def test_claims_margins_comparisons_premise_and_the_equivalence_rule_by_hand():
    reps = [_fake_replicate(s, {1: 20 + s, 2: 10, 3: 12, 4: 25, 5: 24, 6: 23, 7: 30 + s}, blind=4.0)
            for s in range(3)]
    table = claims(grmnet.table2_claims(reps, shares={s: 0.6 for s in range(3)})).set_index("claim")
    k10 = table.loc["GRM with K=10 beats no GRM (K=0)"]
    assert k10["margin"] == pytest.approx(1.46) and k10["headline"]  # (59.39 - 53.55) / 4
    assert k10["comparison"] == grmnet.GRM_VS_NONE and "needs >= 0.128" in k10["premise"]
    assert (table["comparison"] == grmnet.GRM_VS_NONE).sum() == 4
    assert (table["comparison"] == grmnet.BEST_K).sum() == 2
    assert table.loc["absolute position info helps (slightly)", "premise"] == ""
    # #1 - #3 = 8, 9, 10: mean 9, 95% interval 9 -/+ 4.303 / sqrt(3) = (6.52, 11.48), wholly beyond +1.46
    dist = table.loc["distance-based references (K=10) stay at the no-GRM level (K=0)"]
    assert dist["rule"] == "within 0 ± 1.46" and dist["ci_low"] == pytest.approx(6.516, abs=1e-3)
    assert dist["verdict"] == "not reproduced"
    # #1 - #3 = -0.1, 0, +0.1: interval 0 -/+ 0.248, inside +-1.46: the paper's "level" reproduced
    level = [_fake_replicate(s, {1: 12 + 0.1 * (s - 1), 2: 10, 3: 12, 4: 25, 5: 24, 6: 23, 7: 30}, blind=4.0)
             for s in range(3)]
    dist = claims(grmnet.table2_claims(level)).set_index("claim").loc[
        "distance-based references (K=10) stay at the no-GRM level (K=0)"]
    assert dist["verdict"] == "reproduced"
    # a world without instance-dependent expressions: the GRM claims are invalid, position info still judged
    poor = claims(grmnet.table2_claims(reps, shares={s: 0.1 for s in range(3)})).set_index("claim")
    assert poor.loc["K=10 beats K=5", "verdict"] == "invalid: premise absent (expressions whose referent depends " \
        "on another instance (share) = 0.1)"
    assert poor.loc["absolute position info helps (slightly)", "verdict"] == "reproduced"
    fig5 = claims(grmnet.fig5_claims(reps, shares={0: 0.6, 1: 0.6, 2: 0.6})).iloc[0]
    assert fig5["margin"] == grmnet.FIG5_MARGIN and fig5["comparison"] == grmnet.GRM_VS_NONE
    t1 = claims(grmnet.table1_claims(reps))
    assert list(t1["headline"]) == [True, True, False] and list(t1["kind"]) == ["finding", "finding", "sanity"]
    assert t1.iloc[0]["margin"] == pytest.approx(3.355)  # (59.39 - 45.97) / 4
    assert grmnet.headline_level(reps) == {"model": "GRM-Net #7", "metric": "COCO mask AP (%)", "ours": 31.0,
                                           "paper": 59.39, "source": "Table 1"}


def test_expression_kinds_and_reference_share():
    from cmlib.data.sketchyscene import ReferringExpression

    kinds = {t: grmnet.expression_kind(t) for t in ("the trees", "all the three sheep", "the sun in the sky",
                                                     "the second tree on the left", "the topmost cloud",
                                                     "the dog in front of the bench",
                                                     "the two trees on the left of the house",
                                                     "the car behind the house")}
    assert list(kinds.values()) == ["category"] * 3 + ["rank"] * 2 + ["relational"] * 3
    exprs = [ReferringExpression(0, t, (0,)) for t in kinds]
    assert grmnet.reference_share(exprs) == pytest.approx(5 / 8)


def test_training_tasks_cover_every_model_of_every_replicate_after_its_detector():
    tasks, requires = grmnet.training_tasks(grmnet.Config(run=RunConfig(seeds=[3, 5])))
    assert len(tasks) == len(set(tasks)) == 2 * (1 + 1 + 7 + 1)
    assert tasks[:2] == [("detector", 3), ("detector", 5)]  # detectors first, then the longest kind
    assert tasks[2:4] == [("binary", 3), ("binary", 5)]
    assert {t[2] for t in tasks if t[0] == "row"} == set(range(1, 8))
    assert all(requires[t] == [("detector", t[1])] for t in tasks if t[0] != "detector")
    assert not any(t in requires for t in tasks[:2])


def test_run_study_trains_each_model_once_then_the_replicates_only_load(tmp_path):
    cfg = grmnet.Config(run=RunConfig(seeds=[0], cache_dir=str(tmp_path)), n_train_scenes=4, n_val_scenes=1, n_test_scenes=1, expressions_per_scene=2,
                        detector_steps=2, referring_steps=1, baseline_steps=1, matcher_steps=2)
    first = grmnet.run_study(cfg, jobs=1)
    assert first["tasks"] == 11 and first["trained"] == 10 and first["replicates_loaded"] == 0
    assert len(list(tmp_path.glob("*.pt"))) == 10
    reps = run_replicates(grmnet.run_replicate, cfg, cfg.run.seeds, cache_dir=cfg.run.cache_dir, jobs=1)
    assert reps[0]["seed"] == 0 and len(reps[0]["table2"]) == 7
    again = grmnet.run_study(cfg, jobs=1)  # the replicate is done: no task runs
    assert again["tasks"] == 0 and again["replicates_loaded"] == 1
    assert grmnet.train_task(cfg, ("row", 0, 7))["cached"] == 1.0  # a model comes from the cache
    with pytest.raises(ValueError, match="unknown task kind 'nope'"):
        grmnet.train_task(cfg, ("nope", 0))


def test_kind_scores_by_hand():
    """COCO AP per expression type: a perfect answer on the category-only expression (AP 100), the wrong instance
    on the rank expression (AP 0), no relational expression (left out)."""
    a = np.zeros((1, 8, 8), bool)
    a[0, :4, :4] = True
    b = np.zeros((1, 8, 8), bool)
    b[0, 4:, 4:] = True
    exprs = [ReferringExpression(0, "the trees", (0,)), ReferringExpression(0, "the leftmost tree", (0,))]
    preds = [{"masks": a, "scores": np.array([0.9])}, {"masks": b, "scores": np.array([0.9])}]
    targets = [{"masks": a}, {"masks": a}]
    out = grmnet.kind_scores(preds, targets, exprs, prefix="AP_")
    assert out == {"AP_category": pytest.approx(100.0), "AP_rank": pytest.approx(0.0)}


def test_rows_are_gated_on_their_validation_curves_and_the_position_claim_by_hand():
    """A row whose mean validation curve still gains >= CURVE_TOLERANCE over its last third makes every claim that
    compares it invalid; the spatial-language claim reads #3 - #2 on rank expressions."""
    def reps_with(curve_of: dict[int, list]) -> list[dict]:
        out = []
        for s in range(3):
            rep = _fake_replicate(s, {1: 20 + s, 2: 10, 3: 12, 4: 25, 5: 24, 6: 23, 7: 30 + s}, blind=4.0)
            for row in rep["table2"]:
                row["curve"] = curve_of.get(row["row"], [[100, 5.0], [200, 5.0], [300, 5.2]])
                row["AP_rank"] = {2: 8.0, 3: 11.0 + s}.get(row["row"], 9.0)
            out.append(rep)
        return out

    flat = claims(grmnet.table2_claims(reps_with({}))).set_index("claim")
    assert flat.loc["GRM with K=10 beats no GRM (K=0)", "verdict"] == "reproduced"
    pos = flat.loc["the rows learned spatial language: position (#3) beats none (#2) on rank expressions"]
    assert pos["mean"] == pytest.approx(4.0) and pos["margin"] == pytest.approx(grmnet.POSITION_MARGIN)
    rising = claims(grmnet.table2_claims(reps_with({7: [[100, 5.0], [200, 6.0], [300, 8.0]]}))).set_index("claim")
    assert rising.loc["GRM with K=10 beats no GRM (K=0)", "verdict"].startswith("invalid")
    assert "still improving" in rising.loc["GRM with K=10 beats no GRM (K=0)", "verdict"]
    assert rising.loc["absolute position info helps (slightly)", "verdict"] == "reproduced"  # #7 not in it


def test_dose_claims_by_hand():
    """Notebook 06: #7 - #3 = 10 * share + noise grows with the measured share (slope ~10 per unit, margin 2.86);
    #7 - #1 flat fails the trend; #7 - #3 on category-only expressions 0 +- 0.1 is within +-1.46."""
    def rep(seed: int) -> dict:
        levels = []
        for share in (0.3, 0.7, 1.0):
            jitter = 0.1 * (seed - 1)
            rows = {"7": {"coco_AP": 20 + 10 * share + jitter, "AP_category": 30.0 + jitter},
                    "3": {"coco_AP": 20.0, "AP_category": 30.0},
                    "1": {"coco_AP": 20 + 10 * share + jitter - 0.5, "AP_category": 30.0}}
            for r in rows.values():
                r.update(collapsed=False, curve=[[100, 5.0], [200, 5.0], [300, 5.0]])
            levels.append({"level": share, "share": share, "blind": {"coco_AP": 2.0}, "rows": rows})
        return {"seed": seed, "levels": levels}

    reps = [rep(s) for s in range(3)]
    table = claims(grmnet.dose_claims(reps)).set_index("claim")
    vs_none = table.loc["GRM's gain over no GRM (#3) grows with the share of expressions that need references"]
    assert vs_none["mean"] == pytest.approx(10.0) and vs_none["margin"] == pytest.approx(1.46 / 0.511, abs=1e-3)
    assert vs_none["verdict"] == "reproduced"
    vs_dist = table.loc["GRM's gain over distance-based references (#1) grows with the share of expressions that "
                        "need references"]
    assert vs_dist["mean"] == pytest.approx(0.0, abs=1e-9) and vs_dist["verdict"] == "not reproduced"
    cat = table.loc["no GRM gain on category-only expressions (#7 - #3, all levels pooled)"]
    assert cat["mean"] == pytest.approx(0.0, abs=1e-9) and cat["verdict"] == "reproduced"
    rows = grmnet.dose_rows(reps)
    assert len(rows) == 9 and rows[0]["d73"] == pytest.approx(2.9) and rows[0]["d73_category"] == pytest.approx(-0.1)
    assert grmnet.dose_claims([{"seed": 0, "levels": []}]) == []
