"""Run a paper's notebooks on a params profile into ``reports/`` (and make the golden notebooks for nbval).

    python -m cmlib.runner clarel whcmt --profile study [--jobs 2]
    python -m cmlib.runner all --profile smoke
    python -m cmlib.runner clarel train.steps=600 fit.accelerator=gpu   # study profile + dotted overrides
    python -m cmlib.runner clarel --golden            # smoke params -> tests/notebooks/golden/clarel/

For each notebook ``notebooks/<paper>/NN_name.py`` (jupytext py:percent) the runner

1. validates ``params/<paper>/<profile>.yaml`` (``extends`` followed, dotted ``key=value`` overrides merged over it:
   :func:`cmlib.protocol.config.load_profile`, :func:`cmlib.protocol.config.parse_overrides`) against ``cmlib.studies.<paper>.Config``
   (strict: a typo fails here, before any compute),
2. turns the .py into a notebook in memory (papermill reads only JSON notebooks) and executes it with papermill from
   the project root, injecting ``params`` and ``report_dir``, on the kernel its header names (the project kernel
   ``cmlib``, :func:`kernel_name`),
3. writes ``reports/<paper>/<profile>/<name>/``: the executed ``<name>.ipynb``, ``<name>.html`` (figures embedded),
   the notebook's own ``metrics.json``, ``run_info.json`` and ``figures/``.

A notebook runs in ``<name>.partial/`` and replaces ``<name>/`` only when it succeeds, so a failure never destroys the
last good report; the failed run stays in ``<name>.partial/`` for inspection. ``reports/README.md`` is rebuilt from
every metrics.json at the end. A failing notebook makes the runner exit 1, naming the notebook, the cell and the error;
Ctrl-C exits 130 with one line naming the notebooks stopped (their previous reports are kept).

Notebook 01 of a paper trains (and caches) the models its later notebooks read (:func:`prerequisites`): those wait
for it, and when it fails they are not started (each is named, skipped, counted as a failure, its report kept), so
they do not train everything again. Other papers' notebooks still run.

The runner is the harness's command line: it reads the test-only ``CMLIB_NUMERIC_JITTER=<int>`` (the library reads no
environment variable, :mod:`cmlib.protocol.perturb`) and sets that draw in every kernel it starts with a start-up line
(:func:`kernel_arguments`); ``--golden``'s band runs set their own draws (:func:`cmlib.execution.golden.variants`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cmlib.execution import golden as golden_bands
from cmlib.execution.index import (  # <profile>-seeds<spec>/, <profile>+<hash>/
    OVERRIDES_MARK,
    SEEDS_MARK,
    build_index,
    committed_profile,
)
from cmlib.execution.reporting import machine_fingerprint
from cmlib.execution.site import SITE_NAME
from cmlib.protocol.config import ConfigError, from_params, load_profile, merge_params, parse_overrides
from cmlib.protocol.files import project_root, write_json_atomic
from cmlib.protocol.perturb import ENV as JITTER_ENV
from cmlib.protocol.perturb import jitter, jitter_line, jitter_seed, parse_jitter

try:  # the kernel manager papermill's client starts (jupyter_client ships with papermill)
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import Unicode
except ImportError:  # pragma: no cover - papermill missing: the runner cannot execute notebooks anyway
    AsyncKernelManager, Unicode = object, (lambda *a, **k: "")  # type: ignore[assignment,misc]

__all__ = ["Interrupted", "Job", "build_index", "list_notebooks", "list_papers", "main", "make_golden", "prerequisites",
           "run", "scrub_paths", "validate_params"]

GOLDEN_ENV = (("CMLIB_PROGRESS", "0"),)  # a stored golden notebook carries no progress bar (cmlib.protocol.engine.progress_bar)
STRIP_KEYS = "metadata.papermill cell.metadata.papermill cell.metadata.execution metadata.widgets"
GOLDEN_DIR = Path("tests/notebooks/golden")
GOLDEN_REPORTS = Path("build/golden")
GOLDEN_BAND = Path("build/golden-band")  # <variant>/<paper>/<notebook>: the perturbed runs that measure the bands
GOLDEN_MACHINE = "machine.json"  # per paper: the machine_fingerprint of the machine that made its goldens
# The profile of `python -m cmlib.runner <paper>` and of `make report` (Makefile: PROFILE ?= study; a test checks they
# agree): the embedded-default study, what `make study` runs and reports/ commits. Smoke numbers (n = 3, tiny worlds)
# look like results and are not; fast feedback is one word away (--profile smoke).
DEFAULT_PROFILE = "study"
OVERRIDES_FILE = "overrides.yaml"  # in that folder: the profile and the overrides the hash stands for
KERNEL_STDERR = "kernel.stderr"  # in the kernel's private folder: its process's stderr
# The number of the notebook that trains what a paper's later notebooks read (clarel.run_study, grmnet.run_study, the
# replicate caches of whcmt and deskpro: the later notebooks load "notebook 01's replicates" from the cache).
TRAINING_NOTEBOOK = "01"


@dataclass(frozen=True)
class Job:
    """One notebook execution: which notebook, which params, where its report goes."""

    paper: str
    notebook: Path  # notebooks/<paper>/NN_name.py, relative to the root
    profile: str
    params: dict[str, Any]
    report_dir: Path  # final report folder, relative to the root
    output: Path  # executed .ipynb path (inside the staging folder, or the golden path)
    env: tuple[tuple[str, str], ...] = ()  # environment overrides of the kernel (golden band runs only)
    jitter: int = 0  # the test-only numeric jitter draw the kernel computes under (cmlib.protocol.perturb; 0: off)
    variant: str = ""  # the golden band variant ("" for reports and the golden itself)
    progress_every: float = 30.0  # seconds between live-progress lines of a long cell (cmlib.execution.progress); 0: silent


@dataclass(frozen=True)
class Outcome:
    """How a job ended: ``ok``, or the ``error`` line; ``skipped``: never started, because its prerequisite failed."""

    job: Job
    ok: bool
    seconds: float
    error: str = ""
    skipped: bool = False


def list_papers(root: Path) -> list[str]:
    """Papers that have a notebooks/<paper>/ folder with at least one NN_*.py notebook."""
    base = root / "notebooks"
    return sorted(p.name for p in base.iterdir() if p.is_dir() and list_notebooks(root, p.name)) if base.is_dir() else []


def list_notebooks(root: Path, paper: str) -> list[Path]:
    """notebooks/<paper>/NN_name.py, sorted, relative to ``root``."""
    return sorted(p.relative_to(root) for p in (root / "notebooks" / paper).glob("[0-9][0-9]_*.py"))


def validate_params(root: Path, paper: str, profile: str, seeds: Sequence[int] | None = None,
                    overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Load params/<paper>/<profile>.yaml (``extends`` followed), merge the dotted ``overrides`` over it and check the
    result against ``cmlib.studies.<paper>.Config``.

    Returns the mapping to inject (as written by the user; the notebook builds the config itself).

    Raises:
        ConfigError: unknown profile (listing the available ones), bad YAML, a malformed override, unknown key (with
            the closest valid one), wrong type, missing path.
    """
    folder = root / "params" / paper
    path = folder / f"{profile}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        raise ConfigError(f"{path.relative_to(root)}: no such profile {profile!r} for {paper}; available: {', '.join(known) or 'none'}")
    params = load_profile(folder, profile)
    if overrides:
        params = merge_params(params, parse_overrides(overrides))
    if seeds is not None:
        params = merge_params(params, {"run": {"seeds": list(seeds)}})  # --seeds: one run's replicates, own folder
    try:
        study = importlib.import_module(f"cmlib.studies.{paper}")
    except ModuleNotFoundError as err:
        raise ConfigError(f"paper {paper!r}: cannot import cmlib.studies.{paper} ({err})") from None
    cwd = Path.cwd()
    os.chdir(root)  # paths in params are relative to the project root
    try:
        if seeds is not None and "run" not in {f.name for f in dataclasses.fields(study.Config)}:
            raise ConfigError(f"--seeds: cmlib.studies.{paper}.Config has no run section (run.seeds)")
        where = str(path.relative_to(root)) + (" + overrides" if overrides else "")
        from_params(study.Config, params, where=where)
    finally:
        os.chdir(cwd)
    return params


def parse_seeds(spec: str) -> list[int]:
    """``"10-14"`` -> [10, 11, 12, 13, 14]; ``"0,3,7"`` and mixes (``"0-2,9"``) too.

    Raises:
        ConfigError: not a list of non-negative integers and ranges, or a seed named twice.
    """
    seeds: list[int] = []
    for part in spec.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m or (m.group(2) is not None and int(m.group(2)) < int(m.group(1))):
            raise ConfigError(f"--seeds {spec!r}: expected integers and ranges like '10-14' or '0,3,7', got {part!r}")
        lo = int(m.group(1))
        seeds += list(range(lo, int(m.group(2) or lo) + 1))
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {spec!r}: a seed is named twice")
    return seeds


def seeds_folder(profile: str, seeds: Sequence[int] | None) -> str:
    """The report folder of a profile: ``study``, or ``study-seeds10-14`` for a --seeds override run."""
    if seeds is None:
        return profile
    s = sorted(seeds)
    label = f"{s[0]}-{s[-1]}" if s == list(range(s[0], s[-1] + 1)) else "_".join(map(str, s))
    return f"{profile}{SEEDS_MARK}{label}"


def report_folder(profile: str, seeds: Sequence[int] | None, overrides: Sequence[str] = ()) -> str:
    """The report folder of a run: :func:`seeds_folder`, then ``+<hash>`` when dotted overrides changed the profile
    (``study+1a2b3c4d``; the hash covers the parsed overrides, so their order does not matter)."""
    folder = seeds_folder(profile, seeds)
    if not overrides:
        return folder
    blob = json.dumps(parse_overrides(overrides), sort_keys=True).encode()
    return f"{folder}{OVERRIDES_MARK}{hashlib.sha256(blob).hexdigest()[:8]}"


def plan(root: Path, papers: Sequence[str], profile: str, *, golden: bool = False, only: str = "",
         seeds: Sequence[int] | None = None, overrides: Sequence[str] = ()) -> list[Job]:
    """Validate every params file first, then list the jobs (nothing runs if any params file is wrong).

    ``only``: comma-separated parts of notebook names to keep (e.g. ``"04_real"``); empty keeps every notebook.
    ``seeds``: replaces the profile's ``seeds``; the reports go to ``reports/<paper>/<profile>-seeds<...>/``.
    ``overrides``: dotted ``key=value`` items merged over the profile; the reports go to
    ``reports/<paper>/<profile>+<hash>/`` (:func:`report_folder`), never over the profile's own.

    Raises:
        ConfigError: a params file is wrong, or a part of ``only`` matches no notebook (naming it and the notebooks).
    """
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    _check_only(root, papers, wanted)
    jobs = []
    for paper in papers:
        params = validate_params(root, paper, profile, seeds, overrides)
        for nb in list_notebooks(root, paper):
            if wanted and not any(w in nb.stem for w in wanted):
                continue
            name = nb.stem
            if golden:
                report = GOLDEN_REPORTS / paper / name
                output = GOLDEN_DIR / paper / f"{name}.ipynb"
            else:
                report = Path("reports") / paper / report_folder(profile, seeds, overrides) / name
                output = report.with_name(f"{name}.partial") / f"{name}.ipynb"
            env = GOLDEN_ENV if golden else ()
            jobs.append(Job(paper, nb, profile, params, report, output, env, jitter=jitter_seed()))
    return jobs


def _check_only(root: Path, papers: Sequence[str], wanted: Sequence[str]) -> None:
    """Raise :class:`ConfigError` if a part of ``--only`` matches no notebook of ``papers`` (a typo runs nothing)."""
    available = [f"{paper}/{nb.stem}" for paper in papers for nb in list_notebooks(root, paper)]
    missing = [w for w in wanted if not any(w in name.split("/", 1)[1] for name in available)]
    if missing:
        raise ConfigError(f"--only {missing[0]!r} matches no notebook of {', '.join(papers)}; "
                          f"available: {', '.join(available) or 'none'}")


def execute(job: Job, root: Path) -> Outcome:
    """Run one notebook with papermill; on success move its staging folder over the report folder."""
    import jupytext
    import papermill as pm

    from cmlib.execution.progress import ENGINE_NAME as PROGRESS_ENGINE
    from cmlib.execution.progress import NotebookProgress, last_wall_time, reporting

    t0 = time.perf_counter()
    stage = job.output.parent if job.output.parent.name.endswith(".partial") else None
    report_dir = job.report_dir.with_name(f"{job.report_dir.name}.partial") if stage else job.report_dir
    if stage is not None:
        shutil.rmtree(root / stage, ignore_errors=True)
    (root / job.output).parent.mkdir(parents=True, exist_ok=True)
    nb = jupytext.read(root / job.notebook)
    saved = {k: os.environ.get(k) for k, _ in job.env}
    os.environ.update(dict(job.env))  # the kernel inherits it; restored below
    label = f"{job.paper}/{job.notebook.stem} ({job.profile}{f', {job.variant}' if job.variant else ''})"
    expected = last_wall_time(root / job.report_dir) if stage is not None else None
    kernel_log: list[str] = []  # the kernel's stderr tail, read before its folder goes
    try:
        with ipc_kernel() as kernel_kwargs, reporting(NotebookProgress(label, expected, every=job.progress_every)):
            try:
                pm.execute_notebook(
                    nb,
                    str(root / job.output),
                    parameters={"params": job.params, "report_dir": str(report_dir)},
                    kernel_name=kernel_name(nb.metadata.get("kernelspec", {}).get("name", "")),
                    language="python",
                    cwd=str(root),
                    progress_bar=False,
                    engine_name=PROGRESS_ENGINE,
                    extra_arguments=kernel_arguments(job.jitter),
                    **kernel_kwargs,
                )
            except Exception:
                kernel_log.append(_kernel_stderr_tail(kernel_kwargs))
                raise
    except pm.PapermillExecutionError as err:
        first = _cell_first_line(root / job.output, err.exec_count)
        msg = f"cell {err.cell_index} (In [{err.exec_count}]: {first!r}) raised {err.ename}: {err.evalue}"
        return Outcome(job, False, time.perf_counter() - t0, msg)
    except Exception as err:  # noqa: BLE001 - kernel died, timeout...: report and go on with the others
        tail = "".join(kernel_log)
        msg = f"{type(err).__name__}: {err}" + (f"\nthe kernel's stderr ended with:\n{tail}" if tail else "")
        return Outcome(job, False, time.perf_counter() - t0, msg)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    staged = {str(report_dir): str(job.report_dir)} if stage is not None else {}
    scrub_paths(root / job.output, root, source=job.notebook, replace=staged)
    if stage is not None:
        _export_html(root / job.output, title=f"{job.paper} / {job.notebook.stem} ({job.report_dir.parent.name})")
        _record_wall_time(root / stage / "run_info.json", time.perf_counter() - t0)
        final = root / job.report_dir
        shutil.rmtree(final, ignore_errors=True)
        (root / stage).rename(final)
    return Outcome(job, True, time.perf_counter() - t0)


def kernel_name(wanted: str) -> str:
    """The kernel a notebook runs on: the one its header names (``cmlib``, the project kernel that ``make setup``
    installs into the venv: its python with ``PYTHONHASHSEED=0``) when it is installed, else ``python3`` (this
    interpreter; :func:`run` exports ``PYTHONHASHSEED=0`` to it), so a checkout without ``make setup`` still runs."""
    from jupyter_client.kernelspec import KernelSpecManager

    return wanted if wanted and wanted in KernelSpecManager().find_kernel_specs() else "python3"


def kernel_arguments(draw: int) -> list[str]:
    """Command-line arguments of a notebook kernel that computes under the numeric jitter ``draw`` (none when 0): a
    start-up line (IPython's ``exec_lines``, run before the first cell) sets it in the kernel's process, which reads no
    environment variable for it (:mod:`cmlib.protocol.perturb`)."""
    return [f"--IPKernelApp.exec_lines={jitter_line(draw)}"] if draw else []


class QuietKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel writes its own stderr (ipykernel's log: on Ctrl-C about 20 lines of
    ``[IPKernelApp] ERROR ... ZMQError``) to ``stderr_path`` instead of the runner's terminal. What a cell prints
    reaches the notebook over the kernel's sockets either way; the file's tail joins the error of a kernel that died."""

    stderr_path = Unicode("", config=True, help="file that receives the kernel process's stderr ('' = inherit)")

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        if not self.stderr_path:
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        fd = os.open(self.stderr_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:  # the kernel process holds its own copy of the descriptor
            return await super()._async_launch_kernel(kernel_cmd, **{**kw, "stderr": fd})
        finally:
            os.close(fd)


@contextlib.contextmanager
def ipc_kernel() -> Iterator[dict[str, Any]]:
    """Keyword arguments of ``papermill.execute_notebook``: a quiet kernel (:class:`QuietKernelManager`) that talks
    over IPC instead of TCP.

    papermill hands extra keywords to ``nbclient.NotebookClient``, whose traitlets ``config`` reaches the
    ``jupyter_client.KernelManager`` it creates: ``KernelManager.transport = "ipc"`` makes the kernel talk over unix
    sockets, which ipykernel does not warn about ("Kernel is running over TCP without encryption"). The sockets and
    the kernel's stderr (``kernel.stderr``) live in a fresh private folder (mode 0700: only this user can connect),
    one per kernel so parallel jobs never share a name, removed afterwards. Where zmq has no IPC (Windows), the
    transport stays TCP.
    """
    import zmq
    from traitlets.config import Config

    folder = tempfile.mkdtemp(prefix="cmlib-kernel-")
    manager: dict[str, Any] = {"stderr_path": os.path.join(folder, KERNEL_STDERR)}
    if zmq.has("ipc"):
        manager.update(transport="ipc", ip=os.path.join(folder, "kernel"))
    try:
        yield {"config": Config({"NotebookClient": {"kernel_manager_class": QuietKernelManager},
                                 "QuietKernelManager": manager})}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _kernel_stderr_tail(kernel_kwargs: dict[str, Any], lines: int = 15) -> str:
    """The last lines the kernel process wrote to its stderr file (empty when none)."""
    try:
        path = Path(kernel_kwargs["config"]["QuietKernelManager"]["stderr_path"])
        text = path.read_text(errors="replace").strip()
    except (KeyError, OSError):
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _record_wall_time(info_path: Path, seconds: float) -> None:
    """Add the runner's wall time of the whole notebook (kernel start included) to its run_info.json."""
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    info["notebook_wall_time_s"] = round(seconds, 1)
    write_json_atomic(info_path, info)


WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_REPR = re.compile(r"^[A-Z]\w*\((children|layout|description|value|options)=")  # VBox(children=(HBox(...
WIDGET_NOTE = "(an interactive widget: live when the notebook runs in JupyterLab; the figures above show its views)"


def scrub_paths(ipynb: Path, root: Path, *, source: Path | None = None, replace: Mapping[str, str] | None = None,
                ) -> None:
    """Make an executed notebook machine-independent and free of run-time clutter: outputs and papermill metadata
    name paths relative to ``root``; each ``replace`` key (the staging folder ``<name>.partial``) becomes its value
    (the report folder) in cell sources and outputs, the injected parameters cell included; a widget's text
    stand-in (``VBox(children=(...``) becomes one line saying what it was; saved widget state is dropped.

    Printed paths (a cache folder, a figure) would otherwise carry this machine's absolute project path into
    committed reports and golden notebooks.
    """
    import nbformat

    nb = nbformat.read(ipynb, as_version=4)
    prefix = str(root.resolve())
    swaps = sorted((replace or {}).items(), key=lambda kv: -len(kv[0]))

    def clean(text: str) -> str:
        for old, new in swaps:
            text = text.replace(old, new)
        return text.replace(prefix + "/", "").replace(prefix, ".")

    for cell in nb.cells:
        cell.source = clean(cell.source) if swaps else cell.source
        for out in cell.get("outputs", []):
            if "text" in out:
                out["text"] = clean(out["text"])
            if WIDGET_MIME in out.get("data", {}) and WIDGET_REPR.match(str(out["data"].get("text/plain", ""))):
                out["data"]["text/plain"] = WIDGET_NOTE  # a progress bar's text (its last state) stays
            for mime, value in out.get("data", {}).items():
                if mime.startswith("text/") and isinstance(value, str):
                    out["data"][mime] = clean(value)
    # A widget's saved state (an explorer's rendered image, kilobytes to megabytes) is live only with a kernel; the
    # report shows the notebook's static figures instead, and stays small.
    nb.metadata.pop("widgets", None)
    meta = nb.metadata.get("papermill", {})
    for key, value in meta.get("parameters", {}).items():
        if isinstance(value, str):
            meta["parameters"][key] = clean(value)
    if "output_path" in meta:
        meta["output_path"] = clean(str(meta["output_path"]))
    if source is not None and "input_path" in meta:
        meta["input_path"] = str(source)
    nbformat.write(nb, ipynb)


def _cell_first_line(ipynb: Path, exec_count: int) -> str:
    """The first non-comment line of the cell executed as ``In [exec_count]`` (to name the failing cell)."""
    import nbformat

    try:
        cells = nbformat.read(ipynb, as_version=4).cells
    except (OSError, ValueError):
        return "?"
    found = [c for c in cells if c.cell_type == "code" and c.get("execution_count") == exec_count]
    if not found:
        return "?"
    lines = found[0].source.splitlines()
    code = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    return (code or lines or ["?"])[0][:80]


def _export_html(ipynb: Path, title: str = "") -> None:
    """The report's HTML (figures embedded), its page titled ``title`` (``<paper> / <notebook> (<profile>)``)."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(ipynb, as_version=4)
    if title:  # the lab template titles the page with the notebook's metadata title, else "Notebook"
        nb.metadata["title"] = title
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    ipynb.with_suffix(".html").write_text(body, encoding="utf-8")


def run(papers: Sequence[str], profile: str = DEFAULT_PROFILE, *, jobs: int = 1, root: Path | None = None,
        golden: bool = False, only: str = "", seeds: Sequence[int] | None = None, progress_every: float = 30.0,
        overrides: Sequence[str] = ()) -> int:
    """Run the notebooks; print a line per notebook; rebuild the index. Returns the number of failures.

    While a notebook runs, a cell that takes longer than ``progress_every`` seconds prints a line every
    ``progress_every`` seconds: notebook, cell, elapsed time and the estimate from the last run (cmlib.execution.progress).

    With ``golden``, every notebook also runs under each perturbation of :func:`cmlib.execution.golden.variants` (into
    build/golden-band/) and its band file is written beside the golden notebook.
    """
    root = root or project_root()
    todo = plan(root, papers, profile, golden=golden, only=only, seeds=seeds, overrides=overrides)
    if not todo:
        print(f"no notebooks found for {', '.join(papers)}", file=sys.stderr)
        return 1
    if overrides:
        _record_overrides(root, todo, profile, overrides)
    if golden:
        todo += _band_jobs(todo)
    todo = [dataclasses.replace(j, progress_every=progress_every) for j in todo]
    os.environ.setdefault("PYTHONHASHSEED", "0")  # gensim word2vec is bit-reproducible only with a fixed hash seed
    print(f"running {len(todo)} notebook(s) of {', '.join(papers)} on the {profile!r} profile", flush=True)
    outcomes = _execute_all(todo, root, jobs)
    failed = [o for o in outcomes if not o.ok]
    if golden:
        failed += _finish_goldens(outcomes, root)
    else:
        build_index(root)
    for o in failed:
        if not o.skipped:  # a skipped notebook had its one line when it was skipped
            print(f"FAILED {o.job.notebook}{f' ({o.job.variant})' if o.job.variant else ''}: {o.error}",
                  file=sys.stderr)
    skipped = sum(o.skipped for o in outcomes)
    print(_where_line(todo, golden, len(outcomes) - len(failed), skipped), flush=True)
    return len(failed)


def _record_overrides(root: Path, todo: Sequence[Job], profile: str, overrides: Sequence[str]) -> None:
    """Write what a ``<profile>+<hash>`` report folder ran: ``overrides.yaml`` (profile and overrides) beside its
    notebooks' folders, so the hash in the folder's name can be read back."""
    import yaml

    text = yaml.safe_dump({"profile": profile, "overrides": list(overrides)}, sort_keys=False)
    for folder in sorted({job.report_dir.parent for job in todo}):
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / OVERRIDES_FILE).write_text(text)


def index_pages(profile_folder: str) -> list[str]:
    """The index pages a run on ``reports/<paper>/<profile_folder>/`` updates, relative to the project root."""
    if committed_profile(profile_folder):
        return ["reports/README.md", f"reports/{SITE_NAME}"]
    return [f"reports/README-{profile_folder}.md"]


def _where_line(todo: Sequence[Job], golden: bool, ok: int, skipped: int = 0) -> str:
    """The run's last line: how many ran ok (and were skipped), where the reports (or goldens) went and which index
    pages were rebuilt."""
    base = [j for j in todo if not j.variant]
    not_run = f" ({skipped} not started: the notebook they need failed)" if skipped else ""
    if golden:
        papers = sorted({j.paper for j in base})
        return f"{ok} of {len(todo)} runs ok{not_run}; goldens in {', '.join(f'{GOLDEN_DIR}/{p}/' for p in papers)}"
    folders = sorted({str(j.report_dir.parent) + "/" for j in base})
    pages = sorted({page for j in base for page in index_pages(j.report_dir.parent.name)})
    return (f"{ok} of {len(base)} notebooks ok{not_run}; reports in {', '.join(folders)}; "
            f"index updated: {', '.join(pages)}")


class Interrupted(KeyboardInterrupt):
    """Ctrl-C while notebooks ran; ``stopped`` holds the jobs that had started and did not finish."""

    def __init__(self, stopped: Sequence[Job]) -> None:
        super().__init__(", ".join(f"{j.paper}/{j.notebook.stem}" for j in stopped))
        self.stopped = tuple(stopped)


def prerequisites(todo: Sequence[Job]) -> list[int | None]:
    """For each job, the index in ``todo`` of the job that must succeed before it starts, or None.

    Notebook 01 of a paper (:data:`TRAINING_NOTEBOOK`) trains and caches the models the paper's later notebooks read,
    so every later notebook of the same run of that paper (same report folder: profile, seeds, overrides and golden
    variant) needs it. A run without notebook 01 (``--only``) reads an earlier run's cache: nothing to wait for.
    """
    first: dict[Path, int] = {}  # report group -> index of its notebook 01
    needs: list[int | None] = []
    for k, job in enumerate(todo):
        group = job.report_dir.parent
        if job.notebook.stem.split("_", 1)[0] == TRAINING_NOTEBOOK:
            first.setdefault(group, k)
            needs.append(None)
        else:
            needs.append(first.get(group))
    return needs


def _skipped(job: Job, failed: Job, root: Path) -> Outcome:
    """The outcome of a job not started because ``failed``, the notebook that trains what it reads, failed."""
    staged = job.output.parent.name.endswith(".partial")
    kept = (f"its previous report {job.report_dir}/ is kept" if staged and (root / job.report_dir).is_dir() else
            "nothing written")
    why = (f"{failed.paper}/{failed.notebook.stem} failed, and it trains the models this notebook reads "
           f"(not started; {kept})")
    return Outcome(job, False, 0.0, why, skipped=True)


def _execute_all(todo: Sequence[Job], root: Path, jobs: int) -> list[Outcome]:
    """Execute the jobs in order (or in ``jobs`` processes), announcing each outcome; a job whose prerequisite
    (:func:`prerequisites`) failed is not started but announced as skipped, and one whose prerequisite still runs
    waits for it. Returns the outcomes in the order of ``todo``.

    Raises:
        Interrupted: on Ctrl-C, naming the notebooks that were running (their previous reports are untouched).
    """
    needs = prerequisites(todo)
    if jobs <= 1:
        done: dict[int, Outcome] = {}
        for k, job in enumerate(todo):
            pre = needs[k]
            if pre is not None and not done[pre].ok:
                done[k] = _announce(_skipped(job, todo[pre], root), k + 1, len(todo))
                continue
            try:
                out = execute(job, root)
            except KeyboardInterrupt:
                raise Interrupted([job]) from None
            done[k] = _announce(out, k + 1, len(todo))
        return [done[k] for k in range(len(todo))]
    return _execute_parallel(todo, root, jobs, needs)


def _execute_parallel(todo: Sequence[Job], root: Path, jobs: int, needs: Sequence[int | None]) -> list[Outcome]:
    """:func:`_execute_all` in ``jobs`` processes: a job is submitted once its prerequisite ``needs[k]`` has
    succeeded (skipped if it failed); outcomes are announced as they finish and returned in the order of ``todo``."""
    pool = ProcessPoolExecutor(max_workers=jobs)
    done: dict[int, Outcome] = {}
    waiting = list(range(len(todo)))  # not yet submitted, in order
    running: dict[Future, int] = {}
    try:
        while waiting or running:
            for k in [k for k in waiting if needs[k] is None or needs[k] in done]:
                waiting.remove(k)
                pre = needs[k]
                if pre is not None and not done[pre].ok:
                    done[k] = _announce(_skipped(todo[k], todo[pre], root), len(done) + 1, len(todo))
                else:
                    running[pool.submit(execute, todo[k], root)] = k
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED) if running else (set(), set())
            for fut in finished:
                out = fut.result()  # a worker's KeyboardInterrupt is raised here: the future stays in `running`
                done[running.pop(fut)] = _announce(out, len(done) + 1, len(todo))
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        raise Interrupted([todo[k] for fut, k in running.items() if _stopped(fut)]) from None
    pool.shutdown()
    return [done[k] for k in range(len(todo))]


def _stopped(fut: Future) -> bool:
    """A job a Ctrl-C stopped: still running in a worker (the pool hands out up to jobs + 1 at a time), or ended by
    the KeyboardInterrupt the worker received too."""
    if fut.running():
        return True
    return fut.done() and not fut.cancelled() and isinstance(fut.exception(), KeyboardInterrupt)


def interrupted_message(err: KeyboardInterrupt, root: Path | None = None) -> str:
    """One line for a Ctrl-C: which notebooks were stopped and what became of their reports (kept where there was
    one: a report folder under ``root`` that the stopped run never replaced)."""
    stopped = getattr(err, "stopped", ())
    if not stopped:
        return "interrupted: no notebook was running; the reports are unchanged"
    root = root or Path.cwd()
    names = ", ".join(f"{j.paper}/{j.notebook.stem}" + (f" [{j.variant}]" if j.variant else "") for j in stopped)
    staged = [j for j in stopped if j.output.parent.name.endswith(".partial")]
    if len(staged) < len(stopped):  # golden runs write in place
        return f"interrupted: stopped {names}; outputs written in place (golden) may be incomplete: rerun them"
    kept = [j for j in stopped if (root / j.report_dir / "metrics.json").is_file()]
    if len(stopped) == 1:
        job = stopped[0]
        fate = (f"its previous report {job.report_dir}/ is kept" if kept else
                f"it had no previous report, so {job.report_dir}/ does not exist")
        return f"interrupted: stopped {names}; {fate} (the unfinished run is in {job.output.parent}/)"
    fate = ("their previous reports are kept" if len(kept) == len(stopped) else
            f"previous reports kept: {', '.join(j.notebook.stem for j in kept) or 'none'}")
    return f"interrupted: stopped {names}; {fate} (unfinished runs in <notebook>.partial/)"


def _announce(out: Outcome, i: int, n: int) -> Outcome:
    """Print the job's one progress line (``[i/n] paper/notebook (profile) ok in 3.1 s``; a skipped job's says why)."""
    variant = f" [{out.job.variant}]" if out.job.variant else ""
    head = f"[{i}/{n}] {out.job.paper}/{out.job.notebook.stem} ({out.job.profile}){variant}"
    if out.skipped:
        print(f"{head} SKIPPED: {out.error}", flush=True)
    else:
        print(f"{head} {'ok' if out.ok else 'FAILED'} in {out.seconds:.1f} s", flush=True)
    return out


def make_golden(papers: Sequence[str], *, root: Path | None = None, only: str = "", jobs: int = 1,
                progress_every: float = 30.0) -> int:
    """Execute each notebook with its smoke params into tests/notebooks/golden/ (outputs kept, noise stripped), and
    under each golden variant to measure its band (``<nb>.band.json``)."""
    return run(papers, "smoke", root=root, golden=True, only=only, jobs=jobs, progress_every=progress_every)


def _band_jobs(base: Sequence[Job]) -> list[Job]:
    """The perturbed runs of each golden job (cmlib.execution.golden.variants), reported under build/golden-band/."""
    jobs = []
    for name, draw, env in golden_bands.variants():
        for job in base:
            report = GOLDEN_BAND / name / job.paper / job.notebook.stem
            jobs.append(dataclasses.replace(job, report_dir=report, output=report.with_suffix(".ipynb"),
                                            env=tuple(sorted({**dict(GOLDEN_ENV), **env}.items())), variant=name,
                                            jitter=draw))
    return jobs


def _finish_goldens(outcomes: Sequence[Outcome], root: Path) -> list[Outcome]:
    """Strip and store each golden, write its band from the base and variant runs, record the machine.

    Returns failures found here (a golden whose runs disagree in structure); variant failures are already counted.
    """
    failed: list[Outcome] = []
    by_key = {(o.job.paper, o.job.notebook, o.job.variant): o for o in outcomes}
    for out in outcomes:
        if out.job.variant or not out.ok:
            continue
        _finish_golden(out.job, root)
        runs = [by_key.get((out.job.paper, out.job.notebook, v)) for v in ("", *golden_bands.VARIANTS)]
        if not all(r is not None and r.ok for r in runs):
            continue  # the failed variant is reported; no band is written for this notebook
        metrics = [json.loads((root / r.job.report_dir / "metrics.json").read_text()) for r in runs if r]
        try:
            golden_bands.write_band((root / out.job.output).with_suffix(".band.json"), metrics,
                                    ["golden", *golden_bands.VARIANTS])
        except ValueError as err:
            failed.append(Outcome(out.job, False, 0.0, str(err)))
    for paper in sorted({o.job.paper for o in outcomes if o.ok and not o.job.variant}):
        _write_golden_machine(root / GOLDEN_DIR / paper)
    return failed


def _finish_golden(job: Job, root: Path) -> None:
    """Strip papermill noise from a golden notebook and store the metrics it wrote as the expected values."""
    out = root / job.output
    subprocess.run(
        [sys.executable, "-m", "nbstripout", "--keep-output", "--keep-count", "--extra-keys", STRIP_KEYS, str(out)],
        check=True,
    )
    metrics = root / job.report_dir / "metrics.json"
    if metrics.is_file():
        shutil.copyfile(metrics, out.with_suffix(".metrics.json"))


def _write_golden_machine(folder: Path) -> None:
    """Record which machine made a paper's goldens (``machine.json``; see ``reporting.machine_fingerprint``)."""
    (folder / GOLDEN_MACHINE).write_text(json.dumps(machine_fingerprint(), indent=1) + "\n")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m cmlib.runner", description=__doc__.split("\n\n")[0])
    ap.add_argument("papers", nargs="+", metavar="PAPER|KEY=VALUE",
                    help="paper short names (clarel, whcmt, deskpro, grmnet, demo) or 'all', then dotted overrides of "
                    "the profile's params, e.g. fit.max_steps=600 fit.accelerator=gpu (reports go to "
                    "reports/<paper>/<profile>+<hash>/)")
    ap.add_argument("--profile", default=DEFAULT_PROFILE,
                    help=f"params/<paper>/<profile>.yaml: smoke, study, paper, ... (default: {DEFAULT_PROFILE})")
    ap.add_argument("--jobs", type=int, default=1, help="notebooks run in parallel processes")
    ap.add_argument("--golden", action="store_true", help="write golden smoke notebooks for nbval instead of reports")
    ap.add_argument("--only", default="", help="comma-separated parts of notebook names to run, e.g. 04_real")
    ap.add_argument("--seeds", default=None, help="replace the profile's seeds for this run, e.g. 10-14 or 0,3,7; "
                    "reports go to reports/<paper>/<profile>-seeds<spec>/")
    ap.add_argument("--progress-every", type=float, default=30.0, metavar="SECONDS",
                    help="a cell running longer prints notebook, cell, elapsed time and ETA this often (0: never)")
    ap.add_argument("--index-only", action="store_true", help="only rebuild reports/README.md")
    args = ap.parse_intermixed_args(argv)  # overrides may follow the options: clarel --profile study a.b=1
    args.overrides = [a for a in args.papers if "=" in a]
    args.papers = [a for a in args.papers if "=" not in a]
    if not args.papers:
        ap.error(f"name a paper before the overrides {' '.join(args.overrides)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    try:
        root = project_root(required=True)
    except FileNotFoundError as err:
        print(err, file=sys.stderr)
        return 2
    if args.index_only:
        build_index(root)
        print(f"index updated: reports/README.md, reports/{SITE_NAME} (and reports/README-<profile>.md of the smoke "
              "and --seeds runs found)")
        return 0
    known = list_papers(root)
    papers = known if args.papers == ["all"] else args.papers
    unknown = [p for p in papers if p not in known]
    if unknown:
        print(f"unknown paper {unknown[0]!r}; papers with notebooks: {', '.join(known)}", file=sys.stderr)
        return 2
    try:  # the harness's test-only switch (cmlib.protocol.perturb): this process and every kernel it starts use it
        draw = parse_jitter(os.environ.get(JITTER_ENV))
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    with jitter(draw):
        return _run_command(args, root, papers)


def _run_command(args: argparse.Namespace, root: Path, papers: Sequence[str]) -> int:
    """The notebooks ``main`` was asked for (reports, or goldens and their bands): 0, 1 (a notebook failed), 2 (bad
    params) or 130 (Ctrl-C)."""
    try:
        seeds = parse_seeds(args.seeds) if args.seeds is not None else None
        if args.golden and args.overrides:
            raise ConfigError(f"--golden runs the smoke params as they are; drop {' '.join(args.overrides)}")
        if args.golden:
            failures = make_golden(papers, root=root, only=args.only, jobs=args.jobs,
                                   progress_every=args.progress_every)
        else:
            failures = run(papers, args.profile, jobs=args.jobs, root=root, only=args.only, seeds=seeds,
                           progress_every=args.progress_every, overrides=args.overrides)
    except ConfigError as err:
        print(f"params error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        print(interrupted_message(err, root), file=sys.stderr)
        return 130
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

