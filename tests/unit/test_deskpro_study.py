"""DeSKPro study glue: smoke params equal the Config defaults, bad params fail early, training is deterministic and
cached weights are the trained weights."""

from pathlib import Path

import pytest
import torch

from cmlib.config import ConfigError, from_params, load_yaml, to_dict
from cmlib.studies import deskpro

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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
