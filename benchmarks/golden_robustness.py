"""Do the golden tests tolerate another processor and still catch a bug? (not a test: a check to run by hand)

    .venv/bin/python benchmarks/golden_robustness.py [--papers clarel deskpro] [--jitter 8]
                                                     [--plant cmlib/losses/reid.py 'd_ap - d_an' 'd_an - d_ap']

Copies the tracked tree into a temporary folder (``../shared`` linked beside it, the venv reused), optionally plants a
bug there (replace the first occurrence of OLD by NEW in FILE), and runs the golden notebooks of the chosen papers
under nbval plus the band test, as ``make test`` does, with ``CMLIB_NUMERIC_JITTER=<jitter>`` set (a numeric
perturbation the bands were not measured with: another "machine"). Prints pass/fail per notebook and the problems of
each failed band test. Without ``--plant`` every notebook should pass; with a planted bug the paper should fail.
Measured results are in the README section "Determinism and golden tests on any machine".
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def copy_tree(dest: Path) -> Path:
    """The tracked and untracked-not-ignored files of the project, copied to ``dest/p`` with ``dest/shared`` linked."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.splitlines()
    project = dest / "p"
    for rel in files:
        src = ROOT / rel
        if src.is_file():
            (project / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, project / rel)
    (project / ".venv").symlink_to(ROOT / ".venv")
    if (ROOT.parent / "shared").exists():
        (dest / "shared").symlink_to(ROOT.parent / "shared")
    return project


def plant(project: Path, file: str, old: str, new: str) -> None:
    path = project / file
    text = path.read_text()
    if old not in text:
        raise SystemExit(f"--plant: {old!r} not found in {file}")
    path.write_text(text.replace(old, new, 1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--papers", nargs="+", default=["clarel", "whcmt", "deskpro", "grmnet", "demo"])
    ap.add_argument("--jitter", type=int, default=8, help="CMLIB_NUMERIC_JITTER for the run (0: unperturbed)")
    ap.add_argument("--plant", nargs=3, metavar=("FILE", "OLD", "NEW"), help="plant a bug before running")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="golden-robustness-") as tmp:
        project = copy_tree(Path(tmp))
        if args.plant:
            plant(project, *args.plant)
        env = {**os.environ, "PYTHONPATH": str(project), "PYTHONHASHSEED": "0",
               "CMLIB_NUMERIC_JITTER": str(args.jitter)}
        targets = [f"tests/notebooks/golden/{p}" for p in args.papers]
        keep = " or ".join(args.papers)
        cmd = [str(project / ".venv/bin/python"), "-m", "pytest", "-q", "-rf", *targets,
               "tests/notebooks/test_golden_metrics.py", "-k", keep, "--nbval-lax", "--nbval-current-env",
               "--nbval-cell-timeout=900", "--nbval-sanitize-with", "tests/notebooks/nbval_sanitize.cfg"]
        out = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, check=False).stdout
    failed = sorted(set(re.findall(r"^FAILED (\S+)", out, flags=re.MULTILINE)))
    print(f"jitter {args.jitter}, planted: {args.plant or 'nothing'}; papers: {', '.join(args.papers)}")
    print(out.strip().splitlines()[-1] if out.strip() else "no pytest output")
    for name in failed:
        print("  FAILED", name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
