"""CLAREL run_study: its task list is exactly the models the notebooks read; a rerun trains nothing."""

import pytest

from cmlib.protocol.config import ConfigError, from_params, load_yaml
from cmlib.protocol.run import replicate_config
from cmlib.studies import clarel

TINY = {"world": {"n_classes": 24, "n_unseen": 6, "n_val_classes": 6, "n_genera": 6, "images_per_class": 6,
                  "feature_dim": 32},
        "model": {"embed_dim": 16, "cnn_channels": 8, "lstm_hidden": 8},
        "train": {"steps": 3, "batch_size": 8, "word_dim": 8, "word2vec_epochs": 1}}


def test_study_profile_trains_36_models_on_every_replicate_and_cub100_two(project_root):
    study = from_params(clarel.Config, load_yaml(project_root / "params/clarel/study.yaml"))
    tasks, requires = clarel.study_tasks(study)
    # per replicate: Table 3's 4 settings x 2 stages, class text x 2 stages (10); on the grid's and the dose's
    # replicates (all 5 since 2026-12-07: on 3 the gate read noise as large as its tolerance, tuning.yaml) 06's
    # per-image, class and profile text at the two scales other than 1 and profile text at 1, x 2 stages (14), and
    # the grid's other 12 validation models
    assert study.grid_replicates == study.dose_replicates == len(study.run.seeds) == 5
    assert study.variation_levels == [0.0, 1.0, 2.0]
    assert len(tasks) == len(set(tasks)) == 36 * 5 and requires == {}
    per_seed = [t for t in tasks if t[1] == study.run.seeds[0]]
    assert sum(t[0] == "test" for t in per_seed) == 12 and sum(t[4] == "class" for t in per_seed) == 6
    assert sum(t[4] == "profile" for t in per_seed) == 6 and sorted({t[5] for t in per_seed}) == [0.0, 1.0, 2.0]
    assert len([t for t in tasks if t[1] == study.run.seeds[-1]]) == 36
    # the longer test-stage trainings start first
    assert [t[0] for t in tasks] == sorted((t[0] for t in tasks), key=lambda s: s != "test")
    cub = from_params(clarel.Config, load_yaml(project_root / "params/clarel/cub100.yaml"))
    assert sorted(t[0] for t in clarel.study_tasks(cub)[0]) == ["test"] * 3 + ["val"] * 3


def test_explorer_model_is_listed_for_the_first_seed_only():
    cfg = from_params(clarel.Config, {**TINY, "run": {"seeds": [3, 4]}, "notebooks": ["05_explore"]})
    assert clarel.study_tasks(cfg)[0] == [("val", 3, 0.5, 0.5, "image", 1.0)]


def test_notebooks_read_only_models_run_study_trained(tmp_path, monkeypatch):
    cfg = from_params(clarel.Config, {**TINY, "run": {"cache_dir": str(tmp_path)}})
    clarel.runs._MEMORY.clear()
    first = clarel.run_study(cfg)
    tasks, _ = clarel.study_tasks(cfg)
    assert first["trained"] == first["tasks"] == len(tasks) == len(list(tmp_path.glob("*.pt")))

    trained, read = [], set()
    real_train, real_load = clarel.runs.train_model, clarel.runs.load_cached
    monkeypatch.setattr(clarel.runs, "train_model", lambda *a, **k: trained.append(a[2:]) or real_train(*a, **k))
    monkeypatch.setattr(clarel.runs, "load_cached", lambda p: read.add(p.name) or real_load(p))
    clarel.runs._MEMORY.clear()
    seed = cfg.run.seeds[0]
    for fn in (clarel.gzsl_replicate, clarel.alpha_replicate, clarel.sweep_replicate, clarel.ablation_replicate,
               clarel.dose_replicate):
        fn(cfg, seed)
    rcfg = replicate_config(cfg, seed)  # notebook 05
    clarel.trained_scores(rcfg, lambda: clarel.build_data(rcfg), "val", seed, rcfg.lam, rcfg.kappa)
    assert trained == []
    assert read == {p.name for p in tmp_path.glob("*.pt")}  # every listed model is read by some notebook
    clarel.runs._MEMORY.clear()
    again = clarel.run_study(cfg)
    assert again["trained"] == 0.0 and again["tasks"] == first["tasks"]


def test_run_study_on_two_workers_fills_the_cache(tmp_path):
    cfg = from_params(clarel.Config, {**TINY, "run": {"seeds": [0, 1], "cache_dir": str(tmp_path)}, "notebooks": ["02_alpha_sweep"]})
    out = clarel.run_study(cfg, jobs=2)
    assert out["trained"] == 2.0 and len(list(tmp_path.glob("*.pt"))) == 2


def test_run_study_needs_a_cache_for_workers_and_known_notebooks():
    with pytest.raises(ValueError, match="cache_dir is None"):
        clarel.run_study(from_params(clarel.Config, TINY), jobs=2)
    with pytest.raises(ConfigError, match="notebooks"):
        from_params(clarel.Config, {"notebooks": ["06_nothing"]})
    with pytest.raises(ValueError, match="unknown notebook"):
        clarel.notebook_models(clarel.Config(), "06_nothing")


def test_every_study_task_has_a_valid_config_and_a_too_large_level_fails_at_config_time(project_root):
    from cmlib.studies.clarel.study import task_config

    study = from_params(clarel.Config, load_yaml(project_root / "params/clarel/study.yaml"))
    worlds = {t[5]: task_config(study, t).world for t in clarel.study_tasks(study)[0]}  # re-validated configs
    assert {s: w.variation for s, w in worlds.items()} == {0.0: 0.0, 1.0: 1.0, 2.0: 2.0}
    with pytest.raises(ConfigError, match=r"variation_levels\[1\] = 3.0: .*largest variation is below 2.5"):
        from_params(clarel.Config, {"world": {"purity_low": 0.6}, "variation_levels": [0.0, 3.0]})
