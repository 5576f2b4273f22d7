"""cmlib.execution.reporting: claim verdicts computed from measured values, and the files a report writes."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from cmlib.execution.reporting import Claim, Report, claims, metrics_table


def test_report_writes_metrics_run_info_and_figures(tmp_path: Path) -> None:
    rep = Report(tmp_path / "r", paper="demo", notebook="01_x")
    rep.run_info({"lr": 0.1})
    rep.save_metrics({"a": 1.5})
    rep.save_metrics({"b": [1, 2]})
    rep.save_claims(claims([Claim("c", [1.0, 2.0], ">", 0.0, margin=0.5)]))
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


def test_metrics_table_rounds_each_column_to_what_it_needs() -> None:
    """CLAREL's case: at digits=1 the validated alpha 0.03 used to print as 0.0."""
    rows = [{"alpha": 0.03, "H": 55.83, "gap": 0.0, "tiny": 0.0042, "u": 0.83},
            {"alpha": 0.1, "H": 48.27, "gap": 0.0, "tiny": 1e-9, "u": 12.0}]
    t = metrics_table(rows, digits=1)
    assert t["alpha"].tolist() == [0.03, 0.1] and t["H"].tolist() == [55.8, 48.3] and t["gap"].tolist() == [0.0, 0.0]
    assert t["u"].tolist() == [0.8, 12.0]  # no value lost: the usual digits
    assert t["tiny"].tolist() == [0.0042, 0.0]  # 1e-9 asks for more than 6 decimals: capped
    fixed = metrics_table(rows, digits={"alpha": 1})
    assert fixed["alpha"].tolist() == [0.0, 0.1] and fixed["H"].tolist() == [55.83, 48.27]


def test_machine_fingerprint_names_the_processor_and_isa() -> None:
    import torch

    from cmlib.execution.reporting import cpu_model, machine_fingerprint

    fp = machine_fingerprint()
    assert fp["cpu"] == cpu_model() and fp["cpu"]
    assert fp["isa"] == torch.backends.cpu.get_cpu_capability() and fp["torch"] == torch.__version__
    assert fp["blas"].startswith("openblas:") or fp["blas"] == "none"


def test_cpu_id_names_family_model_and_stepping(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Two EPYCs that share the model-name string (AMD EPYC, AVX512) still differ in family/model/stepping."""
    from cmlib.execution import reporting

    def fake(text: str) -> dict[str, str]:
        return dict(line.split(": ", 1) for line in text.strip().splitlines())

    a = "vendor_id: AuthenticAMD\ncpu family: 25\nmodel: 17\nstepping: 1\nmodel name: AMD EPYC"
    b = "vendor_id: AuthenticAMD\ncpu family: 25\nmodel: 1\nstepping: 1\nmodel name: AMD EPYC"
    ids = []
    for text in (a, b):
        monkeypatch.setattr(reporting, "_cpuinfo", lambda text=text: fake(text))
        assert reporting.cpu_model() == "AMD EPYC"
        ids.append(reporting.cpu_id())
    assert ids == ["AuthenticAMD 25/17/1", "AuthenticAMD 25/1/1"]


def test_golden_machine_file_round_trips(tmp_path: Path) -> None:
    from cmlib import runner
    from cmlib.execution.reporting import machine_fingerprint

    runner._write_golden_machine(tmp_path)
    assert json.loads((tmp_path / runner.GOLDEN_MACHINE).read_text()) == machine_fingerprint()


def test_project_root_warns_when_it_falls_back_to_the_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import warnings

    from cmlib.protocol.files import project_root

    (tmp_path / "proj" / "notebooks").mkdir(parents=True)
    (tmp_path / "proj" / "pyproject.toml").write_text('[project]\nname = "cmlib"\n')
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # found: silent
        assert project_root(tmp_path / "proj" / "notebooks") == (tmp_path / "proj").resolve()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.warns(UserWarning, match=f"no cmlib pyproject.toml at or above {tmp_path.resolve() / 'elsewhere'}; "
                      "using the current folder"):
        assert project_root(tmp_path / "elsewhere") == tmp_path
