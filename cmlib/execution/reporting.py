"""How results leave a notebook: metrics.json, run_info.json, figures, rounded tables and computed claim verdicts.

A notebook opens a :class:`Report` on the folder the runner gives it (``reports/<paper>/<profile>/<notebook>``; in
JupyterLab, ``reports/<paper>/interactive/<notebook>``) and writes through it only. The runner later gathers every
``metrics.json`` into ``reports/README.md``.

Claims: each paper claim is checked by a :class:`Claim` holding one measured value per replicate of a named
statistic (e.g. ``H(alpha*) - H(0)``) and a rule (``op`` and ``threshold``). :func:`claims` computes the mean, a 95%
Student-t interval and the verdict under the rules of :mod:`cmlib.protocol.claims` (n >= 3, chance/collapse gate); nobody
types a verdict. The claim names are re-exported here so notebooks import from one place.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cmlib.protocol.claims import (
    INCONCLUSIVE,
    INCONCLUSIVE_FEW,
    INVALID,
    NOT_REPRODUCED,
    REPRODUCED,
    Claim,
    ModelCheck,
    claims,
    paired,
)
from cmlib.protocol.config import to_dict
from cmlib.protocol.files import jsonable, project_root, write_json_atomic

__all__ = [
    "INCONCLUSIVE",
    "INCONCLUSIVE_FEW",
    "INVALID",
    "NOT_REPRODUCED",
    "REPRODUCED",
    "Claim",
    "ModelCheck",
    "Report",
    "claims",
    "column_digits",
    "cpu_model",
    "machine_fingerprint",
    "metrics_table",
    "paired",
    "show",
]

_PACKAGES = ("cmlib", "torch", "torchvision", "timm", "lightning", "numpy", "scipy", "numba", "gensim", "pycocotools",
             "pillow", "papermill")


class SavedPath(type(Path())):  # type: ignore[misc]  # PosixPath or WindowsPath, whichever Path() makes here
    """A path that IPython does not display: ``rep.save_figure(...)`` as a cell's last line leaves no
    ``PosixPath('figures/...')`` output in the notebook (it is still a ``Path`` everywhere else)."""

    def _ipython_display_(self) -> None:
        return None


class Report:
    """The output folder of one notebook run.

    Args:
        report_dir: folder to write into (relative paths are taken from the project root); None means
            ``reports/<paper>/interactive/<notebook>`` (JupyterLab use).
        paper: the paper's short name (``clarel``...).
        notebook: the notebook's name without extension (``01_gzsl``).
    """

    def __init__(self, report_dir: str | Path | None, *, paper: str, notebook: str) -> None:
        root = project_root()
        target = Path(report_dir) if report_dir else Path("reports") / paper / "interactive" / notebook
        self.dir = target if target.is_absolute() else root / target
        self.paper, self.notebook = paper, notebook
        self.figures_dir = self.dir / "figures"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._t0 = time.perf_counter()
        self._metrics: dict[str, Any] = {}
        self._params: Any = None

    @property
    def metrics_path(self) -> Path:
        return self.dir / "metrics.json"

    def save_metrics(self, metrics: Mapping[str, Any]) -> None:
        """Merge ``metrics`` (floats, ints, strings, lists, nested dicts) into metrics.json, atomically."""
        self._metrics.update(jsonable(dict(metrics)))
        write_json_atomic(self.metrics_path, {"paper": self.paper, "notebook": self.notebook, **self._metrics})
        if self._params is not None:
            self.run_info(self._params)

    def save_claims(self, table: pd.DataFrame) -> None:
        """Store a :func:`claims` table in metrics.json under ``"claims"`` (the reports index reads it)."""
        self.save_metrics({"claims": table.to_dict(orient="records")})

    def save_level(self, model: str, metric: str, ours: float, paper: float | None, *, source: str = "") -> None:
        """Record the headline model's absolute level beside the paper's (``"GRM-Net #7 12.3 vs 59.4 COCO AP"``):
        stored under ``"level"`` in metrics.json; the index shows it per paper with the ratio, so a reader sees at a
        glance how far our stand-in world and budget sit from the paper's (issue 26)."""
        self.save_metrics({"level": {"model": model, "metric": metric, "ours": float(ours),
                                     "paper": None if paper is None else float(paper), "source": source}})

    def save_figure(self, fig: Any, name: str, *, dpi: int = 110) -> Path:
        """Save a matplotlib figure as ``figures/<name>.png`` (the figure still shows inline).

        Returns:
            The path relative to the report folder (``figures/<name>.png``), as the report links it; no machine path
            ends up in a notebook's output.
        """
        self.figures_dir.mkdir(parents=True, exist_ok=True)
        path = self.figures_dir / f"{name}.png"
        fig.savefig(path, dpi=dpi, bbox_inches="tight", metadata={"Software": None})
        return SavedPath(path.relative_to(self.dir))

    def run_info(self, params: Any) -> dict[str, Any]:
        """Write run_info.json: resolved params, git commit, package versions, device, wall time so far."""
        self._params = params
        info = {
            "paper": self.paper,
            "notebook": self.notebook,
            "params": to_dict(params),
            "git_commit": _git_commit(project_root()),
            "packages": _versions(),
            "device": _device(),
            "python": platform.python_version(),
            "finished_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "wall_time_s": round(time.perf_counter() - self._t0, 2),
        }
        write_json_atomic(self.dir / "run_info.json", info)
        return info


def metrics_table(rows: Sequence[Mapping[str, Any]] | pd.DataFrame, *, digits: int | Mapping[str, int] = 3,
                  ) -> pd.DataFrame:
    """A DataFrame of ``rows`` with each float column rounded to what it needs (stable text for nbval comparisons).

    ``digits`` is the usual number of decimals; a column in which a non-zero value would print as zero at that (a
    validated alpha of 0.03 shown as 0.0 at ``digits=1``) gets the decimals that keep two significant figures of its
    smallest non-zero magnitude, at most 6 (:func:`column_digits`). A mapping ``{column: decimals}`` fixes some columns exactly; the
    others use the rule with the default of 3.
    """
    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    fixed = dict(digits) if isinstance(digits, Mapping) else {}
    base = 3 if isinstance(digits, Mapping) else int(digits)
    for col in df.columns:
        if pd.api.types.is_float_dtype(df[col]):
            df[col] = df[col].round(fixed[col] if col in fixed else column_digits(df[col].to_numpy(), base))
    return df


def column_digits(values: np.ndarray, digits: int, *, most: int = 6) -> int:
    """Decimals for a column: ``digits``, unless a non-zero value would then print as zero (0.03 at 1 decimal);
    then enough to keep two significant figures of the column's smallest non-zero magnitude, at most ``most``."""
    mags = np.abs(values[np.isfinite(values) & (values != 0)])
    if mags.size == 0 or np.round(mags.min(), digits) != 0:
        return digits
    needed = 1 - int(np.floor(np.log10(mags.min())))
    return int(min(max(digits, needed), max(most, digits)))


def show(table: pd.DataFrame) -> None:
    """Show a table as HTML in JupyterLab and the HTML reports (a claims table, with columns ``claim`` and ``verdict``,
    through :class:`cmlib.execution.claims_view.ClaimsTable`; any other through :class:`~cmlib.execution.claims_view.TableView`, counts
    stored as floats shown as integers), with its plain text (:func:`cmlib.execution.claims_view.claims_text`: the ``to_string`` of
    :data:`cmlib.protocol.claims.DISPLAY_COLUMNS`, plus ``converged`` / ``premise`` where a claim has one) as its
    ``text/plain`` form, what ``# NBVAL_CHECK_OUTPUT`` cells compare; outside IPython, that text printed."""
    from cmlib.execution.claims_view import ClaimsTable, TableView, claims_text, is_claims_table

    if _ipython_shell():
        from IPython.display import display

        display(ClaimsTable(table) if is_claims_table(table) else TableView(table))
        return
    print(claims_text(table))


def _ipython_shell() -> bool:
    """Whether this runs in an IPython kernel or shell (where ``display`` reaches a front end)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None


def _git_commit(root: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _versions() -> dict[str, str]:
    found = {}
    for name in _PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of ``/proc/cpuinfo`` (empty where there is none)."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if not line.strip():
                break
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo``), else ``platform.processor()`` or the machine type."""
    return _cpuinfo().get("model name") or platform.processor() or platform.machine()


def cpu_id() -> str:
    """Vendor, family, model and stepping (``AuthenticAMD 25/17/1``): two processors that share a model name string
    (``AMD EPYC``) but not a microarchitecture never look alike."""
    info = _cpuinfo()
    parts = [info.get(k, "?") for k in ("cpu family", "model", "stepping")]
    return f"{info.get('vendor_id', platform.machine())} {'/'.join(parts)}"


def blas_cores() -> str:
    """The kernel set each loaded BLAS chose at run time (OpenBLAS ``SkylakeX``, ``Haswell``, ``Zen``...), as
    threadpoolctl reports it after numpy and scipy are imported; OPENBLAS_CORETYPE, where set, decides it."""
    import numpy  # noqa: F401 - load the BLAS libraries whose kernels are reported
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_info

    found = sorted({f"{i.get('internal_api')}:{i.get('architecture')}" for i in threadpool_info()
                    if i.get("user_api") == "blas"})
    return ",".join(found) or "none"


def machine_fingerprint() -> dict[str, str]:
    """What CPU numbers depend on beyond params and seed: processor (name, family/model/stepping), torch's vector
    ISA, the BLAS kernels chosen at run time, torch version.

    Training on another processor (another BLAS / oneDNN code path) rounds differently, and a few hundred optimiser
    steps turn last-bit differences into different models: trained numbers are compared within bands measured by
    ``make golden`` (tests/notebooks/golden/<paper>/*.band.json), exact values only on one machine. ``make golden``
    stores the fingerprint beside the goldens; the test session header names both.
    """
    import torch

    return {"cpu": cpu_model(), "cpu_id": cpu_id(), "isa": torch.backends.cpu.get_cpu_capability(),
            "blas": blas_cores(), "torch": torch.__version__, "cores": str(os.cpu_count())}


def _device() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}"
    return (f"cpu: {cpu_model()} ({platform.machine()}, {torch.backends.cpu.get_cpu_capability()}), "
            f"{os.cpu_count()} cores, torch threads {torch.get_num_threads()}")
