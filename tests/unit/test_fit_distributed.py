"""The one device section (``fit``, cmlib.protocol.engine.DeviceConfig) of every paper, and the README's multi-process example
(examples/fit_distributed.py) run with 2 CPU processes under torchrun for every paper that has ``fit_main``."""

from __future__ import annotations

import importlib
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import free_port

from cmlib.protocol.config import ConfigError, from_params
from cmlib.protocol.engine import DeviceConfig, FitConfig, epoch_batches

ROOT = Path(__file__).resolve().parents[2]
PAPERS_WITH_FIT_MAIN = ["demo", "clarel", "deskpro", "whcmt", "grmnet"]
# WHCMT's model holds parameters a step does not use (the retrieval path's): DDP must be told to look for them.
STRATEGY = {"whcmt": "ddp_find_unused_parameters_true"}



@pytest.mark.parametrize("paper", ["demo", "clarel", "deskpro", "grmnet", "whcmt"])
def test_every_paper_config_has_the_device_section(paper: str) -> None:
    study = importlib.import_module(f"cmlib.studies.{paper}")
    cfg = from_params(study.Config, {"run": {"device": {"accelerator": "gpu", "devices": 2, "strategy": "ddp",
                                             "precision": "bf16-mixed"}}})
    assert isinstance(cfg.run.device, DeviceConfig)
    assert (cfg.run.device.accelerator, cfg.run.device.devices, cfg.run.device.strategy, cfg.run.device.precision) == ("gpu", 2, "ddp", "bf16-mixed")
    assert study.Config().run.device.accelerator == "cpu"  # default: one CPU process
    with pytest.raises(ConfigError, match="devices"):
        from_params(study.Config, {"run": {"device": {"device": 2}}})


def test_device_settings_reach_the_fit_config_and_keys() -> None:
    dev = DeviceConfig(accelerator="gpu", devices=4, strategy="ddp", pin_memory=True)
    fcfg = dev.fit_config(max_steps=7, seed=3)
    assert isinstance(fcfg, FitConfig) and (fcfg.devices, fcfg.pin_memory, fcfg.max_steps, fcfg.seed) == (4, True, 7, 3)
    assert DeviceConfig(num_workers=4).numerics() == DeviceConfig().numerics()  # loading never changes numbers
    assert DeviceConfig(precision="bf16-mixed").numerics() != DeviceConfig().numerics()
    assert DeviceConfig(num_workers=2).key_part() == {}
    assert DeviceConfig(devices=2).key_part() == {"fit": DeviceConfig(devices=2).numerics()}


def test_bf16_on_a_cpu_without_native_bf16_warns_once_and_fp32_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    import warnings

    from cmlib.protocol import engine

    monkeypatch.setattr(engine, "cpu_has_native_bf16", lambda: False)
    with pytest.warns(RuntimeWarning, match="run.device.precision 'bf16-mixed'.*32-true"):
        engine.make_fabric(DeviceConfig(precision="bf16-mixed").fit_config())
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        engine.make_fabric(DeviceConfig().fit_config())  # fp32 on the same CPU: silent
    monkeypatch.setattr(engine, "cpu_has_native_bf16", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        engine.make_fabric(DeviceConfig(precision="bf16-mixed").fit_config())  # native bf16: silent


def test_per_sample_lists_split_by_entry_and_structures_by_tensor() -> None:
    from cmlib.protocol.engine import PerSample, _shard

    images = PerSample(torch.zeros(3, 5 + i, 4) for i in range(4))  # four images of their own sizes
    batch = (images, torch.arange(8).reshape(4, 2), [torch.arange(4.0), torch.arange(4.0) * 2])
    part = _shard(batch, 1, 2)
    assert isinstance(part[0], PerSample) and [t.shape[1] for t in part[0]] == [7, 8]  # images 2 and 3, whole
    assert part[1].tolist() == [[4, 5], [6, 7]] and part[2][1].tolist() == [4.0, 6.0]  # tensors split along dim 0
    with pytest.raises(ValueError, match="does not split evenly"):
        _shard(PerSample([1, 2, 3]), 0, 2)


def test_loader_workers_keep_the_batch_order() -> None:
    data = torch.utils.data.TensorDataset(torch.arange(40.0).unsqueeze(1))
    order = [torch.cat([b[0] for b in epoch_batches(data, 8, seed=5, num_workers=w)(1)]).flatten().tolist()
             for w in (0, 2)]
    assert order[0] == order[1] and sorted(order[0]) == list(range(40))


@pytest.mark.parametrize("paper", PAPERS_WITH_FIT_MAIN)
def test_fit_main_under_torchrun_with_two_cpu_processes(paper: str, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           str(ROOT / "examples" / "fit_distributed.py"), paper, "--profile", "smoke", "--devices", "2",
           "--strategy", STRATEGY.get(paper, "ddp"), "--cache-dir", str(tmp_path / "cache")]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, proc.stdout  # rank 0 only
    assert lines[0]["paper"] == paper and lines[0]["world_size"] == 2 and math.isfinite(lines[0]["final_loss"])
