"""What a reader opens: the claims table as HTML (text kept for nbval), the Markdown index with ``|`` escaped, the
study figure, and the static site ``reports/index.html`` opened in a real headless browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from cmlib.execution.claims_view import ClaimsTable, claims_html, claims_text
from cmlib.execution.index import build_index, committed_profile
from cmlib.execution.reporting import show
from cmlib.execution.study_figure import claim_point, study_figure
from cmlib.protocol.claims import DISPLAY_COLUMNS, Claim, claims

ROOT = Path(__file__).resolve().parents[2]
PIPE_CLAIM = "P(predicted class is seen | unseen image) falls"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _row(claim: str, verdict: str = "reproduced", **extra: object) -> dict:
    return {"claim": claim, "statistic": "|u0 - s0| - |u - s|", "rule": "> 0", "paper": "+20.3 (Table 3: |u-s|)",
            "n": 5, "mean": 2.0, "ci_low": 1.0, "ci_high": 3.0, "models": "", "verdict": verdict, **extra}


def _report(root: Path, paper: str, profile: str, name: str, rows: list[dict]) -> None:
    folder = root / "reports" / paper / profile / name
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"claims": rows}))
    (folder / "run_info.json").write_text(json.dumps({"notebook_wall_time_s": 61.5, "device": "cpu | 2 cores"}))
    (folder / f"{name}.html").write_text("<html><title>report</title></html>")


def test_markdown_index_escapes_pipes_in_every_cell(tmp_path: Path) -> None:
    import mistune

    _report(tmp_path, "clarel", "study", "02_alpha_sweep", [_row(PIPE_CLAIM)])
    html = mistune.create_markdown(plugins=["table"])(build_index(tmp_path).read_text())
    claims_table = html.split("<h2>Claims</h2>")[1].split("</table>")[0]
    body_row = claims_table.split("<tbody>")[1].split("</tr>")[0]
    columns = len(re.findall(r"<th[ >]", claims_table.split("<tbody>")[0]))
    assert len(re.findall(r"<td[ >]", body_row)) == columns >= 11, body_row  # an unescaped | would add cells, shift the verdict
    assert PIPE_CLAIM in body_row and body_row.rstrip().endswith("<strong>reproduced</strong></td>")


def test_claims_table_displays_as_html_and_keeps_its_text(capsys: pytest.CaptureFixture[str]) -> None:
    from IPython.core.formatters import format_display_data

    table = claims([Claim("a <b> beats | c", [1.0, 2.0, 3.0], ">", 0.0, "a - c", paper="+1.1 (Table 2)",
                          paper_effect=1.1),
                    Claim("c beats d", [-1.0, -2.0, -3.0], ">", 0.0, "c - d", margin=0.5)])
    data, _ = format_display_data(ClaimsTable(table))
    with pd.option_context("display.width", 250, "display.max_columns", 50, "display.max_colwidth", 80):
        assert data["text/plain"] == table[DISPLAY_COLUMNS].to_string(index=False)  # what nbval compares
    html = data["text/html"]
    assert "a &lt;b&gt; beats | c" in html and "<th" in html and "+1.1 (Table 2)" in html and "±0.5" in html
    assert 'class="data row0 col' in html and "cmlib-v-reproduced" in html and "cmlib-v-not-reproduced" in html
    assert html.count("<tr data-verdict=") == 2 and claims_html(table) == html  # same table, same bytes
    show(table)  # outside IPython: the text, printed
    assert capsys.readouterr().out.strip() == claims_text(table).strip()


def test_claims_html_shows_new_columns_only_where_a_row_has_them() -> None:
    old = claims_html([_row("old")])
    new = claims_html([_row("new", margin=0.5, paper_effect=2.1, premise="sharing 0.8")])
    assert "margin" not in old and "premise" not in old
    assert "±0.5" in new and "+2.1" in new and "sharing 0.8" in new


def test_study_figure_scales_to_the_paper_and_names_invalid_reasons() -> None:
    entries = [
        ("clarel / study", "01: H beats", _row("H beats", paper_effect=4.0, margin=1.0), "reproduced"),
        ("clarel / study", "01: u/s gap", _row("gap"), "inconclusive"),
        ("grmnet / study", "01: GRM beats", _row("GRM", rule="< 1"), "invalid: GRM-Net collapsed"),
        ("grmnet / study", "02: K barely matters", _row("K", rule="within 0 ± 0.5", margin=0.5), "reproduced"),
    ]
    scaled = claim_point(*entries[0])
    assert scaled is not None and scaled.scaled and (scaled.mean, scaled.low, scaled.high) == (0.5, 0.25, 0.75)
    assert scaled.margin == 0.25
    flipped = claim_point(*entries[2])
    assert flipped is not None and (flipped.mean, flipped.low, flipped.high) == (-1.0, -2.0, 0.0)  # 1 - x for "<"
    within = claim_point(*entries[3])
    assert within is not None and (within.mean, within.threshold, within.margin) == (2.0, 0.0, 0.5)
    fig = study_figure(entries)
    scaled_ax, raw_ax = fig.axes
    scaled_labels = [t.get_text() for t in scaled_ax.get_yticklabels()]
    raw_labels = [t.get_text() for t in raw_ax.get_yticklabels()]
    assert "01: H beats" in scaled_labels and "clarel / study" in scaled_labels
    assert any("GRM-Net collapsed" in t for t in raw_labels) and "grmnet / study" in raw_labels
    assert raw_ax.get_xscale() == "symlog"
    fig.canvas.draw()  # renders: every artist's text and geometry are computed


def _chromium_dom(page: Path, fragment: str = "") -> str:
    """The page's DOM after its script ran (with ``#fragment`` in the address), from a real headless chromium."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM} (Debian: apt-get install chromium); the site is not opened in a browser")
    url = page.as_uri() + (f"#{fragment}" if fragment else "")
    out = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=3000",
                          "--dump-dom", url],
                         capture_output=True, text=True, timeout=120, check=True)
    return out.stdout


class _Dom(HTMLParser):
    """Rows of the claims table (hidden or not) and every href/src of a dumped DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.in_claims = False
        self.rows: list[dict[str, str | None]] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self.in_claims = "cmlib-claims" in (a.get("class") or "").split()
        elif tag == "tr" and self.in_claims and "data-verdict" in a:
            self.rows.append(a)
        for key in ("href", "src"):
            if a.get(key):
                self.links.append(str(a[key]))


def _parse(dom: str) -> _Dom:
    parsed = _Dom()
    parsed.feed(dom)
    return parsed


def _check_links(page: Path, links: list[str]) -> None:
    for link in links:
        target = link.split("#")[0]
        if not target:
            continue  # a link within the page
        assert "://" not in target, f"{link}: the site must read offline"
        assert (page.parent / target).is_file(), f"{page.name} links {link}, which does not exist"


def test_site_opens_in_a_browser_with_every_claim_and_working_filters(tmp_path: Path) -> None:
    _report(tmp_path, "clarel", "study", "01_gzsl", [_row(PIPE_CLAIM), _row("H up", "not reproduced")])
    _report(tmp_path, "grmnet", "study", "01_multi", [_row("GRM", "invalid: GRM-Net collapsed")])
    _report(tmp_path, "grmnet", "smoke", "01_multi", [_row("smoke only")])  # not committed: not on the site
    build_index(tmp_path)
    page = tmp_path / "reports" / "index.html"
    dom = _parse(_chromium_dom(page))
    assert len(dom.rows) == 3 and not any("hidden" in r for r in dom.rows)
    _check_links(page, dom.links)
    assert "study.png" in dom.links and "clarel/study/01_gzsl/01_gzsl.html" in dom.links
    filtered = _parse(_chromium_dom(page, "paper=grmnet"))
    assert [r.get("data-paper") for r in filtered.rows if "hidden" not in r] == ["grmnet"]
    invalid = _parse(_chromium_dom(page, "verdict=invalid"))
    assert sum("hidden" not in r for r in invalid.rows) == 1


def test_committed_site_has_a_row_per_stored_claim_and_no_dead_link() -> None:
    page = ROOT / "reports" / "index.html"
    if not page.is_file():
        pytest.fail("reports/index.html is missing: python -m cmlib.runner --index-only all writes it")
    stored = 0
    for path in (ROOT / "reports").glob("*/*/*/metrics.json"):
        profile = path.parent.parent.name
        if committed_profile(profile) and profile != "interactive" and not path.parent.name.endswith(".partial"):
            stored += len(json.loads(path.read_text()).get("claims", []))
    dom = _parse(_chromium_dom(page))
    assert len(dom.rows) == stored
    _check_links(page, dom.links)


def test_other_tables_display_as_html_with_counts_as_integers() -> None:
    from IPython.core.formatters import format_display_data

    from cmlib.execution.claims_view import TableView
    from cmlib.execution.reporting import metrics_table

    table = metrics_table([{"model": "#3 (K=0)", "right": 19.0, "H": 40.0}, {"model": "#7", "right": 15.0, "H": 40.8}])
    data, _ = format_display_data(TableView(table))
    assert data["text/plain"] == table.to_string(index=False)  # nbval's text keeps 19.0 (masked as a float)
    assert ">19</td>" in data["text/html"] and ">19.0<" not in data["text/html"]
    assert ">40.0</td>" in data["text/html"] and ">40.8</td>" in data["text/html"]  # a column with decimals keeps them
