"""cmlib.execution.golden: bands from perturbed runs, and the rule that passes another machine but fails a planted bug."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cmlib.execution.golden import VARIANTS, band, compare, flatten, variants, write_band


def runs(n: int = len(VARIANTS) + 1, leaves: int = 40, seed: int = 0, scale: float = 1.0) -> list[dict]:
    """n runs of a notebook: a deterministic summary, trained numbers with noise, and a verdict string."""
    rng = np.random.default_rng(seed)
    base = np.linspace(1, 40, leaves)
    return [{"n_images": 120, "wall_time_s": float(rng.uniform(1, 9)), "verdict": "inconclusive (n < 3)",
             "table": [{"mAP": float(b + scale * rng.standard_normal())} for b in base]} for _ in range(n)]


def test_flatten_names_every_leaf_and_skips_timings() -> None:
    assert dict(flatten({"a": [{"b": 1}, 2], "t_s": 3.0, "wall_time": 1, "c": "x"})) == {"a[0].b": 1, "a[1]": 2,
                                                                                           "c": "x"}


def test_band_records_ranges_and_seen_values(tmp_path: Path) -> None:
    rec = band([{"x": 1.0, "v": "a"}, {"x": 3.0, "v": "b"}, {"x": 2.0, "v": "a"}], ["golden", "j1", "j2"])
    assert rec == {"runs": ["golden", "j1", "j2"], "leaves": {"x": [1.0, 3.0], "v": {"seen": ["a", "b"]}}}
    write_band(tmp_path / "b.json", [{"x": 1.0}, {"x": 2.0}], ["golden", "j1"])
    assert json.loads((tmp_path / "b.json").read_text())["leaves"] == {"x": [1.0, 2.0]}
    with pytest.raises(ValueError, match="other metrics leaves"):
        band([{"x": 1.0}, {"y": 1.0}], ["golden", "j1"])


def test_a_fresh_draw_of_the_same_noise_passes() -> None:
    """Another machine = another draw of the rounding noise: passes in (almost) every case."""
    rec = band(runs(seed=0), ["golden", *VARIANTS])
    passed = sum(not compare(rec, runs(n=1, seed=s)[0]) for s in range(1, 101))
    assert passed >= 97, passed


def test_a_planted_bug_fails() -> None:
    rec = band(runs(seed=0), ["golden", *VARIANTS])
    shifted = runs(n=1, seed=1)[0]
    for row in shifted["table"]:
        row["mAP"] += 8.0  # a systematic change of every trained number (e.g. a flipped loss sign)
    assert any("outside their widened band" in p for p in compare(rec, shifted))
    one_gross = runs(n=1, seed=1)[0]
    one_gross["table"][3]["mAP"] += 500.0
    assert any("widths (" in p and "outside" in p for p in compare(rec, one_gross))


def test_deterministic_leaves_and_strings_are_exact() -> None:
    rec = band(runs(seed=0), ["golden", *VARIANTS])
    new = runs(n=1, seed=1)[0]
    new["n_images"] = 121
    new["verdict"] = "reproduced"
    problems = compare(rec, new)
    assert any("n_images: 121 != 120" in p for p in problems)
    assert any("'reproduced' is none of the values seen" in p for p in problems)
    del new["table"][0]
    assert any("missing from the new metrics.json" in p for p in compare(rec, new))


def test_variants_perturb_numerics_and_change_blas_kernels_once() -> None:
    named = variants()
    assert [n for n, _, _ in named] == list(VARIANTS)
    assert [draw for _, draw, _ in named] == [1, 2, 3, 4, 5, 6]  # the draws the stored bands were measured with
    assert all("CMLIB_NUMERIC_JITTER" not in env for _, _, env in named)  # the runner sets the draw in the kernel
    assert sum("OPENBLAS_CORETYPE" in env for _, _, env in named) == 2
    assert sum("ATEN_CPU_CAPABILITY" in env for _, _, env in named) == 2


def test_a_row_with_a_narrow_band_borrows_its_familys_width() -> None:
    """An AP that was 0 in every run of one row still varies like its table's other rows (smoke models near chance)."""
    base = [{"table": [{"AP": 0.0}, {"AP": a}]} for a in (0.0, 0.4, 0.1, 0.3, 0.2, 0.1, 0.0)]
    rec = band(base, ["golden", *VARIANTS])
    assert compare(rec, {"table": [{"AP": 0.3}, {"AP": 0.2}]}) == []  # row 0 never varied, its family did
    assert compare(rec, {"table": [{"AP": 5.0}, {"AP": 0.2}]})  # beyond 10 family widths
    det = band([{"table": [{"n": 3}, {"n": 4}]}] * 7, ["golden", *VARIANTS])
    assert compare(det, {"table": [{"n": 3}, {"n": 5}]}) == ["table[1].n: 5 != 4 (identical in every golden run)"]


def test_strings_compare_with_numbers_masked_and_verdicts_by_family() -> None:
    """Claim rows quote trained numbers in text (models, converged, premise): another processor rounds them
    differently, so a string leaf passes when its masked form was seen; a verdict passes when its family was seen."""
    from cmlib.execution.golden import band, compare, masked

    assert masked("DeSKPro converged (-1.64 over the last third, tolerance 2.75)") == \
        masked("DeSKPro still improving (+0.46 over the last third, tolerance 2.75)") == \
        "DeSKPro <state> (<f> over the last third, tolerance <f>)"
    runs = [{"claims": [{"models": "a 0.25 (chance 0.19)", "verdict": "invalid: a still improving (+0.46 over the "
                                                                       "last third)"}]},
            {"claims": [{"models": "a 0.27 (chance 0.19)", "verdict": "invalid: a at chance"}]},
            {"claims": [{"models": "a 0.26 (chance 0.19)", "verdict": "invalid: a at chance"}]}]
    record = band(runs, ["golden", "j1", "j2"])
    new = {"claims": [{"models": "a 0.31 (chance 0.19)", "verdict": "invalid: b still improving (+1.2 over the "
                                                                    "last third)"}]}
    assert compare(record, new) == []
    flipped = {"claims": [{"models": "b 0.31 (chance 0.19)", "verdict": "reproduced"}]}
    problems = compare(record, flipped)
    assert len(problems) == 2 and problems[0].startswith("claims[0].models: 'b 0.31") and \
        problems[1].startswith("claims[0].verdict: 'reproduced'")
