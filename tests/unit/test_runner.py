"""cmlib.runner: params validated before compute, failures named, last good reports kept, index rebuilt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import demo_project

from cmlib.protocol.config import ConfigError
from cmlib.runner import build_index, list_notebooks, main, run, validate_params

ROOT = Path(__file__).resolve().parents[2]
FAILING = """# %% tags=["parameters"]
params: dict = {}
report_dir = None

# %%
from cmlib.execution.reporting import Report
rep = Report(report_dir, paper="demo", notebook="02_fails")
rep.save_metrics({"before_error": 1.0})

# %%
raise ValueError("boom in the third cell")
"""


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A throw-away project: the demo paper's notebook and params (tests add a notebook that fails)."""
    return demo_project(tmp_path)


def test_smoke_params_restate_the_config_defaults() -> None:
    import importlib

    from cmlib.protocol.config import from_params, load_yaml

    for folder in sorted((ROOT / "params").iterdir()):
        study = importlib.import_module(f"cmlib.studies.{folder.name}")
        assert from_params(study.Config, load_yaml(folder / "smoke.yaml")) == study.Config(), folder.name


def test_every_paper_profile_validates() -> None:
    for path in sorted((ROOT / "params").glob("*/*.yaml")):
        if path.stem in ("smoke", "study"):  # other profiles may point at real data absent here
            validate_params(ROOT, path.parent.name, path.stem)


def test_unknown_profile_and_key_fail_before_compute(project: Path) -> None:
    with pytest.raises(ConfigError, match=r"no such profile 'nope' for demo; available: paper, smoke, study"):
        validate_params(project, "demo", "nope")
    (project / "params" / "demo" / "typo.yaml").write_text("run: {seeds: [0], workerz: 3}\n")
    with pytest.raises(ConfigError, match=r"params/demo/typo.yaml.run: unknown key 'workerz' \(did you mean 'workers'\?\)"):
        validate_params(project, "demo", "typo")
    (project / "params" / "demo" / "broken.yaml").write_text("seeds: [0\n")
    with pytest.raises(ConfigError, match="broken.yaml: not valid YAML"):
        validate_params(project, "demo", "broken")


def test_main_reports_unknown_paper(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nosuchpaper", "--profile", "smoke"]) == 2
    assert "unknown paper 'nosuchpaper'" in capsys.readouterr().err


@pytest.mark.slow
def test_failing_notebook_is_named_and_good_reports_are_kept(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "notebooks" / "demo" / "02_fails.py").write_text(FAILING)
    old = project / "reports" / "demo" / "smoke" / "02_fails"
    old.mkdir(parents=True)
    (old / "metrics.json").write_text('{"paper": "demo", "notebook": "02_fails", "kept": true}')
    assert [p.name for p in list_notebooks(project, "demo")] == ["01_engine_demo.py", "02_fails.py"]

    failures = run(["demo"], "smoke", root=project, jobs=2)  # the pool's path (02 starts once 01 succeeded)

    assert failures == 1
    err = capsys.readouterr().err
    assert "FAILED notebooks/demo/02_fails.py: cell 3 (In [4]: 'raise ValueError(\"boom in the third cell\")')" in err and "ValueError: boom in the third cell" in err
    assert json.loads((old / "metrics.json").read_text())["kept"] is True  # the last good report survives
    assert (project / "reports" / "demo" / "smoke" / "02_fails.partial" / "02_fails.ipynb").is_file()
    good = project / "reports" / "demo" / "smoke" / "01_engine_demo"
    for name in ("01_engine_demo.ipynb", "01_engine_demo.html", "metrics.json", "run_info.json", "figures/accuracy_per_seed.png"):
        assert (good / name).is_file(), name
    assert json.loads((good / "run_info.json").read_text())["notebook_wall_time_s"] > 0
    assert str(project.resolve()) not in (good / "01_engine_demo.ipynb").read_text()  # no machine paths in reports
    assert "data:image/png;base64" in (good / "01_engine_demo.html").read_text()  # figures embedded: reads offline
    index = (project / "reports" / "README-smoke.md").read_text()  # smoke rows never reach the committed index
    assert "the trained model beats chance" in index and "01_engine_demo" in index
    assert "the trained model beats chance" not in (project / "reports" / "README.md").read_text()


def _report(root: Path, paper: str, profile: str, claims: list[dict]) -> None:
    folder = root / "reports" / paper / profile / "01_gzsl"
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"claims": claims}))
    (folder / "run_info.json").write_text(json.dumps({"wall_time_s": 12.5, "device": "cpu", "git_commit": "abc"}))


def test_index_lists_claims_counts_and_wall_times(tmp_path: Path) -> None:
    claim = {"claim": "H up", "statistic": "dH", "rule": "> 0", "paper": "+1.8 H (Table 3)", "n": 5, "mean": 0.1,
             "ci_low": 0.05, "ci_high": 0.15, "models": "", "verdict": "reproduced"}
    old = {**claim, "claim": "u up", "n": 1, "verdict": "not reproduced"}  # a pre-rule row: n = 1 decided
    bad = {**claim, "claim": "s up", "verdict": "invalid: WDHT at chance"}
    _report(tmp_path, "clarel", "study", [claim, old, bad])
    text = build_index(tmp_path).read_text()
    assert ("| clarel | study | [01_gzsl](clarel/study/01_gzsl/01_gzsl.html) | H up | dH > 0 | - | +1.8 H (Table 3) | "
            "0.1 | [0.05, 0.15] | 5 | - | **reproduced** |") in text
    assert "| u up | dH > 0 | - | +1.8 H (Table 3) | 0.1 | [0.05, 0.15] | 1 | - | **inconclusive (n < 3) [stored: " \
           "not reproduced]** |" in text
    # overview: level, notebooks, claims, findings, sanity checks, replicates, then the findings' verdict counts
    assert "| clarel | study | not recorded | 1 | 3 | 3 | 0 | 1-5 (1 with n < 3) | 1 | 0 | 1 | 1 (1 at chance claims) |" \
        in text
    assert "| 12.5 |" in text
    assert "| clarel | study | 0.2 |" in text  # the profile's total, in minutes


def test_index_counts_findings_once_per_comparison_and_leaves_out_sanity_checks(tmp_path: Path) -> None:
    base = {"statistic": "d", "rule": "> 0", "n": 5, "mean": 0.1, "ci_low": 0.05, "ci_high": 0.15, "margin": 0.02}
    rows = [{**base, "claim": "K=10 beats K=0", "comparison": "#7 vs #3", "verdict": "not reproduced"},
            {**base, "claim": "consistency beats distance", "comparison": "#7 vs #3", "verdict": "not reproduced"},
            {**base, "claim": "5-d beats 3-d", "comparison": "#7 vs #3", "verdict": "inconclusive"},
            {**base, "claim": "GRM-Net beats two-stage", "headline": True, "verdict": "reproduced (below the margin)"},
            {**base, "claim": "slower with restoration", "kind": "sanity", "verdict": "reproduced", "margin": None},
            {**base, "claim": "K=20 vs K=10", "verdict": "invalid: GRM-Net #7 still improving (+1.2 over the last "
                                                         "third)"}]
    _report(tmp_path, "grmnet", "study", rows)
    metrics = tmp_path / "reports" / "grmnet" / "study" / "01_gzsl" / "metrics.json"
    metrics.write_text(json.dumps({"claims": rows, "level": {"model": "GRM-Net #7", "metric": "COCO AP",
                                                              "ours": 12.3, "paper": 59.4, "source": "Table 1"}}))
    text = build_index(tmp_path).read_text()
    # 6 claims, 1 sanity check, 3 findings (the #7 vs #3 group counts once, as 'not reproduced': 2 of its 3 claims)
    assert ("| grmnet | study | GRM-Net #7 12.3 vs 59.4 COCO AP (21%) | 1 | 6 | 3 | 1 | 5 | 1 | 1 | 0 | "
            "1 (1 still improving claims) |") in text
    claims_part = text.split("## Claims")[1]
    assert claims_part.index("GRM-Net beats two-stage") < claims_part.index("K=10 beats K=0")  # headline first
    assert "**reproduced (below the margin)** (headline) |" in text and "**reproduced** (sanity check) |" in text
    assert "| d > 0 | 0.02 |" in text


def test_index_totals_the_wall_time_of_each_profile(tmp_path: Path) -> None:
    row = {"claim": "c", "n": 5, "mean": 1, "ci_low": 1, "ci_high": 1, "verdict": "reproduced"}
    _report(tmp_path, "grmnet", "study", [row])
    second = tmp_path / "reports" / "grmnet" / "study" / "02_ablation"
    second.mkdir(parents=True)
    (second / "metrics.json").write_text(json.dumps({"claims": [row]}))
    (second / "run_info.json").write_text(json.dumps({"notebook_wall_time_s": 107.5}))
    text = build_index(tmp_path).read_text()
    assert "| grmnet | study | 2.0 |" in text  # (12.5 + 107.5) s


def test_smoke_and_seed_override_runs_get_their_own_index(tmp_path: Path) -> None:
    row = {"claim": "smoke claim", "n": 3, "mean": 1, "ci_low": 1, "ci_high": 1, "verdict": "reproduced"}
    _report(tmp_path, "clarel", "study", [{**row, "claim": "study claim"}])
    _report(tmp_path, "clarel", "smoke", [row])
    _report(tmp_path, "clarel", "study-seeds10-14", [{**row, "claim": "override claim"}])
    committed = build_index(tmp_path).read_text()
    assert "study claim" in committed and "smoke claim" not in committed and "override claim" not in committed
    assert "smoke claim" in (tmp_path / "reports" / "README-smoke.md").read_text()
    assert "override claim" in (tmp_path / "reports" / "README-study-seeds10-14.md").read_text()


def test_seeds_override_parses_and_gets_its_own_folder(project: Path) -> None:
    from cmlib.runner import parse_seeds, plan, seeds_folder

    assert parse_seeds("10-14") == [10, 11, 12, 13, 14] and parse_seeds("0,3, 7") == [0, 3, 7]
    assert parse_seeds("0-2,9") == [0, 1, 2, 9]
    for bad in ("a-b", "5-3", "1,1", ""):
        with pytest.raises(ConfigError, match="--seeds"):
            parse_seeds(bad)
    assert seeds_folder("study", None) == "study" and seeds_folder("study", [12, 10, 11]) == "study-seeds10-12"
    assert seeds_folder("study", [0, 3]) == "study-seeds0_3"
    jobs = plan(project, ["demo"], "study", seeds=[10, 11, 12])
    assert jobs[0].params["run"]["seeds"] == [10, 11, 12]
    assert jobs[0].report_dir == Path("reports/demo/study-seeds10-12/01_engine_demo")


def test_only_keeps_the_named_notebooks(project: Path) -> None:
    from cmlib.runner import plan

    (project / "notebooks" / "demo" / "02_other.py").write_text(FAILING)
    assert [j.notebook.name for j in plan(project, ["demo"], "smoke", only="02_")] == ["02_other.py"]
    assert len(plan(project, ["demo"], "smoke")) == 2


def test_only_that_matches_nothing_names_the_pattern_and_the_notebooks(
        project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from cmlib.runner import plan

    with pytest.raises(ConfigError, match=r"--only '04_rael' matches no notebook of demo; available: demo/01_engine_demo"):
        plan(project, ["demo"], "smoke", only="01_engine,04_rael")  # one part matching is not enough
    monkeypatch.chdir(project)
    assert main(["demo", "--only", "nope"]) == 2
    assert "--only 'nope' matches no notebook of demo; available: demo/01_engine_demo" in capsys.readouterr().err


def test_ctrl_c_prints_one_line_keeps_the_previous_report_and_exits_130(
        project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from cmlib import runner

    old = project / "reports" / "demo" / "smoke" / "01_engine_demo"
    old.mkdir(parents=True)
    (old / "metrics.json").write_text('{"kept": true}')

    def interrupted(job: runner.Job, root: Path) -> runner.Outcome:
        (root / job.output).parent.mkdir(parents=True, exist_ok=True)  # a run stages into <name>.partial/
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "execute", interrupted)
    with pytest.raises(runner.Interrupted) as err:
        run(["demo"], "smoke", root=project)
    assert [j.notebook.stem for j in err.value.stopped] == ["01_engine_demo"]
    monkeypatch.chdir(project)
    capsys.readouterr()
    assert main(["demo", "--profile", "smoke"]) == 130
    lines = capsys.readouterr().err.strip().splitlines()
    want = ("interrupted: stopped demo/01_engine_demo; its previous report reports/demo/smoke/01_engine_demo/ is kept "
            "(the unfinished run is in reports/demo/smoke/01_engine_demo.partial/)")
    assert lines == [want]
    assert json.loads((old / "metrics.json").read_text())["kept"] is True


def _second_interrupted(job, root: Path):  # module level: the pool pickles it by name
    from cmlib import runner

    if job.notebook.stem == "02_other":
        raise KeyboardInterrupt  # what a worker process raises on Ctrl-C
    return runner.Outcome(job, True, 0.0)


def test_ctrl_c_in_parallel_names_the_stopped_notebook(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cmlib import runner

    (project / "notebooks" / "demo" / "02_other.py").write_text(FAILING)
    monkeypatch.setattr(runner, "execute", _second_interrupted)
    with pytest.raises(runner.Interrupted) as err:
        run(["demo"], "smoke", root=project, jobs=2)
    assert [j.notebook.stem for j in err.value.stopped] == ["02_other"]


TINY = """# %% tags=["parameters"]
params: dict = {}
report_dir = None

# %%
import sys
print("kernel ran", file=sys.stderr)
"""


def test_kernel_runs_without_the_tcp_warning(project: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """The kernel talks over IPC (unix sockets in a private temp folder): no 'running over TCP' warning, no socket
    file left in the project."""
    from cmlib.runner import Job, execute

    (project / "notebooks" / "demo" / "09_tiny.py").write_text(TINY)
    out = Path("build") / "tiny" / "09_tiny.ipynb"  # not staged: no HTML export, keeps the test fast
    outcome = execute(Job("demo", Path("notebooks/demo/09_tiny.py"), "smoke", {}, out.parent, out), project)
    assert outcome.ok, outcome.error
    assert "kernel ran" in (project / out).read_text()
    err = capfd.readouterr().err
    assert "without encryption" not in err and "over TCP" not in err, err
    assert not [p.name for p in project.iterdir() if p.name.startswith("kernel")]


def test_the_kernel_computes_under_the_jobs_jitter_draw(project: Path) -> None:
    """The runner hands its numeric jitter draw (cmlib.protocol.perturb) to the kernel with a start-up line; a golden
    band run carries its own draw, a plain run the runner process's."""
    from cmlib.protocol.perturb import jitter
    from cmlib.runner import Job, _band_jobs, execute, plan

    (project / "notebooks" / "demo" / "09_tiny.py").write_text(TINY + "from cmlib.protocol.perturb import jitter_seed\n"
                                                               "print('draw', jitter_seed())\n")
    out = Path("build") / "tiny" / "09_tiny.ipynb"
    outcome = execute(Job("demo", Path("notebooks/demo/09_tiny.py"), "smoke", {}, out.parent, out, jitter=7), project)
    assert outcome.ok, outcome.error
    assert "draw 7" in (project / out).read_text()
    with jitter(9):
        golden = plan(project, ["demo"], "smoke", golden=True, only="09_tiny")
    assert [j.jitter for j in golden + _band_jobs(golden)] == [9, 1, 2, 3, 4, 5, 6]


def test_notebooks_run_on_the_kernel_their_header_names_when_it_is_installed() -> None:
    from jupyter_client.kernelspec import KernelSpecManager

    from cmlib.runner import kernel_name

    installed = "cmlib" in KernelSpecManager().find_kernel_specs()
    assert kernel_name("cmlib") == ("cmlib" if installed else "python3")
    assert kernel_name("no-such-kernel") == kernel_name("") == "python3"  # a checkout without `make setup` still runs


def test_golden_runs_switch_progress_bars_off(project: Path) -> None:
    """A stored golden notebook (base and band runs) never carries a progress bar; report runs keep them."""
    from cmlib.runner import _band_jobs, plan

    golden = plan(project, ["demo"], "smoke", golden=True)
    assert all(("CMLIB_PROGRESS", "0") in j.env for j in golden + _band_jobs(golden))
    assert all(j.env == () for j in plan(project, ["demo"], "smoke"))
