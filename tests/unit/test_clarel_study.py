"""CLAREL study glue: config checks, the smoke params file, the validation stage, a tiny deterministic run."""

import numpy as np
import pytest

from cmlib.config import ConfigError, from_params, load_yaml
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
    clarel._MEMORY.clear()
    b = clarel.evaluate_setting(cfg, data, 0, 0.5, 0.5)
    assert a == {**b, "train_s": a["train_s"]}
    assert a["alpha"] in cfg.alphas and 0.0 <= a["H"] <= 100.0


def test_a_settings_test_split_is_read_once_after_alpha_is_chosen():
    from cmlib.splits import TestSplitSealed

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


def test_cache_dir_reuses_the_trained_model(tmp_path):
    cfg = from_params(clarel.Config, {**TINY, "cache_dir": str(tmp_path)})
    data = clarel.build_data(cfg)
    first = clarel.trained_scores(cfg, data, "val", 0, 0.5, 0.0)
    clarel._MEMORY.clear()
    again = clarel.trained_scores(cfg, data, "val", 0, 0.5, 0.0)
    assert len(list(tmp_path.glob("*.pt"))) == 1 and (first.distances == again.distances).all()


def test_replicates_draw_their_own_world():
    cfg = from_params(clarel.Config, TINY)
    a, b = clarel.replicate_config(cfg, 0), clarel.replicate_config(cfg, 3)
    assert (a.world.seed, b.world.seed, b.seeds) == (cfg.world.seed, cfg.world.seed + 3, [3])
    da, db = clarel.build_data(a), clarel.build_data(b)
    assert not np.array_equal(da.inputs.numpy(), db.inputs.numpy())


def _row(seed, **kw):
    base = {"seed": seed, "lambda": 0.5, "kappa": 0.5, "H": 40.0, "u": 40.0, "s": 40.0, "H_chance": 1.0,
            "top_share": 0.05}
    return {**base, **kw}


def test_stability_rule_on_hand_made_rows():
    from cmlib.claims import ModelCheck, claims

    # centre H over 4 replicates: 40, 42, 38, 40 -> sd 1.633, bound 3.27; ranges inside [0.2, 0.9]: 1, 2, 1, 0
    centre = [40.0, 42.0, 38.0, 40.0]
    rows = []
    for s, (h, d) in enumerate(zip(centre, [1.0, 2.0, 1.0, 0.0])):
        rows += [_row(s, **{"lambda": 0.5, "H": h}), _row(s, **{"lambda": 0.2, "H": h - d}),
                 _row(s, **{"lambda": 0.9, "H": h}), _row(s, **{"lambda": 0.0, "H": 5.0})]
    gate = ModelCheck("main", centre, 1.0)
    cs = clarel.stability_claims(rows, "lambda", {"lambda": 0.5}, gate)
    h = cs[0]
    assert list(h.values) == [1.0, 2.0, 1.0, 0.0] and h.threshold == pytest.approx(2 * np.std(centre, ddof=1), abs=0.01)
    assert claims([h])["verdict"].iloc[0] == "reproduced"
    # lambda=0 (outside the interval) is not in the range
    assert "0.0" not in h.statistic.split("in [")[1].split("]")[0].split(", ")


def test_p_seen_claim_and_text_claims_from_replicates():
    from cmlib.claims import claims

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
    # a collapsed class-level model makes the comparison invalid, not a verdict
    text[0]["text"][1]["top_share"] = 0.9
    assert claims(clarel.text_claims(text))["verdict"].iloc[0].startswith("invalid")
