"""cmlib.claims: verdicts follow the rules (n >= 3, chance and collapse gates), intervals are hand-checked."""

from __future__ import annotations

import pytest

from cmlib.claims import (
    CLAIM_COLUMNS,
    INCONCLUSIVE,
    INCONCLUSIVE_FEW,
    NOT_REPRODUCED,
    REPRODUCED,
    Claim,
    ModelCheck,
    claims,
    paired,
    verdict_kind,
)


def verdict(*args, **kwargs) -> str:
    return claims([Claim(*args, **kwargs)]).iloc[0]["verdict"]


def test_claim_interval_hand_computed() -> None:
    # values 1, 2, 3: mean 2, sd 1, t(0.975, 2) = 4.302653 -> half width 4.302653 / sqrt(3) = 2.484138
    row = claims([Claim("x", [1.0, 2.0, 3.0], ">", 0.0)]).iloc[0]
    assert row["mean"] == 2.0
    assert row["ci_low"] == pytest.approx(2 - 2.484, abs=1e-3) and row["ci_high"] == pytest.approx(4.484, abs=1e-3)
    assert row["verdict"] == INCONCLUSIVE  # the interval crosses 0
    assert list(claims([Claim("x", [1.0, 2.0, 3.0])]).columns) == CLAIM_COLUMNS


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
                  models=[ModelCheck("WHCMT 8b", good, chance_level), ModelCheck("WDHT 8b", at_chance, chance_level)])
    row = claims([claim]).iloc[0]
    assert row["verdict"] == "invalid: WDHT 8b at chance"
    assert row["paper"] == "+0.05 MAP (Table 2)" and "WDHT 8b 0.184 (chance 0.183)" in row["models"]
    clear = [0.30, 0.31, 0.29]
    ok = Claim("c", paired(good, clear), models=[ModelCheck("a", good, 0.183), ModelCheck("b", clear, 0.183)])
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
        claims([Claim("c", [], ">")])
    with pytest.raises(ValueError, match="op must be"):
        claims([Claim("c", [1.0], ">=")])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="has 2 scores for 3 replicates"):
        claims([Claim("c", [1.0, 2.0, 3.0], models=[ModelCheck("m", [0.5, 0.6], 0.1)])])


def test_verdict_kind_counts_families() -> None:
    assert [verdict_kind(v) for v in ("reproduced", "not reproduced", INCONCLUSIVE_FEW, "invalid: m at chance")] == [
        "reproduced", "not reproduced", "inconclusive", "invalid"]
