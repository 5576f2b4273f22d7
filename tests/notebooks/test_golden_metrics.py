"""Band test: the metrics.json each golden notebook writes under nbval must lie in the band ``make golden`` measured.

It reuses the nbval execution of ``tests/notebooks/golden/<paper>/<nb>.ipynb`` (which writes
``build/golden/<paper>/<nb>/metrics.json``) instead of running every notebook twice. ``make golden`` stores, beside
each golden notebook, ``<nb>.metrics.json`` (the unperturbed run) and ``<nb>.band.json`` (the range of every number
over that run and its perturbed variants; see :mod:`cmlib.execution.golden` for the rule). Numbers that every run gave
identically are compared exactly; trained numbers within their measured band, so the test passes on any processor
and fails on a real regression. nbval itself compares the printed tables with their numbers masked
(tests/notebooks/nbval_sanitize.cfg): columns, row labels, claim names and integer counts stay exact.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, SESSION_START

from cmlib.execution.golden import compare

GOLDEN = ROOT / "tests" / "notebooks" / "golden"
BANDS = sorted(GOLDEN.glob("*/*.band.json"))


@pytest.mark.parametrize("band_path", BANDS, ids=[f"{p.parent.name}/{p.name}" for p in BANDS])
def test_golden_metrics_within_band(band_path: Path) -> None:
    name = band_path.name.removesuffix(".band.json")
    produced = ROOT / "build" / "golden" / band_path.parent.name / name / "metrics.json"
    if not produced.is_file() or produced.stat().st_mtime < SESSION_START:
        pytest.skip(f"{band_path.parent.name}/{name}.ipynb was not executed by nbval in this pytest session")
    problems = compare(json.loads(band_path.read_text()), json.loads(produced.read_text()))
    assert not problems, f"{band_path.parent.name}/{name}: outside the measured band:\n" + "\n".join(problems)


def test_every_golden_notebook_has_its_band_and_metrics() -> None:
    notebooks = sorted(GOLDEN.glob("*/*.ipynb"))
    assert notebooks, "no golden notebooks: run `make golden`"
    for nb in notebooks:
        for suffix in (".metrics.json", ".band.json"):
            assert nb.with_suffix(suffix).is_file(), f"{nb}: no {suffix}; run `make golden PAPER={nb.parent.name}`"


def test_golden_metrics_are_the_bands_base_run() -> None:
    """The stored metrics.json is the band's first ('golden') run: every stored number lies in its band."""
    for band_path in BANDS:
        stored = band_path.with_name(band_path.name.replace(".band.json", ".metrics.json"))
        band = json.loads(band_path.read_text())
        assert band["runs"][0] == "golden" and len(band["runs"]) >= 3, f"{band_path}: fewer than 3 runs in the band"
        assert compare(band, json.loads(stored.read_text())) == [], f"{stored} is not the band's base run"
