"""Verdict stability (not a test): run a paper's study with two disjoint seed sets and compare every claim's verdict.

    .venv/bin/python benchmarks/verdict_stability.py demo [--profile study] [--seeds-a 100-104] [--seeds-b 200-204]
                                                          [--jobs 1] [--no-run]

Each seed set is one ``python -m cmlib.runner PAPER --profile P --seeds S`` run, written to its own folder
(``reports/<paper>/<profile>-seeds<S>/``, git-ignored, with its own index ``reports/README-<profile>-seeds<S>.md``).
By default each set has as many seeds as the profile's own ``seeds`` (100.. and 200..); both sets must lie in the
stability range of :mod:`cmlib.protocol.seeds` (100-999), disjoint from the study's seeds and from every tuning probe's. The script prints, per
claim, both means, intervals and verdicts, and a status:

* ``stable``: the same verdict twice;
* ``UNSTABLE``: reproduced in one set and not reproduced in the other (the claim's verdict is decided by noise);
* ``differs``: any other difference (one set inconclusive or invalid): the verdict is not yet one a second run would
  repeat.

It ends with the counts, and exits 1 when a run failed (never for an unstable claim: that is a result). ``--no-run``
reads the two folders of an earlier run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cmlib.protocol.claims import NOT_REPRODUCED, REPRODUCED, verdict_kind
from cmlib.protocol.config import load_yaml
from cmlib.protocol.seeds import STABILITY, seed_role
from cmlib.runner import parse_seeds, seeds_folder


def default_sets(paper: str, profile: str) -> tuple[str, str]:
    """Two disjoint seed sets as large as the profile's own seeds: 100.. and 200.."""
    n = len(load_yaml(ROOT / "params" / paper / f"{profile}.yaml").get("run", {}).get("seeds", [0, 1, 2]))
    return f"100-{100 + n - 1}", f"200-{200 + n - 1}"


def read_claims(paper: str, folder: str) -> dict[tuple[str, str], dict]:
    """(notebook, claim) -> claim row, from every metrics.json of one run folder."""
    rows = {}
    for metrics in sorted((ROOT / "reports" / paper / folder).glob("*/metrics.json")):
        for c in json.loads(metrics.read_text()).get("claims", []):
            rows[(metrics.parent.name, c["claim"])] = c
    return rows


def status(a: str, b: str) -> str:
    ka, kb = verdict_kind(a), verdict_kind(b)
    if {ka, kb} == {REPRODUCED, NOT_REPRODUCED}:
        return "UNSTABLE"
    return "stable" if a == b else "differs"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paper")
    ap.add_argument("--profile", default="study")
    ap.add_argument("--seeds-a", default=None)
    ap.add_argument("--seeds-b", default=None)
    ap.add_argument("--jobs", type=int, default=1, help="notebooks in parallel within each run")
    ap.add_argument("--no-run", action="store_true", help="compare the folders of an earlier run")
    args = ap.parse_args(argv)
    da, db = default_sets(args.paper, args.profile)
    sets = [args.seeds_a or da, args.seeds_b or db]
    if set(parse_seeds(sets[0])) & set(parse_seeds(sets[1])):
        print(f"seed sets {sets[0]} and {sets[1]} overlap: they must be disjoint", file=sys.stderr)
        return 2
    for spec in sets:
        stray = [s for s in parse_seeds(spec) if seed_role(s) != "stability"]
        if stray:
            print(f"seeds {stray} of {spec} lie outside the stability range {STABILITY.start}-{STABILITY.stop - 1} "
                  "(cmlib.protocol.seeds: study seeds are scored by the study, probe seeds serve tuning)", file=sys.stderr)
            return 2
    folders = [seeds_folder(args.profile, parse_seeds(s)) for s in sets]
    if not args.no_run:
        for spec in sets:
            cmd = [sys.executable, "-m", "cmlib.runner", args.paper, "--profile", args.profile, "--seeds", spec,
                   "--jobs", str(args.jobs)]
            print("$", " ".join(cmd[1:]), flush=True)
            if subprocess.run(cmd, cwd=ROOT, check=False).returncode != 0:
                print(f"the run with seeds {spec} failed", file=sys.stderr)
                return 1
    a, b = (read_claims(args.paper, f) for f in folders)
    print(f"\n{args.paper} / {args.profile}: seeds {sets[0]} vs {sets[1]}\n")
    print(f"{'notebook':<18} {'claim':<60} {'n':>3}  {'mean [95% CI] (A)':<26} {'verdict A':<26} "
          f"{'mean [95% CI] (B)':<26} {'verdict B':<26} status")
    counts: dict[str, int] = {}
    for key in sorted(set(a) | set(b)):
        ra, rb = a.get(key), b.get(key)
        if ra is None or rb is None:
            st = "missing in one run"
            va = ra["verdict"] if ra else "-"
            vb = rb["verdict"] if rb else "-"
        else:
            va, vb, st = ra["verdict"], rb["verdict"], status(ra["verdict"], rb["verdict"])
        counts[st] = counts.get(st, 0) + 1

        def cell(r: dict | None) -> str:
            return f"{r['mean']} [{r['ci_low']}, {r['ci_high']}]" if r else "-"

        n = (ra or rb)["n"]
        print(f"{key[0]:<18} {key[1][:60]:<60} {n:>3}  {cell(ra):<26} {va:<26} {cell(rb):<26} {vb:<26} {st}")
    print("\n" + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
