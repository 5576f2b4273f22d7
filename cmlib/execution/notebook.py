"""What a notebook says first: which profile it runs, and on smoke, that its numbers are a seconds-long smoke run and
how to switch.

Every notebook's set-up cell is one call, :func:`setup`::

    cfg, rep = setup("clarel", "02_alpha_sweep", params, report_dir)

which moves to the project root, builds the paper's Config strictly from ``params``, opens the notebook's
:class:`~cmlib.execution.reporting.Report` and calls :func:`start`. :func:`start` writes run_info.json (``Report.run_info``) and displays a banner: the profile (named by the runner's
report folder, or in JupyterLab found by comparing the config with each ``params/<paper>/*.yaml``), a warning on
smoke with the one line that loads a named profile (``cmlib.protocol.config.profile_params``), and the resolved config folded
away (``<details>`` in HTML; not printed in full as text). Explorers first call :func:`explorer_params`, which in
JupyterLab, with no params given, picks the study profile when its model cache exists.
"""

from __future__ import annotations

import html
import importlib
import os
import pprint
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cmlib.execution.reporting import Report
from cmlib.protocol.config import ConfigError, from_params, profile_params, to_dict
from cmlib.protocol.files import project_root

__all__ = ["Banner", "explorer_params", "plain_script_notebook", "profile_of", "setup", "start"]

SMOKE = "smoke"
SWITCH = 'params = profile_params("{paper}", "study")'


def _profile_from_report_dir(report_dir: str | Path | None) -> str | None:
    """``.../reports/<paper>/<profile>/<notebook>[.partial]`` -> ``<profile>``; None in JupyterLab (no report_dir)
    and for the golden runs (``build/golden/...``), whose profile is found from the params instead."""
    parts = Path(report_dir).parts if report_dir else ()
    return parts[-2] if len(parts) >= 4 and parts[-4] == "reports" else None


def _load_profile(paper: str, profile: str) -> dict[str, Any]:
    """params/<paper>/<profile>.yaml as a mapping (``extends`` followed), found from any folder of the project."""
    return dict(profile_params(paper, profile))


def _profile_config(cls: type, paper: str, profile: str) -> Any:
    """The resolved config of a named profile as a dict, or None where it does not load here (``paper``: its real
    files absent; ``tuning.yaml``: a record, not a profile): such a profile cannot be this run's."""
    try:
        return to_dict(from_params(cls, _load_profile(paper, profile)))
    except Exception:  # noqa: BLE001 - any failure means "not this profile"
        return None


def profile_of(paper: str, cfg: Any, report_dir: str | Path | None = None) -> str:
    """The profile a notebook runs: the runner's report folder names it; otherwise the first of
    ``params/<paper>/*.yaml`` (smoke, then study, first) whose config equals ``cfg``, or ``"custom"`` when none does."""
    named = _profile_from_report_dir(report_dir)
    if named:
        return named
    folder = project_root() / "params" / paper
    names = sorted((p.stem for p in folder.glob("*.yaml")), key=lambda n: (n != SMOKE, n != "study", n))
    mine = to_dict(cfg)
    for name in names:
        if _profile_config(type(cfg), paper, name) == mine:
            return name
    return "custom"


def explorer_params(paper: str, params: Mapping[str, Any], report_dir: str | Path | None) -> dict[str, Any]:
    """An explorer's params: as given, except in JupyterLab with none given (``params = {}``, the smoke defaults)
    when the study profile's model cache exists: then the study profile, whose cached models it loads."""
    if report_dir or params:
        return dict(params)
    try:
        study = _load_profile(paper, "study")
    except (ConfigError, OSError):
        return {}
    cache = (study.get("run") or {}).get("cache_dir")
    if cache and (project_root() / cache).is_dir() and any((project_root() / cache).iterdir()):
        return study
    return {}


class Banner:
    """The first output of a notebook: its profile (and on smoke, a warning and how to switch) over the resolved
    config, folded away in HTML."""

    def __init__(self, paper: str, notebook: str, profile: str, cfg: Any, interactive: bool) -> None:
        self.paper, self.notebook, self.profile, self.cfg, self.interactive = paper, notebook, profile, cfg, interactive

    def lines(self) -> list[str]:
        """The banner as plain lines."""
        where = "in JupyterLab" if self.interactive else "by the runner"
        head = f"{self.paper}/{self.notebook}: {self.profile} profile, run {where}."
        if self.profile == SMOKE:
            switch = (f"`from cmlib.protocol.config import profile_params; {SWITCH.format(paper=self.paper)}` in any cell, "
                      "then run the set-up cell and all below it (minutes; models the study run cached are loaded, "
                      "not retrained)") if self.interactive else (
                      f"`python -m cmlib.runner {self.paper} --profile study` (reports/{self.paper}/study/)")
            warning = ("These are the numbers of a seconds-long smoke run (tiny world, few steps): they test the "
                       "pipeline and say nothing about the paper.")
            return [head, warning, f"For the study's numbers: {switch}."]
        if self.profile == "custom":
            return [head, "The params match no params/<paper>/*.yaml profile."]
        cache = getattr(getattr(self.cfg, "run", None), "cache_dir", None)
        note = [f"Models cached in {cache} are loaded; any missing is trained (minutes)."] if (
            cache and self.interactive) else []
        return [head, *note]

    def __repr__(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        colour = "#fff3cd" if self.profile == SMOKE else "#e7f1ff"
        body = "<br>".join(html.escape(line).replace("`", "") for line in self.lines())
        config = html.escape(pprint.pformat(to_dict(self.cfg), width=110, sort_dicts=False))
        return (f'<div style="background:{colour};border:1px solid #ccc;padding:6px 10px;margin:2px 0">'
                f"<b>{body}</b><details><summary>resolved config</summary><pre>{config}</pre></details></div>")


def _in_ipython() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None


def plain_script_notebook() -> Path | None:
    """The notebook file run as a plain script (``python notebooks/demo/01_engine_demo.py``), or None (a kernel, the
    runner, a test)."""
    if _in_ipython():
        return None
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if not main_file:
        return None
    path = Path(main_file).resolve()
    return path if path.suffix == ".py" and path.parent.parent.name == "notebooks" else None


def _refuse_plain_script(rep: Report) -> None:
    """Stop a notebook run as a plain script at once, with one line saying how to run it.

    As a script, the notebook's replicates would start worker processes that re-import the script itself as their
    main module and die in multiprocessing's bootstrapping (``BrokenProcessPool``).
    """
    path = plain_script_notebook()
    if path is None:
        return
    print(f"{path.name} is a notebook (jupytext py:percent), not a script: run it with `python -m cmlib.runner "
          f"{rep.paper} --profile smoke --only {rep.notebook}` (report in reports/{rep.paper}/smoke/{rep.notebook}/) "
          "or open it in JupyterLab", file=sys.stderr)
    raise SystemExit(2)


def start(rep: Report, cfg: Any, report_dir: str | Path | None = None) -> None:
    """Write run_info.json and display the notebook's banner (:class:`Banner`) as its first output (printed as text
    outside IPython)."""
    _refuse_plain_script(rep)
    rep.run_info(cfg)
    banner = Banner(rep.paper, rep.notebook, profile_of(rep.paper, cfg, report_dir), cfg, interactive=not report_dir)
    if _in_ipython():
        from IPython.display import display

        display(banner)
    else:
        print(banner)


def setup(paper: str, notebook: str, params: Mapping[str, Any] | None, report_dir: str | Path | None, *,
          explorer: bool = False) -> tuple[Any, Report]:
    """A notebook's whole set-up: move to the project root (params and reports paths are relative to it), build
    ``cmlib.studies.<paper>.Config`` strictly from ``params`` (an explorer first picks its profile with
    :func:`explorer_params`), open the notebook's :class:`Report` on ``report_dir`` (None in JupyterLab:
    ``reports/<paper>/interactive/<notebook>``) and show the banner (:func:`start`).

    Returns:
        ``(cfg, rep)``.

    Raises:
        ConfigError: a bad key or value in ``params`` (one line naming it).
    """
    os.chdir(project_root())
    if explorer:
        params = explorer_params(paper, params or {}, report_dir)
    cfg = from_params(importlib.import_module(f"cmlib.studies.{paper}").Config, params)
    rep = Report(report_dir, paper=paper, notebook=notebook)
    start(rep, cfg, report_dir)
    return cfg, rep

