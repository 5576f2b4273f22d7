"""The claims table as a reader sees it: an HTML table (wrapping columns, verdicts coloured by family, the rule and the
paper's number in their own columns) with the plain-text form nbval compares.

:func:`cmlib.execution.reporting.show` displays a claims table through :class:`ClaimsTable`, which carries both forms: JupyterLab
and the HTML reports render ``text/html``; ``text/plain`` stays the ``DataFrame.to_string`` text the golden notebooks
compare. The static report site (:mod:`cmlib.execution.site`) renders its claims table with :func:`claims_html` too.

Every column beyond the original ``claim, statistic, rule, paper, n, mean, ci_low, ci_high, models, verdict`` is
optional (reports written before ``margin``, ``paper_effect``, ``premise``... existed lack them): a missing value shows
as "-", and an optional column missing or empty in every row is left out.
"""

from __future__ import annotations

import hashlib
import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from pandas.io.formats.style import Styler

from cmlib.protocol.claims import CLAIM_COLUMNS, DISPLAY_COLUMNS, VERDICT_FAMILIES, verdict_kind

__all__ = ["CSS", "ClaimsTable", "TableView", "claims_html", "claims_text", "is_claims_table", "table_html",
           "verdict_family"]

# Columns a text form leaves out: per-replicate lists and the dose-response curve belong in metrics.json and figures.
BULKY = ("values", "dose")
# (column, header, optional): the HTML table's columns, in order; extra leading columns (paper, notebook) go first.
COLUMNS: tuple[tuple[str, str, bool], ...] = (  # the verdict next to the claim: never scrolled out of sight
    ("claim", "claim", False),
    ("verdict", "verdict", False),
    ("statistic", "statistic", False),
    ("rule", "rule", False),
    ("margin", "margin", True),
    ("paper", "paper's number", False),
    ("paper_effect", "paper's effect (our scale)", True),
    ("n", "n", False),
    ("mean", "mean", False),
    ("interval", "95% interval", False),
    ("premise", "premise", True),
    ("converged", "convergence", True),
    ("models", "models (mean, chance)", False),
)
FAMILIES = VERDICT_FAMILIES
CSS = """
table.cmlib-claims { border-collapse: collapse; font-size: 12px; table-layout: auto; width: 100%; }
table.cmlib-claims th, table.cmlib-claims td { border: 1px solid #ccc; padding: 3px 6px; vertical-align: top;
  text-align: left !important; white-space: normal; overflow-wrap: break-word; }
table.cmlib-claims th { background: #f3f3f3; }
table.cmlib-claims td.cmlib-num { text-align: right !important; white-space: nowrap; font-variant-numeric: tabular-nums; }
table.cmlib-claims td.cmlib-wide { min-width: 9em; max-width: 24em; }
table.cmlib-claims td.cmlib-short { white-space: nowrap; }
table.cmlib-claims td[class*="cmlib-v-"] { min-width: 8em; }
table.cmlib-claims td.cmlib-v-reproduced { background: #d4edda; font-weight: bold; }
table.cmlib-claims td.cmlib-v-not-reproduced { background: #f8d7da; font-weight: bold; }
table.cmlib-claims td.cmlib-v-inconclusive { background: #fff3cd; }
table.cmlib-claims td.cmlib-v-invalid { background: #e2e3e5; font-style: italic; }
table.cmlib-claims tr.cmlib-sanity td { color: #555; }
"""
_WIDE = {"claim", "statistic", "models", "premise", "converged", "paper"}
_NUMERIC = {"n", "mean", "interval", "margin", "paper_effect"}


def is_claims_table(table: Any) -> bool:
    """Whether ``table`` is a claims table (a DataFrame with ``claim`` and ``verdict`` columns)."""
    return isinstance(table, pd.DataFrame) and {"claim", "verdict"} <= set(table.columns)


def verdict_family(verdict: str) -> str:
    """The verdict's family (reproduced, not reproduced, inconclusive, invalid), or "unknown" for a string that is
    none of them (a report written under other rules)."""
    try:
        return verdict_kind(str(verdict))
    except ValueError:
        return "unknown"


def claims_text(table: pd.DataFrame) -> str:
    """The plain-text form of a table (what ``# NBVAL_CHECK_OUTPUT`` cells compare): ``to_string`` without the index.

    A full claims table shows :data:`cmlib.protocol.claims.DISPLAY_COLUMNS` (plus ``converged`` / ``premise`` where a claim has
    one); per-replicate values, dose levels and grouping keys stay in metrics.json. Any other table: every column
    but ``values`` and ``dose``."""
    if set(CLAIM_COLUMNS) <= set(table.columns):
        extra = [c for c in ("converged", "premise") if table[c].astype(str).str.len().gt(0).any()]
        shown = table[[*DISPLAY_COLUMNS[:-1], *extra, DISPLAY_COLUMNS[-1]]]
    else:
        shown = table.drop(columns=[c for c in BULKY if c in table.columns])
    with pd.option_context("display.width", 250, "display.max_columns", 50, "display.max_colwidth", 80):
        return shown.to_string(index=False)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _number(value: Any, signed: bool = False) -> str:
    """A number as a reader wants it: integers without ``.0``, floats to 4 significant figures."""
    if _missing(value):
        return "-"
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        text = str(int(value))
    else:
        text = f"{value:.4g}"
    return f"+{text}" if signed and value > 0 else text


def _cell(row: Mapping[str, Any], column: str) -> str:
    """The display text of one cell of a claims row."""
    if column == "interval":
        lo, hi = row.get("ci_low"), row.get("ci_high")
        return "-" if _missing(lo) and _missing(hi) else f"[{_number(lo)}, {_number(hi)}]"
    if column == "margin":
        return "-" if _missing(row.get("margin")) else f"±{_number(row.get('margin'))}"
    if column == "paper_effect":
        return _number(row.get("paper_effect"), signed=True)
    if column in ("n", "mean"):
        return _number(row.get(column))
    value = row.get(column)
    return "-" if _missing(value) else str(value)


def _display_frame(rows: Sequence[Mapping[str, Any]], lead: Sequence[tuple[str, str]],
                   links: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Rows of HTML-escaped display strings under the headers of :data:`COLUMNS` (optional columns kept only where
    some row has a value), after the ``lead`` columns ``(key, header)``; a lead column named in ``links`` links each
    cell to its row's href."""
    keep = [(key, header) for key, header, optional in COLUMNS
            if not optional or any(not _missing(r.get(key)) for r in rows)]
    data: dict[str, list[str]] = {}
    for key, header in lead:
        texts = [html.escape(str(r.get(key, ""))) for r in rows]
        hrefs = links.get(header)
        data[header] = (texts if hrefs is None
                        else [f'<a href="{html.escape(h)}">{t}</a>' for t, h in zip(texts, hrefs, strict=True)])
    for key, header in keep:
        data[header] = [html.escape(_cell(r, key)) for r in rows]
    return pd.DataFrame(data, columns=list(data))


def claims_html(rows: Sequence[Mapping[str, Any]] | pd.DataFrame, *, lead: Sequence[tuple[str, str]] = (),
                links: Mapping[str, Sequence[str]] | None = None, row_attrs: Sequence[Mapping[str, str]] = (),
                table_id: str = "") -> str:
    """The claims rows as one HTML ``<table class="cmlib-claims">`` with its stylesheet.

    Args:
        rows: a :func:`cmlib.protocol.claims.claims` table, or its rows as stored in metrics.json.
        lead: extra leading columns ``(key, header)`` taken from each row as they are (the site's paper, profile,
            notebook).
        links: ``{header: [href per row]}``: that lead column's cells link there.
        row_attrs: per row, extra ``<tr>`` attributes (the site's ``data-paper``...), values escaped here.
        table_id: the table's id after Styler's ``T_`` (default: one derived from its content, so two tables in one notebook never share
            the per-table CSS scope and the same table always gives the same HTML).
    """
    records = rows.to_dict(orient="records") if isinstance(rows, pd.DataFrame) else [dict(r) for r in rows]
    frame = _display_frame(records, lead, links or {})
    uid = table_id or "claims-" + hashlib.sha1(frame.to_csv().encode()).hexdigest()[:10]
    classes = pd.DataFrame("", index=frame.index, columns=frame.columns)
    for key, header, _ in COLUMNS:
        if header in frame.columns:
            classes[header] = "cmlib-wide" if key in _WIDE else "cmlib-num" if key in _NUMERIC else "cmlib-short"
    for _key, header in lead:
        classes[header] = "cmlib-short"
    if "verdict" in frame.columns:
        classes["verdict"] = ["cmlib-v-" + verdict_family(html.unescape(v)).replace(" ", "-") for v in frame["verdict"]]
    styler = (Styler(frame, uuid=uid, cell_ids=False).hide(axis="index").set_td_classes(classes)
              .set_table_attributes('class="cmlib-claims"'))  # Styler names it id="T_<uid>"
    body = _add_row_attrs(styler.to_html(), records, row_attrs)  # cells are escaped already (links kept as links)
    return f"<style>{CSS}</style>\n{body}"


def _add_row_attrs(body: str, records: Sequence[Mapping[str, Any]], row_attrs: Sequence[Mapping[str, str]]) -> str:
    """Give each body ``<tr>`` its verdict family (and sanity class) and the extra attributes of ``row_attrs``."""
    head, sep, tail = body.partition("<tbody>")
    if not sep:
        return body
    parts = tail.split("<tr>")
    for i, record in enumerate(records):
        attrs = {"data-verdict": verdict_family(str(record.get("verdict", "")))}
        if record.get("kind") == "sanity":
            attrs["class"] = "cmlib-sanity"
        attrs.update(row_attrs[i] if i < len(row_attrs) else {})
        text = " ".join(f'{k}="{html.escape(str(v))}"' for k, v in attrs.items())
        parts[i + 1] = f"<tr {text}>" + parts[i + 1]
    return head + sep + parts[0] + "".join(parts[1:])


class ClaimsTable:
    """A claims table for IPython's display: HTML where a front end renders it, :func:`claims_text` everywhere else
    (``repr``, nbval's ``text/plain`` comparison, a plain ``print``)."""

    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table

    def _repr_html_(self) -> str:
        return claims_html(self.table)

    def __repr__(self) -> str:
        return claims_text(self.table)


def _column_formatter(values: pd.Series) -> Any:
    """A float column whose every finite value is whole prints as integers (a count stored as a float, ``19.0``,
    so that nbval masks it, reads ``19``); any other column prints each value as it is."""
    finite = values.dropna()
    whole = pd.api.types.is_float_dtype(values) and len(finite) and (finite == finite.round()).all()
    return (lambda v: "-" if _missing(v) else f"{v:.0f}") if whole else (lambda v: "-" if _missing(v) else str(v))


def table_html(table: pd.DataFrame) -> str:
    """Any other table (``metrics_table``) as HTML: no index, numbers right-aligned, whole-number float columns as
    integers."""
    styler = Styler(table, uuid="t" + hashlib.sha1(table.to_csv().encode()).hexdigest()[:10], cell_ids=False)
    for column in table.columns:
        styler = styler.format(_column_formatter(table[column]), subset=[column])
    return f"<style>{CSS}</style>\n" + styler.hide(axis="index").set_table_attributes('class="cmlib-claims"').to_html()


class TableView:
    """A results table for IPython's display: :func:`table_html` where a front end renders HTML, the
    ``to_string`` text (what nbval compares) everywhere else."""

    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table

    def _repr_html_(self) -> str:
        return table_html(self.table)

    def __repr__(self) -> str:
        return claims_text(self.table)
