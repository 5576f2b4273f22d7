"""Validation discipline made checkable: a test split that can be read once, for the final score, and no earlier.

Every tuned setting (steps, learning rate, schedule, dropout, thresholds) is chosen on a validation split; the test
split is read only for the final evaluation. A study wraps its test data in :class:`SealedSplit` when it builds the
data; model selection code gets the validation split and cannot reach the test one, and the final evaluation opens
it with :meth:`SealedSplit.open`, which works once:

    train, val, test = make_world(cfg, seed)       # test: SealedSplit
    lr = choose_on(val, ...)                       # test.data here raises TestSplitSealed
    score = evaluate(model, test.open("final score"))

Reading the test data before it is opened, or opening it twice, raises :class:`TestSplitSealed` naming the split.
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["SealedSplit", "TestSplitSealed"]

T = TypeVar("T")


class TestSplitSealed(RuntimeError):
    """The test split was read before the final evaluation, or a second time."""

    __test__ = False  # not a pytest test class


class SealedSplit(Generic[T]):
    """Holds a test split until the final evaluation.

    Args:
        data: the split (any object: a dataset, index array, tensors).
        name: what it is, for messages (``"demo test (seed 3)"``).
    """

    def __init__(self, data: T, name: str = "test") -> None:
        self._data = data
        self.name = name
        self.opened_for: str | None = None

    @property
    def data(self) -> T:
        """Never readable directly: raises :class:`TestSplitSealed` (use :meth:`open` for the final score)."""
        raise TestSplitSealed(f"{self.name}: the test split is sealed; tune on the validation split and read the "
                              "test split once, through .open(reason), for the final score")

    def open(self, reason: str) -> T:
        """The test data, for the final evaluation (``reason`` is recorded). A second call raises."""
        if self.opened_for is not None:
            raise TestSplitSealed(f"{self.name}: the test split was already read ({self.opened_for!r}); it is read "
                                  f"once, for the final score, not again for {reason!r}")
        self.opened_for = reason
        return self._data

    def __repr__(self) -> str:
        state = f"opened for {self.opened_for!r}" if self.opened_for else "sealed"
        return f"SealedSplit({self.name!r}, {state})"
