"""cmlib.runner: notebook 01 of a paper trains what its later notebooks read, so when it fails they are not started
(one line each, counted as failures, previous reports kept) and other papers' notebooks still run.

No kernel is launched: ``runner.execute`` is replaced by a fake that records, in a file under the project (the
parallel runs' workers are other processes), when each notebook started and ended.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import demo_project

from cmlib import runner
from cmlib.runner import Job, Outcome, prerequisites

LOG = "started.jsonl"


def _fake_execute(job: Job, root: Path) -> Outcome:  # module level: the pool pickles it by name
    """Log the notebook's start and end under ``root``; fail the notebooks named in ``root/fail.txt``."""
    t0 = time.time()
    if job.notebook.stem.startswith("01_"):
        time.sleep(0.3)  # a dependent started too early would overlap this
    failing = (root / "fail.txt").read_text().split()
    with (root / LOG).open("a") as f:
        f.write(json.dumps({"nb": f"{job.paper}/{job.notebook.stem}", "start": t0, "end": time.time()}) + "\n")
    if job.notebook.stem in failing:
        return Outcome(job, False, 0.3, f"cell 3 (In [4]: 'raise') raised ValueError: boom in {job.notebook.stem}")
    return Outcome(job, True, 0.3)


def _started(root: Path) -> dict[str, dict[str, float]]:
    path = root / LOG
    return {r["nb"]: r for r in map(json.loads, path.read_text().splitlines())} if path.is_file() else {}


def _job(paper: str, stem: str, folder: str = "study", variant: str = "") -> Job:
    report = Path("reports") / paper / folder / stem
    return Job(paper, Path("notebooks") / paper / f"{stem}.py", "study", {}, report,
               report.with_name(f"{stem}.partial") / f"{stem}.ipynb", variant=variant)


def test_later_notebooks_of_a_run_need_its_notebook_01() -> None:
    todo = [_job("grmnet", "01_multi_instance"), _job("grmnet", "02_ablation"), _job("grmnet", "05_explore"),
            _job("whcmt", "02_loss_weights"),  # --only without 01: reads an earlier run's cache
            _job("clarel", "01_gzsl"), _job("clarel", "01_gzsl", folder="study-seeds10-14"),
            _job("clarel", "03_lambda_kappa", folder="study-seeds10-14"),  # its own run's 01, not the profile's
            _job("demo", "01_engine_demo")]
    assert prerequisites(todo) == [None, 0, 0, None, None, None, 5, None]


def test_golden_band_runs_need_the_01_of_their_own_variant(tmp_path: Path) -> None:
    project = demo_project(tmp_path)
    (project / "notebooks" / "demo" / "02_reads.py").write_text("# %%\n")
    base = runner.plan(project, ["demo"], "smoke", golden=True)
    todo = base + runner._band_jobs(base)
    needs = prerequisites(todo)
    for k, job in enumerate(todo):
        if job.notebook.stem == "02_reads":
            pre = todo[needs[k]]
            assert (pre.notebook.stem, pre.variant) == ("01_engine_demo", job.variant)


def test_a_failed_01_skips_the_papers_later_notebooks_and_keeps_their_reports(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    project = demo_project(tmp_path)
    for name in ("02_reads", "03_reads_too"):
        (project / "notebooks" / "demo" / f"{name}.py").write_text("# %%\n")
    (project / "fail.txt").write_text("01_engine_demo")
    old = project / "reports" / "demo" / "smoke" / "02_reads"
    old.mkdir(parents=True)
    (old / "metrics.json").write_text('{"kept": true}')
    monkeypatch.setattr(runner, "execute", _fake_execute)

    assert runner.run(["demo"], "smoke", root=project) == 3  # 01 failed, 02 and 03 count as failures

    assert list(_started(project)) == ["demo/01_engine_demo"]
    out, err = capsys.readouterr()
    skipped = [ln for ln in out.splitlines() if "SKIPPED" in ln]
    why = "SKIPPED: demo/01_engine_demo failed, and it trains the models this notebook reads (not started; "
    assert skipped == [f"[2/3] demo/02_reads (smoke) {why}its previous report reports/demo/smoke/02_reads/ is kept)",
                       f"[3/3] demo/03_reads_too (smoke) {why}nothing written)"]
    assert out.splitlines()[-1].startswith("0 of 3 notebooks ok (2 not started: the notebook they need failed); ")
    assert [ln.split(":")[0] for ln in err.splitlines()] == ["FAILED notebooks/demo/01_engine_demo.py"]
    assert json.loads((old / "metrics.json").read_text()) == {"kept": True}
    assert not (old.with_name("02_reads.partial")).exists()
    monkeypatch.chdir(project)
    assert runner.main(["demo", "--profile", "smoke"]) == 1


def test_a_failed_later_notebook_skips_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Notebooks 02.. read notebook 01's cache, not each other's: 03 runs after 02 failed."""
    (tmp_path / "fail.txt").write_text("02_ablation")
    monkeypatch.setattr(runner, "execute", _fake_execute)
    todo = [_job("grmnet", "01_multi_instance"), _job("grmnet", "02_ablation"), _job("grmnet", "03_references")]
    outcomes = runner._execute_all(todo, tmp_path, jobs=1)
    assert [(o.ok, o.skipped) for o in outcomes] == [(True, False), (False, False), (True, False)]
    assert len(_started(tmp_path)) == 3


def test_in_parallel_dependents_wait_for_01_and_other_papers_still_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "fail.txt").write_text("01_multi_instance")
    monkeypatch.setattr(runner, "execute", _fake_execute)
    todo = [_job("grmnet", "01_multi_instance"), _job("grmnet", "02_ablation"), _job("grmnet", "03_references"),
            _job("whcmt", "01_retrieval"), _job("whcmt", "02_loss_weights"), _job("whcmt", "03_frameworks")]

    outcomes = runner._execute_all(todo, tmp_path, jobs=2)

    assert [o.job for o in outcomes] == todo  # in the order of the plan, whatever the order they finished in
    assert [(o.ok, o.skipped) for o in outcomes] == [(False, False), (False, True), (False, True),
                                                     (True, False), (True, False), (True, False)]
    started = _started(tmp_path)
    assert sorted(started) == ["grmnet/01_multi_instance", "whcmt/01_retrieval", "whcmt/02_loss_weights",
                               "whcmt/03_frameworks"]
    for later in ("whcmt/02_loss_weights", "whcmt/03_frameworks"):  # started after their 01 ended, not beside it
        assert started[later]["start"] >= started["whcmt/01_retrieval"]["end"]
    lines = capsys.readouterr().out.splitlines()
    assert sorted(int(ln[1:ln.index("/")]) for ln in lines) == [1, 2, 3, 4, 5, 6]  # numbered as they end
    assert sum("SKIPPED: grmnet/01_multi_instance failed" in ln for ln in lines) == 2
