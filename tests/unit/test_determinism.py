"""Same machine, same numbers: a smoke training run twice in one session is bit-identical; the test-only numeric
jitter (cmlib.protocol.perturb) changes the floating-point path only at rounding scale and never reuses a cache entry;
it is process state that only the harness sets (the library reads no environment variable), and workers inherit it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import JITTER, ROOT

from cmlib.protocol.cache import stable_hash
from cmlib.protocol.config import from_params
from cmlib.protocol.executors import open_pool
from cmlib.protocol.perturb import ENV, REL_SCALE, jitter, jitter_module_, jitter_seed, parse_jitter, set_jitter
from cmlib.studies import clarel
from cmlib.text import train_word2vec

TINY = {"world": {"n_classes": 24, "n_unseen": 6, "n_val_classes": 6, "n_genera": 6, "images_per_class": 6,
                  "feature_dim": 32},
        "model": {"embed_dim": 16, "cnn_channels": 8, "lstm_hidden": 8},
        "train": {"steps": 30, "batch_size": 8, "word_dim": 8, "word2vec_epochs": 2}}


def clarel_run() -> tuple[torch.Tensor, torch.Tensor]:
    """Word2vec on the world's sentences + a short CLAREL training: (word vectors, val distance matrix)."""
    cfg = from_params(clarel.Config, TINY)
    data = clarel.build_data(cfg)
    stage = clarel.make_stage(data, "val", cfg.val_seen_fraction, 0)
    model, _ = clarel.train_model(data, stage, cfg, 0, 0.5, 0.5)
    return data.word_vectors, clarel.score(model, data, stage)[0]


def test_smoke_training_twice_is_bit_identical(one_thread: None) -> None:
    (w1, d1), (w2, d2) = clarel_run(), clarel_run()
    assert torch.equal(w1, w2) and torch.equal(d1, d2)


def test_jitter_moves_training_at_rounding_scale_only(one_thread: None) -> None:
    w0, d0 = clarel_run()
    with jitter(1):
        w1, d1 = clarel_run()
    assert not torch.equal(w0, w1) and not torch.equal(d0, d1)  # the path changed...
    assert torch.allclose(d0, d1, rtol=0.2, atol=0.2)  # ...into a nearby model, not another experiment


def test_jitter_switch() -> None:
    with jitter(0):  # the suite may itself run under a jitter draw
        key = stable_hash({"a": 1})
        net = torch.nn.Linear(4, 3)
        before = [p.detach().clone() for p in net.parameters()]
        assert jitter_seed() == 0 and not jitter_module_(net)
        vecs = train_word2vec([["a", "b", "c"]] * 5, dim=4, seed=0, epochs=1)
    with jitter(3):
        assert jitter_seed() == 3 and stable_hash({"a": 1}) != key  # a perturbed run never loads an unperturbed cache
        assert jitter_module_(net)
        assert not np.array_equal(vecs["a"], train_word2vec([["a", "b", "c"]] * 5, dim=4, seed=0, epochs=1)["a"])
    for old, new in zip(before, net.parameters(), strict=True):
        rel = ((new - old).abs() / old.abs().clamp_min(1e-30)).max().item()
        assert 0 < rel <= REL_SCALE + 2.0**-23  # the jitter plus float32 rounding of the product


def test_the_harness_parses_the_switch_and_names_a_bad_value() -> None:
    assert [parse_jitter(v) for v in (None, "", " 0 ", "7", "-2")] == [0, 0, 0, 7, -2]
    with pytest.raises(ValueError, match="CMLIB_NUMERIC_JITTER='x': expected an integer"):
        parse_jitter("x")
    with pytest.raises(TypeError, match="expected an int draw"):
        set_jitter("7")  # type: ignore[arg-type]


def test_the_library_reads_no_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Setting CMLIB_NUMERIC_JITTER after import changes nothing: only set_jitter (the harness) turns the jitter on."""
    with jitter(0):
        key = stable_hash({"a": 1})
        monkeypatch.setenv(ENV, "5")
        net = torch.nn.Linear(4, 3)
        assert jitter_seed() == 0 and not jitter_module_(net) and stable_hash({"a": 1}) == key
        set_jitter(5)
        assert jitter_seed() == 5 and stable_hash({"a": 1}) != key
    assert jitter_seed() == JITTER  # the context restored the session's draw (tests/conftest.py)


def test_a_worker_process_computes_under_the_parents_draw(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local pool's spawned workers start with the parent's draw (its initializer), not the environment's."""
    monkeypatch.setenv(ENV, "5")  # a worker inherits the environment; the library must not read it
    with jitter(4), open_pool(None, 1) as pool:
        assert pool.submit(jitter_seed).result(timeout=120) == 4


CHECK_NOTEBOOK = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{
    "cell_type": "code", "id": "draw", "metadata": {}, "execution_count": 1,
    "source": "# NBVAL_CHECK_OUTPUT\nfrom cmlib.protocol.perturb import jitter_seed\nprint(jitter_seed())",
    "outputs": [{"output_type": "stream", "name": "stdout", "text": "7\n"}]}]}


@pytest.mark.slow
def test_nbval_kernels_compute_under_the_sessions_draw(tmp_path: Path) -> None:
    """``CMLIB_NUMERIC_JITTER=7 make test`` perturbs the golden notebooks too: tests/conftest.py sets the session's
    draw in each kernel nbval starts (here a notebook whose checked output is the kernel's draw, 7)."""
    (tmp_path / "check.ipynb").write_text(json.dumps(CHECK_NOTEBOOK))
    env = {**os.environ, ENV: "7", "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "conftest", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
           "--nbval-lax", "--nbval-current-env", str(tmp_path / "check.ipynb")]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
