"""The runner's messages: one line on Ctrl-C (true about what is kept), one line from the wrong folder, a last line
that names the report folder and the index, a notebook run as a plain script stopped at once with one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import demo_project

ROOT = Path(__file__).resolve().parents[2]
SLEEPER = """# %% tags=["parameters"]
params: dict = {}
report_dir = None

# %%
import pathlib
import time
pathlib.Path("started.flag").write_text("1")
time.sleep(120)
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def test_ctrl_c_prints_one_true_line_and_silences_the_kernel(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    (project / "notebooks" / "demo" / "09_sleep.py").write_text(SLEEPER)
    proc = subprocess.Popen([sys.executable, "-m", "cmlib.runner", "demo", "--profile", "smoke", "--only", "09_sleep"],
                            cwd=project,
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own process group: Ctrl-C reaches runner and kernel alike
    try:
        for _ in range(240):
            if (project / "started.flag").exists() or proc.poll() is not None:
                break
            time.sleep(0.25)
        assert (project / "started.flag").exists(), proc.communicate(timeout=30)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, (out, err)
    want = ("interrupted: stopped demo/09_sleep; it had no previous report, so reports/demo/smoke/09_sleep/ does not "
            "exist (the unfinished run is in reports/demo/smoke/09_sleep.partial/)")
    assert err.strip().splitlines() == [want], err


def test_wrong_folder_gets_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    from cmlib.runner import main

    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        f"run this from the project root (no pyproject.toml of cmlib at or above {tmp_path.resolve()})"]


def test_a_notebook_run_as_a_script_stops_at_once_saying_how_to_run_it(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    out = subprocess.run([sys.executable, "notebooks/demo/01_engine_demo.py"], cwd=project, env=_env(),
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 2, out.stderr
    want = ("01_engine_demo.py is a notebook (jupytext py:percent), not a script: run it with `python -m cmlib.runner "
            "demo --profile smoke --only 01_engine_demo` (report in reports/demo/smoke/01_engine_demo/) or open it in "
            "JupyterLab")
    assert out.stderr.strip().splitlines() == [want]
    assert "BrokenProcessPool" not in out.stderr


def test_last_line_names_the_report_folder_and_the_index(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from cmlib import runner

    project = demo_project(tmp_path / "p")

    def done(job: runner.Job, root: Path) -> runner.Outcome:
        return runner.Outcome(job, True, 0.1)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "execute", done)
        assert runner.run(["demo"], "study", root=project) == 0
        assert runner.run(["demo"], "smoke", root=project) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    study = [ln for ln in lines if "reports/demo/study/" in ln]
    assert study == [("1 of 1 notebooks ok; reports in reports/demo/study/; index updated: reports/README.md, "
                      "reports/index.html")]
    assert lines[-1] == "1 of 1 notebooks ok; reports in reports/demo/smoke/; index updated: reports/README-smoke.md"


def test_reports_lose_the_staging_path_and_widget_reprs_and_get_a_title(tmp_path: Path) -> None:
    import nbformat

    from cmlib.runner import WIDGET_MIME, WIDGET_NOTE, _export_html, scrub_paths

    injected = nbformat.v4.new_code_cell('report_dir = "reports/grmnet/study/05_explore.partial"')
    widget = nbformat.v4.new_code_cell("ui", outputs=[nbformat.v4.new_output(
        "display_data", data={"text/plain": "VBox(children=(HBox(children=(Dropdown(",
                              WIDGET_MIME: {"model_id": "x", "version_major": 2, "version_minor": 0}})])
    bar = nbformat.v4.new_code_cell("rows = run()", outputs=[nbformat.v4.new_output(
        "display_data", data={"text/plain": "run_seed replicates: 100%|###| 5/5", WIDGET_MIME: {"model_id": "y"}})])
    nb = nbformat.v4.new_notebook(cells=[injected, widget, bar])
    path = tmp_path / "05_explore.ipynb"
    nbformat.write(nb, path)
    scrub_paths(path, tmp_path, replace={"reports/grmnet/study/05_explore.partial": "reports/grmnet/study/05_explore"})
    cells = nbformat.read(path, as_version=4).cells
    assert cells[0].source == 'report_dir = "reports/grmnet/study/05_explore"'
    assert cells[1].outputs[0]["data"]["text/plain"] == WIDGET_NOTE
    assert cells[2].outputs[0]["data"]["text/plain"].startswith("run_seed replicates: 100%")  # a bar's text stays
    _export_html(path, title="grmnet / 05_explore (study)")
    assert "<title>grmnet / 05_explore (study)</title>" in path.with_suffix(".html").read_text()


def test_a_saved_figure_path_displays_nothing(tmp_path: Path) -> None:
    from IPython.core.formatters import format_display_data
    from matplotlib.figure import Figure

    from cmlib.execution.reporting import Report

    rel = Report(tmp_path, paper="demo", notebook="01").save_figure(Figure(), "empty")
    assert rel == Path("figures/empty.png") and format_display_data(rel) == ({}, {})
