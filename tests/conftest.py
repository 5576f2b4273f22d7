"""Shared fixtures: the real annotation files beside the project, and test ordering for the golden notebooks."""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"
# When the band test runs in a pytest session of its own after the nbval one (make test), the Makefile passes the
# first session's start: metrics.json files older than it were not written by this test run.
SESSION_START = float(os.environ.get("CMLIB_TEST_SESSION_START") or time.time())
# No progress bar in the nbval kernels (they inherit this) nor in unit tests: stored outputs stay bar-free.
os.environ.setdefault("CMLIB_PROGRESS", "0")


def _jitter_on() -> bool:
    from cmlib.protocol.perturb import jitter_seed

    return bool(jitter_seed())


#: for a test that compares trained values with an unperturbed computation or an exact stored marker: under the
#: test-only numeric jitter (CMLIB_NUMERIC_JITTER, cmlib.protocol.perturb) those values move by design, so it skips, saying so
unperturbed_only = pytest.mark.skipif(_jitter_on(), reason="compares exact trained values with an unperturbed "
                                      "computation; CMLIB_NUMERIC_JITTER perturbs them by design")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on now (torchrun's master port, a test jupyter lab)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_project(dest: Path) -> Path:
    """A throw-away project at ``dest``: a cmlib pyproject.toml and the demo paper's params and notebooks."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "pyproject.toml").write_text('[project]\nname = "cmlib"\n')
    shutil.copytree(ROOT / "params" / "demo", dest / "params" / "demo")
    shutil.copytree(ROOT / "notebooks" / "demo", dest / "notebooks" / "demo")
    return dest


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """../shared/datasets (real annotation files); tests that need it skip, saying why, when it is absent."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"real annotation files not found at {SHARED_DATASETS} (../shared/datasets beside the project)")
    return SHARED_DATASETS


@pytest.fixture()
def one_thread():
    """One torch intra-op thread for the test (restored after): results then match the studies' pinned setting, and
    on a shared 2-core machine two OpenMP threads per process spin against each other."""
    from cmlib.protocol.engine import torch_threads

    with torch_threads(1):
        yield


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the golden notebooks (nbval) before the tolerance test that reads the metrics.json they write; nbval
    compares a claims table by its text form only (``text/plain``: its HTML form, with CSS classes and per-table ids,
    is the same table drawn for a reader; cmlib.execution.claims_view)."""
    items.sort(key=lambda item: "test_golden_metrics" in item.nodeid)
    for item in items:
        skip = getattr(item.parent, "skip_compare", None)
        if isinstance(skip, tuple) and "text/html" not in skip:
            item.parent.skip_compare = (*skip, "text/html")


GOLDEN = ROOT / "tests" / "notebooks" / "golden"


def _golden_machines() -> dict[str, dict]:
    """paper -> the machine_fingerprint stored by ``make golden`` (empty when none was stored)."""
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(GOLDEN.glob("*/machine.json"))}


def _foreign_goldens() -> tuple[dict[str, str], dict[str, dict]]:
    """(this machine's fingerprint, papers whose goldens were made on a machine with another fingerprint)."""
    from cmlib.execution.reporting import machine_fingerprint

    here = machine_fingerprint()
    return here, {paper: fp for paper, fp in _golden_machines().items() if fp != here}


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Says which machine made the golden notebooks: they reproduce exactly only on the same fingerprint."""
    here, foreign = _foreign_goldens()
    return [f"this machine: {here}"] + [f"goldens of {paper} made on another machine: {fp}"
                                        for paper, fp in foreign.items()]


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """Names goldens made on another machine (also under -q, which hides the header); after golden failures, says
    what the band test checks and what to do (the failures stay failures)."""
    here, foreign = _foreign_goldens()
    for paper, fp in foreign.items():
        terminalreporter.write_line(f"goldens of {paper} were made on {fp}; this machine is {here}", yellow=True)
    failed = [r.nodeid for r in terminalreporter.stats.get("failed", []) if "notebooks/" in r.nodeid]
    if failed:
        terminalreporter.write_line(
            "Golden failures: trained numbers are checked against the band `make golden` measured under numeric "
            "perturbations (cmlib.execution.golden), so another processor alone should not fail them. A change that moves "
            "results on purpose needs `make golden PAPER=<paper>` and a review of the diff; otherwise it is a "
            "regression.", yellow=True)
