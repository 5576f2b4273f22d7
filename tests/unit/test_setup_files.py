"""The set-up files agree with each other: one dependency list, exact torch pins, the newcomer's two commands."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_torch_and_torchvision_are_pinned_exactly() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "torch==2.14.1" in deps and "torchvision==0.29.1" in deps


def test_environment_yml_installs_from_pyproject() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps and "pip" in deps
    assert {"pip": ["-e .[dev]"]} in deps  # nothing else, so it never drifts from pyproject.toml


def test_readme_starts_with_the_two_commands_and_ci_runs_make_test() -> None:
    first = [ln.strip() for ln in (ROOT / "README.md").read_text().splitlines()[:2]]
    assert first[0].startswith("make study") and first[1].startswith("make test")
    ci = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert ci[-1].strip() == "make test"


def _make_dry_run(*args: str) -> list[str]:
    """The runner command lines ``make -n`` would execute (nothing runs)."""
    out = subprocess.run(["make", "-n", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout
    return [ln for ln in out.splitlines() if "-m cmlib.runner" in ln]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_smoke_runs_every_paper_or_the_one_named() -> None:
    assert [ln.split("-m ", 1)[1] for ln in _make_dry_run("smoke")] == ["cmlib.runner all --profile smoke --jobs 1"]
    assert [ln.split("-m ", 1)[1] for ln in _make_dry_run("smoke", "PAPER=clarel", "JOBS=2")] == [
        "cmlib.runner clarel --profile smoke --jobs 2"]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_study_runs_every_paper_or_the_one_named() -> None:
    assert [ln.split("-m ", 1)[1] for ln in _make_dry_run("study")] == ["cmlib.runner all --profile study --jobs 1"]
    assert [ln.split("-m ", 1)[1] for ln in _make_dry_run("study", "PAPER=grmnet")] == [
        "cmlib.runner grmnet --profile study --jobs 1"]


def test_lab_overrides_make_jupytext_the_default_viewer_of_python_files() -> None:
    """The file `make setup` installs into the venv (the REST check of the running server is test_jupyterlab.py)."""
    import json

    overrides = json.loads((ROOT / "jupyter" / "lab-overrides.json").read_text())
    assert overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]["python"] == "Jupytext Notebook"
    assert "jupyter/lab-overrides.json" in (ROOT / "Makefile").read_text()
