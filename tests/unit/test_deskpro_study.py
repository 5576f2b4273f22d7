"""DeSKPro study glue: smoke params equal the Config defaults, bad params fail early, training is deterministic and
cached weights are the trained weights."""

from pathlib import Path

import pytest
import torch

from cmlib.config import ConfigError, from_params, load_yaml, to_dict
from cmlib.studies import deskpro

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("one_thread")


def test_smoke_yaml_restates_the_defaults():
    assert to_dict(from_params(deskpro.Config, load_yaml(ROOT / "params/deskpro/smoke.yaml"))) == to_dict(deskpro.Config())
    for profile in ("study", "paper"):
        from_params(deskpro.Config, load_yaml(ROOT / f"params/deskpro/{profile}.yaml"))


def test_bad_params_are_named():
    with pytest.raises(ConfigError, match="alpha"):
        from_params(deskpro.Config, {"alpha": 1.5})
    with pytest.raises(ConfigError, match="body_step"):
        from_params(deskpro.Config, {"body_step": 3})


def _tiny(tmp_path) -> deskpro.Config:
    return from_params(deskpro.Config, {
        "world": {"n_train_ids": 5, "n_val_ids": 3, "n_test_ids": 3, "height": 32, "width": 16, "face_size": 16},
        "model": {"width": 0.1, "feat_dim": 8}, "p": 2, "k": 2, "body_steps": 2, "face_steps": 2, "eval_every": 1,
        "cache_dir": str(tmp_path / "cache"),
    })


def test_training_is_deterministic_and_the_cache_returns_the_trained_weights(tmp_path):
    cfg = _tiny(tmp_path)
    world = deskpro.build_world(cfg, 0)
    m1, info1 = deskpro.train_stream(cfg, world, "G+CSA+Latt", 0)
    assert not info1["cached"] and info1["steps"] == 2 and info1["best_step"] in (1, 2)
    m2, info2 = deskpro.train_stream(cfg, world, "G+CSA+Latt", 0)
    assert info2["cached"] and info2["val_mAP"] == info1["val_mAP"]
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
    other_cfg = from_params(deskpro.Config, {**to_dict(cfg), "cache_dir": str(tmp_path / "fresh")})
    m3, info3 = deskpro.train_stream(other_cfg, deskpro.build_world(other_cfg, 0), "G+CSA+Latt", 0)
    assert not info3["cached"]
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m3.state_dict().values()))


def test_student_with_propagation_and_face_descriptors(tmp_path):
    cfg = _tiny(tmp_path)
    world = deskpro.build_world(cfg, 0)
    student, _ = deskpro.train_stream(cfg, world, "student+", 0)
    assert len(list(Path(cfg.cache_dir).glob("teacher-*.pt"))) == 1  # the teacher was trained first and cached
    d = deskpro.descriptors(student, "student+", world.celeb_gallery)
    no_face = ~world.celeb_gallery.has_face
    assert d.shape == (len(world.celeb_gallery), 7 * 8)
    assert torch.equal(d[no_face], torch.zeros_like(d[no_face]))
    res = deskpro.evaluate([d], [d], world.celeb_gallery, world.celeb_gallery, "standard")
    assert 0.0 <= res["mAP"] <= 100.0 and set(res) == {"R1", "R5", "mAP", "skipped"}
    with pytest.raises(ValueError, match="unknown stream"):
        deskpro.train_stream(cfg, world, "student", 0)


def _write(path: Path, array) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_real_celeb_light_folders_run_through_the_same_pipeline(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    names = {"train": [f"{p}_{i}_0.jpg" for p in range(1, 7) for i in range(3)],
             "query": ["20_1_0.jpg", "21_1_0.jpg"], "gallery": [f"{p}_{i}_0.jpg" for p in (20, 21) for i in (2, 3)]}
    for split, files in names.items():
        for n in files:
            _write(tmp_path / "data/imgs" / split / n, rng.integers(0, 255, (48, 24, 3), dtype=np.uint8))
            _write(tmp_path / "data/mask" / split / n.replace(".jpg", ".png"), rng.integers(0, 20, (48, 24), dtype=np.uint8))
            if not n.startswith("21_1"):  # one query without a detected face
                _write(tmp_path / "data/lr_face" / split / n, rng.integers(0, 255, (10, 10, 3), dtype=np.uint8))
                _write(tmp_path / "data/hr_face" / split / n, rng.integers(0, 255, (40, 40, 3), dtype=np.uint8))
    cfg = from_params(deskpro.Config, {**to_dict(_tiny(tmp_path)), "dataset": "celeb-light", "data_root": str(tmp_path / "data"),
                                       "world": {"n_val_ids": 2, "height": 32, "width": 16, "face_size": 16}})
    world = deskpro.build_world(cfg, 0)
    assert len(world.train) == 12 and len(world.val_query) == 2 and world.prcc_gallery is None
    assert world.celeb_query.has_face.tolist() == [True, False]
    rows, _ = deskpro.run_ccreid(cfg, 0)
    assert {r["protocol"] for r in rows} == {"celeb-light"}
    assert [r["queries_without_face"] for r in rows] == [0, 1]
    with pytest.raises(ConfigError, match="data_root"):
        from_params(deskpro.Config, {"dataset": "prcc"})
