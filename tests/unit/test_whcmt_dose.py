"""WHCMT notebook 06 (issue 30, item 5): the cross-modal gain against the measured tag AUC, on hand-made replicates."""

from __future__ import annotations

import pytest

from cmlib.protocol.config import ConfigError, from_params
from cmlib.studies import whcmt
from cmlib.studies.whcmt import dose

FLAT = [(10.0, 0.30), (20.0, 0.31), (30.0, 0.31)]


def _run(method: str, value: float, curve=FLAT) -> dict:
    return {"method": method, "bits": 8, "map": value, "chance": 0.18, "collapsed": False, "curve": curve}


def _reps(curve=FLAT) -> list[dict]:
    # levels given out of AUC order; gain over WDHT-CrossViT 0.05 / 0.03 / 0.00 at AUC 0.52 / 0.555 / 0.60, the middle
    # level's gain off by +-0.001 between seeds (its mean unchanged); gain over meanvec 0.01 at every level
    out = []
    for s, noise in enumerate((0.001, -0.001, 0.0)):
        levels = []
        for auc, gain, tags in ((0.60, 0.0, 0.5), (0.52, 0.05, 6.0), (0.555, 0.03 + noise, 2.0)):
            runs = {"WHCMT": _run("WHCMT", 0.30 + gain, curve), "WDHT-CrossViT": _run("WDHT-CrossViT", 0.30),
                    "WHCMT-meanvec": _run("WHCMT-meanvec", 0.29 + gain)}
            levels.append({"noise_tags": tags, "distractors": 0, "tag_auc": auc, "runs": runs})
        out.append({"seed": s, "levels": levels})
    return out


def test_dose_claims_slope_against_tag_auc_by_hand():
    from cmlib.protocol.claims import claims

    t = claims(whcmt.dose_claims(_reps()))
    assert list(t["claim"]) == ["the cross-modal gain over WDHT-CrossViT grows as tags get noisier",
                                "the cross-modal gain over WHCMT-meanvec grows as tags get noisier"]
    # by hand: x = (0.52, 0.555, 0.60), y = (0.05, 0.03, 0.00); Sxy = -0.00201667, Sxx = 0.00321667 -> -0.62694
    assert t["mean"].iloc[0] == pytest.approx(-0.62694, abs=1e-4)
    assert t["margin"].iloc[0] == pytest.approx(0.022 / 4 / 0.055, abs=1e-6)
    assert t["verdict"].iloc[0].startswith("reproduced")
    assert t["dose"].iloc[0]["levels"] == pytest.approx([0.52, 0.555, 0.60])  # ordered by the measured AUC
    assert t["dose"].iloc[0]["paper_level"] == whcmt.REAL_TAG_AUC
    # meanvec's gain is 0.01 everywhere except the middle level's noise: slope ~0, not shown negative
    assert abs(t["mean"].iloc[1]) < 0.01 and not t["verdict"].iloc[1].startswith("reproduced")


def test_dose_claims_gate_reads_curves_at_the_pairwise_margin():
    from cmlib.protocol.claims import claims

    rising = [(10.0, 0.20), (20.0, 0.25), (30.0, 0.30)]  # +0.05 over the last third: more than 0.0055
    t = claims(whcmt.dose_claims(_reps(curve=rising)))
    assert t["verdict"].iloc[0].startswith("invalid") and "still improving" in t["verdict"].iloc[0]


def test_dose_rows_and_table():
    rows = whcmt.dose_rows(_reps())
    assert len(rows) == 9
    assert rows[1]["gain over WDHT-CrossViT"] == pytest.approx(0.05)
    assert rows[1]["gain over WHCMT-meanvec"] == pytest.approx(0.01)
    table = whcmt.dose_table(rows)
    assert [r["noise_tags"] for r in table] == [0.5, 6.0, 2.0]
    assert table[2]["gain over WDHT-CrossViT"] == pytest.approx(0.03)  # the +-0.001 average out


def test_level_config_keeps_the_profile_world_and_dose_config_cuts_seeds():
    cfg = from_params(whcmt.Config, {"run": {"seeds": [0, 1, 2]}, "dose_replicates": 2})
    assert dose.level_config(cfg, cfg.world.mean_noise_tags, cfg.world.n_distractors) is cfg
    other = dose.level_config(cfg, 5.0, 1)
    assert (other.world.mean_noise_tags, other.world.n_distractors) == (5.0, 1) and other.world.seed == cfg.world.seed
    assert whcmt.dose_config(cfg).run.seeds == [0, 1]


@pytest.mark.parametrize("bad", [{"dose_noise_tags": [1.0, 2.0], "dose_distractors": [0]},
                                 {"dose_noise_tags": [1.0], "dose_distractors": [0]},
                                 {"dose_noise_tags": [-1.0, 2.0]}])
def test_bad_dose_levels_are_named(bad):
    with pytest.raises(ConfigError, match="dose_noise_tags"):
        from_params(whcmt.Config, bad)


def test_real_data_varies_nothing():
    assert whcmt.dose_claims([{"seed": 0, "levels": []}]) == []
