"""cmlib.protocol.executors: the demo study through submitit (cluster=local) and Dask (LocalCluster) gives the local pool's
numbers; a killed cluster run resumes from the shared per-replicate cache (issue 27, item 4)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_replicates import descendants

from cmlib.protocol.config import ConfigError, from_params
from cmlib.protocol.executors import ExecutorConfig
from cmlib.protocol.perturb import jitter_seed
from cmlib.protocol.replicates import ReplicateError, replicate_path, run_replicates
from cmlib.protocol.run import RunConfig
from cmlib.studies import demo

ROOT = Path(__file__).resolve().parents[2]
SMALL = demo.Config(run=RunConfig(seeds=[0, 1, 2]), n_train=64, n_val=64, n_test=128, lrs=[0.1])
pytest.importorskip("submitit")
pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def reference() -> list[dict]:
    """The demo replicates in this process (the local pool gives the same: test_replicates.py)."""
    return run_replicates(demo.run_seed, SMALL, SMALL.run.seeds, jobs=1, log=lambda _: None)


def test_the_executor_section_is_checked_and_kept_out_of_the_cache_key(tmp_path: Path) -> None:
    cfg = from_params(demo.Config, {"run": {"executor": {"kind": "submitit", "cluster": "slurm", "folder": "/shared/sub",
                                                 "parameters": {"slurm_partition": "gpu", "timeout_min": 60}}}})
    assert cfg.run.executor.parameters == {"slurm_partition": "gpu", "timeout_min": 60}
    assert replicate_path(demo.run_seed, cfg, 0, tmp_path) == replicate_path(demo.run_seed, demo.Config(), 0, tmp_path)
    with pytest.raises(ConfigError, match=r"executor.kind: expected one of \['local', 'submitit', 'dask'\], got 'ray'"):
        from_params(demo.Config, {"run": {"executor": {"kind": "ray"}}})
    with pytest.raises(ConfigError, match="executor: address is Dask's; kind is 'submitit'"):
        from_params(demo.Config, {"run": {"executor": {"kind": "submitit", "address": "tcp://h:8786"}}})


@pytest.mark.slow
def test_submitit_and_dask_give_the_local_numbers(tmp_path: Path, reference: list[dict]) -> None:
    """Two replicates on two workers: one wave of job start-ups (a job imports torch: most of the time here)."""
    sub = ExecutorConfig(kind="submitit", cluster="local", folder=str(tmp_path / "submitit"))
    got = run_replicates(demo.run_seed, SMALL, [0, 1], jobs=2, cache_dir=tmp_path / "a", executor=sub)
    assert got == reference[:2]
    cfg = demo.Config(**{**SMALL.__dict__, "run": RunConfig(seeds=[0, 1, 2], executor=ExecutorConfig(kind="dask"))})  # read from the config
    assert run_replicates(demo.run_seed, cfg, [0, 1], jobs=2, cache_dir=tmp_path / "b") == reference[:2]
    assert len(list((tmp_path / "b").glob("replicate-run_seed-*.json"))) == 2
    with pytest.raises(ReplicateError, match=r"^run_seed\(seed=5\) raised AttributeError: 'dict' object"):
        run_replicates(demo.run_seed, {"dim": 2}, [5], executor=sub)  # submitit's wrapper becomes our one line


@pytest.mark.slow
def test_a_killed_submitit_run_resumes_from_the_shared_cache(tmp_path: Path, reference: list[dict]) -> None:
    """Jobs write their replicate to the cache themselves: a run killed after its first finished job (the
    submitting process and its jobs) keeps it, and the next run, on another engine, computes only the rest."""
    cache = tmp_path / "cache"
    script = ("from cmlib.protocol.executors import ExecutorConfig; from cmlib.protocol.replicates import run_replicates; "
              f"from cmlib.protocol.run import RunConfig; from cmlib.studies import demo; "
              f"from cmlib.protocol.perturb import set_jitter; set_jitter({jitter_seed()}); "
              "cfg = demo.Config(run=RunConfig(seeds=[0, 1, 2]), n_train=64, n_val=64, n_test=128, lrs=[0.1]); "
              f"run_replicates(demo.run_seed, cfg, cfg.run.seeds, jobs=1, cache_dir={str(cache)!r}, "
              f"executor=ExecutorConfig(kind='submitit', cluster='local', folder={str(tmp_path / 'sub')!r}))")
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while not list(cache.glob("replicate-*.json")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    for pid in [*descendants(proc.pid), proc.pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait()
    kept = len(list(cache.glob("replicate-*.json")))
    assert 1 <= kept < 3, f"{kept} replicates finished before the kill"
    lines: list[str] = []
    got = run_replicates(demo.run_seed, SMALL, SMALL.run.seeds, jobs=1, cache_dir=cache, log=lines.append)
    assert got == reference and lines[0] == f"run_seed: {kept} of 3 replicates loaded from {cache}"


def test_the_readme_slurm_block_is_a_valid_demo_profile(tmp_path: Path) -> None:
    from cmlib.protocol.config import load_profile

    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index("    # params/demo/slurm.yaml") + 1
    folder = tmp_path / "params" / "demo"
    folder.mkdir(parents=True)
    (folder / "study.yaml").write_text((ROOT / "params" / "demo" / "study.yaml").read_text())
    (folder / "slurm.yaml").write_text("\n".join(ln[4:] for ln in lines[start:lines.index("", start)]))
    cfg = from_params(demo.Config, load_profile(folder, "slurm"))
    assert cfg.run.executor.kind == "submitit" and cfg.run.executor.cluster == "slurm" and cfg.n_train == 2048
    assert cfg.run.executor.parameters["timeout_min"] == 120
