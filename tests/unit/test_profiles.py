"""Profiles that compose: dotted overrides, ``extends``, one default profile, the notebook helper (issue 27, item 3)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import demo_project

from cmlib.execution.index import committed_profile
from cmlib.protocol.config import ConfigError, from_params, load_profile, load_yaml, parse_overrides, profile_params
from cmlib.runner import DEFAULT_PROFILE, _parse, main, plan, report_folder, validate_params

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    return demo_project(tmp_path)


def test_dotted_overrides_parse_as_yaml_values() -> None:
    got = parse_overrides(["fit.max_steps=600", "fit.accelerator=gpu", "seeds=[0,1]", "cache_dir=null", "lrs=[1e-3]"])
    assert got == {"fit": {"max_steps": 600, "accelerator": "gpu"}, "seeds": [0, 1], "cache_dir": None,
                   "lrs": [0.001]}
    for bad in ("fit.max_steps", "=3", "fit..max_steps=3"):
        with pytest.raises(ConfigError, match=rf"^override '{re.escape(bad)}': expected dotted.key=value"):
            parse_overrides([bad])
    with pytest.raises(ConfigError, match=r"^override 'seeds=\[0,': the value is not valid YAML \("):
        parse_overrides(["seeds=[0,"])


def test_overrides_merge_into_sections_and_are_checked_strictly(project: Path) -> None:
    params = validate_params(project, "demo", "study", overrides=["run.workers=1", "n_val=${n_train}"])
    study = load_yaml(project / "params" / "demo" / "study.yaml")
    assert params == {**study, "n_val": 2048, "run": {**study["run"], "workers": 1}}  # seeds, cache_dir kept
    with pytest.raises(ConfigError, match=r"run: unknown key 'worker' \(did you mean 'workers'\?\)"):
        validate_params(project, "demo", "study", overrides=["run.worker=7"])
    with pytest.raises(ConfigError, match=r"study.yaml \+ overrides.run.workers: expected int, got str 'many'"):
        validate_params(project, "demo", "study", overrides=["run.workers=many"])


def test_a_setting_of_before_the_run_section_names_its_new_place(project: Path) -> None:
    for old, new in (("seeds=[1]", "run.seeds"), ("jobs=2", "run.workers"), ("num_threads=1", "run.threads"),
                     ("fit.accelerator=gpu", "run.device"), ("cache_dir=null", "run.cache_dir")):
        with pytest.raises(ConfigError, match=rf"'{old.split('=')[0].split('.')[0]}' is now '{new}' \(the run section"):
            validate_params(project, "demo", "study", overrides=[old])


def test_a_typo_in_a_section_name_names_the_section() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'trian' \(did you mean 'train'\?\)"):
        validate_params(ROOT, "clarel", "study", overrides=["trian.steps=1"])


def test_an_override_run_gets_its_own_uncommitted_folder(project: Path) -> None:
    jobs = plan(project, ["demo"], "study", overrides=["steps=5", "n_val=64"])
    folder = report_folder("study", None, ["n_val=64", "steps=5"])  # the order does not matter
    assert re.fullmatch(r"study\+[0-9a-f]{8}", folder) and folder != report_folder("study", None, ["n_val=65"])
    assert jobs[0].report_dir == Path("reports/demo") / folder / "01_engine_demo"
    assert (jobs[0].params["steps"], jobs[0].params["log_every"]) == (5, 50)
    assert report_folder("study", [10, 11], ["n_val=64"]).startswith("study-seeds10-11+")
    assert not committed_profile(folder) and committed_profile("study") and committed_profile("my_gpu")


def test_extends_starts_from_another_profile(project: Path) -> None:
    folder = project / "params" / "demo"
    (folder / "longer.yaml").write_text("extends: study\nsteps: 900\n")
    (folder / "longer_gpu.yaml").write_text("extends: longer\nrun: {device: {accelerator: gpu}, seeds: [7]}\n")
    study = load_yaml(folder / "study.yaml")
    assert load_profile(folder, "longer_gpu") == {**study, "steps": 900,
                                                  "run": {**study["run"], "seeds": [7], "device": {"accelerator": "gpu"}}}
    (folder / "loop_a.yaml").write_text("extends: loop_b\n")
    (folder / "loop_b.yaml").write_text("extends: loop_a\n")
    with pytest.raises(ConfigError, match=r"'extends' loops: loop_a -> loop_b -> loop_a"):
        load_profile(folder, "loop_a")
    (folder / "orphan.yaml").write_text("extends: studdy\n")
    with pytest.raises(ConfigError, match=r"orphan.yaml: extends: no such profile 'studdy' .*available: .*study"):
        validate_params(project, "demo", "orphan")


def test_the_readme_gpu_example_runs_the_study_sizes(tmp_path: Path) -> None:
    """README's params/clarel/my_gpu.yaml ("the study profile on one GPU") resolves to study.yaml plus its fit."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index("    # params/clarel/my_gpu.yaml: the study profile on one GPU") + 1
    block = "\n".join(ln[4:] for ln in lines[start:lines.index("", start)])
    folder = tmp_path / "params" / "clarel"
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "params" / "clarel" / "study.yaml", folder)
    (folder / "my_gpu.yaml").write_text(block)
    from cmlib.studies import clarel

    gpu = from_params(clarel.Config, load_profile(folder, "my_gpu"))
    study = from_params(clarel.Config, load_yaml(folder / "study.yaml"))
    assert gpu.run.device.accelerator == "gpu" and gpu.run.device.precision == "bf16-mixed" and gpu.run.device.pin_memory
    assert gpu.train == study.train and gpu.world == study.world and gpu.run.seeds == study.run.seeds
    assert gpu.train != clarel.Config().train  # study sizes, not the smoke defaults


def test_one_default_profile_for_the_runner_and_the_makefile() -> None:
    args = _parse(["demo", "steps=3", "--jobs", "2", "n_val=64"])
    assert (args.papers, args.overrides, args.profile) == (["demo"], ["steps=3", "n_val=64"], DEFAULT_PROFILE)
    assert re.search(rf"^PROFILE \?= {DEFAULT_PROFILE}$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert DEFAULT_PROFILE == "study"


def test_the_runner_refuses_a_bad_override_before_compute(project: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(project)
    assert main(["demo", "rnu.workers=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown key 'rnu' (did you mean 'run'?)" in err
    assert main(["demo", "--golden", "steps=1"]) == 2
    assert not (project / "reports").exists()


def test_profile_params_works_from_any_folder_of_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT / "notebooks" / "demo")
    got = profile_params("demo", "study", ["steps=5"])
    assert got == validate_params(ROOT, "demo", "study", overrides=["steps=5"])
    assert profile_params("demo") == load_yaml(ROOT / "params" / "demo" / "study.yaml")


#: every CPU profile the runner scores (``make study``'s study profiles and the real-data ones such as cub100 and
#: mirflickr_tags): all but the smoke and GPU-size paper profiles and the tuning records, so a profile added later is
#: checked too
CPU_PROFILES = sorted((p.parent.name, p.stem) for p in (ROOT / "params").glob("*/*.yaml")
                      if p.stem not in ("smoke", "paper", "tuning"))


@pytest.mark.parametrize("paper,profile", CPU_PROFILES)
def test_every_cpu_study_profile_runs_its_replicates_on_every_core(paper: str, profile: str) -> None:
    """A CPU profile of several replicates (:data:`CPU_PROFILES`) must not leave a core of the 2-core machine idle:
    ``run.workers`` 1 (RunConfig's default) runs them one after another in the notebook's process. WHCMT's profiles
    did so until 2026-12-07 (its mirflickr_tags notebook 01: 1208 s on one process at 100% CPU)."""
    import importlib

    study = importlib.import_module(f"cmlib.studies.{paper}")
    cfg = from_params(study.Config, load_profile(ROOT / "params" / paper, profile))
    assert len(cfg.run.seeds) >= 2
    assert cfg.run.workers != 1, f"params/{paper}/{profile}.yaml: run.workers is 1, expected 0 (one per core) or >= 2"
