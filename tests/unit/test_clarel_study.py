"""CLAREL study glue: config checks, the smoke params file, the validation stage, a tiny deterministic run."""

import numpy as np
import pytest

from cmlib.config import ConfigError, from_params, load_yaml
from cmlib.studies import clarel

TINY = {"world": {"n_classes": 24, "n_unseen": 6, "n_val_classes": 6, "n_genera": 6, "images_per_class": 6,
                  "feature_dim": 32},
        "model": {"embed_dim": 16, "cnn_channels": 8, "lstm_hidden": 8},
        "train": {"steps": 4, "batch_size": 8, "word_dim": 8, "word2vec_epochs": 1}}


def test_smoke_yaml_equals_the_defaults(project_root):
    assert from_params(clarel.Config, load_yaml(project_root / "params/clarel/smoke.yaml")) == clarel.Config()


@pytest.mark.parametrize("bad", [{"alphas": [0.0, -0.1]}, {"lam": 1.5}, {"kappa": -0.2}, {"lambdas": [2.0]},
                                 {"data": "xlsa17"}])
def test_bad_params_fail_at_config_time(bad):
    with pytest.raises(ConfigError):
        from_params(clarel.Config, bad)


def test_validation_stage_holds_out_seen_images_and_val_classes():
    cfg = from_params(clarel.Config, TINY)
    data = clarel.build_data(cfg)
    st = clarel.make_stage(data, "val", 0.2, seed=0)
    assert not np.intersect1d(st.train_idx, st.seen_idx).size and not np.intersect1d(st.train_idx, st.unseen_idx).size
    assert set(data.labels[st.seen_idx]) == set(st.seen.tolist()) == set(data.labels[st.train_idx])
    assert not set(st.unseen.tolist()) & set(st.seen.tolist())
    assert not np.isin(st.train_idx, data.splits["test_seen"]).any()


def test_protocol_runs_and_is_deterministic():
    cfg = from_params(clarel.Config, TINY)
    data = clarel.build_data(cfg)
    a = clarel.evaluate_setting(cfg, data, 0, 0.5, 0.5)
    clarel._MEMORY.clear()
    b = clarel.evaluate_setting(cfg, data, 0, 0.5, 0.5)
    assert a == {**b, "train_s": a["train_s"]}
    assert a["alpha"] in cfg.alphas and 0.0 <= a["H"] <= 100.0


def test_cache_dir_reuses_the_trained_model(tmp_path):
    cfg = from_params(clarel.Config, {**TINY, "cache_dir": str(tmp_path)})
    data = clarel.build_data(cfg)
    first = clarel.trained_scores(cfg, data, "val", 0, 0.5, 0.0)
    clarel._MEMORY.clear()
    again = clarel.trained_scores(cfg, data, "val", 0, 0.5, 0.0)
    assert len(list(tmp_path.glob("*.pt"))) == 1 and (first.distances == again.distances).all()
