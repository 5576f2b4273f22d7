"""Which seeds do what: the study scores one range, stability reruns another, tuning probes a third (issue 26).

A setting tuned on the worlds the study then scores is tuned on its test material: the CLAREL rerun on five unused
seeds kept 13 of 22 verdicts and moved the key novelty on GZSL H from +6.45 [3.77, 9.12] to -1.91 [-8.01, 4.19].
So the protocol splits the seed line into disjoint ranges:

* :data:`STUDY` (0-99): the ``seeds`` of every study and paper profile, the replicates whose verdicts are reported;
* :data:`STABILITY` (100-999): ``--seeds`` reruns that check verdicts on fresh worlds
  (``benchmarks/verdict_stability.py`` draws 100.. and 200..);
* :data:`PROBE` (1000 and up): tuning probes, never scored by a study. Every tuned setting is recorded in
  ``params/<paper>/tuning.yaml`` with the seeds its probe used and the rule fixed before it (:func:`check_tuning`).

``tests/unit/test_seeds.py`` checks every profile and every tuning record against these ranges.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["PROBE", "STABILITY", "STUDY", "check_tuning", "probe_seeds", "seed_role"]

STUDY = range(100)
STABILITY = range(100, 1000)
PROBE = range(1000, 1_000_000)
_ROLES = {"study": STUDY, "stability": STABILITY, "probe": PROBE}


def seed_role(seed: int) -> str:
    """``"study"``, ``"stability"`` or ``"probe"``: the range ``seed`` belongs to.

    Raises:
        ValueError: a negative seed or one beyond the probe range.
    """
    for role, span in _ROLES.items():
        if seed in span:
            return role
    raise ValueError(f"seed {seed}: expected 0 <= seed < {PROBE.stop}")


def probe_seeds(n: int, offset: int = 0) -> list[int]:
    """``n`` seeds for a tuning probe, from the probe range (``offset`` picks another block of it)."""
    if n < 1 or offset < 0:
        raise ValueError(f"probe_seeds: expected n >= 1 and offset >= 0, got n={n}, offset={offset}")
    return list(range(PROBE.start + offset, PROBE.start + offset + n))


def check_tuning(records: Sequence[Mapping[str, Any]], scored: Iterable[int], *, source: str) -> list[str]:
    """The problems of a paper's tuning records (``params/<paper>/tuning.yaml``'s ``tuned`` list).

    Each record needs ``setting``, ``value``, ``rule`` (written before the probe) and ``probe_seeds``. Its seeds must
    lie in :data:`PROBE` and be disjoint from ``scored`` (the study's and the stability runs' seeds), unless the
    record says ``predates_rule: true`` (a choice made before issue 26, kept visible until its paper reruns the probe).

    Returns:
        One line per problem, naming the file and the setting (empty: all records follow the rule).
    """
    problems: list[str] = []
    scored = set(scored)
    for rec in records:
        name = rec.get("setting", "?")
        missing = [k for k in ("setting", "value", "rule", "probe_seeds") if k not in rec]
        if missing:
            problems.append(f"{source}: tuned setting {name!r} lacks {', '.join(missing)}")
            continue
        if rec.get("predates_rule"):
            continue
        seeds = [int(s) for s in rec["probe_seeds"]]
        outside = [s for s in seeds if s not in PROBE]
        shared = sorted(scored & set(seeds))
        if outside:
            problems.append(f"{source}: {name!r} probed on seeds {outside}, outside the probe range "
                            f"{PROBE.start}-{PROBE.stop - 1}")
        if shared:
            problems.append(f"{source}: {name!r} probed on seeds {shared} that a study or stability run scores")
    return problems
