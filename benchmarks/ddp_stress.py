"""Run the two-process DDP test many times in a row and count aborts (not a test: a robustness figure, issue 27).

    .venv/bin/python benchmarks/ddp_stress.py [--runs 30]

Each run is ``pytest tests/unit/test_engine.py::test_two_process_ddp_matches_one_process`` in a fresh interpreter,
exactly what CI runs. Before the engine owned the process group's teardown (``cmlib.protocol.engine.close_process_group``),
gloo's rank 1 sometimes aborted at exit ("terminate called without an active exception"): three sightings in CI.
Prints one line per run (exit code, seconds, the abort message when seen) and the total; exit code 1 when any run
failed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST = "tests/unit/test_engine.py::test_two_process_ddp_matches_one_process"
ABORT = "terminate called without an active exception"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args(argv)
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    failed = aborted = 0
    t_all = time.perf_counter()
    for i in range(args.runs):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", TEST], cwd=ROOT, env=env,
                              capture_output=True, text=True, check=False)
        out = proc.stdout + proc.stderr
        abort = ABORT in out
        failed += proc.returncode != 0
        aborted += abort
        note = f" ({ABORT})" if abort else ""
        print(f"run {i + 1:2d}/{args.runs}: exit {proc.returncode} in {time.perf_counter() - t0:.1f} s{note}", flush=True)
    print(f"DDP stress: {args.runs - failed} of {args.runs} passed, {aborted} gloo aborts, "
          f"{time.perf_counter() - t_all:.0f} s in all")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
