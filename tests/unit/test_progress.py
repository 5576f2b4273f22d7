"""cmlib.execution.progress: a long cell prints notebook, cell, elapsed time and the estimate from the last run; quick cells and
``every=0`` print nothing; the runner's kernels report through it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import demo_project

from cmlib.execution.progress import NotebookProgress, last_wall_time


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _progress(expected: float | None, every: float = 30.0) -> tuple[NotebookProgress, Clock, list[str]]:
    lines: list[str] = []
    clock = Clock()
    return NotebookProgress("clarel/01_gzsl (study)", expected, every=every, out=lines.append, clock=clock), clock, lines


def test_a_long_cell_prints_a_heartbeat_with_the_estimate_left() -> None:
    p, clock, lines = _progress(expected=367.0)
    p.notebook_started(10)
    assert lines == ["started clarel/01_gzsl (study), 10 cells; last run 367 s"]
    clock.t += 15
    p.cell_started(4, 10, "# the protocol\nimport os\nrows = clarel.gzsl_rows(cfg, data)\n")
    clock.t += 29
    assert p.tick() is None  # not a whole interval yet
    clock.t += 1
    assert p.tick() == ("... clarel/01_gzsl (study) cell 5/10 'rows = clarel.gzsl_rows(cfg, data)' 30 s; "
                        "notebook 45 s of ~367 s, ~322 s left")
    assert p.tick() is None  # the next one is an interval later
    clock.t += 400
    assert p.tick().endswith("notebook 445 s, 78 s over the last run's 367 s")
    p.cell_finished()
    clock.t += 60
    assert p.tick() is None and len(lines) == 3  # no cell running: silent


def test_no_previous_run_and_disabled_progress() -> None:
    p, clock, _lines = _progress(expected=None)
    p.notebook_started(3)
    p.cell_started(0, 3, "train()")
    clock.t += 31
    assert p.tick().endswith("notebook 31 s, no previous run")
    quiet, qclock, qlines = _progress(expected=10.0, every=0)
    quiet.notebook_started(3)
    quiet.cell_started(0, 3, "train()")
    qclock.t += 1000
    assert quiet.tick() is None and qlines == []


def test_last_wall_time_reads_run_info(tmp_path: Path) -> None:
    assert last_wall_time(tmp_path) is None
    (tmp_path / "run_info.json").write_text(json.dumps({"notebook_wall_time_s": 12.5}))
    assert last_wall_time(tmp_path) == 12.5
    (tmp_path / "run_info.json").write_text("{not json")
    assert last_wall_time(tmp_path) is None


SLOW = """# %% tags=["parameters"]
params: dict = {}
report_dir = None

# %%
import time
time.sleep(1.5)
"""


def test_the_runner_reports_a_slow_cell_live(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cmlib.runner import Job, execute

    project = demo_project(tmp_path)
    (project / "notebooks" / "demo" / "09_slow.py").write_text(SLOW)
    out = Path("build") / "slow" / "09_slow.ipynb"
    job = Job("demo", Path("notebooks/demo/09_slow.py"), "smoke", {}, out.parent, out, progress_every=0.5)
    outcome = execute(job, project)
    assert outcome.ok, outcome.error
    text = capsys.readouterr().out
    assert "started demo/09_slow (smoke), 3 cells; no previous run" in text
    assert "... demo/09_slow (smoke) cell 3/3 'time.sleep(1.5)'" in text, text
