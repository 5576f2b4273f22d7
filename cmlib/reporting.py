"""How results leave a notebook: metrics.json, run_info.json, figures, rounded tables and computed claim verdicts.

A notebook opens a :class:`Report` on the folder the runner gives it (``reports/<paper>/<profile>/<notebook>``; in
JupyterLab, ``reports/<paper>/interactive/<notebook>``) and writes through it only. The runner later gathers every
``metrics.json`` into ``reports/README.md``.

Claims: each paper claim is checked by a :class:`Claim` holding one measured value per seed/repeat of a named
statistic (e.g. ``H(alpha*) - H(0)``) and a rule (``op`` and ``threshold``). :func:`claims` computes the mean, a 95%
Student-t interval and the verdict; nobody types a verdict.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import importlib.metadata
import json
import math
import os
import platform
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from cmlib.config import to_dict

__all__ = [
    "INCONCLUSIVE",
    "NOT_REPRODUCED",
    "REPRODUCED",
    "Claim",
    "Report",
    "claims",
    "cpu_model",
    "machine_fingerprint",
    "metrics_table",
    "project_root",
    "show",
    "write_json_atomic",
]

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
_PACKAGES = ("cmlib", "torch", "torchvision", "timm", "lightning", "numpy", "scipy", "numba", "gensim", "pycocotools",
             "pillow", "papermill")


def project_root(start: str | Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: cwd) holding cmlib's pyproject.toml; cwd if none."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and 'name = "cmlib"' in pyproject.read_text():
            return folder
    return Path.cwd()


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` via a temp file + rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(_jsonable(data), indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


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
        self._metrics.update(_jsonable(dict(metrics)))
        write_json_atomic(self.metrics_path, {"paper": self.paper, "notebook": self.notebook, **self._metrics})
        if self._params is not None:
            self.run_info(self._params)

    def save_claims(self, table: pd.DataFrame) -> None:
        """Store a :func:`claims` table in metrics.json under ``"claims"`` (the reports index reads it)."""
        self.save_metrics({"claims": table.to_dict(orient="records")})

    def save_figure(self, fig: Any, name: str, *, dpi: int = 110) -> Path:
        """Save a matplotlib figure as ``figures/<name>.png`` (the figure still shows inline).

        Returns:
            The path relative to the report folder (``figures/<name>.png``), as the report links it; no machine path
            ends up in a notebook's output.
        """
        self.figures_dir.mkdir(parents=True, exist_ok=True)
        path = self.figures_dir / f"{name}.png"
        fig.savefig(path, dpi=dpi, bbox_inches="tight", metadata={"Software": None})
        return path.relative_to(self.dir)

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


@dataclass(frozen=True)
class Claim:
    """One paper claim checked on measured numbers.

    Attributes:
        name: the claim in words, e.g. ``"H at validated alpha beats H at alpha=0"``.
        values: the measured statistic, one value per seed/repeat.
        op: ``">"`` (claim holds when the statistic exceeds ``threshold``) or ``"<"``.
        threshold: the boundary, usually 0 for differences.
        statistic: what ``values`` measure, e.g. ``"H(alpha*) - H(0)"``.
    """

    name: str
    values: Sequence[float]
    op: Literal[">", "<"] = ">"
    threshold: float = 0.0
    statistic: str = ""


def claims(items: Sequence[Claim], *, digits: int = 3) -> pd.DataFrame:
    """Compute mean, 95% t-interval and verdict of each claim.

    The verdict is "reproduced" when the whole interval lies on the claimed side of the threshold, "not reproduced"
    when it lies wholly on the other side, and "inconclusive" otherwise (or when a value is not finite). With a single
    value the interval collapses to the point, so the point estimate decides and ``n`` = 1 shows it.
    """
    rows = []
    for c in items:
        if c.op not in (">", "<"):
            raise ValueError(f"claim {c.name!r}: op must be '>' or '<', got {c.op!r}")
        vals = np.asarray([float(v) for v in c.values], dtype=float)
        if vals.size == 0:
            raise ValueError(f"claim {c.name!r}: no measured values")
        mean, lo, hi = _t_interval(vals)
        rows.append(
            {
                "claim": c.name,
                "statistic": c.statistic,
                "rule": f"{c.op} {c.threshold:g}",
                "n": int(vals.size),
                "mean": round(mean, digits),
                "ci_low": round(lo, digits),
                "ci_high": round(hi, digits),
                "verdict": _verdict(lo, hi, c.op, c.threshold),
            }
        )
    return pd.DataFrame(rows, columns=["claim", "statistic", "rule", "n", "mean", "ci_low", "ci_high", "verdict"])


def metrics_table(rows: Sequence[Mapping[str, Any]] | pd.DataFrame, *, digits: int = 3) -> pd.DataFrame:
    """A DataFrame of ``rows`` with every float rounded to ``digits`` (stable text for nbval comparisons)."""
    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    for col in df.columns:
        if pd.api.types.is_float_dtype(df[col]):
            df[col] = df[col].round(digits)
    return df


def show(table: pd.DataFrame) -> None:
    """Print a table as plain text (what ``# NBVAL_CHECK_OUTPUT`` cells compare)."""
    with pd.option_context("display.width", 250, "display.max_columns", 50, "display.max_colwidth", 80):
        print(table.to_string(index=False))


def _t_interval(vals: np.ndarray) -> tuple[float, float, float]:
    mean = float(vals.mean())
    if vals.size < 2 or not np.all(np.isfinite(vals)):
        return mean, mean, mean
    from scipy import stats

    half = float(stats.t.ppf(0.975, vals.size - 1) * vals.std(ddof=1) / math.sqrt(vals.size))
    return mean, mean - half, mean + half


def _verdict(lo: float, hi: float, op: str, threshold: float) -> str:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return INCONCLUSIVE
    above, below = lo > threshold, hi < threshold
    if op == ">":
        return REPRODUCED if above else NOT_REPRODUCED if hi <= threshold else INCONCLUSIVE
    return REPRODUCED if below else NOT_REPRODUCED if lo >= threshold else INCONCLUSIVE


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else str(float(obj))
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        return _jsonable(obj.item())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(to_dict(obj))
    if isinstance(obj, Path):
        return str(obj)
    return obj


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


def cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo``), else ``platform.processor()`` or the machine type."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_fingerprint() -> dict[str, str]:
    """What CPU numbers depend on beyond params and seed: processor model, torch's vector ISA, torch version.

    Training on another processor (another BLAS / oneDNN code path) rounds differently, and a few hundred optimiser
    steps turn last-bit differences into different models, so golden notebooks reproduce exactly only on a machine
    with the same fingerprint. ``make golden`` stores it beside the goldens; the test session header compares.
    """
    import torch

    return {"cpu": cpu_model(), "isa": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__,
            "cores": str(os.cpu_count())}


def _device() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}"
    return (f"cpu: {cpu_model()} ({platform.machine()}, {torch.backends.cpu.get_cpu_capability()}), "
            f"{os.cpu_count()} cores, torch threads {torch.get_num_threads()}")
