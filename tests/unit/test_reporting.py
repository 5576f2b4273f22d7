"""cmlib.reporting: claim verdicts computed from measured values, and the files a report writes."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from cmlib.reporting import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, Claim, Report, claims, metrics_table


def test_claim_interval_hand_computed() -> None:
    # values 1, 2, 3: mean 2, sd 1, t(0.975, 2) = 4.302653 -> half width 4.302653 / sqrt(3) = 2.484138
    table = claims([Claim("x", [1.0, 2.0, 3.0], ">", 0.0)])
    row = table.iloc[0]
    assert row["mean"] == 2.0
    assert row["ci_low"] == pytest.approx(2 - 2.484, abs=1e-3) and row["ci_high"] == pytest.approx(4.484, abs=1e-3)
    assert row["verdict"] == INCONCLUSIVE  # the interval crosses 0


@pytest.mark.parametrize(
    ("values", "op", "verdict"),
    [
        ([1.0, 1.1, 0.9], ">", REPRODUCED),
        ([-1.0, -1.1, -0.9], ">", NOT_REPRODUCED),
        ([-1.0, -1.1, -0.9], "<", REPRODUCED),
        ([1.0, -1.0, 0.5], ">", INCONCLUSIVE),
        ([0.2], ">", REPRODUCED),
        ([0.0], ">", NOT_REPRODUCED),
        ([float("nan"), 1.0], ">", INCONCLUSIVE),
    ],
)
def test_verdicts(values: list[float], op: str, verdict: str) -> None:
    assert claims([Claim("c", values, op, 0.0)]).iloc[0]["verdict"] == verdict


def test_claim_threshold_is_respected() -> None:
    assert claims([Claim("c", [0.5, 0.51, 0.49], ">", 0.6)]).iloc[0]["verdict"] == NOT_REPRODUCED


def test_claims_reject_empty_and_bad_op() -> None:
    with pytest.raises(ValueError, match="no measured values"):
        claims([Claim("c", [], ">")])
    with pytest.raises(ValueError, match="op must be"):
        claims([Claim("c", [1.0], ">=")])  # type: ignore[arg-type]


def test_report_writes_metrics_run_info_and_figures(tmp_path: Path) -> None:
    rep = Report(tmp_path / "r", paper="demo", notebook="01_x")
    rep.run_info({"lr": 0.1})
    rep.save_metrics({"a": 1.5})
    rep.save_metrics({"b": [1, 2]})
    rep.save_claims(claims([Claim("c", [1.0, 2.0], ">", 0.0)]))
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    rel = rep.save_figure(fig, "line")
    assert rel == Path("figures/line.png") and (rep.dir / rel).is_file()
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["a"] == 1.5 and metrics["b"] == [1, 2] and metrics["claims"][0]["claim"] == "c"
    info = json.loads((tmp_path / "r" / "run_info.json").read_text())
    assert info["params"] == {"lr": 0.1} and "torch" in info["packages"] and info["device"].startswith(("cpu", "cuda"))


def test_metrics_table_rounds_floats_only() -> None:
    table = metrics_table([{"name": "a", "v": 0.123456, "n": 3}], digits=2)
    assert table.iloc[0]["v"] == 0.12 and table.iloc[0]["n"] == 3


def test_machine_fingerprint_names_the_processor_and_isa() -> None:
    import torch

    from cmlib.reporting import cpu_model, machine_fingerprint

    fp = machine_fingerprint()
    assert fp["cpu"] == cpu_model() and fp["cpu"]
    assert fp["isa"] == torch.backends.cpu.get_cpu_capability() and fp["torch"] == torch.__version__


def test_golden_machine_file_round_trips(tmp_path: Path) -> None:
    from cmlib import runner
    from cmlib.reporting import machine_fingerprint

    runner._write_golden_machine(tmp_path)
    assert json.loads((tmp_path / runner.GOLDEN_MACHINE).read_text()) == machine_fingerprint()
