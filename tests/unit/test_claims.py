"""cmlib.protocol.claims: verdicts follow the rules (n >= 3, chance and collapse gates), intervals are hand-checked."""

from __future__ import annotations

import pytest

from cmlib.protocol.claims import (
    BELOW_MARGIN,
    CLAIM_COLUMNS,
    INCONCLUSIVE,
    INCONCLUSIVE_FEW,
    NOT_REPRODUCED,
    REPRODUCED,
    WITHIN_MARGIN,
    Claim,
    Dose,
    ModelCheck,
    Premise,
    claims,
    curve_from_history,
    last_third_gain,
    paired,
    trend,
    verdict_kind,
)

T = 4.302653 / 3 ** 0.5  # half width of the 95% t-interval of three values with sd 1: t(0.975, 2) / sqrt(3)


def verdict(*args, **kwargs) -> str:
    kwargs.setdefault("margin", 0.01)
    return claims([Claim(*args, **kwargs)]).iloc[0]["verdict"]


def test_claim_interval_hand_computed() -> None:
    # values 1, 2, 3: mean 2, sd 1, t(0.975, 2) = 4.302653 -> half width 4.302653 / sqrt(3) = 2.484138
    row = claims([Claim("x", [1.0, 2.0, 3.0], ">", 0.0, margin=0.5)]).iloc[0]
    assert row["mean"] == 2.0
    assert row["ci_low"] == pytest.approx(2 - 2.484, abs=1e-3) and row["ci_high"] == pytest.approx(4.484, abs=1e-3)
    assert row["verdict"] == INCONCLUSIVE  # the interval crosses 0
    assert list(claims([Claim("x", [1.0, 2.0, 3.0], margin=0.5)]).columns) == CLAIM_COLUMNS


@pytest.mark.parametrize(
    ("values", "op", "expected"),
    [
        ([1.0, 1.1, 0.9], ">", REPRODUCED),
        ([-1.0, -1.1, -0.9], ">", NOT_REPRODUCED),
        ([-1.0, -1.1, -0.9], "<", REPRODUCED),
        ([1.0, -1.0, 0.5], ">", INCONCLUSIVE),
        ([float("nan"), 1.0, 2.0], ">", INCONCLUSIVE),
    ],
)
def test_verdicts_with_three_replicates(values: list[float], op: str, expected: str) -> None:
    assert verdict("c", values, op, 0.0) == expected


@pytest.mark.parametrize("values", [[5.0], [-5.0], [5.0, 5.1], [-5.0, -5.1]])
def test_fewer_than_three_replicates_never_decide(values: list[float]) -> None:
    """n = 1 and n = 2: even a large effect is inconclusive (n < 3)."""
    assert verdict("c", values, ">", 0.0) == INCONCLUSIVE_FEW == "inconclusive (n < 3)"


def test_three_replicates_decide() -> None:
    assert verdict("c", [5.0, 5.1, 5.05], ">", 0.0) == REPRODUCED
    assert verdict("c", [-5.0, -5.1, -5.05], ">", 0.0) == NOT_REPRODUCED


def test_threshold_is_respected() -> None:
    assert verdict("c", [0.5, 0.51, 0.49], ">", 0.6) == NOT_REPRODUCED


def test_model_at_chance_makes_the_claim_invalid() -> None:
    """A big paired effect between a model at chance and another says nothing: invalid, naming the model."""
    good, chance_level = [0.40, 0.42, 0.41], 0.183
    at_chance = [0.18, 0.19, 0.182]  # interval of score - chance reaches 0
    claim = Claim("WHCMT beats WDHT", paired(good, at_chance), ">", 0.0, "MAP diff", paper="+0.05 MAP (Table 2)",
                  paper_effect=0.05,
                  models=[ModelCheck("WHCMT 8b", good, chance_level), ModelCheck("WDHT 8b", at_chance, chance_level)])
    row = claims([claim]).iloc[0]
    assert row["verdict"] == "invalid: WDHT 8b at chance"
    assert row["paper"] == "+0.05 MAP (Table 2)" and "WDHT 8b 0.184 (chance 0.183)" in row["models"]
    clear = [0.30, 0.31, 0.29]
    ok = Claim("c", paired(good, clear), margin=0.01, models=[ModelCheck("a", good, 0.183), ModelCheck("b", clear, 0.183)])
    assert verdict_kind(claims([ok]).iloc[0]["verdict"]) == REPRODUCED


def test_collapsed_codes_make_the_claim_invalid_even_with_few_replicates() -> None:
    gate = ModelCheck("WDHT 8b", [0.54, 0.55], chance=[0.30, 0.31], collapsed=[True, False])
    assert verdict("c", [0.1, 0.2], models=[gate]) == "invalid: WDHT 8b collapsed"


def test_single_replicate_at_chance_is_invalid_by_its_point() -> None:
    assert verdict("c", [1.0], models=[ModelCheck("m", [0.18], 0.183)]) == "invalid: m at chance"
    assert verdict("c", [1.0], models=[ModelCheck("m", [0.30], 0.183)]) == INCONCLUSIVE_FEW


def test_paired_matches_replicates() -> None:
    assert paired([3.0, 2.0], [1.0, 1.5]) == [2.0, 0.5]
    assert paired({1: 3.0, 0: 2.0}, {0: 1.0, 1: 1.0}) == [1.0, 2.0]  # by seed, in seed order
    with pytest.raises(ValueError, match="2 replicates on one side, 3"):
        paired([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="same seeds"):
        paired({0: 1.0}, {1: 1.0})


def test_claims_reject_empty_bad_op_and_misaligned_gates() -> None:
    with pytest.raises(ValueError, match="no measured values"):
        claims([Claim("c", [], ">", margin=1.0)])
    with pytest.raises(ValueError, match="op must be"):
        claims([Claim("c", [1.0], ">=", margin=1.0)])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="has 2 scores for 3 replicates"):
        claims([Claim("c", [1.0, 2.0, 3.0], margin=1.0, models=[ModelCheck("m", [0.5, 0.6], 0.1)])])


def test_verdict_kind_counts_families() -> None:
    assert [verdict_kind(v) for v in ("reproduced", "not reproduced", INCONCLUSIVE_FEW, "invalid: m at chance")] == [
        "reproduced", "not reproduced", "inconclusive", "invalid"]


def spread(centre: float, sd: float) -> list[float]:
    """Three values with mean ``centre`` and sd ``sd``: the interval is centre +- 2.484138 * sd."""
    return [centre - sd, centre, centre + sd]


@pytest.mark.parametrize(
    ("centre", "sd", "op", "expected", "interval"),
    [
        (1.0, 0.1, ">", REPRODUCED, (0.7516, 1.2484)),  # clear effect: above 0 and reaching past the margin 0.5
        (0.3, 0.05, ">", BELOW_MARGIN, (0.1758, 0.4242)),  # above 0, wholly inside (0, 0.5)
        (0.05, 0.05, ">", WITHIN_MARGIN, (-0.0742, 0.1742)),  # crosses 0, inside (-0.5, 0.5): equivalent to 0
        (0.3, 0.2, ">", INCONCLUSIVE, (-0.1968, 0.7968)),  # straddles 0 and the margin
        (-1.0, 0.1, ">", NOT_REPRODUCED, (-1.2484, -0.7516)),  # wrong side
        (-0.3, 0.05, "<", BELOW_MARGIN, (-0.4242, -0.1758)),  # mirrored
        (0.05, 0.05, "<", WITHIN_MARGIN, (-0.0742, 0.1742)),
    ],
)
def test_margin_cases_with_hand_computed_intervals(centre, sd, op, expected, interval) -> None:
    row = claims([Claim("c", spread(centre, sd), op, 0.0, margin=0.5)]).iloc[0]
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(interval, abs=6e-4)
    assert row["ci_high"] - row["mean"] == pytest.approx(T * sd, abs=6e-4)
    assert row["verdict"] == expected and row["margin"] == 0.5


@pytest.mark.parametrize(
    ("centre", "sd", "expected"),
    [
        (0.05, 0.05, REPRODUCED),  # [-0.074, 0.174] inside (-0.5, 0.5): stable
        (1.0, 0.1, NOT_REPRODUCED),  # [0.75, 1.25] wholly beyond +0.5
        (-1.0, 0.1, NOT_REPRODUCED),
        (0.5, 0.1, INCONCLUSIVE),  # [0.25, 0.75] crosses the margin
    ],
)
def test_equivalence_claims(centre: float, sd: float, expected: str) -> None:
    row = claims([Claim("H is stable", spread(centre, sd), "~", 0.0, margin=0.5)]).iloc[0]
    assert row["verdict"] == expected and row["rule"] == "within 0 ± 0.5"


def test_margin_defaults_to_a_quarter_of_the_papers_effect_and_is_required() -> None:
    row = claims([Claim("c", spread(1.0, 0.1), paper_effect=-2.0)]).iloc[0]
    assert row["margin"] == 0.5 and row["paper_effect"] == -2.0
    with pytest.raises(ValueError, match="'c': no margin"):
        claims([Claim("c", spread(1.0, 0.1))])
    with pytest.raises(ValueError, match="margin must be > 0"):
        claims([Claim("c", spread(1.0, 0.1), margin=0.0)])
    sanity = claims([Claim("slower with an extra net", spread(1.0, 0.1), sanity=True)]).iloc[0]
    assert sanity["kind"] == "sanity" and sanity["margin"] is None and sanity["verdict"] == REPRODUCED


def curve(scores: list[float]) -> list[tuple[float, float]]:
    return [(100.0 * (i + 1), s) for i, s in enumerate(scores)]


@pytest.mark.parametrize(
    ("scores", "gain"),
    [
        ([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], 0.2),  # rising: the last third (steps 500, 600 of 600) tops 0.4 by 0.2
        ([0.1, 0.4, 0.5, 0.5, 0.5, 0.5], 0.0),  # plateau
        ([0.1, 0.5, 0.6, 0.5, 0.45, 0.4], -0.15),  # peak, then decline: 0.45 late against 0.6
        ([0.1, 0.5, 0.52, 0.49, 0.53, 0.5], 0.01),  # noisy plateau: gains its noise only
    ],
)
def test_last_third_gain_on_hand_curves(scores: list[float], gain: float) -> None:
    assert last_third_gain([curve(scores)]) == pytest.approx(gain)


def test_convergence_gate_makes_a_still_improving_model_invalid() -> None:
    rising = [curve([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])] * 3
    flat = [curve([0.1, 0.5, 0.52, 0.49, 0.53, 0.5])] * 3
    a, b = [0.6, 0.61, 0.59], [0.5, 0.5, 0.5]
    gated = lambda curves_a: Claim("a beats b", paired(a, b), margin=0.05, models=[
        ModelCheck("a", a, 0.1, curves=curves_a), ModelCheck("b", b, 0.1, curves=flat)])
    row = claims([gated(rising)]).iloc[0]
    assert row["verdict"] == "invalid: a still improving (+0.2 over the last third)"
    assert "b converged (+0.01 over the last third, tolerance 0.05)" in row["converged"]
    assert claims([gated(flat)]).iloc[0]["verdict"] == REPRODUCED
    # a tolerance of the model's own overrides the claim's margin
    loose = Claim("a beats b", paired(a, b), margin=0.05, models=[ModelCheck("a", a, 0.1, curves=rising, tolerance=0.3)])
    assert claims([loose]).iloc[0]["verdict"] == REPRODUCED
    with pytest.raises(ValueError, match="same validation steps"):
        last_third_gain([curve([0.1, 0.2, 0.3]), curve([0.1, 0.2])])
    with pytest.raises(ValueError, match="before and in the last third"):
        last_third_gain([[(600.0, 0.5)]])


def test_curve_from_history_reads_eval_rows() -> None:
    history = [{"step": 10, "loss": 1.0}, {"step": 10, "eval/score": 0.2}, {"step": 20, "eval/score": 0.3}]
    assert curve_from_history(history) == [(10.0, 0.2), (20.0, 0.3)]


def test_premise_absent_makes_the_claim_invalid() -> None:
    weak = Premise("relational expressions (share)", [0.02, 0.03, 0.01], minimum=0.1, real=0.16,
                   real_source="SketchyScene val")
    row = claims([Claim("GRM helps", spread(1.0, 0.1), margin=0.5, premise=weak)]).iloc[0]
    assert row["verdict"] == "invalid: premise absent (relational expressions (share) = 0.02)"
    assert row["premise"] == "relational expressions (share) 0.02 (needs >= 0.1; real data 0.16, SketchyScene val)"
    strong = Premise("relational expressions (share)", [0.2, 0.3, 0.25], minimum=0.1)
    assert claims([Claim("GRM helps", spread(1.0, 0.1), margin=0.5, premise=strong)]).iloc[0]["verdict"] == REPRODUCED


def test_trend_verdict_is_on_per_replicate_slopes() -> None:
    # replicate slopes by hand: effects rise by 1, 2 and 3 per unit level -> slopes 1, 2, 3 (interval -0.484..4.484)
    levels = [0.0, 0.5, 1.0]
    effects = [[0.0, 0.0, 0.0], [0.5, 1.0, 1.5], [1.0, 2.0, 3.0]]
    row = claims([trend("GRM's gain grows with relational share", Dose(levels, effects, "relational share", 0.16),
                        margin=0.5)]).iloc[0]
    assert row["values"] == [1.0, 2.0, 3.0] and row["mean"] == 2.0 and row["verdict"] == INCONCLUSIVE
    assert row["dose"]["levels"] == levels and row["dose"]["mean"] == [0.0, 1.0, 2.0]
    assert row["dose"]["paper_level"] == 0.16
    steady = [[0.0, 0.0, 0.0], [1.0, 1.1, 0.9], [2.0, 2.2, 1.8]]  # slopes 2.0, 2.2, 1.8
    assert claims([trend("t", Dose(levels, steady), margin=0.5)]).iloc[0]["verdict"] == REPRODUCED
    with pytest.raises(ValueError, match=">= 2 levels"):
        trend("t", Dose([1.0], [[1.0, 2.0, 3.0]]), margin=0.5)


def test_a_sanity_check_applies_no_convergence_gate_without_a_tolerance() -> None:
    rising = [curve([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])] * 3
    a = [0.6, 0.61, 0.59]
    row = claims([Claim("slower with an extra net", spread(1.0, 0.1), sanity=True,
                        models=[ModelCheck("a", a, 0.1, curves=rising)])]).iloc[0]
    assert row["verdict"] == REPRODUCED and row["converged"] == ""
    own = claims([Claim("slower with an extra net", spread(1.0, 0.1), sanity=True,
                        models=[ModelCheck("a", a, 0.1, curves=rising, tolerance=0.1)])]).iloc[0]
    assert own["verdict"] == "invalid: a still improving (+0.2 over the last third)"


def test_replicate_curves_only_when_every_replicate_has_two_points():
    from cmlib.protocol.claims import replicate_curves

    rows = [{"curve": [[1, 0.1], [2, 0.2]]}, {"curve": [(1, 0.3), (2, 0.3)]}]
    assert replicate_curves(rows) == [[[1, 0.1], [2, 0.2]], [(1, 0.3), (2, 0.3)]]
    assert replicate_curves(rows + [{"curve": [[2, 0.5]]}]) == []  # one replicate with a single point
    assert replicate_curves(rows + [{}]) == [] and replicate_curves([{"c": [[1, 0], [2, 0]]}], key="c") != []
