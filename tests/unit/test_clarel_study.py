"""CLAREL study glue: config checks, the smoke params file, the validation stage, a tiny deterministic run."""

import numpy as np
import pytest
from conftest import unperturbed_only

from cmlib.protocol.config import ConfigError, from_params, load_yaml
from cmlib.protocol.run import replicate_config
from cmlib.studies import clarel

TINY = {"world": {"n_classes": 24, "n_unseen": 6, "n_val_classes": 6, "n_genera": 6, "images_per_class": 6,
                  "feature_dim": 32},
        "model": {"embed_dim": 16, "cnn_channels": 8, "lstm_hidden": 8},
        "train": {"steps": 4, "batch_size": 8, "word_dim": 8, "word2vec_epochs": 1}}


def test_smoke_yaml_equals_the_defaults(project_root):
    assert from_params(clarel.Config, load_yaml(project_root / "params/clarel/smoke.yaml")) == clarel.Config()


@pytest.mark.parametrize("bad", [{"alphas": [0.0, -0.1]}, {"lam": 1.5}, {"kappa": -0.2}, {"lambdas": [2.0]},
                                 {"data": "xlsa17"}])
def test_bad_params_fail_at_config_time(bad):
    with pytest.raises(ConfigError):
        from_params(clarel.Config, bad)


def test_validation_stage_holds_out_seen_images_and_val_classes():
    cfg = from_params(clarel.Config, TINY)
    data = clarel.build_data(cfg)
    st = clarel.make_stage(data, "val", 0.2, seed=0)
    assert not np.intersect1d(st.train_idx, st.seen_idx).size and not np.intersect1d(st.train_idx, st.unseen_idx).size
    assert set(data.labels[st.seen_idx]) == set(st.seen.tolist()) == set(data.labels[st.train_idx])
    assert not set(st.unseen.tolist()) & set(st.seen.tolist())
    assert not np.isin(st.train_idx, data.splits["test_seen"]).any()


def test_protocol_runs_and_is_deterministic():
    cfg = from_params(clarel.Config, TINY)
    data = clarel.build_data(cfg)
    a = clarel.evaluate_setting(cfg, data, 0, 0.5, 0.5)
    clarel.runs._MEMORY.clear()
    b = clarel.evaluate_setting(cfg, data, 0, 0.5, 0.5)
    assert a == {**b, "train_s": a["train_s"]}
    assert a["alpha"] in cfg.alphas and 0.0 <= a["H"] <= 100.0


def test_a_settings_test_split_is_read_once_after_alpha_is_chosen():
    from cmlib.protocol.splits import TestSplitSealed

    cfg = from_params(clarel.Config, TINY)
    data = clarel.build_data(cfg)
    view = clarel.sealed_test(cfg, data, 0, 0.5, 0.5)
    with pytest.raises(TestSplitSealed):
        _ = view.data
    row = clarel.evaluate_setting(cfg, data, 0, 0.5, 0.5, test=view)
    assert view.opened_for == f"final score at alpha*={row['alpha']:g} (chosen on validation)"
    with pytest.raises(TestSplitSealed, match="already read"):
        clarel.evaluate_setting(cfg, data, 0, 0.5, 0.5, test=view)
    # a fresh view of the same (cached) model is a new final evaluation, as in notebook 01 against 04
    assert clarel.evaluate_setting(cfg, data, 0, 0.5, 0.5)["H"] == row["H"]


def test_ablation_reads_each_settings_test_split_once(monkeypatch):
    opened = []
    real = clarel.runs.SealedSplit.open

    def spy(self, reason):
        opened.append(self.name)
        return real(self, reason)

    monkeypatch.setattr(clarel.runs.SealedSplit, "open", spy)
    cfg = from_params(clarel.Config, {**TINY, "class_text": True})
    out = clarel.ablation_replicate(cfg, 0)
    # 4 trained settings on per-image text + the class-level model: 5 openings, no name twice
    assert len(opened) == len(set(opened)) == 5
    lines = {r["line"]: r for r in out["lines"]}
    per_image = out["text"][0]
    assert (lines[1]["H"], lines[6]["H"]) == (per_image["H0"], per_image["H"])


@unperturbed_only
def test_cache_dir_reuses_the_trained_model(tmp_path):
    cfg = from_params(clarel.Config, {**TINY, "run": {"cache_dir": str(tmp_path)}})
    data = clarel.build_data(cfg)
    first = clarel.trained_scores(cfg, data, "val", 0, 0.5, 0.0)
    clarel.runs._MEMORY.clear()
    again = clarel.trained_scores(cfg, data, "val", 0, 0.5, 0.0)
    assert len(list(tmp_path.glob("*.pt"))) == 1 and (first.distances == again.distances).all()


def test_fused_adam_is_the_same_update_in_its_own_cache_key(monkeypatch):
    """train.optimizer "adam-fused" builds torch's fused Adam (plain "adam" keeps torch's default, so the study's keys
    do not move), gets a cache key of its own, and trains to the same weights up to float rounding."""
    import torch

    built = []
    real_adam = torch.optim.Adam
    monkeypatch.setattr(torch.optim, "Adam", lambda *a, **k: built.append(k.get("fused")) or real_adam(*a, **k))
    base = from_params(clarel.Config, TINY)
    fused = from_params(clarel.Config, {**TINY, "train": {**TINY["train"], "optimizer": "adam-fused"}})
    data = clarel.build_data(base)
    stage = clarel.make_stage(data, "val", base.val_seen_fraction, 0)
    plain_model, _ = clarel.train_model(data, stage, base, 0, 0.5, 0.5)
    fused_model, _ = clarel.train_model(data, stage, fused, 0, 0.5, 0.5)
    assert built == [None, True]
    assert clarel.runs._key(base, "val", 0, 0.5, 0.5) != clarel.runs._key(fused, "val", 0, 0.5, 0.5)
    for (name, p), q in zip(plain_model.state_dict().items(), fused_model.state_dict().values(), strict=True):
        if p.is_floating_point():
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5, msg=name)


def test_replicates_draw_their_own_world():
    cfg = from_params(clarel.Config, TINY)
    a, b = replicate_config(cfg, 0), replicate_config(cfg, 3)
    assert (a.world.seed, b.world.seed, b.run.seeds) == (cfg.world.seed, cfg.world.seed + 3, [3])
    da, db = clarel.build_data(a), clarel.build_data(b)
    assert not np.array_equal(da.inputs.numpy(), db.inputs.numpy())


def _row(seed, **kw):
    base = {"seed": seed, "lambda": 0.5, "kappa": 0.5, "H": 40.0, "u": 40.0, "s": 40.0, "H_chance": 1.0,
            "top_share": 0.05}
    return {**base, **kw}


def _sweep(diffs: dict[float, list[float]], centre=(40.0, 42.0, 38.0, 40.0)) -> list[dict]:
    """lambda-sweep rows of 4 replicates: H at each grid value = H at the centre (0.5) + that replicate's diff."""
    rows = []
    for s, h in enumerate(centre):
        rows.append(_row(s, **{"lambda": 0.5, "H": h}))
        rows += [_row(s, **{"lambda": v, "H": h + d[s]}) for v, d in diffs.items()]
    return rows


def test_stability_every_grid_point_within_the_margin_on_hand_made_rows():
    from cmlib.protocol.claims import ModelCheck, claims

    # Paired differences H(point) - H(0.5) over 4 replicates; t(0.975, 3) = 3.182:
    #   0.2:  -1, +0.5, -0.5, 0   -> mean -0.25, sd 0.645, interval [-1.277, 0.777]: inside +-2
    #   0.35: +0.5, +1, +1.5, +1  -> mean  1.00, sd 0.408, interval [ 0.350, 1.650]: inside +-2
    #   0.9:  -3, -3.5, -2.5, -3  -> mean -3.00, sd 0.408, interval [-3.650, -2.350]: wholly below -2
    # One point outside the margin: "every point within +-2" is not reproduced, and the row is lambda = 0.9's.
    # lambda = 0 and 1 lie outside [0.2, 0.9] and are not tested.
    diffs = {0.0: [-30.0] * 4, 0.2: [-1.0, 0.5, -0.5, 0.0], 0.35: [0.5, 1.0, 1.5, 1.0], 0.9: [-3.0, -3.5, -2.5, -3.0],
             1.0: [9.0] * 4}
    gate = ModelCheck("main", [40.0, 42.0, 38.0, 40.0], 1.0)
    points = clarel.stability_point_claims(_sweep(diffs), "lambda", {"lambda": 0.5}, gate)
    assert [c.statistic.split(" - ")[0] for c in points] == [f"{m}(lambda={v})" for m in "Hus" for v in (0.2, 0.35, 0.9)]
    assert all(c.op == "~" and c.threshold == 0.0 and c.margin == clarel.STABLE_MARGIN == 2.0 for c in points)
    assert [len(c.models) for c in points] == [2] * 9 and points[0].models[1].name == "CLAREL lambda=0.2"
    table = claims(points)
    assert list(table["ci_low"][:3]) == [pytest.approx(-1.277, abs=1e-3), pytest.approx(0.350, abs=1e-3),
                                         pytest.approx(-3.650, abs=1e-3)]
    assert list(table["verdict"][:3]) == ["reproduced", "reproduced", "not reproduced"]
    cs = clarel.stability_claims(_sweep(diffs), "lambda", {"lambda": 0.5}, gate)
    assert [c.name for c in cs] == [f"{m} is stable for lambda in [0.2, 0.9]" for m in "Hus"]
    assert cs[0].statistic == "H(lambda=0.9) - H(lambda=0.5) [points], the worst of 3 grid points in [0.2, 0.9]"
    assert list(cs[0].values) == [-3.0, -3.5, -2.5, -3.0]
    assert {c.comparison for c in cs} == {"lambda grid in [0.2, 0.9] vs lambda=0.5 (validation)"}
    combined = claims(cs)
    assert list(combined["verdict"]) == ["not reproduced", "reproduced", "reproduced"]  # u, s did not move
    assert combined["rule"].iloc[0] == "within 0 ± 2"

    def verdict_and_point(d: dict[float, list[float]]) -> tuple[str, str]:
        h = clarel.stability_claims(_sweep(d), "lambda", {"lambda": 0.5}, gate)[0]
        return claims([h])["verdict"].iloc[0], h.statistic.split(" - ")[0]

    # a wider point that crosses the margin does not hide one wholly outside it (0.35 at [-10.147, 10.147])
    assert verdict_and_point({**diffs, 0.35: [5.0, -5.0, 6.0, -6.0]}) == ("not reproduced", "H(lambda=0.9)")
    # lambda = 0.9 at -1.5 +- 0.65, [-2.150, -0.850], crosses -2: inconclusive, and it is the worst point
    assert verdict_and_point({**diffs, 0.9: [-1.5, -2.0, -1.0, -1.5]}) == ("inconclusive", "H(lambda=0.9)")
    # every point inside: reproduced; the row is the point reaching furthest from 0 (0.35: up to 1.650)
    assert verdict_and_point({**diffs, 0.9: [-0.5, -1.0, 0.0, -0.5]}) == ("reproduced", "H(lambda=0.35)")
    # a centre alone inside the interval gives no claim
    assert clarel.stability_claims(_sweep({0.0: [-30.0] * 4}), "lambda", {"lambda": 0.5}, gate) == []


def test_worst_grid_point_puts_an_invalid_point_first():
    from cmlib.protocol.claims import Claim, ModelCheck

    ok, dead = ModelCheck("ok", [40.0, 41.0, 39.0], 1.0), ModelCheck("dead", [40.0, 41.0, 39.0], 1.0, collapsed=True)
    inside = Claim("H stable", [0.1, -0.1, 0.0], "~", 0.0, "a", models=[ok], margin=2.0)
    outside = Claim("H stable", [5.0, 5.5, 4.5], "~", 0.0, "b", models=[ok], margin=2.0)
    collapsed = Claim("H stable", [0.1, -0.1, 0.0], "~", 0.0, "c", models=[ok, dead], margin=2.0)
    assert clarel.worst_grid_point([inside, outside, collapsed]) is collapsed
    assert clarel.worst_grid_point([inside, outside]) is outside
    with pytest.raises(ValueError, match="no grid points"):
        clarel.worst_grid_point([])


def test_classifier_loss_barely_affects_u_is_an_equivalence_claim():
    from cmlib.protocol.claims import claims

    def line(seed, k, u, s=50.0, h=40.0):
        return {"line": k, "seed": seed, "u": u, "s": s, "H": h, "H_chance": 1.0, "top_share": 0.05}

    # u(line 1) - u(line 2) per replicate: -1.0, -0.5, -1.5 -> mean -1.0, sd 0.5, half-width 4.303 * 0.5 / sqrt(3)
    # = 1.242: [-2.242, 0.242] crosses -1.95 (a quarter of the paper's 7.8-point s boost): inconclusive
    reps = [{"seed": s, "lines": [line(s, 1, 30.0 + d), line(s, 2, 30.0)] + [line(s, k, 30.0) for k in range(3, 7)]}
            for s, d in enumerate([-1.0, -0.5, -1.5])]
    barely = claims(clarel.ablation_claims(reps)).set_index("claim").loc[
        "the classifier loss barely affects unseen accuracy (line 1 vs 2)"]
    assert barely["margin"] == 1.95 and barely["paper_effect"] == pytest.approx(-1.0)
    assert barely["ci_low"] == pytest.approx(-2.242, abs=1e-3) and barely["verdict"] == "inconclusive"
    # the same differences five times tighter: [-1.248, -0.752] lies inside +-1.95: reproduced
    for r, d in zip(reps, [-1.0, -0.9, -1.1]):
        r["lines"][0]["u"] = 30.0 + d
    table = claims(clarel.ablation_claims(reps))
    assert table.set_index("claim").loc["the classifier loss barely affects unseen accuracy (line 1 vs 2)",
                                        "verdict"] == "reproduced"
    pair = "kappa=0.5 vs kappa=0 (Table 3 lines 1-3, 6)"
    assert list(table["comparison"]) == [pair, "", pair, pair, pair, pair]
    assert list(table["margin"]) == [0.02, 0.5, 1.95, 1.95, 1.05, 0.65]


def test_p_seen_claim_and_text_claims_from_replicates():
    from cmlib.protocol.claims import claims

    reps = [{"seed": s, "alphas": [0.0, 0.1, 0.2], "H": [10.0, 20.0 + s, 12.0], "H_chance": 1.0,
             "p_seen_given_unseen": [80.0, 50.0 - s, 30.0]} for s in range(3)]
    table = claims(clarel.alpha_claims(reps))
    assert list(table["verdict"]) == ["reproduced", "reproduced", "reproduced"]
    assert table["mean"].iloc[1] == 0.0 and table["mean"].iloc[2] == pytest.approx(-50.0)
    reps[1]["p_seen_given_unseen"] = [80.0, 81.0, 30.0]  # one rise: the claim cannot be reproduced
    assert claims(clarel.alpha_claims(reps))["verdict"].iloc[1] != "reproduced"
    text = [{"seed": s, "text": [_row(s, H=30.0 + s, zsl=50.0, zsl_chance=2.0), _row(s, H=20.0, zsl=40.0 + s,
                                                                                     zsl_chance=2.0)]}
            for s in range(3)]
    t = claims(clarel.text_claims(text))
    assert list(t["mean"]) == [pytest.approx(11.0), pytest.approx(9.0)]
    assert list(t["headline"]) == [True, True] and len(set(t["comparison"])) == 1 and list(t["premise"]) == ["", ""]
    assert list(t["margin"]) == [0.45, 1.425]
    # the premise: per-image text must say something the class profile does not (share of off-mode pairs)
    for r, share in zip(text, [0.17, 0.18, 0.16]):
        r["text_information"] = {"off_mode_share": share}
    t = claims(clarel.text_claims(text))
    assert list(t["verdict"]) == ["reproduced", "reproduced"]
    assert t["premise"].iloc[0] == ("(image, attribute) pairs off the class profile, training images (share) 0.17 "
                                    f"(needs >= 0.125; real data 0.399, {clarel.OFF_MODE_CUB_SOURCE})")
    for r in text:
        r["text_information"]["off_mode_share"] = 0.05  # below 1 / 8 groups
    assert claims(clarel.text_claims(text))["verdict"].iloc[0] == "invalid: premise absent ((image, attribute) " \
        "pairs off the class profile, training images (share) = 0.05)"
    # a collapsed class-level model makes the comparison invalid, not a verdict
    text[0]["text"][1]["top_share"] = 0.9
    assert claims(clarel.text_claims(text))["verdict"].iloc[0].startswith("invalid")


def test_alpha_claims_on_p_are_sanity_checks_and_the_headline_level():
    from cmlib.protocol.claims import claims

    reps = [{"seed": s, "alphas": [0.0, 0.1, 0.2], "H": [10.0, 20.0 + s, 12.0], "H_chance": 1.0,
             "p_seen_given_unseen": [80.0, 50.0 - s, 30.0]} for s in range(3)]
    table = claims(clarel.alpha_claims(reps))
    assert list(table["kind"]) == ["finding", "sanity", "sanity"] and table["margin"].iloc[0] == 1.875
    rows = [{"H": h} for h in (40.0, 42.0)]
    level = clarel.headline_level(rows)
    assert level["ours"] == 41.0 and level["paper"] == 55.8 and "2 replicates" in level["source"]


def test_validation_models_record_a_curve_and_the_test_stage_has_none():
    cfg = from_params(clarel.Config, {**TINY, "train": {**TINY["train"], "steps": 6, "curve_points": 3}})
    data = clarel.build_data(cfg)
    clarel.runs._MEMORY.clear()
    row = clarel.evaluate_setting(cfg, data, 0, 0.5, 0.5)
    assert [s for s, _ in row["curve"]] == [2.0, 4.0, 6.0] and all(0.0 <= h <= 100.0 for _, h in row["curve"])
    # the last point is the finished model's best H over the alphas on the validation split
    val = clarel.trained_scores(cfg, data, "val", 0, 0.5, 0.5)
    assert row["curve"][-1][1] == pytest.approx(max(clarel.runs.h_curve(val, cfg.alphas)), abs=1e-6)
    test = clarel.trained_scores(cfg, data, "test", 0, 0.5, 0.5)
    assert clarel.runs.curve_from_history(test.history) == []
    with pytest.raises(ValueError, match="not the validation stage"):
        clarel.runs.validation_h(None, data, clarel.make_stage(data, "test"), cfg)


def test_gates_read_curves_and_a_rising_curve_invalidates_the_claim():
    from cmlib.protocol.claims import claims

    flat, rising = [(1.0, 30.0), (2.0, 40.0), (3.0, 40.1)], [(1.0, 30.0), (2.0, 35.0), (3.0, 40.0)]
    text = [{"seed": s, "text": [_row(s, H=30.0 + s, zsl=50.0, zsl_chance=2.0, curve=flat),
                                 _row(s, H=20.0, zsl=40.0 + s, zsl_chance=2.0, curve=flat)]} for s in range(3)]
    t = claims(clarel.text_claims(text))
    assert list(t["verdict"]) == ["reproduced", "reproduced"]
    assert "per-image text converged (+0.1 over the last third, tolerance 0.45)" in t["converged"].iloc[0]
    text[1]["text"][1]["curve"] = rising  # one replicate rising: the mean curve 30, 38.33, 40.07 gains 1.733
    assert claims(clarel.text_claims(text))["verdict"].iloc[0] == ("invalid: class-level text still improving "
                                                                   "(+1.733 over the last third)")


def test_grid_config_cuts_the_seeds_and_run_study_lists_the_grid_on_them_only():
    cfg = from_params(clarel.Config, {**TINY, "run": {"seeds": [0, 1, 2, 3]}, "grid_replicates": 2,
                                      "notebooks": ["03_lambda_kappa"]})
    assert clarel.grid_config(cfg).run.seeds == [0, 1]
    assert {t[1] for t in clarel.study_tasks(cfg)[0]} == {0, 1}
    assert clarel.grid_config(from_params(clarel.Config, TINY)).run.seeds == [0]


def test_dose_claims_on_hand_made_replicates():
    from cmlib.protocol.claims import claims

    flat = [(1.0, 30.0), (2.0, 40.0), (3.0, 40.0)]
    # per-image gain in H: 0 + noise at share 0, 2 at share 0.2, 4 at 0.4 -> slope 10 per unit share
    noise = [0.1, -0.2, 0.1]
    reps = [{"seed": s, "levels": [
        {"scale": sc, "off_mode_share": share,
         "image": _row(s, H=40.0 + gain + noise[s], zsl=50.0 + 2 * gain, zsl_chance=2.0, curve=flat),
         "class": _row(s, H=40.0, zsl=50.0, zsl_chance=2.0, curve=flat),
         "profile": _row(s, H=40.0 + gain / 2, zsl=50.0 + gain, zsl_chance=2.0, curve=flat)}
        for sc, share, gain in ((0.0, 0.0, 0.0), (1.0, 0.2, 2.0), (2.0, 0.4, 4.0))]} for s in range(3)]
    t = claims(clarel.dose_claims(reps))
    assert list(t["claim"].str.contains("grows")) == [True, False, True, False] * 2
    assert list(t["claim"].str.contains("over profile")) == [False] * 4 + [True] * 4
    # content (per-image - profile) = gain / 2 + noise in H: slope 5; in ZSL 2 gain - gain = gain: slope 10
    assert t["mean"].iloc[4] == pytest.approx(5.0, abs=1e-6) and t["mean"].iloc[6] == pytest.approx(10.0, abs=1e-6)
    assert t["mean"].iloc[0] == pytest.approx(10.0, abs=1e-6) and t["mean"].iloc[2] == pytest.approx(20.0, abs=1e-6)
    assert t["margin"].iloc[0] == pytest.approx(0.45 / 0.17, abs=1e-3)
    assert t["verdict"].iloc[0].startswith("reproduced")  # the same slope with tiny noise in every replicate
    assert t["dose"].iloc[0]["levels"] == pytest.approx([0.0, 0.2, 0.4]) and t["dose"].iloc[0]["paper_level"] == 0.399
    # at share 0 the H gain is 0.1 / -0.2 / 0.1: mean 0, t(2) half-width 4.303 * 0.1732 / sqrt(3) = 0.430, inside
    # the margin 0.45: equivalent to 0; the ZSL gain is exactly 0
    assert t["ci_high"].iloc[1] == pytest.approx(0.430, abs=1e-3)
    assert t["verdict"].iloc[1] == "reproduced" and t["verdict"].iloc[3] == "reproduced"
    reps[0]["levels"][0]["image"]["H"] += 1.0  # a gain of ~0.33 on average at no variation: not shown equivalent
    assert claims(clarel.dose_claims(reps))["verdict"].iloc[1] == "inconclusive"
    rows = clarel.dose_rows(reps)
    assert len(rows) == 9 and rows[1]["dH"] == pytest.approx(2.0 + 0.1)  # seed 0, share 0.2: gain 2 + its noise
    assert rows[1]["dH content"] == pytest.approx(1.0 + 0.1) and rows[1]["dH diversity"] == pytest.approx(1.0)
    assert rows[1]["dZSL diversity"] == pytest.approx(2.0) and rows[1]["ZSL profile"] == pytest.approx(52.0)


def test_dose_config_cuts_the_seeds_and_run_study_lists_06_on_them_only():
    cfg = from_params(clarel.Config, {**TINY, "run": {"seeds": [0, 1, 2, 3]}, "dose_replicates": 2,
                                      "notebooks": ["06_dose"]})
    assert clarel.dose_config(cfg).run.seeds == [0, 1]
    tasks = clarel.study_tasks(cfg)[0]
    assert {t[1] for t in tasks} == {0, 1} and {t[4] for t in tasks} == {"image", "class", "profile"}


def test_ablation_curves_one_panel_per_setting_and_none_without_curves():
    flat = [(1.0, 30.0), (2.0, 40.0), (3.0, 40.0)]
    reps = [{"seed": s, "lines": [{"line": i + 1, "lambda": lam, "kappa": kappa, "curve": flat}
                                  for i, (_, lam, kappa) in enumerate(clarel.experiments.ABLATION)],
             "text": [_row(s, curve=flat), _row(s, curve=flat)]} for s in range(2)]
    curves = clarel.ablation_curves(reps)
    assert list(curves) == ["lambda=0.5, kappa=0.5", "lambda=0.5, kappa=0", "lambda=0, kappa=0.5",
                            "lambda=1, kappa=0.5", "class-level text"]
    assert all(len(c) == 2 for c in curves.values())
    reps[1]["lines"][0]["curve"] = []
    assert clarel.ablation_curves(reps) == {}
