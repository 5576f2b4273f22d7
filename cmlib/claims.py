"""Claim verdicts computed from replicates: the rules every paper's claims table follows.

A :class:`Claim` holds one measured value of a named statistic per *replicate* (an independent draw of world seed,
split, initialisation and batch order), usually a paired difference between two models within that replicate
(:func:`paired`). :func:`claims` turns a list of claims into a table with the mean, a 95% Student-t interval and a
verdict. The rules, in the order they apply:

1. **invalid: <model> collapsed** -- a compared model's outputs collapsed in some replicate (one code for every image,
   an empty mask for every expression): the comparison says nothing about the paper.
2. **invalid: <model> at chance** -- a compared model is not above its chance level: the 95% interval of
   ``score - chance`` over replicates reaches 0 (with one replicate: the point is at or below chance).
3. **inconclusive (n < 3)** -- fewer than :data:`MIN_REPLICATES` replicates never give a definite verdict.
4. **inconclusive** -- a value is not finite, or the interval crosses the threshold.
5. **reproduced** / **not reproduced** -- the whole interval lies on the claimed / the other side of the threshold.

Each row also shows the paper's own number for the effect (``paper``, e.g. ``"+2.1 mAP (Table 3)"``) beside ours and
a summary of the gate (``models``: each compared model's mean score against its chance level).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

__all__ = [
    "CLAIM_COLUMNS",
    "INCONCLUSIVE",
    "INCONCLUSIVE_FEW",
    "INVALID",
    "MIN_REPLICATES",
    "NOT_REPRODUCED",
    "REPRODUCED",
    "Claim",
    "ModelCheck",
    "claims",
    "paired",
    "t_interval",
    "verdict_kind",
]

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, INVALID = "reproduced", "not reproduced", "inconclusive", "invalid"
MIN_REPLICATES = 3
INCONCLUSIVE_FEW = f"{INCONCLUSIVE} (n < {MIN_REPLICATES})"
CLAIM_COLUMNS = ["claim", "statistic", "rule", "paper", "n", "mean", "ci_low", "ci_high", "models", "verdict"]


@dataclass(frozen=True)
class ModelCheck:
    """The sanity gate of one compared model: its score per replicate against its chance level.

    Attributes:
        name: the model as the tables name it (``"WHCMT 8b"``).
        scores: its score per replicate (same replicates as the claim's values), on the scale of ``chance``.
        chance: the score a random ranking / guess gets: one number, or one per replicate.
        collapsed: per replicate (or one flag for all), whether its outputs collapsed (one code for every image, an
            empty mask for every expression, one class for every input).
    """

    name: str
    scores: Sequence[float]
    chance: float | Sequence[float]
    collapsed: bool | Sequence[bool] = False

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

    def summary(self, digits: int = 3) -> str:
        mean_chance = float(np.mean(np.asarray(self.chance, dtype=float)))
        return f"{self.name} {round(float(np.mean(self.scores)), digits)} (chance {round(mean_chance, digits)})"


@dataclass(frozen=True)
class Claim:
    """One paper claim checked on measured numbers.

    Attributes:
        name: the claim in words, e.g. ``"H at validated alpha beats H at alpha=0"``.
        values: the measured statistic, one value per independent replicate (see :func:`paired`).
        op: ``">"`` (the claim holds when the statistic exceeds ``threshold``) or ``"<"``.
        threshold: the boundary, usually 0 for differences.
        statistic: what ``values`` measure, e.g. ``"H(alpha*) - H(0)"``.
        paper: the paper's own number for the effect, e.g. ``"+2.1 mAP (Table 3)"`` (empty when it gives none).
        models: the sanity gate of every compared model (empty: no gate, e.g. a claim about one model's shape).
    """

    name: str
    values: Sequence[float]
    op: Literal[">", "<"] = ">"
    threshold: float = 0.0
    statistic: str = ""
    paper: str = ""
    models: Sequence[ModelCheck] = ()


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


def claims(items: Sequence[Claim], *, digits: int = 3) -> pd.DataFrame:
    """The claims table: one row per claim with the columns of :data:`CLAIM_COLUMNS` (see the module rules)."""
    rows = []
    for c in items:
        if c.op not in (">", "<"):
            raise ValueError(f"claim {c.name!r}: op must be '>' or '<', got {c.op!r}")
        vals = np.asarray([float(v) for v in c.values], dtype=float)
        if vals.size == 0:
            raise ValueError(f"claim {c.name!r}: no measured values")
        for m in c.models:
            if len(m.scores) != vals.size:
                raise ValueError(f"claim {c.name!r}: model {m.name!r} has {len(m.scores)} scores for {vals.size} "
                                 "replicates (the gate must see the same replicates as the claim)")
        mean, lo, hi = t_interval(vals)
        rows.append({
            "claim": c.name,
            "statistic": c.statistic,
            "rule": f"{c.op} {c.threshold:g}",
            "paper": c.paper,
            "n": int(vals.size),
            "mean": round(mean, digits),
            "ci_low": round(lo, digits),
            "ci_high": round(hi, digits),
            "models": "; ".join(m.summary(digits) for m in c.models),
            "verdict": _verdict(c, vals.size, lo, hi),
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


def _verdict(c: Claim, n: int, lo: float, hi: float) -> str:
    for m in c.models:
        problem = m.problem()
        if problem:
            return f"{INVALID}: {m.name} {problem}"
    if n < MIN_REPLICATES:
        return INCONCLUSIVE_FEW
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return INCONCLUSIVE
    if c.op == ">":
        return REPRODUCED if lo > c.threshold else NOT_REPRODUCED if hi <= c.threshold else INCONCLUSIVE
    return REPRODUCED if hi < c.threshold else NOT_REPRODUCED if lo >= c.threshold else INCONCLUSIVE
