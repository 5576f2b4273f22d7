"""Golden notebooks whose numbers survive a change of processor: measured bands instead of exact values.

``make golden`` (``python -m cmlib.runner PAPER --golden``) executes every smoke notebook once as it is (the golden
``.ipynb`` and ``<nb>.metrics.json``) and once under each of :data:`VARIANTS`: a draw of the test-only numeric jitter
of :mod:`cmlib.protocol.perturb` (which the runner sets in the notebook's kernel; about 2 ulps on initial weights and
word vectors, which a few hundred steps grow into a different model, as another CPU's rounding does), three of them
also with other OpenBLAS or torch kernels (``OPENBLAS_CORETYPE``, ``ATEN_CPU_CAPABILITY``, set only in these one-off
runs, never in tests or CI): seven runs. The metrics of the runs are merged into ``<nb>.band.json``: for every leaf of
metrics.json, the ``[low, high]`` range of a number or the list of values a string/bool took.

:func:`compare` is the rule ``tests/notebooks/test_golden_metrics.py`` applies to a new run:

* structure: the same leaves (keys, list lengths) as the golden, timing keys aside;
* a leaf of a *family* (the same statistic in every row of a table, :func:`family`) that every run gave identically
  (data summaries, sizes, counts, configs) must match exactly (rel 1e-6);
* a string or bool must be one of the values seen (a verdict that flipped between runs may flip again), compared
  with the numbers inside it masked (:func:`masked`: a claim row's ``models`` / ``converged`` / ``premise`` text
  quotes trained numbers, which another processor rounds differently) and, for a ``verdict``, by its family
  (:func:`cmlib.protocol.claims.verdict_kind`: which model a smoke-sized gate names, or how far it sits past the margin, is
  noise; a family the golden runs never gave is a change);
* any other number must lie in its band widened on each side by the widest band of its family; a notebook fails
  when more than :data:`MAX_OUTSIDE` of its varying numbers (and more than one) fall outside, or when any lies further
  than :data:`GROSS` widths outside.

Why the family: a few runs under-sample the spread of one leaf, worst for smoke numbers near chance (an AP that is 0 in
four runs and 0.1 in the fifth); the rows of one table are one statistic of models trained alike, so their widest band
is the honest unit of noise. Measured on five-run bands: with per-leaf widths a new draw (jitter 7) put 11 of 33
GRM-Net ablation numbers outside; with family widths none, in any notebook, and none for an OpenBLAS Haswell run.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["GROSS", "MAX_OUTSIDE", "TIMING_KEY", "VARIANTS", "band", "compare", "flatten", "masked", "variants"]

TIMING_KEY = re.compile(r"(_s$|time|per_s)")
MAX_OUTSIDE = 0.25
GROSS = 10.0
_DETERMINISTIC_REL = 1e-6


def variants() -> list[tuple[str, int, dict[str, str]]]:
    """The perturbed runs of ``make golden``: (name, numeric jitter draw, environment overrides of the kernel). Jitter
    draws 1-6 (:mod:`cmlib.protocol.perturb`, which the runner sets in the kernel); three of them also change the
    kernels (another OpenBLAS kernel set with torch's AVX2 kernels, torch's scalar ``default`` kernels, an older
    OpenBLAS kernel set), so the band covers both kinds of difference another processor makes."""
    other = _other_blas_core()
    return [
        ("jitter1", 1, {}),
        ("jitter2", 2, {}),
        ("jitter3", 3, {}),
        ("jitter4-avx2", 4, {"OPENBLAS_CORETYPE": other, "ATEN_CPU_CAPABILITY": "avx2"}),
        ("jitter5-isa-default", 5, {"ATEN_CPU_CAPABILITY": "default"}),
        ("jitter6-sandybridge", 6, {"OPENBLAS_CORETYPE": "Sandybridge"}),
    ]


VARIANTS = ("jitter1", "jitter2", "jitter3", "jitter4-avx2", "jitter5-isa-default", "jitter6-sandybridge")


def _other_blas_core() -> str:
    """An OpenBLAS kernel set other than the one this machine picks (Haswell, or Sandybridge on a Haswell-class CPU)."""
    from cmlib.execution.reporting import blas_cores

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


_NUMBER = re.compile(r"[-+]?\d+\.\d+(e[-+]?\d+)?|[-+]?\d+e[-+]?\d+|\b[-+]?(nan|inf)\b")
_GATE_STATE = re.compile(r"still improving|converged")


def masked(text: str) -> str:
    """``text`` with every decimal number replaced by ``<f>`` and the convergence gate's state words by ``<state>``
    (as the nbval sanitizer masks printed tables): what another processor's run must reproduce exactly."""
    return _GATE_STATE.sub("<state>", _NUMBER.sub("<f>", text))


def _string_matches(key: str, value: Any, seen: Sequence[Any]) -> bool:
    """Whether a string/bool leaf of a new run is one the golden runs gave (see the module rule)."""
    if value in seen:
        return True
    if not isinstance(value, str):
        return False
    strings = [s for s in seen if isinstance(s, str)]
    if key.endswith(".verdict"):
        from cmlib.protocol.claims import verdict_kind

        try:
            return verdict_kind(value) in {verdict_kind(s) for s in strings}
        except ValueError:
            return False
    return masked(value) in {masked(s) for s in strings}


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


def family(path: str) -> str:
    """The leaf's path with list indices dropped (``table[3].coco_AP`` -> ``table[].coco_AP``): the same statistic
    in every row of a table, whose rounding noise is of one size."""
    return re.sub(r"\[\d+\]", "[]", path)


def family_widths(leaves: Mapping[str, Any]) -> dict[str, float]:
    """The widest band of each family of numeric leaves (0 where every run gave every leaf of it identically)."""
    widths: dict[str, float] = {}
    for key, rule in leaves.items():
        if not isinstance(rule, Mapping):
            widths[family(key)] = max(widths.get(family(key), 0.0), rule[1] - rule[0])
    return widths


def compare(band_record: Mapping[str, Any], produced: Mapping[str, Any]) -> list[str]:
    """Problems of a new run against a band record (empty: it passes). See the module docstring for the rule."""
    leaves = band_record["leaves"]
    widths = family_widths(leaves)
    new = dict(flatten(produced))
    problems = [f"{k}: missing from the new metrics.json" for k in leaves if k not in new]
    problems += [f"{k}: not in the golden metrics (new leaf)" for k in new if k not in leaves]
    outside, gross, varying = [], [], 0
    for key, rule in leaves.items():
        if key not in new:
            continue
        value = new[key]
        if isinstance(rule, Mapping):
            if not _string_matches(key, value, rule["seen"]):
                problems.append(f"{key}: {value!r} is none of the values seen in the golden runs {rule['seen']!r}")
            continue
        lo, hi = rule
        width = widths[family(key)]
        if not (_is_number(value) and math.isfinite(value)):
            problems.append(f"{key}: {value!r} where the golden runs gave numbers in [{lo}, {hi}]")
        elif width == 0:
            if not math.isclose(value, lo, rel_tol=_DETERMINISTIC_REL, abs_tol=1e-12):
                problems.append(f"{key}: {value} != {lo} (identical in every golden run)")
        else:
            varying += 1
            excess = max(lo - value, value - hi, 0.0) / width
            if excess > GROSS:
                gross.append(f"{key}: {value} is {excess:.1f} widths ({width:.4g}) outside [{lo}, {hi}]")
            elif excess > 1.0:
                outside.append(f"{key}: {value} outside [{lo}, {hi}] widened by {width:.4g}")
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
