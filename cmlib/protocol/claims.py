"""Claim verdicts computed from replicates: the rules every paper's claims table follows.

A :class:`Claim` holds one measured value of a named statistic per *replicate* (an independent draw of world seed,
split, initialisation and batch order), usually a paired difference between two models within that replicate
(:func:`paired`). :func:`claims` turns a list of claims into a table with the mean, a 95% Student-t interval and a
verdict. Every finding states its **margin** m, the smallest effect of interest, fixed before the run: by default a
quarter of the paper's own effect (``paper_effect``), otherwise set and justified in the claim's text.

The rules, in the order they apply (the first that fires decides):

1. **invalid: <model> collapsed** -- a compared model's outputs collapsed in some replicate.
2. **invalid: <model> at chance** -- the 95% interval of a compared model's ``score - chance`` reaches 0.
3. **invalid: <model> still improving (+x over the last third)** -- the convergence gate
   (:func:`last_third_gain`): the mean validation curve of a compared model gained more than its tolerance (the
   claim's margin unless the model sets one) over the last third of training. A model still learning says nothing
   about the paper; train it longer or shrink the world (DESIGN: converge first, then fit the budget).
4. **invalid: premise absent (<name> = x)** -- the phenomenon the mechanism exploits is not in the data
   (:class:`Premise`: measured per replicate, below its minimum).
5. **inconclusive (n < 3)** -- fewer than :data:`MIN_REPLICATES` replicates never give a definite verdict.
6. **inconclusive** -- a value is not finite, or no rule below decides.
7. A directional claim (``op`` ``">"`` / ``"<"``, threshold t, margin m; written for ``>``, mirrored for ``<``):

   * the interval lies above t: **reproduced**; inside (t, t + m): **reproduced (below the margin)**;
   * the interval lies at or below t: **not reproduced**; inside (t - m, t + m) (it still crosses t):
     **not reproduced (within the margin)** -- the two one-sided tests of equivalence at the interval's level show
     the effect is smaller than anything of interest.

8. An equivalence claim (``op="~"``: "is stable", "barely affects", "within x"): the interval inside (t - m, t + m):
   **reproduced**; the interval wholly outside it (beyond t + m or below t - m): **not reproduced**; else
   **inconclusive**. This replaces range-against-SD rules, which a range of k noisy points fails whatever the truth.

Every test uses the same 95% Student-t interval, so the two one-sided tests run at 2.5% each, the level of the
directional tests. A **trend** (:func:`trend`) is a claim on the per-replicate slope of an effect against the level of
a world knob (dose-response). A **sanity check** (``sanity=True``: holds by construction, e.g. a model that runs an
extra network at inference is slower) is computed like a claim and needs no margin, but the index does not count it
as a finding. Claims that reuse one pair of runs name it in ``comparison``, and the index counts them once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = [
    "BELOW_MARGIN",
    "CLAIM_COLUMNS",
    "DISPLAY_COLUMNS",
    "INCONCLUSIVE",
    "INCONCLUSIVE_FEW",
    "INVALID",
    "MIN_REPLICATES",
    "NOT_REPRODUCED",
    "REPRODUCED",
    "VERDICT_FAMILIES",
    "WITHIN_MARGIN",
    "Claim",
    "Dose",
    "ModelCheck",
    "Premise",
    "claims",
    "curve_from_history",
    "last_third_gain",
    "paired",
    "replicate_curves",
    "t_interval",
    "trend",
    "verdict_kind",
]

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, INVALID = "reproduced", "not reproduced", "inconclusive", "invalid"
MIN_REPLICATES = 3
INCONCLUSIVE_FEW = f"{INCONCLUSIVE} (n < {MIN_REPLICATES})"
#: the four verdict families, in the order the index and the site count them (:func:`verdict_kind` maps a verdict)
VERDICT_FAMILIES = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, INVALID)
BELOW_MARGIN = f"{REPRODUCED} (below the margin)"
WITHIN_MARGIN = f"{NOT_REPRODUCED} (within the margin)"
#: every column of a claims table (and key of a stored claim row)
CLAIM_COLUMNS = ["claim", "statistic", "rule", "margin", "paper", "paper_effect", "n", "mean", "ci_low", "ci_high",
                 "models", "converged", "premise", "verdict", "comparison", "kind", "headline", "values", "dose"]
#: the columns a printed claims table shows (the rest stay in metrics.json)
DISPLAY_COLUMNS = ["claim", "statistic", "rule", "margin", "paper", "n", "mean", "ci_low", "ci_high", "models",
                   "verdict"]
#: the share of training that the convergence gate looks at (the last third)
LAST_FRACTION = 1.0 / 3.0

Curve = Sequence[tuple[float, float]]  # [(step, validation score)] of one training run


@dataclass(frozen=True)
class ModelCheck:
    """The sanity gate of one compared model: its score per replicate against its chance level, its training curves.

    Attributes:
        name: the model as the tables name it (``"WHCMT 8b"``).
        scores: its score per replicate (same replicates as the claim's values), on the scale of ``chance``.
        chance: the score a random ranking / guess gets: one number, or one per replicate.
        collapsed: per replicate (or one flag for all), whether its outputs collapsed (one code for every image,
            an empty mask for every expression, one class for every input).
        curves: per replicate, its validation curve ``[(step, score), ...]`` (:func:`curve_from_history`); empty:
            convergence not measured (the row says so).
        tolerance: the gain over the last third of training below which it counts as converged, on the curve's
            scale; None: the claim's margin (right when the claim's statistic is a difference of these scores). A
            sanity check (no margin) applies the gate only to models with a tolerance of their own.
    """

    name: str
    scores: Sequence[float]
    chance: float | Sequence[float]
    collapsed: bool | Sequence[bool] = False
    curves: Sequence[Curve] = ()
    tolerance: float | None = None

    def problem(self) -> str | None:
        """``"collapsed"``, ``"at chance"`` or None (the model left chance in every replicate's interval)."""
        flags = [self.collapsed] if isinstance(self.collapsed, bool) else list(self.collapsed)
        if any(bool(f) for f in flags):
            return "collapsed"
        scores = np.asarray([float(s) for s in self.scores], dtype=float)
        if scores.size == 0:
            raise ValueError(f"model check {self.name!r}: no scores")
        chance = np.broadcast_to(np.asarray(self.chance, dtype=float), scores.shape)
        _, lo, _ = t_interval(scores - chance)
        return "at chance" if not math.isfinite(lo) or lo <= 0 else None

    def gain(self) -> float | None:
        """The mean curve's gain over the last third of training (:func:`last_third_gain`); None without curves."""
        return last_third_gain(self.curves) if self.curves else None

    def summary(self, digits: int = 3) -> str:
        mean_chance = float(np.mean(np.asarray(self.chance, dtype=float)))
        return f"{self.name} {round(float(np.mean(self.scores)), digits)} (chance {round(mean_chance, digits)})"


@dataclass(frozen=True)
class Premise:
    """The phenomenon a mechanism exploits, measured on the data the models were trained on.

    Attributes:
        name: what is measured, e.g. ``"relational expressions (share)"``.
        values: one measurement per replicate (the same replicates as the claim).
        minimum: the level below which the mechanism has nothing to work with (fixed before the run, justified in
            the paper's issue or the claim's text): a mean below it makes the claim ``invalid: premise absent``.
        real: the same number measured on the paper's real files (None: not measurable there).
        real_source: where ``real`` was measured (``"SketchyScene val, 116 scenes"``).
    """

    name: str
    values: Sequence[float]
    minimum: float
    real: float | None = None
    real_source: str = ""

    def mean(self) -> float:
        vals = [float(v) for v in self.values]
        if not vals:
            raise ValueError(f"premise {self.name!r}: no measured values")
        return float(np.mean(vals))

    def absent(self) -> bool:
        return not self.mean() >= self.minimum

    def summary(self, digits: int = 3) -> str:
        text = f"{self.name} {_g(self.mean(), digits)} (needs >= {_g(self.minimum, digits)}"
        if self.real is not None:
            text += f"; real data {_g(self.real, digits)}" + (f", {self.real_source}" if self.real_source else "")
        return text + ")"


@dataclass(frozen=True)
class Dose:
    """The levels of a world knob behind a :func:`trend` claim, and the effect measured at each.

    Attributes:
        levels: the knob's levels (e.g. the share of relational expressions), ascending.
        effects: ``effects[i][r]``: the paired effect at level ``i`` in replicate ``r``.
        knob: the knob's name for the figure's axis.
        paper_level: the knob's value at the paper's own setting (measured on its real data), or None.
    """

    levels: Sequence[float]
    effects: Sequence[Sequence[float]]
    knob: str = "level"
    paper_level: float | None = None

    def summary(self, digits: int = 3) -> dict[str, Any]:
        """``{"knob", "levels", "mean", "ci_low", "ci_high", "paper_level"}`` (one interval per level)."""
        stats = [t_interval(np.asarray(e, dtype=float)) for e in self.effects]
        return {"knob": self.knob, "levels": [float(x) for x in self.levels],
                "mean": [round(s[0], digits) for s in stats], "ci_low": [round(s[1], digits) for s in stats],
                "ci_high": [round(s[2], digits) for s in stats], "paper_level": self.paper_level}


@dataclass(frozen=True)
class Claim:
    """One paper claim checked on measured numbers.

    Attributes:
        name: the claim in words, e.g. ``"H at validated alpha beats H at alpha=0"``.
        values: the measured statistic, one value per independent replicate (see :func:`paired`).
        op: ``">"`` (the statistic exceeds ``threshold``), ``"<"``, or ``"~"`` (equivalence: within ``margin`` of
            ``threshold``).
        threshold: the boundary, usually 0 for differences.
        statistic: what ``values`` measure, e.g. ``"H(alpha*) - H(0)"``.
        paper: the paper's own number for the effect in words, e.g. ``"+2.1 mAP (Table 3)"``.
        models: the sanity and convergence gate of every compared model (empty: none, e.g. a claim about a shape).
        margin: the smallest effect of interest on the statistic's scale, fixed before the run; None: a quarter of
            ``|paper_effect|``. A finding needs one (``claims`` raises otherwise); an equivalence claim always.
        paper_effect: the paper's effect on our statistic's scale (``+2.1``), or None where it gives none.
        premise: the phenomenon the mechanism needs, measured (None: the claim is not about a mechanism).
        comparison: a name shared by the claims that reuse one pair of runs (the index counts them once).
        sanity: holds by construction (a check of the pipeline, not a finding about the paper).
        headline: one of the paper's headline claims (listed first).
        dose: the per-level effects of a :func:`trend` claim.
    """

    name: str
    values: Sequence[float]
    op: Literal[">", "<", "~"] = ">"
    threshold: float = 0.0
    statistic: str = ""
    paper: str = ""
    models: Sequence[ModelCheck] = ()
    margin: float | None = None
    paper_effect: float | None = None
    premise: Premise | None = None
    comparison: str = ""
    sanity: bool = False
    headline: bool = False
    dose: Dose | None = field(default=None, repr=False)

    def effective_margin(self) -> float | None:
        """``margin``, else a quarter of ``|paper_effect|`` (the default smallest effect of interest), else None."""
        if self.margin is not None:
            return float(self.margin)
        if self.paper_effect is not None and self.paper_effect != 0:
            return 0.25 * abs(float(self.paper_effect))
        return None


def paired(a: Sequence[float] | Mapping[int, float], b: Sequence[float] | Mapping[int, float]) -> list[float]:
    """Per-replicate differences ``a - b`` of two models measured on the same replicates.

    Args:
        a, b: one score per replicate, either as sequences in the same replicate order or as ``{seed: score}``
            mappings (matched by seed).

    Raises:
        ValueError: the two sides do not cover the same replicates.
    """
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        if not (isinstance(a, Mapping) and isinstance(b, Mapping)) or set(a) != set(b):
            raise ValueError(f"paired: both sides must be {{seed: score}} mappings over the same seeds, got "
                             f"{sorted(a) if isinstance(a, Mapping) else len(a)} and "
                             f"{sorted(b) if isinstance(b, Mapping) else len(b)}")
        return [float(a[k]) - float(b[k]) for k in sorted(a)]
    if len(a) != len(b):
        raise ValueError(f"paired: {len(a)} replicates on one side, {len(b)} on the other")
    return [float(x) - float(y) for x, y in zip(a, b, strict=True)]


def trend(name: str, dose: Dose, *, margin: float, statistic: str = "", paper: str = "",
          op: Literal[">", "<"] = ">", models: Sequence[ModelCheck] = (), premise: Premise | None = None,
          headline: bool = False) -> Claim:
    """A dose-response claim: the effect grows (``">"``) or shrinks (``"<"``) with the knob.

    Each replicate's slope is the least-squares slope of its effects on the levels; the verdict is on the slopes
    (paired per replicate, interval over replicates), against 0 with ``margin`` in effect units per unit of the knob.

    Raises:
        ValueError: fewer than two levels, or replicates missing at some level.
    """
    levels = np.asarray([float(x) for x in dose.levels], dtype=float)
    effects = np.asarray([[float(v) for v in row] for row in dose.effects], dtype=float)  # (levels, replicates)
    if levels.size < 2 or effects.ndim != 2 or effects.shape[0] != levels.size:
        raise ValueError(f"trend {name!r}: need >= 2 levels and one row of effects per level, got {levels.size} "
                         f"levels and effects of shape {effects.shape}")
    centred = levels - levels.mean()
    slopes = (centred @ (effects - effects.mean(axis=0))) / float(centred @ centred)  # (replicates,)
    return Claim(name, [float(s) for s in slopes], op, 0.0, statistic or f"slope of the effect per unit of {dose.knob}",
                 paper, models, margin=margin, premise=premise, headline=headline, dose=dose)


def curve_from_history(history: Sequence[Mapping[str, float]], key: str = "eval/score") -> list[tuple[float, float]]:
    """The validation curve ``[(step, score)]`` in a :class:`cmlib.protocol.engine.FitResult` history (rows with ``key``)."""
    return [(float(row["step"]), float(row[key])) for row in history if key in row]


def replicate_curves(rows: Sequence[Mapping[str, Any]], key: str = "curve") -> list:
    """The validation curves of one model's replicate rows (``row[key]``: ``[(step, score), ...]``) for
    :attr:`ModelCheck.curves`, when every row has one of >= 2 points (a point before and one in the last third of
    training); otherwise none, and the claim row says convergence was not measured (a profile without a validation
    split or curve points, a 1-step run)."""
    curves = [r.get(key) or [] for r in rows]
    return curves if all(len(c) >= 2 for c in curves) else []


def last_third_gain(curves: Sequence[Curve]) -> float:
    """How much the mean validation curve over replicates gained in the last third of training.

    The rule (issue 26, fixed in code): average the replicates' curves point by point (they must share their
    validation steps), then ``gain = max(score at steps in the last third) - max(score at earlier steps)``, where
    the last third holds the steps above 2/3 of the final step. A model is *converged* when the gain is below its
    tolerance: a rising curve gains, a plateau or a peak followed by a decline does not, and a noisy plateau gains
    only its noise (which the mean over replicates shrinks). A curve whose best point lies before the last third has
    a gain <= 0, so "the best validation score is not in the last third" is the special case of a zero tolerance.

    Raises:
        ValueError: replicates with different validation steps, or no validation point before or in the last third.
    """
    steps = [tuple(float(s) for s, _ in c) for c in curves]
    if not steps or any(s != steps[0] for s in steps):
        raise ValueError(f"convergence gate: every replicate's curve needs the same validation steps, got {steps}")
    at = np.asarray(steps[0], dtype=float)
    mean = np.mean(np.asarray([[float(v) for _, v in c] for c in curves], dtype=float), axis=0)
    late = at > at.max() * (1.0 - LAST_FRACTION)
    if late.all() or not late.any():
        raise ValueError(f"convergence gate: validation steps {list(at)} need points before and in the last third")
    return float(mean[late].max() - mean[~late].max())


def claims(items: Sequence[Claim], *, digits: int = 3) -> pd.DataFrame:
    """The claims table: one row per claim with the columns of :data:`CLAIM_COLUMNS` (see the module rules).

    Raises:
        ValueError: a claim with no values, an unknown op, gates over other replicates, or a finding without a margin.
    """
    rows = []
    for c in items:
        vals = np.asarray([float(v) for v in c.values], dtype=float)
        margin = _check(c, vals)
        readings = _gate_readings(c, margin)
        mean, lo, hi = t_interval(vals)
        rows.append({
            "claim": c.name,
            "statistic": c.statistic,
            "rule": _rule(c, margin),
            "margin": None if margin is None else _round(margin, digits),
            "paper": c.paper,
            "paper_effect": c.paper_effect,
            "n": int(vals.size),
            "mean": round(mean, digits),
            "ci_low": round(lo, digits),
            "ci_high": round(hi, digits),
            "models": "; ".join(m.summary(digits) for m in c.models),
            "converged": _converged_summary(readings, digits),
            "premise": c.premise.summary(digits) if c.premise else "",
            "verdict": _verdict(c, margin, readings, vals.size, lo, hi, digits),
            "comparison": c.comparison,
            "kind": "sanity" if c.sanity else "finding",
            "headline": bool(c.headline),
            "values": [round(float(v), 6) if math.isfinite(v) else str(v) for v in vals],
            "dose": c.dose.summary(digits) if c.dose else None,
        })
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def t_interval(vals: np.ndarray) -> tuple[float, float, float]:
    """(mean, low, high) of the 95% Student-t interval of the mean; with one value, or a non-finite one, the point."""
    mean = float(vals.mean())
    if vals.size < 2 or not np.all(np.isfinite(vals)):
        return mean, mean, mean
    from scipy import stats

    half = float(stats.t.ppf(0.975, vals.size - 1) * vals.std(ddof=1) / math.sqrt(vals.size))
    return mean, mean - half, mean + half


def verdict_kind(verdict: str) -> str:
    """The verdict's family for counting: reproduced, not reproduced, inconclusive or invalid."""
    for kind in (INVALID, NOT_REPRODUCED, REPRODUCED, INCONCLUSIVE):
        if verdict.startswith(kind):
            return kind
    raise ValueError(f"unknown verdict {verdict!r}")


def _check(c: Claim, vals: np.ndarray) -> float | None:
    if c.op not in (">", "<", "~"):
        raise ValueError(f"claim {c.name!r}: op must be '>', '<' or '~', got {c.op!r}")
    if vals.size == 0:
        raise ValueError(f"claim {c.name!r}: no measured values")
    for m in c.models:
        if len(m.scores) != vals.size:
            raise ValueError(f"claim {c.name!r}: model {m.name!r} has {len(m.scores)} scores for {vals.size} "
                             "replicates (the gate must see the same replicates as the claim)")
        if m.curves and len(m.curves) != vals.size:
            raise ValueError(f"claim {c.name!r}: model {m.name!r} has {len(m.curves)} validation curves for "
                             f"{vals.size} replicates")
    if c.premise is not None and len(c.premise.values) != vals.size:
        raise ValueError(f"claim {c.name!r}: premise {c.premise.name!r} has {len(c.premise.values)} values for "
                         f"{vals.size} replicates")
    margin = c.effective_margin()
    if margin is not None and not margin > 0:
        raise ValueError(f"claim {c.name!r}: margin must be > 0, got {margin}")
    if margin is None and not c.sanity:
        raise ValueError(f"claim {c.name!r}: no margin (the smallest effect of interest): give margin=..., or "
                         "paper_effect=... for the default of a quarter of the paper's effect, or sanity=True for a "
                         "check that holds by construction")
    return margin


def _rule(c: Claim, margin: float | None) -> str:
    if c.op == "~":
        return f"within {c.threshold:g} ± {margin:g}"
    return f"{c.op} {c.threshold:g}"


def _gate_readings(c: Claim, margin: float | None) -> list[tuple[str, float, float]]:
    """(model, gain over the last third, tolerance) of every compared model the convergence gate judges (one with a
    validation curve and a tolerance), each gain computed once for the row's summary and its verdict."""
    readings = []
    for m in c.models:
        tol = _tolerance(m, margin)
        gain = m.gain() if tol is not None else None
        if gain is not None:
            readings.append((m.name, gain, tol))
    return readings


def _converged_summary(readings: Sequence[tuple[str, float, float]], digits: int) -> str:
    return "; ".join(f"{name} {'converged' if gain <= tol else 'still improving'} ({_signed(gain, digits)} over the "
                     f"last third, tolerance {_g(tol, digits)})" for name, gain, tol in readings)


def _tolerance(m: ModelCheck, margin: float | None) -> float | None:
    """The model's own tolerance, else the claim's margin; None (gate not applied) for a claim with neither: a sanity
    check has no smallest effect of interest, so "still improving by more than it" has no meaning there."""
    if m.tolerance is not None:
        return float(m.tolerance)
    return None if margin is None else float(margin)


def _verdict(c: Claim, margin: float | None, readings: Sequence[tuple[str, float, float]], n: int, lo: float,
             hi: float, digits: int) -> str:
    for m in c.models:
        problem = m.problem()
        if problem:
            return f"{INVALID}: {m.name} {problem}"
    for name, gain, tol in readings:
        if gain > tol:
            return f"{INVALID}: {name} still improving ({_signed(gain, digits)} over the last third)"
    if c.premise is not None and c.premise.absent():
        return f"{INVALID}: premise absent ({c.premise.name} = {_g(c.premise.mean(), digits)})"
    if n < MIN_REPLICATES:
        return INCONCLUSIVE_FEW
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return INCONCLUSIVE
    t, m = c.threshold, (margin or 0.0)
    if c.op == "~":
        if t - m < lo and hi < t + m:
            return REPRODUCED
        return NOT_REPRODUCED if lo >= t + m or hi <= t - m else INCONCLUSIVE
    if c.op == "<":  # mirror: the claim "stat < t" is the claim "-stat > -t"
        lo, hi, t = -hi, -lo, -t
    if lo > t:
        return BELOW_MARGIN if m and hi < t + m else REPRODUCED
    if hi <= t:
        return NOT_REPRODUCED
    if m and t - m < lo and hi < t + m:
        return WITHIN_MARGIN
    return INCONCLUSIVE


def _round(x: float, digits: int) -> float:
    """Round, keeping two significant figures of a small value (a margin of 0.0025 stays 0.0025)."""
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, max(digits, 1 - int(math.floor(math.log10(abs(x))))))


def _g(x: float, digits: int) -> str:
    return f"{_round(float(x), digits):g}"


def _signed(x: float, digits: int) -> str:
    return ("+" if x >= 0 else "") + _g(x, digits)
