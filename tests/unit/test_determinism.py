"""Same machine, same numbers: a smoke training run twice in one session is bit-identical; the test-only numeric
jitter (cmlib.protocol.perturb) changes the floating-point path only at rounding scale and never reuses a cache entry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cmlib.protocol.cache import stable_hash
from cmlib.protocol.config import from_params
from cmlib.protocol.perturb import ENV, REL_SCALE, jitter_module_, jitter_seed
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


def test_jitter_moves_training_at_rounding_scale_only(one_thread: None, monkeypatch: pytest.MonkeyPatch) -> None:
    w0, d0 = clarel_run()
    monkeypatch.setenv(ENV, "1")
    w1, d1 = clarel_run()
    assert not torch.equal(w0, w1) and not torch.equal(d0, d1)  # the path changed...
    assert torch.allclose(d0, d1, rtol=0.2, atol=0.2)  # ...into a nearby model, not another experiment


def test_jitter_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)  # the suite may itself run under a jitter draw
    key = stable_hash({"a": 1})
    net = torch.nn.Linear(4, 3)
    before = [p.detach().clone() for p in net.parameters()]
    assert jitter_seed() == 0 and not jitter_module_(net)
    monkeypatch.setenv(ENV, "3")
    assert jitter_seed() == 3 and stable_hash({"a": 1}) != key  # a perturbed run never loads an unperturbed cache
    assert jitter_module_(net)
    for old, new in zip(before, net.parameters(), strict=True):
        rel = ((new - old).abs() / old.abs().clamp_min(1e-30)).max().item()
        assert 0 < rel <= REL_SCALE + 2.0**-23  # the jitter plus float32 rounding of the product
    vecs = train_word2vec([["a", "b", "c"]] * 5, dim=4, seed=0, epochs=1)
    monkeypatch.delenv(ENV)
    assert not np.array_equal(vecs["a"], train_word2vec([["a", "b", "c"]] * 5, dim=4, seed=0, epochs=1)["a"])
    monkeypatch.setenv(ENV, "x")
    with pytest.raises(ValueError, match="CMLIB_NUMERIC_JITTER='x': expected an integer"):
        jitter_seed()
