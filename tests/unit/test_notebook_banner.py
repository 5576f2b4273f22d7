"""A notebook's first output says which profile it runs; on smoke, that its numbers mean nothing and how to switch;
explorers in JupyterLab pick the study profile where its models are cached."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import demo_project

from cmlib.execution.notebook import Banner, explorer_params, profile_of
from cmlib.protocol.config import from_params, load_yaml
from cmlib.studies import demo


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = demo_project(tmp_path / "p")
    monkeypatch.chdir(root)
    return root


def test_profile_is_named_by_the_runner_or_found_from_the_params(project: Path) -> None:
    smoke = from_params(demo.Config, {})
    study = from_params(demo.Config, load_yaml(project / "params" / "demo" / "study.yaml"))
    assert profile_of("demo", smoke) == "smoke" and profile_of("demo", study) == "study"
    assert profile_of("demo", from_params(demo.Config, {"n_train": 100})) == "custom"
    assert profile_of("demo", smoke, "reports/demo/study/01_engine_demo.partial") == "study"
    assert profile_of("demo", smoke, "build/golden/demo/01_engine_demo") == "smoke"  # golden runs: from the params


def test_smoke_banner_warns_and_names_the_one_line_that_switches(project: Path) -> None:
    lab = Banner("demo", "01_engine_demo", "smoke", from_params(demo.Config, {}), interactive=True)
    text = repr(lab)
    assert text.startswith("demo/01_engine_demo: smoke profile, run in JupyterLab.")
    assert "say nothing about the paper" in text and 'params = profile_params("demo", "study")' in text
    assert "<details><summary>resolved config</summary>" in lab._repr_html_()
    runner = repr(Banner("demo", "01_engine_demo", "smoke", from_params(demo.Config, {}), interactive=False))
    assert "python -m cmlib.runner demo --profile study" in runner
    study = repr(Banner("demo", "01_engine_demo", "study", from_params(demo.Config, {}), interactive=False))
    assert study == "demo/01_engine_demo: study profile, run by the runner."


def test_explorers_in_lab_take_the_study_profile_where_its_cache_exists(project: Path) -> None:
    study = load_yaml(project / "params" / "demo" / "study.yaml")
    assert explorer_params("demo", {}, None) == {}  # no cache yet: smoke
    (project / study["run"]["cache_dir"]).mkdir(parents=True)
    (project / study["run"]["cache_dir"] / "model.pt").write_bytes(b"")
    assert explorer_params("demo", {}, None) == study
    assert explorer_params("demo", {}, "reports/demo/smoke/05_explore.partial") == {}  # the runner's choice stands
    assert explorer_params("demo", {"run": {"seeds": [1]}}, None) == {"run": {"seeds": [1]}}  # the user's params stand
