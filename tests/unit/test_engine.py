"""cmlib.protocol.engine: exact resume after an interruption, the NaN guard, model selection, DDP equivalence."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import free_port
from torch import nn

from cmlib.protocol.engine import FitConfig, NonFiniteLossError, epoch_batches, fit, seed_everything
from cmlib.protocol.perturb import jitter_seed

ROOT = Path(__file__).resolve().parents[2]


class Interrupted(RuntimeError):
    pass


def _data() -> torch.utils.data.TensorDataset:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(40, 6, generator=gen)
    return torch.utils.data.TensorDataset(x, (x[:, :1] > 0).long().squeeze(1))


def _setup(seed: int = 0):
    seed_everything(seed + 100)  # a different init each call unless the test seeds the same
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[10, 20], gamma=0.1)
    return model, opt, sched


def _loss(stop_at: int | None = None, nan_at: int | None = None):
    calls = {"n": 0}

    def loss_fn(model: nn.Module, batch):
        calls["n"] += 1
        if stop_at is not None and calls["n"] == stop_at:
            raise Interrupted(f"interrupted at call {stop_at}")
        x, y = batch
        ce = nn.functional.cross_entropy(model(x), y)
        reg = 1e-3 * sum((p**2).sum() for p in model.parameters())
        if nan_at is not None and calls["n"] == nan_at:
            ce = ce * float("nan")
        return {"ce": ce, "l2": reg}

    return loss_fn


def test_resume_gives_exactly_the_uninterrupted_weights(tmp_path: Path) -> None:
    cfg = FitConfig(max_steps=27, log_every=3, checkpoint_every=4, seed=5)
    model, opt, sched = _setup()
    ref = fit(model, opt, _loss(), epoch_batches(_data(), 8, seed=5), cfg, scheduler=sched)
    ref_weights = model.state_dict()

    ckdir = tmp_path / "ck"
    run_cfg = FitConfig(**{**cfg.__dict__, "checkpoint_dir": str(ckdir), "resume": True})
    model, opt, sched = _setup()
    with pytest.raises(Interrupted):
        fit(model, opt, _loss(stop_at=15), epoch_batches(_data(), 8, seed=5), run_cfg, scheduler=sched)
    saved = torch.load(ckdir / "last.pt", weights_only=True)
    assert saved["step"] == 12  # the last multiple of checkpoint_every before the interruption
    assert not list(ckdir.glob(".*tmp*")), "no temp file may be left behind"

    model, opt, sched = _setup(seed=1)  # a fresh process would start from other weights
    res = fit(model, opt, _loss(), epoch_batches(_data(), 8, seed=5), run_cfg, scheduler=sched)
    assert res.final_step == 27
    for k, v in ref_weights.items():
        assert torch.equal(model.state_dict()[k], v), f"{k} differs after resume"
    assert res.history == ref.history


def test_non_finite_loss_names_step_and_terms_and_keeps_checkpoint(tmp_path: Path) -> None:
    cfg = FitConfig(max_steps=20, checkpoint_every=5, checkpoint_dir=str(tmp_path))
    model, opt, _ = _setup()
    with pytest.raises(NonFiniteLossError) as err:
        fit(model, opt, _loss(nan_at=8), epoch_batches(_data(), 8), cfg)
    msg = str(err.value)
    assert "step 8" in msg and "ce=nan" in msg and "l2=" in msg and "last good checkpoint kept" in msg
    assert torch.load(tmp_path / "last.pt", weights_only=True)["step"] == 5


def test_select_best_restores_the_best_validation_weights() -> None:
    model, opt, _ = _setup()
    scores = iter([0.1, 0.9, 0.3, 0.2])
    snapshots = []

    def eval_fn(m: nn.Module) -> dict[str, float]:
        snapshots.append({k: v.clone() for k, v in m.state_dict().items()})
        return {"score": next(scores)}

    cfg = FitConfig(max_steps=16, eval_every=4, select_best=True)
    res = fit(model, opt, _loss(), epoch_batches(_data(), 8), cfg, eval_fn=eval_fn)
    assert res.best_step == 8 and res.best_score == 0.9
    assert all(torch.equal(model.state_dict()[k], v) for k, v in snapshots[1].items())
    assert [r["eval/score"] for r in res.history if "eval/score" in r] == [0.1, 0.9, 0.3, 0.2]


def test_stop_score_stops_at_the_first_evaluation_that_reaches_it_and_keeps_those_weights() -> None:
    model, opt, _ = _setup()
    scores = iter([0.1, 0.5, 0.7, 0.9])  # the third check (step 12) is the first >= 0.6
    snapshots = []

    def eval_fn(m: nn.Module) -> dict[str, float]:
        snapshots.append({k: v.clone() for k, v in m.state_dict().items()})
        return {"score": next(scores)}

    res = fit(model, opt, _loss(), epoch_batches(_data(), 8), FitConfig(max_steps=40, eval_every=4, stop_score=0.6),
              eval_fn=eval_fn)
    assert res.final_step == 12 and len(snapshots) == 3  # no fourth check, no final one
    assert all(torch.equal(model.state_dict()[k], v) for k, v in snapshots[2].items())
    never = iter([0.1] * 10)
    model, opt, _ = _setup()
    res = fit(model, opt, _loss(), epoch_batches(_data(), 8), FitConfig(max_steps=16, eval_every=4, stop_score=0.6),
              eval_fn=lambda m: {"score": next(never)})
    assert res.final_step == 16  # never reached: the cap


def test_same_seed_same_numbers() -> None:
    a_model, a_opt, _ = _setup()
    a = fit(a_model, a_opt, _loss(), epoch_batches(_data(), 8, seed=2), FitConfig(max_steps=10, seed=2))
    b_model, b_opt, _ = _setup()
    b = fit(b_model, b_opt, _loss(), epoch_batches(_data(), 8, seed=2), FitConfig(max_steps=10, seed=2))
    assert a.history == b.history


def test_empty_data_is_a_clear_error() -> None:
    model, opt, _ = _setup()
    with pytest.raises(ValueError, match="yielded no batch"):
        fit(model, opt, _loss(), lambda epoch: [], FitConfig(max_steps=3))



@pytest.mark.slow
def test_two_process_ddp_matches_one_process(tmp_path: Path) -> None:
    """2 CPU processes (gloo) with the same global batch reach the single-process weights within 1e-6."""
    sys.path.insert(0, str(Path(__file__).parent))
    from ddp_worker import train

    single = train(devices=1)
    out = tmp_path / "ddp.pt"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), str(Path(__file__).parent / "ddp_worker.py"), str(out), str(jitter_seed())]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp = torch.load(out, weights_only=True)
    for k, v in single.items():
        torch.testing.assert_close(ddp[k], v, rtol=0, atol=1e-6)


def test_evaluation_follows_the_models_device() -> None:
    """Scoring code asks the model where it lives (after fit it sits on the training device) and hands the metrics
    CPU tensors: checked here on the CPU, the only device this machine has."""
    import inspect

    from cmlib.protocol.engine import model_device, on_cpu, to_model_device

    lin = torch.nn.Linear(2, 1)
    assert model_device(lin) == torch.device("cpu") and model_device(torch.nn.ReLU()) == torch.device("cpu")
    batch = {"x": torch.ones(2), "pair": (torch.zeros(1), 3), "name": "a"}
    moved = to_model_device(lin, batch)
    assert moved["x"].device == lin.weight.device and moved["pair"][1] == 3 and moved["name"] == "a"
    assert on_cpu([torch.ones(1)])[0].device.type == "cpu"
    from cmlib.studies.clarel import runs as clarel_runs
    from cmlib.studies.deskpro import evaluation, priors
    from cmlib.studies.grmnet import runs as grmnet_runs
    from cmlib.studies.whcmt import runs as whcmt_runs

    for fn in (clarel_runs.score, whcmt_runs.activations, whcmt_runs._codes_with_tags, evaluation.descriptors,
               grmnet_runs.predict_grmnet, grmnet_runs.binary_probabilities, grmnet_runs.detect_scene,
               grmnet_runs.two_stage_scores, priors.restore_faces):
        src = inspect.getsource(fn)
        assert "to_model_device(" in src and "on_cpu(" in src, f"{fn.__qualname__} feeds the model CPU tensors"
