"""Tolerance test: the metrics.json each golden notebook writes under nbval must match the stored values.

It reuses the nbval execution of ``tests/notebooks/golden/<paper>/<nb>.ipynb`` (which writes
``build/golden/<paper>/<nb>/metrics.json``) instead of running every notebook twice; ``make golden`` stores the
expected values beside each golden notebook as ``<nb>.metrics.json``. Keys that hold timings (names ending in ``_s`` or
containing ``time``) are not compared: they differ from run to run by nature.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from conftest import ROOT, SESSION_START

GOLDEN = ROOT / "tests" / "notebooks" / "golden"
EXPECTED = sorted(GOLDEN.glob("*/*.metrics.json"))
TIMING_KEY = re.compile(r"(_s$|time|per_s)")


def _pairs(expected: object, actual: object, where: str):
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected a mapping, got {actual!r}"
        for key, value in expected.items():
            if TIMING_KEY.search(str(key)):
                continue
            assert key in actual, f"{where}.{key}: missing from the new metrics.json"
            yield from _pairs(value, actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{where}: list length changed"
        for i, (e, a) in enumerate(zip(expected, actual)):
            yield from _pairs(e, a, f"{where}[{i}]")
    else:
        yield where, expected, actual


@pytest.mark.parametrize("expected_path", EXPECTED, ids=[f"{p.parent.name}/{p.name}" for p in EXPECTED])
def test_golden_metrics_match(expected_path: Path) -> None:
    name = expected_path.name.removesuffix(".metrics.json")
    produced = ROOT / "build" / "golden" / expected_path.parent.name / name / "metrics.json"
    if not produced.is_file() or produced.stat().st_mtime < SESSION_START:
        pytest.skip(f"{expected_path.parent.name}/{name}.ipynb was not executed by nbval in this pytest session")
    expected, actual = json.loads(expected_path.read_text()), json.loads(produced.read_text())
    for where, e, a in _pairs(expected, actual, name):
        if isinstance(e, float) and isinstance(a, (int, float)) and math.isfinite(e):
            assert a == pytest.approx(e, rel=1e-4, abs=1e-6), f"{where}: {a} != stored {e}"
        else:
            assert a == e, f"{where}: {a!r} != stored {e!r}"


def test_every_golden_notebook_has_expected_metrics() -> None:
    for nb in GOLDEN.glob("*/*.ipynb"):
        assert nb.with_suffix(".metrics.json").is_file(), f"{nb}: no stored metrics; run `make golden PAPER={nb.parent.name}`"
