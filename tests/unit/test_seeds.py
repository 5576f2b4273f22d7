"""cmlib.protocol.seeds: study, stability and probe seeds never overlap; every tuning record follows the rule or says it
predates it."""

from __future__ import annotations

from pathlib import Path

import pytest

from cmlib.protocol.config import load_yaml
from cmlib.protocol.seeds import PROBE, STABILITY, STUDY, check_tuning, probe_seeds, seed_role

ROOT = Path(__file__).resolve().parents[2]
PAPERS = ["clarel", "whcmt", "deskpro", "grmnet"]


def test_ranges_are_disjoint_and_roles_named() -> None:
    spans = [set(STUDY), set(STABILITY), set(range(PROBE.start, PROBE.start + 5000))]
    assert not (spans[0] & spans[1]) and not (spans[0] & spans[2]) and not (spans[1] & spans[2])
    assert [seed_role(s) for s in (0, 99, 100, 999, 1000)] == ["study", "study", "stability", "stability", "probe"]
    assert probe_seeds(3) == [1000, 1001, 1002] and probe_seeds(2, offset=10) == [1010, 1011]
    with pytest.raises(ValueError, match="seed -1"):
        seed_role(-1)


@pytest.mark.parametrize("paper", [*PAPERS, "demo"])
def test_scored_profiles_use_study_seeds(paper: str) -> None:
    for profile in ("smoke", "study", "paper"):
        path = ROOT / "params" / paper / f"{profile}.yaml"
        if path.is_file():
            seeds = load_yaml(path).get("run", {}).get("seeds", [])
            assert all(seed_role(int(s)) == "study" for s in seeds), f"{path}: seeds {seeds} outside 0-99"


def test_stability_benchmark_draws_stability_seeds() -> None:
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from verdict_stability import default_sets

    from cmlib.runner import parse_seeds

    for paper in PAPERS:
        for spec in default_sets(paper, "study"):
            assert all(seed_role(s) == "stability" for s in parse_seeds(spec)), (paper, spec)


@pytest.mark.parametrize("paper", PAPERS)
def test_tuning_records_follow_the_rule(paper: str) -> None:
    path = ROOT / "params" / paper / "tuning.yaml"
    records = load_yaml(path)["tuned"]
    assert records, f"{path}: no tuned setting recorded"
    scored = set(load_yaml(ROOT / "params" / paper / "study.yaml")["run"]["seeds"]) | set(STABILITY)
    assert check_tuning(records, scored, source=str(path)) == []


def test_check_tuning_finds_a_probe_on_scored_seeds() -> None:
    bad = [{"setting": "lr", "value": 0.1, "rule": "best val", "probe_seeds": [3, 1000]},
           {"setting": "steps", "value": 5, "rule": "r", "probe_seeds": [1001]},
           {"setting": "old", "value": 1, "rule": "r", "probe_seeds": [0], "predates_rule": True},
           {"setting": "no rule", "value": 1, "probe_seeds": [1002]}]
    problems = check_tuning(bad, {0, 1, 2, 3, 4}, source="t.yaml")
    assert problems == ["t.yaml: 'lr' probed on seeds [3], outside the probe range 1000-999999",
                        "t.yaml: 'lr' probed on seeds [3] that a study or stability run scores",
                        "t.yaml: tuned setting 'no rule' lacks rule"]
