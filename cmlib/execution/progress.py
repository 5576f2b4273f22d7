"""Live progress of the runner: which notebook and cell is running, for how long, and how long the last run took.

A study cell can run silent for minutes (a replicate pool, a detector training). The runner executes each notebook
through papermill's engine :class:`ProgressEngine` (registered as ``"cmlib-progress"``), the stock nbclient engine
with its cell-start and cell-end hooks reporting to a :class:`NotebookProgress`:

* when a notebook starts: ``started clarel/01_gzsl (study, 10 cells; last run 367 s)``;
* while a code cell has run longer than ``every`` seconds, a heartbeat every ``every`` seconds::

      ... clarel/01_gzsl cell 5/10 'rows = clarel.replicates(clarel.gzsl_replicate, cfg)' 60 s; notebook 75 s of ~367 s, ~292 s left

Quick cells print nothing, so a smoke run stays short. The estimate is the notebook's previous wall time (the
``notebook_wall_time_s`` of its report's ``run_info.json``); without one the line says ``no previous run``. Nothing of
this reaches the executed notebook, so nbval and the golden bands never see it.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from papermill.engines import NBClientEngine, papermill_engines

__all__ = ["ENGINE_NAME", "NotebookProgress", "ProgressEngine", "last_wall_time", "reporting"]

ENGINE_NAME = "cmlib-progress"
_CURRENT: contextvars.ContextVar[NotebookProgress | None] = contextvars.ContextVar("cmlib_progress", default=None)


def last_wall_time(report_dir: Path) -> float | None:
    """The previous run's wall time of a notebook (seconds, kernel start included), or None if never run."""
    info = report_dir / "run_info.json"
    try:
        value = json.loads(info.read_text()).get("notebook_wall_time_s")
    except (OSError, ValueError):
        return None
    return float(value) if isinstance(value, (int, float)) else None


class NotebookProgress:
    """Progress lines for one notebook run.

    Args:
        label: what the lines call the notebook, e.g. ``"clarel/01_gzsl (study)"``.
        expected_s: the last run's wall time, or None.
        every: seconds between heartbeats of a running cell; 0 disables every line.
        out: where a line goes (default: print, flushed).
        clock: seconds, monotonic (a parameter so tests can drive it).
    """

    def __init__(self, label: str, expected_s: float | None, *, every: float = 30.0,
                 out: Callable[[str], None] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.label, self.expected_s, self.every = label, expected_s, float(every)
        self._out = out or (lambda line: print(line, flush=True))
        self._clock = clock
        self._t0 = clock()
        self._cell: tuple[int, int, str, float] | None = None  # index, count, first line, start time
        self._next_beat = 0.0
        self._lock = threading.Lock()

    def _say(self, line: str) -> None:
        if self.every > 0:
            self._out(line)

    def notebook_started(self, n_cells: int) -> None:
        last = f"last run {self.expected_s:.0f} s" if self.expected_s is not None else "no previous run"
        self._t0 = self._clock()
        self._say(f"started {self.label}, {n_cells} cells; {last}")

    def cell_started(self, index: int, count: int, source: str) -> None:
        first = _first_statement(source)
        with self._lock:
            now = self._clock()
            self._cell = (index, count, first[:60], now)
            self._next_beat = now + self.every

    def cell_finished(self) -> None:
        with self._lock:
            self._cell = None

    def tick(self) -> str | None:
        """Print (and return) a heartbeat if a cell has been running for a whole interval since the last one."""
        with self._lock:
            if self._cell is None or self.every <= 0:
                return None
            now = self._clock()
            if now < self._next_beat:
                return None
            self._next_beat = now + self.every
            index, count, first, started = self._cell
        line = f"... {self.label} cell {index + 1}/{count} {first!r} {now - started:.0f} s; {self._eta(now)}"
        self._say(line)
        return line

    def _eta(self, now: float) -> str:
        elapsed = now - self._t0
        if self.expected_s is None:
            return f"notebook {elapsed:.0f} s, no previous run"
        left = self.expected_s - elapsed
        if left >= 0:
            return f"notebook {elapsed:.0f} s of ~{self.expected_s:.0f} s, ~{left:.0f} s left"
        return f"notebook {elapsed:.0f} s, {-left:.0f} s over the last run's {self.expected_s:.0f} s"


def _first_statement(source: str) -> str:
    """The line that names a cell best: its first statement that is not set-up (imports, warnings filters, chdir),
    else its first line."""
    lines = [ln.strip() for ln in source.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    setup = ("import ", "from ", "warnings.", "os.", "sys.", "%")
    return next((ln for ln in lines if not ln.startswith(setup)), lines[0] if lines else "")


@contextlib.contextmanager
def reporting(progress: NotebookProgress) -> Iterator[NotebookProgress]:
    """Report the cells of the notebook executed inside the block (``engine_name=ENGINE_NAME``) to ``progress``,
    with a heartbeat thread that calls :meth:`NotebookProgress.tick`."""
    token = _CURRENT.set(progress)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(min(max(progress.every / 4, 0.05), 5.0)):
            progress.tick()

    thread = threading.Thread(target=beat, name="cmlib-progress", daemon=True)
    if progress.every > 0:
        thread.start()
    try:
        yield progress
    finally:
        stop.set()
        if thread.is_alive():
            thread.join(timeout=10)
        _CURRENT.reset(token)


class ProgressEngine(NBClientEngine):
    """papermill's nbclient engine, with the execution manager's cell hooks also reporting to the active
    :class:`NotebookProgress` (set by :func:`reporting`; without one it is the stock engine)."""

    @classmethod
    def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
        progress = _CURRENT.get()
        if progress is None:
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)
        cells = nb_man.nb.cells
        progress.notebook_started(len(cells))
        start, complete = nb_man.cell_start, nb_man.cell_complete

        def cell_start(cell: Any, cell_index: int | None = None, **kw: Any) -> Any:
            if cell.get("cell_type") == "code" and cell_index is not None:
                progress.cell_started(cell_index, len(cells), cell.get("source", ""))
            return start(cell, cell_index, **kw)

        def cell_complete(cell: Any, cell_index: int | None = None, **kw: Any) -> Any:
            progress.cell_finished()
            return complete(cell, cell_index=cell_index, **kw)

        nb_man.cell_start, nb_man.cell_complete = cell_start, cell_complete
        return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)


papermill_engines.register(ENGINE_NAME, ProgressEngine)
