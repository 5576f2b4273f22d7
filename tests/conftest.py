"""Shared fixtures: the real annotation files beside the project, test ordering for the golden notebooks, and the
test-only numeric jitter set in this process and in nbval's kernels."""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

import pytest

from cmlib.protocol import perturb

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"
# When the band test runs in a pytest session of its own after the nbval one (make test), the Makefile passes the
# first session's start: metrics.json files older than it were not written by this test run.
SESSION_START = float(os.environ.get("CMLIB_TEST_SESSION_START") or time.time())
# No progress bar in the nbval kernels (they inherit this) nor in unit tests: stored outputs stay bar-free.
os.environ.setdefault("CMLIB_PROGRESS", "0")


# The test-only numeric jitter (cmlib.protocol.perturb): the library reads no environment variable, so the harness reads
# CMLIB_NUMERIC_JITTER once, here, as the session starts, and sets that draw in this process (each xdist worker loads
# this file too) and in every kernel nbval starts (pytest_runtest_setup below). A value that is not an integer stops
# the session with an error naming the variable and the value.
JITTER = perturb.parse_jitter(os.environ.get(perturb.ENV))
perturb.set_jitter(JITTER)

#: for a test that compares trained values with an unperturbed computation or an exact stored marker: under the
#: test-only numeric jitter (CMLIB_NUMERIC_JITTER, cmlib.protocol.perturb) those values move by design, so it skips, saying so
unperturbed_only = pytest.mark.skipif(bool(JITTER), reason="compares exact trained values with an unperturbed "
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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    """Before the first cell of a notebook runs under nbval, set the session's numeric jitter draw in the kernel nbval
    just started for it (nothing when the jitter is off)."""
    result = yield
    notebook = item.parent
    kernel = getattr(notebook, "kernel", None)
    if JITTER and kernel is not None and getattr(notebook, "_cmlib_jitter_kernel", None) is not kernel:
        set_kernel_jitter(kernel, JITTER)
        notebook._cmlib_jitter_kernel = kernel
    return result


def set_kernel_jitter(kernel, draw: int, timeout: float = 120.0) -> None:
    """Run :func:`cmlib.protocol.perturb.jitter_line` in a kernel nbval started (an ``nbval.kernel.RunningKernel``), as
    nbval's own coverage set-up runs its code there: silently (no execution count, no output), waiting for it.

    Raises:
        RuntimeError: the line failed in the kernel (its error named).
    """
    msg_id = kernel.kc.execute(perturb.jitter_line(draw), silent=True, store_history=False)
    while True:
        reply = kernel.get_message(stream="shell", timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    kernel.await_idle(msg_id, timeout)
    content = reply["content"]
    if content.get("status") != "ok":
        raise RuntimeError(f"could not set the numeric jitter {draw} in the notebook's kernel: "
                           f"{content.get('ename')}: {content.get('evalue')}")


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
