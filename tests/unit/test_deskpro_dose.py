"""Notebook 05's dose-response claims (cmlib.studies.deskpro.dose) on made-up replicates, checked by hand."""

import pytest

from cmlib.protocol.claims import claims
from cmlib.protocol.config import ConfigError, from_params
from cmlib.studies import deskpro
from cmlib.studies.deskpro.dose import MARGIN_CSA, MARGIN_PROPAGATION, STUDY_SHARE

FLAT = [[5, 10.0], [10, 10.5], [15, 10.4], [20, 10.5]]


def _rep(seed: int, prop_gain: dict[float, float], csa_gain: dict[int, float], share: dict[int, float]) -> dict:
    """Face models: student- 10, student+ 10 + gain, teacher 14; body models: G 20, G+CSA 20 + gain; chance 1."""
    def level(lv, **models):
        return {"level": lv, "chance_mAP": 1.0, "curves": {k: FLAT for k in models}, **models}

    bi = [{**level(b, **{"student-": 10.0, "student+": 10.0 + g, "teacher": 14.0}),
           "premise": {"face_minus_body": 5.0 - 4 * b, "shared_pattern_share": 0.09}} for b, g in prop_gain.items()]
    pal = [{**level(p, **{"G": 20.0, "G+CSA": 20.0 + g}),
            "premise": {"face_minus_body": 0.0, "shared_pattern_share": share[p]}} for p, g in csa_gain.items()]
    return {"seed": seed, "body_identity": bi, "palette": pal}


def test_trend_slopes_margins_and_rows_by_hand():
    # propagation gains 3 (+ seed / 10), 2, 0 at body_identity 0.25, 0.5, 1.0; CSA gains 0, 0.6 (+ seed / 10), 1.5
    # at shares 0.1, 0.3, 0.6 (on the line 3 * (share - 0.1) at seed 0)
    reps = [_rep(s, {0.25: 3.0 + s / 10, 0.5: 2.0, 1.0: 0.0}, {10: 0.0, 5: 0.6 + s / 10, 3: 1.5},
                 {10: 0.1, 5: 0.3, 3: 0.6}) for s in range(3)]
    c = deskpro.dose_claims(reps, study_body_identity=0.4)
    prop, csa = c
    # seed 0 by hand: x = (0.25, 0.5, 1), y = (3, 2, 0); x - mean = (-1/3, -1/12, 5/12); y - mean = (4/3, 1/3, -5/3)
    # slope = (-4/9 - 1/36 - 25/36) / (1/9 + 1/144 + 25/144) = (-7/6) / (7/24) = -4
    assert prop.values[0] == pytest.approx(-4.0)
    assert prop.op == "<" and prop.margin == pytest.approx(MARGIN_PROPAGATION) == pytest.approx(1.225)
    assert prop.dose.paper_level == 0.4 and list(prop.dose.levels) == [0.25, 0.5, 1.0]
    # CSA, levels sorted by share (palette 10, 5, 3 -> 0.1, 0.3, 0.6): seed 0's points lie on a line of slope 3;
    # seed 1 lifts the middle point 0.1 (dx = -1/30, sum dx^2 = 0.38 / 3): slope 3 - (1/30 * 0.1) / (0.38 / 3)
    assert csa.values[0] == pytest.approx(3.0)
    assert csa.values[1] == pytest.approx(3.0 - (0.1 / 30) / (0.38 / 3))
    assert list(csa.dose.levels) == pytest.approx([0.1, 0.3, 0.6]) and csa.dose.paper_level == STUDY_SHARE
    assert csa.margin == pytest.approx(MARGIN_CSA / STUDY_SHARE) == pytest.approx(0.325 / 0.083)
    assert all(m.tolerance == MARGIN_PROPAGATION for m in prop.models) and len(prop.models) == 9
    assert all(m.tolerance == MARGIN_CSA for m in csa.models) and len(csa.models) == 6
    table = claims(c)
    # propagation slopes -4, -4.23, -4.46 (the 0.25 level's gain rises 0.1 a seed): wholly below -1.225
    assert table.iloc[0]["verdict"] == "reproduced"
    # CSA slopes 3.0, 2.974, 2.947: interval about (2.91, 3.04), inside (0, 3.92): below the margin
    assert table.iloc[1]["verdict"] == "reproduced (below the margin)"
    rows = deskpro.dose_rows(reps)
    first = rows[0]
    assert first["knob"] == "body_identity" and first["gain"] == pytest.approx(3.0)
    assert first["recovered"] == pytest.approx(3.0 / 4.0)  # (mAP5 - mAP4) / (mAP6 - mAP4) = 3 / 4
    t = deskpro.dose_table(rows)
    assert list(t["level"]) == [0.25, 0.5, 1.0, 10, 5, 3]
    assert t.iloc[0]["gain"] == pytest.approx(3.1)  # mean of 3.0, 3.1, 3.2


def test_mismatched_levels_and_real_data():
    a = _rep(0, {0.5: 1.0, 1.0: 0.0}, {10: 0.0, 5: 1.0}, {10: 0.1, 5: 0.3})
    b = _rep(1, {0.25: 1.0, 1.0: 0.0}, {10: 0.0, 5: 1.0}, {10: 0.1, 5: 0.3})
    with pytest.raises(ValueError, match="same body_identity levels"):
        deskpro.dose_claims([a, b])
    assert deskpro.dose_claims([{"seed": 0, "body_identity": [], "palette": []}]) == []
    assert deskpro.dose_replicate(from_params(deskpro.Config, {"data": {"celeb-light": "."}}), 0) == {
        "seed": 0, "body_identity": [], "palette": []}


@pytest.mark.parametrize("params,match", [({"body_identity_levels": [0.5, 0.5]}, "at least 2 distinct levels"),
                                          ({"body_identity_levels": [0.5, 1.5]}, r"body_identity_levels: expected"),
                                          ({"palette_levels": [1, 10]}, r"palette_levels: expected")])
def test_bad_levels_are_named(params, match):
    with pytest.raises(ConfigError, match=match):
        from_params(deskpro.Config, params)
