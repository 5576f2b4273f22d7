"""cmlib.protocol.splits: the test split is unreadable before the final evaluation and readable once."""

from __future__ import annotations

import pytest

from cmlib.protocol.run import RunConfig
from cmlib.protocol.splits import SealedSplit, TestSplitSealed


def test_sealed_split_refuses_early_and_second_reads() -> None:
    sealed = SealedSplit([1, 2, 3], "toy test")
    with pytest.raises(TestSplitSealed, match="toy test: the test split is sealed"):
        _ = sealed.data
    assert sealed.open("final score") == [1, 2, 3]
    with pytest.raises(TestSplitSealed, match=r"already read \('final score'\).*not again for 'peek'"):
        sealed.open("peek")
    assert "opened for 'final score'" in repr(sealed)


def test_demo_study_tunes_on_validation_and_reads_test_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo glue opens its test split exactly once per replicate, after choosing lr on validation."""
    from cmlib.studies import demo

    opened: list[str] = []
    real_open = SealedSplit.open

    def spy(self: SealedSplit, reason: str):
        opened.append(reason)
        return real_open(self, reason)

    monkeypatch.setattr(SealedSplit, "open", spy)
    cfg = demo.Config(run=RunConfig(seeds=[0]), n_train=64, n_val=64, n_test=64, lrs=[0.01, 0.1], dose_levels=[])
    row = demo.run_seed(cfg, 0)
    assert opened == ["final score"] and row["lr"] in (0.01, 0.1)
    opened.clear()  # each dose level is a world of its own: its test split is read once too
    demo.run_seed(demo.Config(**{**cfg.__dict__, "dose_levels": [0.5, 2.0]}), 0)
    assert opened == ["final score"] * 3
    *_, test = demo.make_world(cfg, 0)
    with pytest.raises(TestSplitSealed):
        _ = test.data  # what a tuning loop that reached for the test split would hit
