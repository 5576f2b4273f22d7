"""Golden notebooks whose numbers survive a change of processor: measured bands instead of exact values.

``make golden`` (``python -m cmlib.runner PAPER --golden``) executes every smoke notebook once as it is (the golden
``.ipynb`` and ``<nb>.metrics.json``) and once under each of :data:`VARIANTS`: the test-only numeric jitter of
:mod:`cmlib.perturb` (about 2 ulps on initial weights and word vectors, which a few hundred steps grow into a
different model, as another CPU's rounding does), the last one also with another OpenBLAS kernel set and torch's AVX2
kernels (``OPENBLAS_CORETYPE``, ``ATEN_CPU_CAPABILITY``, set only in these one-off runs, never in tests or CI). The
metrics of the runs are merged into ``<nb>.band.json``: for every leaf of metrics.json, the ``[low, high]`` range of a
number or the list of values a string/bool took.

:func:`compare` is the rule ``tests/notebooks/test_golden_metrics.py`` applies to a new run:

* structure: the same leaves (keys, list lengths) as the golden, timing keys aside;
* a leaf that every run gave identically (data summaries, sizes, counts, configs) must match exactly (rel 1e-6);
* a string or bool must be one of the values seen (a verdict that flipped between runs may flip again);
* a number that varied must lie in its band widened by the band's own width on each side; a notebook fails when more
  than :data:`MAX_OUTSIDE` of its varying numbers (and more than one) fall outside, or when any lies further than
  :data:`GROSS` widths outside. With five runs per band, a fresh draw lands outside the widened band of one leaf with
  probability ~3% and beyond 10 widths with ~2e-5 (normal noise, simulated), so another machine passes while a
  planted bug, which moves most trained numbers at once, fails.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from cmlib.perturb import ENV as JITTER_ENV

__all__ = ["GROSS", "MAX_OUTSIDE", "TIMING_KEY", "VARIANTS", "band", "compare", "flatten", "variants"]

TIMING_KEY = re.compile(r"(_s$|time|per_s)")
MAX_OUTSIDE = 0.25
GROSS = 10.0
_DETERMINISTIC_REL = 1e-6


def variants() -> list[tuple[str, dict[str, str]]]:
    """The perturbed runs of ``make golden``: (name, environment overrides)."""
    return [
        ("jitter1", {JITTER_ENV: "1"}),
        ("jitter2", {JITTER_ENV: "2"}),
        ("jitter3", {JITTER_ENV: "3"}),
        ("jitter4-avx2", {JITTER_ENV: "4", "OPENBLAS_CORETYPE": _other_blas_core(), "ATEN_CPU_CAPABILITY": "avx2"}),
    ]


VARIANTS = ("jitter1", "jitter2", "jitter3", "jitter4-avx2")  # the names variants() returns, in order


def _other_blas_core() -> str:
    """An OpenBLAS kernel set other than the one this machine picks (Haswell, or Sandybridge on a Haswell-class CPU)."""
    from cmlib.reporting import blas_cores

    return "Sandybridge" if "Haswell" in blas_cores() else "Haswell"


def flatten(metrics: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(path, value) for every leaf of a metrics.json tree (``table[0].mAP``), timing keys left out."""
    if isinstance(metrics, Mapping):
        for key, value in metrics.items():
            if not TIMING_KEY.search(str(key)):
                yield from flatten(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(metrics, list):
        for i, value in enumerate(metrics):
            yield from flatten(value, f"{prefix}[{i}]")
    else:
        yield prefix, metrics


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def band(runs: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, Any]:
    """Merge the metrics.json of several runs of one notebook (the first is the golden) into a band record.

    Raises:
        ValueError: the runs do not share one structure (a leaf missing from one of them).
    """
    flat = [dict(flatten(r)) for r in runs]
    keys = list(flat[0])
    for name, f in zip(names, flat, strict=True):
        if set(f) != set(keys):
            diff = sorted(set(f) ^ set(keys))[:5]
            raise ValueError(f"golden run {name!r} has other metrics leaves than the base run: {diff}")
    leaves: dict[str, Any] = {}
    for key in keys:
        values = [f[key] for f in flat]
        if all(_is_number(v) and math.isfinite(v) for v in values):
            leaves[key] = [min(values), max(values)]
        else:
            seen: list[Any] = []
            for v in values:
                if v not in seen:
                    seen.append(v)
            leaves[key] = {"seen": seen}
    return {"runs": list(names), "leaves": leaves}


def compare(band_record: Mapping[str, Any], produced: Mapping[str, Any]) -> list[str]:
    """Problems of a new run against a band record (empty: it passes). See the module docstring for the rule."""
    leaves = band_record["leaves"]
    new = dict(flatten(produced))
    problems = [f"{k}: missing from the new metrics.json" for k in leaves if k not in new]
    problems += [f"{k}: not in the golden metrics (new leaf)" for k in new if k not in leaves]
    outside, gross, varying = [], [], 0
    for key, rule in leaves.items():
        if key not in new:
            continue
        value = new[key]
        if isinstance(rule, Mapping):
            if value not in rule["seen"]:
                problems.append(f"{key}: {value!r} is none of the values seen in the golden runs {rule['seen']!r}")
            continue
        lo, hi = rule
        if not (_is_number(value) and math.isfinite(value)):
            problems.append(f"{key}: {value!r} where the golden runs gave numbers in [{lo}, {hi}]")
        elif lo == hi:
            if not math.isclose(value, lo, rel_tol=_DETERMINISTIC_REL, abs_tol=1e-12):
                problems.append(f"{key}: {value} != {lo} (identical in every golden run)")
        else:
            varying += 1
            width = hi - lo
            excess = max(lo - value, value - hi, 0.0) / width
            if excess > GROSS:
                gross.append(f"{key}: {value} is {excess:.1f} band widths outside [{lo}, {hi}]")
            elif excess > 1.0:
                outside.append(f"{key}: {value} outside [{lo}, {hi}] widened by its width")
    problems += gross
    if len(outside) > max(1, MAX_OUTSIDE * varying):
        problems.append(f"{len(outside)} of {varying} varying numbers outside their widened band "
                        f"(at most {MAX_OUTSIDE:.0%} allowed):")
        problems += [f"  {o}" for o in outside]
    return problems


def write_band(path: Path, runs: Sequence[Mapping[str, Any]], names: Sequence[str]) -> None:
    """Write ``<nb>.band.json``, one leaf a line (what a diff of a regenerated golden wants to read)."""
    record = band(runs, names)
    lines = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in record["leaves"].items()]
    path.write_text(f'{{"runs": {json.dumps(record["runs"])}, "leaves": {{\n' + ",\n".join(lines) + "\n}}\n")
