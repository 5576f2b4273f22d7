"""One figure of the whole study: every claim of every paper as a row, our effect and its 95% interval, coloured by
verdict, grouped by paper.

Two panels, each drawn only when it has rows:

* **scaled to the paper's effect**: claims whose row states ``paper_effect`` (the paper's own effect on our
  statistic's scale, a non-zero number): x = our mean / the paper's effect, so the paper's effect is 1 and no effect
  is 0; the interval, the rule's threshold (a black tick) and the margin (a grey band around the threshold) are
  scaled likewise.
* **raw scale, oriented by the rule**: every other claim (the paper gives no number on our scale, or the report was
  written before ``paper_effect`` existed): x = (our value - the rule's threshold), negated for a ``<`` rule, so the
  claimed side of a directional claim is always right of 0 (an equivalence claim, ``within t ± m``, claims the
  margin band around 0); a symmetric-log axis puts points of H beside fractions of mAP.

An invalid claim is drawn hollow and its label names the reason. The runner writes the figure with the index
(``reports/study.png``); the index and the report site (:mod:`cmlib.execution.site`) embed it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cmlib.execution.claims_view import FAMILIES, verdict_family

__all__ = ["COLOURS", "ClaimPoint", "claim_point", "study_figure", "write_study_figure"]

COLOURS = {"reproduced": "#2e7d32", "not reproduced": "#c62828", "inconclusive": "#e0a800", "invalid": "#7f7f7f",
           "unknown": "#000000"}
ROW_INCHES = 0.24
LABEL_CHARS = 78


@dataclass(frozen=True)
class ClaimPoint:
    """One claim as the figure draws it (x values already scaled or oriented)."""

    paper: str
    label: str
    family: str
    scaled: bool  # True: divided by the paper's effect; False: raw, oriented by the rule
    mean: float
    low: float
    high: float
    threshold: float  # the rule's boundary on the same x scale
    margin: float | None  # the margin's half-width on the same x scale


def _float(value: Any) -> float | None:
    """A finite float, or None (missing, a string that is no number, NaN)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _rule(rule: str) -> tuple[str, float]:
    """``"> 0.05"`` -> (">", 0.05); ``"within 0 ± 0.5"`` (an equivalence claim) -> ("~", 0.0); an unreadable rule
    -> (">", 0.0)."""
    text = str(rule or "")
    m = re.fullmatch(r"\s*([<>])\s*(-?[\d.eE+-]+)\s*", text)
    if m:
        return m.group(1), float(m.group(2))
    m = re.match(r"\s*within\s+(-?[\d.eE+-]+)", text)
    return ("~", float(m.group(1))) if m else (">", 0.0)


def claim_point(paper: str, label: str, row: Mapping[str, Any], verdict: str) -> ClaimPoint | None:
    """The figure's view of one stored claim row, or None when it has no finite mean."""
    mean = _float(row.get("mean"))
    if mean is None:
        return None
    low, high = _float(row.get("ci_low")), _float(row.get("ci_high"))
    low, high = (mean if low is None else low), (mean if high is None else high)
    family = verdict_family(verdict)
    label = _short(label, LABEL_CHARS)
    if family == "invalid":  # the reason stays readable: the claim's words give way first
        reason = _short(verdict, 48)
        label = f"{_short(label, max(LABEL_CHARS - len(reason) - 3, 30))}  [{reason}]"
    op, threshold = _rule(str(row.get("rule", "")))
    margin = _float(row.get("margin"))
    effect = _float(row.get("paper_effect"))
    if effect:  # scaled: the paper's effect is 1
        lo, hi = sorted((low / effect, high / effect))
        return ClaimPoint(paper, label, family, True, mean / effect, lo, hi, threshold / effect,
                          None if margin is None else abs(margin / effect))
    sign = -1.0 if op == "<" else 1.0  # ">" and "~" keep their direction
    lo, hi = sorted((sign * (low - threshold), sign * (high - threshold)))
    return ClaimPoint(paper, label, family, False, sign * (mean - threshold), lo, hi, 0.0, margin)


def _short(text: str, n: int = LABEL_CHARS) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _layout(points: Sequence[ClaimPoint]) -> tuple[list[float], list[tuple[float, str]]]:
    """y of each point (top to bottom, a blank row before each paper) and the paper headers' (y, name)."""
    ys, headers, y = [], [], 0.0
    last = None
    for p in points:
        if p.paper != last:
            y -= 1.0 if last is not None else 0.0
            headers.append((y, p.paper))
            y -= 1.0
            last = p.paper
        ys.append(y)
        y -= 1.0
    return ys, headers


def _panel(ax: Any, points: Sequence[ClaimPoint], scaled: bool) -> None:
    """Draw one panel's rows: intervals, means, thresholds, margin bands, paper headers and labels."""
    ys, headers = _layout(points)
    for p, y in zip(points, ys, strict=True):
        colour = COLOURS.get(p.family, "#000000")
        if p.margin:
            ax.add_patch(_band(p.threshold - p.margin, p.threshold + p.margin, y))
        ax.plot([p.threshold], [y], marker="|", color="black", markersize=9, zorder=3)
        ax.plot([p.low, p.high], [y, y], color=colour, lw=2.2, solid_capstyle="butt", zorder=4)
        hollow = p.family == "invalid"
        ax.plot([p.mean], [y], "o", color=colour, markerfacecolor="white" if hollow else colour, markersize=5.5,
                zorder=5)
    ax.axvline(0.0, color="#444", lw=0.8, zorder=1)
    if scaled:
        ax.axvline(1.0, color="#1f4e9c", lw=1.0, ls="--", zorder=1)
    ticks = [*ys, *(y for y, _ in headers)]
    labels = [p.label for p in points] + [name for _, name in headers]
    ax.set_yticks(ticks, labels)
    for tick in ax.get_yticklabels()[len(points):]:
        tick.set_fontweight("bold")
        tick.set_fontsize(11)
    ax.tick_params(axis="y", labelsize=8.5, length=0)
    ax.set_ylim(min(ticks) - 0.8, max(ticks) + 0.8)
    ax.grid(axis="x", color="#ddd", lw=0.6)
    ax.margins(x=0.04)
    if scaled:
        ax.set_xlabel("our effect / the paper's effect (1 = the paper's effect, dashed; 0 = no effect)")
        ax.set_title("Claims with the paper's effect on our scale", loc="left", fontsize=11)
    else:
        ax.set_xscale("symlog", linthresh=0.01)
        ax.set_xlabel("our value past the rule's threshold, raw units, claimed side > 0 (symmetric log; linear "
                      "within ±0.01)")
        ax.set_title("Claims without the paper's effect on our scale", loc="left", fontsize=11)


def _band(lo: float, hi: float, y: float) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((lo, y - 0.4), hi - lo, 0.8, color="#cfcfcf", alpha=0.7, lw=0, zorder=2)


def study_figure(entries: Sequence[tuple[str, str, Mapping[str, Any], str]]) -> Any:
    """The study figure.

    Args:
        entries: one ``(paper, label, claim row, verdict)`` per claim, in reading order (grouped by paper); the
            verdict is the one the index shows (``cmlib.execution.index.effective_verdict``).

    Returns:
        A matplotlib Figure, made without pyplot (one or two panels; a single note when there is no claim at all).
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    points = [p for e in entries if (p := claim_point(*e)) is not None]
    panels = [(s, [p for p in points if p.scaled == s]) for s in (True, False)]
    panels = [(s, ps) for s, ps in panels if ps]
    heights = [len(ps) + 2 * len({p.paper for p in ps}) + 1 for _, ps in panels] or [3]
    fig = Figure(figsize=(13, ROW_INCHES * sum(heights) + 0.9 * max(len(panels), 1) + 1.0))
    if not panels:
        fig.text(0.5, 0.5, "no claim in the reports yet", ha="center", va="center")
        return fig
    height = fig.get_figheight()
    grid = fig.add_gridspec(len(panels), 1, height_ratios=heights, hspace=1.2 * len(panels) / sum(heights) * 3,
                            top=1 - 0.9 / height, bottom=0.7 / height, left=0.45, right=0.98)
    for i, (scaled, ps) in enumerate(panels):
        _panel(fig.add_subplot(grid[i]), ps, scaled)
    handles = [Line2D([], [], color=COLOURS[f], marker="o", lw=2.2,
                      markerfacecolor="white" if f == "invalid" else COLOURS[f], label=f) for f in FAMILIES]
    handles += [Line2D([], [], color="black", marker="|", lw=0, markersize=9, label="rule's threshold"),
                Line2D([], [], color="#cfcfcf", lw=6, label="margin (smallest effect of interest)")]
    fig.legend(handles=handles, loc="upper left", ncol=len(handles), frameon=False, fontsize=9,
               bbox_to_anchor=(0.01, 1 - 0.3 / height))
    fig.suptitle(f"Every claim of the study ({len(points)}): mean and 95% interval over replicates, by verdict",
                 x=0.01, ha="left", y=1.0, fontsize=13)
    return fig


def write_study_figure(path: Path, entries: Sequence[tuple[str, str, Mapping[str, Any], str]]) -> Path:
    """Draw :func:`study_figure` and save it as a PNG at ``path`` (no timestamp in the file: same claims, same
    bytes); returns ``path``."""
    fig = study_figure(entries)  # a bare Figure: no pyplot state, no backend switch in the caller's process
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, bbox_inches="tight", metadata={"Software": None})
    return path
