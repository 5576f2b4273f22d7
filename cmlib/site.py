"""The static report site: ``reports/index.html``, the page a reader opens first.

Written with the index (``python -m cmlib.runner ... `` and ``--index-only``; ``make site``) from the same committed
reports: the study figure (:mod:`cmlib.study_figure`, ``reports/study.png``), the per-paper overview, every claim in
one HTML table (:func:`cmlib.claims_view.claims_html`) with filters by paper, profile and verdict, and every
notebook's report link with its wall time. One self-contained file with relative links: it reads offline, from a
clone or a copied ``reports/`` folder. A filter can be set in the address too: ``index.html#paper=clarel&verdict=invalid``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cmlib.claims_view import FAMILIES, claims_html, verdict_family
from cmlib.reporting import write_text_atomic
from cmlib.study_figure import write_study_figure

__all__ = ["FIGURE_NAME", "SITE_NAME", "claim_rows", "site_html", "write_site"]

FIGURE_NAME = "study.png"
SITE_NAME = "index.html"
Entry = tuple[str, str, str, Mapping[str, Any], Mapping[str, Any]]  # paper, profile, notebook, metrics, run_info

_PAGE_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em auto; max-width: 1500px;
  padding: 0 1em; color: #222; }
nav a { margin-right: 1em; }
img.study { max-width: 100%; border: 1px solid #ddd; }
table.plain { border-collapse: collapse; font-size: 13px; }
table.plain th, table.plain td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
.filters { position: sticky; top: 0; background: #fff; padding: 0.5em 0; border-bottom: 1px solid #ddd; }
.filters label { margin-right: 1.2em; }
"""
_SCRIPT = """
(function () {
  const keys = ["paper", "profile", "verdict"];
  const selects = Object.fromEntries(keys.map(k => [k, document.getElementById("filter-" + k)]));
  function apply(user) {
    const want = Object.fromEntries(keys.map(k => [k, selects[k].value]));
    let shown = 0, total = 0;
    document.querySelectorAll("tr[data-paper]").forEach(tr => {
      const ok = keys.every(k => !want[k] || tr.dataset[k] === undefined || tr.dataset[k] === want[k]);
      tr.hidden = !ok;
      if (tr.closest("table.cmlib-claims")) { total += 1; shown += ok ? 1 : 0; }
    });
    document.getElementById("claim-count").textContent = shown + " of " + total + " claims shown";
    if (user) {  // the address keeps the filters, so a filtered view can be linked
      const hash = keys.filter(k => want[k]).map(k => k + "=" + encodeURIComponent(want[k])).join("&");
      history.replaceState(null, "", hash ? "#" + hash : location.pathname);
    }
  }
  let filtered = false;
  new URLSearchParams(location.hash.slice(1)).forEach((value, key) => {
    if (selects[key]) { selects[key].value = value; filtered = true; }
  });
  keys.forEach(k => selects[k].addEventListener("change", () => apply(true)));
  apply(false);
  if (filtered) { document.getElementById("claims-section").scrollIntoView(); }
})();
"""


def _report_link(paper: str, profile: str, name: str) -> str:
    """A notebook's HTML report, relative to ``reports/``."""
    return f"{paper}/{profile}/{name}/{name}.html"


def claim_rows(entries: Sequence[Entry], verdict: Any) -> list[dict[str, Any]]:
    """Every stored claim as one row: its metrics.json fields (``paper`` is the paper's own number) plus
    ``paper_label`` (the short name), ``profile``, ``notebook``, and the verdict the index shows (``verdict(row)``, e.g. :func:`cmlib.index.effective_verdict`)."""
    rows = []
    for paper, profile, name, metrics, _info in entries:
        for c in metrics.get("claims", []):
            rows.append({**c, "paper_label": paper, "profile": profile, "notebook": name, "verdict": verdict(c)})
    return rows


def _select(key: str, values: Sequence[str]) -> str:
    options = "".join(f'<option value="{html.escape(v)}">{html.escape(v)}</option>' for v in values)
    return (f'<label>{key} <select id="filter-{key}"><option value="">all</option>{options}</select></label>')


def _notebooks_table(entries: Sequence[Entry]) -> str:
    """Each notebook's report link, wall time, claim count, device and commit; each profile's total in minutes."""
    rows, totals = [], {}
    for paper, profile, name, metrics, info in entries:
        wall = info.get("notebook_wall_time_s", info.get("wall_time_s"))
        if isinstance(wall, int | float):
            totals[(paper, profile)] = totals.get((paper, profile), 0.0) + float(wall)
        cells = [html.escape(paper), html.escape(profile),
                 f'<a href="{html.escape(_report_link(paper, profile, name))}">{html.escape(name)}</a>',
                 "-" if wall is None else html.escape(str(wall)), str(len(metrics.get("claims", []))),
                 html.escape(str(info.get("device", "-"))), html.escape(str(info.get("git_commit") or "-")[:10])]
        rows.append(f'<tr data-paper="{html.escape(paper)}" data-profile="{html.escape(profile)}">'
                    + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    total_rows = "".join(f"<tr><td>{html.escape(p)}</td><td>{html.escape(f)}</td><td>{t / 60:.1f}</td></tr>"
                         for (p, f), t in totals.items())
    return ("<table class=\"plain\"><thead><tr><th>paper</th><th>profile</th><th>all notebooks (min)</th></tr></thead>"
            f"<tbody>{total_rows}</tbody></table>\n<p></p>\n"
            "<table class=\"plain\" id=\"notebooks\"><thead><tr><th>paper</th><th>profile</th><th>notebook</th>"
            "<th>wall time (s, kernel start included)</th><th>claims</th><th>device</th><th>commit</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _markdown(lines: Sequence[str]) -> str:
    """Markdown (the index's overview table) as HTML, by nbconvert's own Markdown renderer."""
    import mistune

    return str(mistune.create_markdown(plugins=["table"])("\n".join(lines))).replace("<table>", '<table class="plain">')


def site_html(entries: Sequence[Entry], overview: Sequence[str], verdict: Any, *, figure: str = FIGURE_NAME) -> str:
    """The whole page.

    Args:
        entries: the committed reports, ``(paper, profile, notebook, metrics, run_info)`` sorted by paper.
        overview: the index's overview as Markdown table lines (``cmlib.index``), shown as a table.
        verdict: the index's verdict of a stored row (``cmlib.index.effective_verdict``).
        figure: the study figure's file name, relative to the page.
    """
    rows = claim_rows(entries, verdict)
    table = claims_html(
        rows,
        lead=[("paper_label", "paper"), ("profile", "profile"), ("notebook", "notebook")],
        links={"notebook": [_report_link(r["paper_label"], r["profile"], r["notebook"]) for r in rows]},
        row_attrs=[{"data-paper": r["paper_label"], "data-profile": r["profile"]} for r in rows],
        table_id="claims") if rows else "<p>No claim in the reports yet.</p>"
    papers = sorted({e[0] for e in entries})
    profiles = sorted({e[1] for e in entries})
    families = [f for f in FAMILIES if any(verdict_family(r["verdict"]) == f for r in rows)]
    counts = ", ".join(f"{sum(verdict_family(r['verdict']) == f for r in rows)} {f}" for f in FAMILIES)
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>cmlib: reports of the study</title>",
        f"<style>{_PAGE_CSS}</style></head><body>",
        "<h1>cmlib: reports of the study</h1>",
        ("<p>Generated by <code>python -m cmlib.runner</code> from every committed <code>metrics.json</code> (not the "
         "smoke profile, not <code>--seeds</code> runs); do not edit by hand. Verdicts are computed by "
         f"<code>cmlib.claims</code>. {len(rows)} claims in {len(entries)} notebooks: {counts}.</p>"),
        ('<nav><a href="#figure">study figure</a><a href="#overview">overview</a><a href="#claims-section">claims</a>'
         '<a href="#notebooks-section">notebooks and wall times</a><a href="README.md">the same as Markdown</a></nav>'),
        '<h2 id="figure">Every claim at a glance</h2>',
        f'<img class="study" src="{html.escape(figure)}" alt="every claim: our effect and 95% interval, by verdict">',
        '<h2 id="overview">Overview</h2>',
        _markdown(overview),
        '<h2 id="claims-section">Claims</h2>',
        '<div class="filters">' + _select("paper", papers) + _select("profile", profiles)
        + _select("verdict", families) + '<span id="claim-count"></span></div>',
        table,
        '<h2 id="notebooks-section">Notebooks and wall times</h2>',
        _notebooks_table(entries),
        f"<script>{_SCRIPT}</script>",
        "</body></html>",
        "",
    ])


def write_site(reports: Path, entries: Sequence[Entry], overview: Sequence[str], verdict: Any) -> Path:
    """Write ``reports/study.png`` (the study figure) and ``reports/index.html`` (the site); returns the figure's
    path. Same reports, same bytes (no timestamp in either)."""
    figure_entries = [(f"{r['paper_label']} / {r['profile']}", f"{r['notebook']}: {r['claim']}", r, r["verdict"])
                      for r in claim_rows(entries, verdict)]
    figure = write_study_figure(reports / FIGURE_NAME, figure_entries)
    write_text_atomic(reports / SITE_NAME, site_html(entries, overview, verdict, figure=FIGURE_NAME))
    return figure
