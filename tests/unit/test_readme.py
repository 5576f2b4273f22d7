"""README's figures are true: its notebook counts match the notebooks, it claims no test count, the ``make study``
time on its first screen is the one the committed reports give, and every other time it states is dated."""

from __future__ import annotations

import re
from pathlib import Path

from cmlib.execution.index import _collect, committed_profile
from cmlib.execution.site import README_BEGIN, README_END, study_times

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_notebook_counts_match_the_notebooks() -> None:
    notebooks = len(list((ROOT / "notebooks").glob("*/[0-9][0-9]_*.py")))
    counts = [int(n) for n in re.findall(r"\b(\d+) notebooks\b", README)]
    assert counts and all(n == notebooks for n in counts), (counts, notebooks)


def test_readme_states_no_test_count() -> None:
    """A count of tests goes stale with the next test (README said 541 when there were 618): none is stated."""
    assert not re.findall(r"\b\d+ (unit )?tests\b", README)


def test_first_screen_study_time_is_generated_from_the_committed_reports() -> None:
    block = README.split(README_BEGIN, 1)[1].split(README_END, 1)[0].strip()
    entries = [(paper, profile, name, metrics, info) for profile, rows in _collect(ROOT / "reports").items()
               if committed_profile(profile) for paper, name, metrics, info in rows]
    assert block == study_times(entries), "README is stale: python -m cmlib.runner --index-only all rewrites it"
    assert README.index(README_BEGIN) < README.index("\n# cmlib")  # on the first screen, above the title


def test_every_stated_time_is_dated_or_generated() -> None:
    rows = [ln for ln in README.splitlines() if ln.startswith("| `make")]
    assert rows
    for row in rows:
        assert re.search(r"20\d\d-\d\d-\d\d|generated|cached", row), row
