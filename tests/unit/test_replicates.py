"""cmlib.protocol.replicates: parallel replicates equal sequential ones, finished ones are kept, a killed run resumes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import demo_project

from cmlib.protocol.replicates import ReplicateError, replicate_path, run_replicates, run_tasks
from cmlib.protocol.run import RunConfig
from cmlib.studies import demo

ROOT = Path(__file__).resolve().parents[2]
SMALL = demo.Config(run=RunConfig(seeds=[0, 1, 2]), n_train=64, n_val=64, n_test=128, lrs=[0.1])


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc), children first found first."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def failing(cfg: dict, seed: int) -> dict:
    if seed == 1:
        raise ValueError("bad world")
    return {"seed": seed}


def test_parallel_equals_sequential_and_results_are_kept(tmp_path: Path) -> None:
    seq = run_replicates(demo.run_seed, SMALL, SMALL.run.seeds, jobs=1)
    par = run_replicates(demo.run_seed, SMALL, SMALL.run.seeds, jobs=2, cache_dir=tmp_path)
    assert par == seq  # one torch thread per replicate wherever it runs: the same numbers
    files = sorted(tmp_path.glob("replicate-run_seed-s*.json"))
    assert len(files) == 3 and json.loads(files[0].read_text()) == seq[0]
    lines: list[str] = []
    again = run_replicates(demo.run_seed, SMALL, [2, 0, 1], jobs=2, cache_dir=tmp_path, log=lines.append)
    assert again == [seq[2], seq[0], seq[1]] and lines == ["run_seed: 3 of 3 replicates loaded from " + str(tmp_path)]


def test_the_key_follows_the_config_but_not_the_seed_list(tmp_path: Path) -> None:
    a = replicate_path(demo.run_seed, SMALL, 0, tmp_path)
    assert a == replicate_path(demo.run_seed, demo.Config(**{**SMALL.__dict__, "run": RunConfig(seeds=[0, 7], workers=2)}), 0,
                               tmp_path)
    assert a != replicate_path(demo.run_seed, demo.Config(**{**SMALL.__dict__, "n_train": 65}), 0, tmp_path)
    assert a != replicate_path(demo.run_seed, SMALL, 1, tmp_path)


def test_a_failing_replicate_is_named_and_the_others_are_kept(tmp_path: Path) -> None:
    with pytest.raises(ReplicateError, match=r"failing\(seed=1\) raised ValueError: bad world"):
        run_replicates(failing, {"k": 1}, [0, 1, 2], jobs=1, cache_dir=tmp_path)
    assert [p.name.split("-")[2] for p in sorted(tmp_path.glob("*.json"))] == ["s0"]
    with pytest.raises(ValueError, match="distinct"):
        run_replicates(failing, {}, [0, 0])


@pytest.mark.slow
def test_killed_demo_study_resumes_with_the_same_numbers(tmp_path: Path) -> None:
    """python -m cmlib.runner demo --profile study, killed after its first finished replicate, then run again:
    the finished replicates are loaded, the rest computed, and metrics.json equals an uninterrupted run's."""
    def runner(p: Path) -> subprocess.Popen:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        return subprocess.Popen([sys.executable, "-m", "cmlib.runner", "demo", "--profile", "study", "--seeds",
                                 "0-3"], cwd=p, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)

    killed = demo_project(tmp_path / "killed")
    proc = runner(killed)
    cache = killed / ".cache" / "demo"
    deadline = time.time() + 300
    while not list(cache.glob("replicate-*.json")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    for pid in [*descendants(proc.pid), proc.pid]:  # the runner, its kernel (own session) and workers, mid-run
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)
    kept = len(list(cache.glob("replicate-*.json")))
    assert 1 <= kept < 4, f"{kept} replicates finished before the kill"
    assert not (killed / "reports" / "demo" / "study-seeds0-3" / "01_engine_demo").exists()

    resumed = runner(killed)
    out = resumed.communicate(timeout=600)[0].decode()
    assert resumed.returncode == 0, out
    clean = demo_project(tmp_path / "clean")
    fresh = runner(clean)
    assert fresh.communicate(timeout=600)[0] is not None and fresh.returncode == 0
    report = Path("reports/demo/study-seeds0-3/01_engine_demo/metrics.json")
    got, want = (json.loads((p / report).read_text()) for p in (killed, clean))
    assert got["per_seed"] == want["per_seed"] and got["claims"] == want["claims"]
    assert [r["seed"] for r in got["per_seed"]] == [0, 1, 2, 3]
    executed = (killed / "reports/demo/study-seeds0-3/01_engine_demo/01_engine_demo.ipynb").read_text()
    assert f"{kept} of 4 replicates loaded" in executed


def quick(cfg: dict, seed: int) -> dict:
    return {"seed": seed}


def test_a_progress_bar_counts_the_replicates_unless_bars_are_off(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from cmlib.protocol import engine

    monkeypatch.setattr(engine, "_PROGRESS_ENABLED", True)
    run_replicates(quick, {}, [0, 1], jobs=1, cache_dir=tmp_path, log=lambda _: None)
    bar = capsys.readouterr().err  # outside a notebook tqdm draws text on stderr (in JupyterLab: a widget)
    assert "quick replicates" in bar and "2/2" in bar, bar
    run_replicates(quick, {}, [0, 1, 2], jobs=1, cache_dir=tmp_path, log=lambda _: None)
    assert "3/3" in capsys.readouterr().err  # starts at the 2 loaded from the cache
    monkeypatch.setattr(engine, "_PROGRESS_ENABLED", False)  # what CMLIB_PROGRESS=0 sets (golden runs, nbval)
    run_replicates(quick, {}, [3], jobs=1, cache_dir=tmp_path, log=lambda _: None)
    assert "replicates" not in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------------- run_tasks
def record_task(folder: str, task: tuple) -> dict:
    """A task for run_tasks: (kind, seconds[, other kind]). It marks its start, waits (up to 60 s) until the other
    kind has started when one is named, sleeps ``seconds``, and writes its start / end time; kind "bad" fails.
    Waiting on another task's start, not on a clock, keeps the tests independent of how slowly workers spawn."""
    start = time.time()
    (Path(folder) / f"{task[0]}.start").touch()
    if task[0] == "bad":
        raise RuntimeError("this task fails")
    met = True
    if len(task) > 2:
        deadline = time.time() + 60
        while not (Path(folder) / f"{task[2]}.start").exists() and time.time() < deadline:
            time.sleep(0.02)
        met = (Path(folder) / f"{task[2]}.start").exists()
    time.sleep(task[1])
    out = {"start": start, "end": time.time(), "pid": os.getpid(), "met": met}
    (Path(folder) / f"{task[0]}.json").write_text(json.dumps(out))
    return out


TASKS = [("a", 0.6), ("b", 0.6), ("c", 0.05), ("d", 0.05)]
NEEDS = {("c", 0.05): [("a", 0.6)], ("d", 0.05): [("c", 0.05), ("b", 0.6)]}


@pytest.mark.parametrize("jobs", [1, 2])
def test_run_tasks_starts_each_task_after_what_it_requires(tmp_path: Path, jobs: int) -> None:
    out = run_tasks(record_task, str(tmp_path), TASKS, requires=NEEDS, jobs=jobs, log=lambda line: None)
    assert list(out) == TASKS
    t = {k[0]: v for k, v in out.items()}
    assert t["c"]["start"] >= t["a"]["end"]
    assert t["d"]["start"] >= max(t["c"]["end"], t["b"]["end"])
    if jobs == 1:
        assert {v["pid"] for v in t.values()} == {os.getpid()}


def test_run_tasks_runs_independent_tasks_at_once(tmp_path: Path) -> None:
    # each waits until the other has started: both can finish having met only if two workers ran them together
    out = run_tasks(record_task, str(tmp_path), [("a", 0, "b"), ("b", 0, "a")], jobs=2, log=lambda line: None)
    assert all(v["met"] for v in out.values())
    assert len({v["pid"] for v in out.values()} | {os.getpid()}) == 3


def test_run_tasks_refuses_bad_task_lists(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="distinct"):
        run_tasks(record_task, str(tmp_path), [("a", 0), ("a", 0)], jobs=1)
    with pytest.raises(ValueError, match=r"requires \[\('z', 0\)\], which are not among the tasks"):
        run_tasks(record_task, str(tmp_path), [("a", 0)], requires={("a", 0): [("z", 0)]}, jobs=1)
    with pytest.raises(ValueError, match="form a loop"):
        run_tasks(record_task, str(tmp_path), [("a", 0), ("b", 0)],
                  requires={("a", 0): [("b", 0)], ("b", 0): [("a", 0)]}, jobs=1)
    assert not list(tmp_path.iterdir())  # nothing ran


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_failing_task_is_named_and_what_requires_it_never_starts(tmp_path: Path, jobs: int) -> None:
    with pytest.raises(ReplicateError, match=r"record_task\(task=\('bad', 0\)\) raised RuntimeError: this task fails"):
        run_tasks(record_task, str(tmp_path), [("bad", 0), ("after", 0)], requires={("after", 0): [("bad", 0)]},
                  jobs=jobs, log=lambda line: None)
    assert not (tmp_path / "after.json").exists()


def test_after_a_failure_queued_tasks_are_cancelled_and_the_error_is_the_tasks(tmp_path: Path) -> None:
    # more tasks than the pool takes in at once (workers + 1): the queued ones are cancelled, and the error raised
    # is the failing task's, not the cancellation's
    tasks = [("bad", 0)] + [(f"t{i}", 0.3) for i in range(8)]
    with pytest.raises(ReplicateError, match=r"task=\('bad', 0\)"):
        run_tasks(record_task, str(tmp_path), tasks, jobs=2, log=lambda line: None)
    assert len(list(tmp_path.glob("t*.json"))) < 8  # not every task ran


def fail_seed_zero(cfg: dict, seed: int) -> dict:
    """A replicate function that fails for seed 0 and takes 0.3 s otherwise."""
    if seed == 0:
        raise RuntimeError("seed zero fails")
    time.sleep(0.3)
    return {"seed": seed}


def test_a_failing_replicate_with_replicates_queued_raises_its_own_error() -> None:
    with pytest.raises(ReplicateError, match=r"fail_seed_zero\(seed=0\) raised RuntimeError: seed zero fails"):
        run_replicates(fail_seed_zero, {}, list(range(8)), jobs=2, log=lambda line: None)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_workers_die_with_the_process_that_started_them(tmp_path: Path) -> None:
    """A killed kernel (SIGKILL: no cleanup runs) leaves no worker computing on."""
    here = Path(__file__).parent
    script = (f"import sys; sys.path[:0] = [{str(here)!r}, {str(here.parent)!r}]; import test_replicates as t; "
              f"t.run_tasks(t.record_task, {str(tmp_path)!r}, [('s1', 60), ('s2', 60)], jobs=2)")
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.time() + 120
    while len(descendants(proc.pid)) < 2 and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # the workers are in their task
    workers = descendants(proc.pid)
    assert len(workers) >= 2
    proc.kill()
    proc.wait()
    deadline = time.time() + 20
    while any(Path(f"/proc/{w}").exists() for w in workers) and time.time() < deadline:
        time.sleep(0.2)
    assert not any(Path(f"/proc/{w}").exists() for w in workers), "orphaned workers still running"


def test_a_free_worker_takes_the_first_ready_task_in_the_given_order(tmp_path: Path) -> None:
    # d0 finishes at once and frees a worker for the short tasks s1..s4; d1 finishes once s2 has started, and then
    # L (earlier in the order than s3 and s4) starts next on d1's worker, although s3 and s4 became ready first
    d1 = ("d1", 0, "s2")
    tasks = [("d0", 0), d1, ("L", 0.2)] + [(f"s{i}", 1.0) for i in range(1, 5)]
    needs = {("L", 0.2): [d1], **{t: [("d0", 0)] for t in tasks[3:]}}
    out = run_tasks(record_task, str(tmp_path), tasks, requires=needs, jobs=2, log=lambda line: None)
    t = {k[0]: v for k, v in out.items()}
    assert t["L"]["start"] >= t["d1"]["end"]
    assert t["L"]["start"] < t["s3"]["start"] and t["L"]["start"] < t["s4"]["start"]


def test_first_seeds_cuts_the_run_section_and_keeps_everything_else():
    import dataclasses

    from cmlib.protocol.run import RunConfig, first_seeds

    @dataclasses.dataclass(frozen=True)
    class Cfg:
        lr: float = 0.1
        run: RunConfig = dataclasses.field(default_factory=lambda: RunConfig(seeds=[3, 4, 5, 6]))

    cfg = Cfg()
    assert first_seeds(cfg, 2) == Cfg(run=RunConfig(seeds=[3, 4]))
    assert first_seeds(cfg, 0) is cfg and first_seeds(cfg, 4) is cfg and first_seeds(cfg, 9) is cfg
