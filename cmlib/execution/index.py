"""The reports index: every claim verdict and notebook wall time, gathered from ``reports/*/*/*/metrics.json``.

One index per kind of run, so that a local ``make smoke`` or a ``--seeds`` stability run never changes the
committed page:

* ``reports/README.md`` (committed): every profile that is not ``smoke`` and not a ``--seeds`` override;
* ``reports/README-<profile>.md`` (git-ignored): one page per smoke or override profile.

Each page opens with a per-paper overview (the headline model's level beside the paper's, notebooks, claims, distinct
findings, sanity checks, the replicates the claims used, and the verdict counts of the findings: reproduced / not
reproduced / inconclusive / invalid, with the invalid claims' reasons), then every claim with its margin and the
paper's own number beside ours, headline claims first.
A stored claim row written before the n >= 3 rule (a definite verdict from fewer than 3 replicates) is shown as
``inconclusive (n < 3)`` with the stored verdict named beside it: the rule applies to every report, old or new.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from cmlib.protocol.claims import (
    INCONCLUSIVE,
    INCONCLUSIVE_FEW,
    INVALID,
    MIN_REPLICATES,
    NOT_REPRODUCED,
    REPRODUCED,
    VERDICT_FAMILIES,
    verdict_kind,
)
from cmlib.protocol.files import write_text_atomic

__all__ = ["build_index", "committed_profile", "effective_verdict"]

SEEDS_MARK = "-seeds"
OVERRIDES_MARK = "+"  # a run with dotted overrides: reports/<paper>/<profile>+<hash>/ (cmlib.runner.report_folder)


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


def _md_cell(value: Any) -> str:
    """One Markdown table cell: ``|`` escaped (a claim such as ``|u0 - s0| - |u - s|`` would otherwise split the row)
    and line breaks turned into spaces."""
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip()


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


def _finding_key(paper: str, profile: str, notebook: str, c: dict[str, Any]) -> tuple[str, ...]:
    """Claims that name one ``comparison`` (one pair of runs) are one finding within a paper and profile."""
    comparison = str(c.get("comparison") or "")
    return (paper, profile, "comparison", comparison) if comparison else (paper, profile, notebook, str(c["claim"]))


def _group_kind(kinds: list[str]) -> str:
    """The verdict family of a finding whose claims share one comparison: the most frequent family among them; a
    tie goes to the more cautious family (invalid, then inconclusive, then not reproduced, then reproduced)."""
    counts = Counter(kinds)
    caution = [INVALID, INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED]
    return max(caution, key=lambda k: (counts[k], -caution.index(k)))


def _invalid_reason(verdict: str) -> str:
    """``"still improving"``, ``"premise absent"``, ``"at chance"``, ``"collapsed"`` (or the text) of an invalid."""
    text = verdict.split(":", 1)[-1]
    for reason in ("still improving", "premise absent", "at chance", "collapsed"):
        if reason in text:
            return reason
    return text.strip()


def _level(metrics: dict[str, Any]) -> str:
    """``"GRM-Net #7 12.3 vs 59.4 COCO AP (21%)"`` from a notebook's ``level`` entry (Report.save_level)."""
    lv = metrics.get("level")
    if not isinstance(lv, dict):
        return ""
    ours, paper = float(lv["ours"]), lv.get("paper")
    if paper is None:
        return f"{lv['model']} {ours:.3g} {lv['metric']} (the paper gives none)"
    ratio = f" ({100 * ours / float(paper):.0f}%)" if float(paper) else ""
    return f"{lv['model']} {ours:.3g} vs {float(paper):.3g} {lv['metric']}{ratio}"


def _overview(entries: list[tuple[str, str, str, dict, dict]]) -> list[str]:
    per: dict[tuple[str, str], dict[str, Any]] = {}
    for paper, profile, name, metrics, _info in entries:
        rec = per.setdefault((paper, profile), {"notebooks": 0, "n": [], "findings": defaultdict(list),
                                                "sanity": 0, "reasons": Counter(), "level": ""})
        rec["notebooks"] += 1
        rec["level"] = rec["level"] or _level(metrics)
        for c in metrics.get("claims", []):
            rec["n"].append(int(c.get("n") or 0))
            verdict = effective_verdict(c)
            if c.get("kind") == "sanity":
                rec["sanity"] += 1
                continue
            rec["findings"][_finding_key(paper, profile, name, c)].append(verdict_kind(verdict))
            if verdict_kind(verdict) == INVALID:
                rec["reasons"][_invalid_reason(verdict)] += 1
    lines = ["| paper | profile | headline model: ours vs the paper's | notebooks | claims | findings | sanity checks | "
             "replicates per claim | " + " | ".join(VERDICT_FAMILIES) + " |",
             "|---|---|---|---|---|---|---|---|" + "---|" * len(VERDICT_FAMILIES)]
    for (paper, profile), rec in sorted(per.items()):
        ns = rec["n"]
        reps = "n/a" if not ns else (f"{min(ns)}" if min(ns) == max(ns) else f"{min(ns)}-{max(ns)}")
        few = sum(n < MIN_REPLICATES for n in ns)
        reps += f" ({few} with n < {MIN_REPLICATES})" if few else ""
        kinds = Counter(_group_kind(k) for k in rec["findings"].values())
        cells = [str(kinds[k]) for k in VERDICT_FAMILIES]
        if rec["reasons"]:
            cells[-1] += " (" + ", ".join(f"{v} {k}" for k, v in sorted(rec["reasons"].items())) + " claims)"
        lines.append(f"| {paper} | {profile} | {rec['level'] or 'not recorded'} | {rec['notebooks']} | {len(ns)} | "
                     f"{len(rec['findings'])} | {rec['sanity']} | {reps} | " + " | ".join(cells) + " |")
    return lines


def _ordered_claims(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """A notebook's claims, headline claims first, sanity checks last (stable otherwise)."""
    claims = list(metrics.get("claims", []))
    return sorted(claims, key=lambda c: (not c.get("headline"), c.get("kind") == "sanity"))


def _page(title: str, entries: list[tuple[str, str, str, dict, dict]], figure: str = "") -> str:
    claim_rows, time_rows = [], []
    totals: dict[tuple[str, str], float] = {}
    for paper, profile, name, metrics, info in entries:
        link = f"{paper}/{profile}/{name}/{name}.html"
        for c in _ordered_claims(metrics):
            ci = f"[{c.get('ci_low')}, {c.get('ci_high')}]"
            margin = c.get("margin")
            tag = " (headline)" if c.get("headline") else " (sanity check)" if c.get("kind") == "sanity" else ""
            cells = [paper, profile, f"[{name}]({link})", c["claim"], f"{c.get('statistic', '')} {c.get('rule', '')}",
                     "-" if margin is None else margin, c.get("paper", "") or "-", c.get("mean"), ci, c.get("n"),
                     c.get("models", "") or "-", f"**{effective_verdict(c)}**{tag}"]
            claim_rows.append("| " + " | ".join(_md_cell(x) for x in cells) + " |")
        wall = info.get("notebook_wall_time_s", info.get("wall_time_s", "n/a"))
        cells = [paper, profile, f"[{name}]({link})", wall, info.get("device", "n/a"),
                 str(info.get("git_commit") or "n/a")[:10]]
        time_rows.append("| " + " | ".join(_md_cell(x) for x in cells) + " |")
        if isinstance(wall, int | float):
            totals[(paper, profile)] = totals.get((paper, profile), 0.0) + float(wall)
    total_rows = [f"| {paper} | {profile} | {t / 60:.1f} |" for (paper, profile), t in totals.items()]
    return "\n".join([
        f"# {title}",
        "",
        "Generated by `python -m cmlib.runner` from every `metrics.json`; do not edit by hand.",
        (f"Verdicts are computed from the measured values (cmlib.protocol.claims): a 95% t-interval over independent "
         f"replicates against the rule and the claim's margin (its smallest effect of interest, fixed before the "
         f"run); fewer than {MIN_REPLICATES} replicates give `{INCONCLUSIVE_FEW}`; a compared model at chance, "
         "collapsed or still improving, or a premise absent from the data, gives `invalid`. A *finding* is one "
         "comparison: claims that reuse one pair of runs count once (under their most frequent verdict); sanity "
         "checks (true by construction) are listed but not counted. Rows written before the margin rule show "
         "margin `-`."),
        "",
        *([f"Browse it as a page with filters: [index.html](index.html). Every claim at a glance ({figure}):", "",
           f"![every claim: our effect and its 95% interval beside the paper's, by verdict]({figure})", ""]
          if figure else []),
        "## Overview",
        "",
        *_overview(entries),
        "",
        "## Claims",
        "",
        ("| paper | profile | notebook | claim | statistic and rule | margin | paper's number | mean | 95% interval | "
         "n | models (mean, chance) | verdict |"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
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
    from cmlib.execution.site import (
        write_site,  # reports/study.png and reports/index.html, from the same committed reports
    )

    figure = write_site(reports, committed, _overview(committed), effective_verdict)
    write_text_atomic(out, _page("Reports index", committed, figure=figure.name))
    for profile, rows in found.items():
        if not committed_profile(profile):
            entries = [(p, profile, n, m, i) for p, n, m, i in rows]
            write_text_atomic(reports / f"README-{profile}.md", _page(f"Reports index: {profile} (not committed)", entries))
    return out
