"""Notebook wall-time budgets of the four papers (not a test): each notebook and each profile against its issue's budget.

    .venv/bin/python benchmarks/budgets.py [--profile smoke study] [--run] [--paper clarel ...]

Reads ``notebook_wall_time_s`` (kernel start to last cell, written by ``cmlib.runner``) from
``reports/<paper>/<profile>/<notebook>/run_info.json`` and prints every notebook's time, the profile total, the
budget and the ratio, with PASS / MISS. ``--run`` first executes the profile through the runner (``python -m
cmlib.runner <paper> --profile <profile>``), so the figures are fresh; without it the last reports are read (their
load average is not known: a report made while other jobs shared the cores over-states the time). A profile without
a report is named as such; the exit code is 1 only when nothing could be read, never for a missed budget (a MISS is
a result).

Budgets (issue numbers in brackets): smoke per notebook, study total for the paper's notebooks together.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: paper -> (smoke seconds per notebook, study seconds for all notebooks), from the paper's issue
BUDGETS: dict[str, tuple[float, float]] = {
    "clarel": (60.0, 15 * 60.0),  # issue 4
    "whcmt": (60.0, 20 * 60.0),  # issue 5
    "deskpro": (90.0, 35 * 60.0),  # issue 16 (5 replicates, pretraining included)
    "grmnet": (120.0, 30 * 60.0),  # issue 7
}


def wall_times(paper: str, profile: str) -> dict[str, float]:
    """Notebook -> whole-notebook wall time (s) of reports/<paper>/<profile>/ (empty when there is no report)."""
    out = {}
    for info in sorted((ROOT / "reports" / paper / profile).glob("*/run_info.json")):
        data = json.loads(info.read_text())
        out[info.parent.name] = float(data.get("notebook_wall_time_s", data.get("wall_time_s", float("nan"))))
    return out


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(paper: str, profile: str) -> bool:
    """Prints one paper's profile against its budgets; False when there is no report to read."""
    per_nb, total_budget = BUDGETS[paper]
    times = wall_times(paper, profile)
    if not times:
        print(f"{paper:8s} {profile:6s} no report under reports/{paper}/{profile}/ (run with --run, or "
              f"`python -m cmlib.runner {paper} --profile {profile}`)")
        return False
    for name, s in times.items():
        line = f"{paper:8s} {profile:6s} {name:22s} {s:8.1f} s"
        if profile == "smoke":
            line += f" | budget {per_nb:5.0f} s per notebook -> {s / per_nb:4.2f}x {verdict(s <= per_nb)}"
        print(line)
    total = sum(times.values())
    line = f"{paper:8s} {profile:6s} {'all notebooks':22s} {total:8.1f} s"
    if profile == "study":
        line += f" | budget {total_budget:5.0f} s together -> {total / total_budget:4.2f}x {verdict(total <= total_budget)}"
    print(line)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", nargs="+", default=["smoke", "study"], choices=["smoke", "study"])
    parser.add_argument("--paper", nargs="+", default=list(BUDGETS), choices=list(BUDGETS))
    parser.add_argument("--run", action="store_true", help="run each profile through cmlib.runner first")
    args = parser.parse_args()
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else ["?"]
    print(f"load average {' '.join(load)} | wall clock on a shared machine")
    found = False
    for profile in args.profile:
        for paper in args.paper:
            if args.run:
                subprocess.run([sys.executable, "-m", "cmlib.runner", paper, "--profile", profile], cwd=ROOT,
                               check=False)
            found |= report(paper, profile)
    return 0 if found else 1


if __name__ == "__main__":
    sys.exit(main())
