"""The reports index: every claim verdict and notebook wall time, gathered from ``reports/*/*/*/metrics.json``.

One index per kind of run, so that a local ``make smoke`` or a ``--seeds`` stability run never changes the
committed page:

* ``reports/README.md`` (committed): every profile that is not ``smoke`` and not a ``--seeds`` override;
* ``reports/README-<profile>.md`` (git-ignored): one page per smoke or override profile.

Each page opens with a per-paper overview (notebooks, claims, the replicates the claims used, and the verdict counts:
reproduced / not reproduced / inconclusive / invalid), then every claim with the paper's own number beside ours.
A stored claim row written before the n >= 3 rule (a definite verdict from fewer than 3 replicates) is shown as
``inconclusive (n < 3)`` with the stored verdict named beside it: the rule applies to every report, old or new.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from cmlib.claims import (
    INCONCLUSIVE,
    INCONCLUSIVE_FEW,
    INVALID,
    MIN_REPLICATES,
    NOT_REPRODUCED,
    REPRODUCED,
    verdict_kind,
)
from cmlib.reporting import write_text_atomic

__all__ = ["build_index", "committed_profile", "effective_verdict"]

SEEDS_MARK = "-seeds"
OVERRIDES_MARK = "+"  # a run with dotted overrides: reports/<paper>/<profile>+<hash>/ (cmlib.runner.report_folder)
_KINDS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, INVALID)


def committed_profile(profile: str) -> bool:
    """Whether a profile's claims belong in the committed reports/README.md (not smoke, not a --seeds run)."""
    return profile != "smoke" and SEEDS_MARK not in profile and OVERRIDES_MARK not in profile


def effective_verdict(row: dict[str, Any]) -> str:
    """The stored verdict under today's rules: a definite verdict from n < 3 replicates becomes inconclusive."""
    verdict = str(row.get("verdict", ""))
    n = int(row.get("n") or 0)
    if verdict in (REPRODUCED, NOT_REPRODUCED) and n < MIN_REPLICATES:
        return f"{INCONCLUSIVE_FEW} [stored: {verdict}]"
    return verdict


def _collect(reports: Path) -> dict[str, list[tuple[str, str, dict, dict]]]:
    """profile -> [(paper, notebook, metrics, run_info)], sorted by paper and notebook."""
    found: dict[str, list[tuple[str, str, dict, dict]]] = defaultdict(list)
    for metrics_path in sorted(reports.glob("*/*/*/metrics.json")):
        folder = metrics_path.parent
        paper, profile, name = folder.relative_to(reports).parts
        if folder.name.endswith(".partial") or profile == "interactive":
            continue
        info_path = folder / "run_info.json"
        info = json.loads(info_path.read_text()) if info_path.is_file() else {}
        found[profile].append((paper, name, json.loads(metrics_path.read_text()), info))
    return found


def _overview(entries: list[tuple[str, str, str, dict, dict]]) -> list[str]:
    per: dict[tuple[str, str], dict[str, Any]] = {}
    for paper, profile, _name, metrics, _info in entries:
        rec = per.setdefault((paper, profile), {"notebooks": 0, "n": [], "kinds": Counter()})
        rec["notebooks"] += 1
        for c in metrics.get("claims", []):
            rec["n"].append(int(c.get("n") or 0))
            rec["kinds"][verdict_kind(effective_verdict(c))] += 1
    lines = ["| paper | profile | notebooks | claims | replicates per claim | " + " | ".join(_KINDS) + " |",
             "|---|---|---|---|---|" + "---|" * len(_KINDS)]
    for (paper, profile), rec in sorted(per.items()):
        ns = rec["n"]
        reps = "n/a" if not ns else (f"{min(ns)}" if min(ns) == max(ns) else f"{min(ns)}-{max(ns)}")
        few = sum(n < MIN_REPLICATES for n in ns)
        reps += f" ({few} with n < {MIN_REPLICATES})" if few else ""
        counts = " | ".join(str(rec["kinds"][k]) for k in _KINDS)
        lines.append(f"| {paper} | {profile} | {rec['notebooks']} | {len(ns)} | {reps} | {counts} |")
    return lines


def _page(title: str, entries: list[tuple[str, str, str, dict, dict]]) -> str:
    claim_rows, time_rows = [], []
    totals: dict[tuple[str, str], float] = {}
    for paper, profile, name, metrics, info in entries:
        link = f"{paper}/{profile}/{name}/{name}.html"
        for c in metrics.get("claims", []):
            ci = f"[{c.get('ci_low')}, {c.get('ci_high')}]"
            claim_rows.append(f"| {paper} | {profile} | [{name}]({link}) | {c['claim']} | {c.get('statistic', '')} "
                              f"{c.get('rule', '')} | {c.get('paper', '') or '-'} | {c.get('mean')} | {ci} | "
                              f"{c.get('n')} | {c.get('models', '') or '-'} | **{effective_verdict(c)}** |")
        wall = info.get("notebook_wall_time_s", info.get("wall_time_s", "n/a"))
        time_rows.append(f"| {paper} | {profile} | [{name}]({link}) | {wall} | "
                         f"{info.get('device', 'n/a')} | {str(info.get('git_commit') or 'n/a')[:10]} |")
        if isinstance(wall, int | float):
            totals[(paper, profile)] = totals.get((paper, profile), 0.0) + float(wall)
    total_rows = [f"| {paper} | {profile} | {t / 60:.1f} |" for (paper, profile), t in totals.items()]
    return "\n".join([
        f"# {title}",
        "",
        "Generated by `python -m cmlib.runner` from every `metrics.json`; do not edit by hand.",
        (f"Verdicts are computed from the measured values (cmlib.claims): a 95% t-interval over independent "
         f"replicates against the rule; fewer than {MIN_REPLICATES} replicates give `{INCONCLUSIVE_FEW}`; a compared "
         "model at chance or collapsed gives `invalid`."),
        "",
        "## Overview",
        "",
        *_overview(entries),
        "",
        "## Claims",
        "",
        ("| paper | profile | notebook | claim | statistic and rule | paper's number | mean | 95% interval | n | "
         "models (mean, chance) | verdict |"),
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *claim_rows,
        "",
        "## Wall time of each notebook",
        "",
        ("Each profile's total is the sum of its notebooks' last runs (a notebook rerun alone, or run while other "
         "jobs shared the cores, shows here as it ran; the params files say how each budget was measured)."),
        "",
        "| paper | profile | all notebooks (min) |",
        "|---|---|---|",
        *total_rows,
        "",
        "| paper | profile | notebook | wall time (s, kernel start included) | device | commit |",
        "|---|---|---|---|---|---|",
        *time_rows,
        "",
    ])


def build_index(root: Path) -> Path:
    """Rebuild reports/README.md (committed profiles) and reports/README-<profile>.md (smoke, --seeds runs).

    Returns:
        The path of reports/README.md.
    """
    reports = root / "reports"
    reports.mkdir(exist_ok=True)
    found = _collect(reports)
    committed = [(p, prof, n, m, i) for prof, rows in found.items() if committed_profile(prof) for p, n, m, i in rows]
    committed.sort(key=lambda e: (e[0], e[1], e[2]))
    out = reports / "README.md"
    write_text_atomic(out, _page("Reports index", committed))
    for profile, rows in found.items():
        if not committed_profile(profile):
            entries = [(p, profile, n, m, i) for p, n, m, i in rows]
            write_text_atomic(reports / f"README-{profile}.md", _page(f"Reports index: {profile} (not committed)", entries))
    return out
