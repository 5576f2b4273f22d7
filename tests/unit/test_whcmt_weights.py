"""WHCMT weights and code lengths: checked weight paths, local weight files, the random-init warning of
pretrained-scale backbones, the bit-length guard on the study path, and backbone features for LSH/ITQ/SH."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import timm
import torch

from cmlib.models.hashing_baselines import AlexNetFc7, ViTConfig, ViTFeatures
from cmlib.models.whcmt import CrossVitConfig, build_crossvit
from cmlib.protocol.config import ConfigError, from_params
from cmlib.studies import whcmt
from cmlib.studies.whcmt import runs

TINY = {"world": {"n_query": 30, "n_database": 120, "n_train": 100}, "w2v_corpus_sentences": 500, "steps": 1,
        "hidden": 16, "bits": [8], "unsupervised": ["ITQ"], "w2v_epochs": 1}


@pytest.fixture(scope="module")
def tiny():
    cfg = from_params(whcmt.Config, TINY)
    return cfg, whcmt.prepare_data(cfg)


def test_bit_length_mismatch_raises_through_the_study_path(tiny, monkeypatch):
    cfg, data = tiny
    model = whcmt.build_model("WDHT-CNN", 8, data, cfg)
    with pytest.raises(ValueError, match=r"built for 8-bit codes, asked for 16 bits"):
        whcmt.evaluate_map(model, data, cfg, bits=16)
    with pytest.raises(ValueError, match=r"built for 8-bit codes, asked for 16 bits"):
        whcmt.encode(model, data.images, data.query, bits=16)
    real_build = runs.build_model
    monkeypatch.setattr(runs, "build_model", lambda method, bits, d, c: real_build(method, 8, d, c))
    with pytest.raises(ValueError, match=r"WHCMT.encode: model was built for 8-bit codes, asked for 16 bits"):
        whcmt.train_run("WHCMT", 16, data, cfg, verbose=False)
    row, _ = whcmt.train_run("WHCMT", 8, data, cfg, verbose=False)  # matching lengths still evaluate
    assert row["bits"] == 8 and 0 <= row["map"] <= 1


def test_missing_weight_files_fail_when_params_are_loaded(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(ConfigError, match=rf"params\.visual\.weights_file: path '{missing}' does not exist; expected "
                                          r"a local timm checkpoint of the CrossViT variant"):
        from_params(whcmt.Config, {"visual": {"weights_file": str(missing)}})
    with pytest.raises(ConfigError, match=r"params\.vit\.weights_file: path .* does not exist; expected a local timm"):
        from_params(whcmt.Config, {"vit": {"weights_file": str(missing)}})
    with pytest.raises(ConfigError, match=r"params\.cnn_weights: path .* does not exist"):
        from_params(whcmt.Config, {"cnn_weights": str(missing)})
    # configs built in code skip from_params: the models check again when they are built
    with pytest.raises(FileNotFoundError, match=r"visual\.weights_file: no file at .*nope\.pth"):
        build_crossvit(CrossVitConfig(weights_file=missing))
    with pytest.raises(FileNotFoundError, match=r"vit\.weights_file: no file at .*nope\.pth"):
        ViTFeatures(ViTConfig(weights_file=missing))


def _params(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.state_dict().values()]


def test_crossvit_weights_file_loads_and_changes_the_weights(tmp_path):
    torch.manual_seed(123)
    saved = build_crossvit(CrossVitConfig())
    path = tmp_path / "crossvit_small.pth"
    torch.save(saved.state_dict(), path)
    cfg = from_params(whcmt.Config, {"visual": {"weights_file": str(path)}})
    torch.manual_seed(0)
    fresh = build_crossvit(dataclasses.replace(cfg.visual, weights_file=None))
    torch.manual_seed(0)
    loaded = build_crossvit(cfg.visual)
    assert all(torch.equal(a, b) for a, b in zip(_params(loaded), _params(saved)))
    assert not all(torch.equal(a, b) for a, b in zip(_params(fresh), _params(saved)))
    torch.save({k: v for k, v in saved.state_dict().items() if "blocks.0" not in k}, path)
    with pytest.raises(ValueError, match=r"visual\.weights_file: .*crossvit_small\.pth does not fit"):
        build_crossvit(cfg.visual)


def test_vit_weights_file_loads(tmp_path):
    torch.manual_seed(5)
    saved = ViTFeatures(ViTConfig())
    torch.save(saved.vit.state_dict(), tmp_path / "vit.pth")
    loaded = ViTFeatures(ViTConfig(weights_file=tmp_path / "vit.pth"))
    assert all(torch.equal(a, b) for a, b in zip(_params(loaded), _params(saved)))


def test_pretrained_scale_backbones_without_weights_warn():
    with pytest.warns(UserWarning, match=r"visual\.weights_file is not set: crossvit_9_240 starts from random weights"):
        build_crossvit(CrossVitConfig(variant="crossvit_9_240", img_size=240))
    with pytest.warns(UserWarning, match=r"vit\.weights_file is not set: test_vit starts from random weights"):
        ViTFeatures(ViTConfig(variant="test_vit"))
    with pytest.warns(UserWarning, match=r"cnn_weights is not set: alexnet starts from random weights"):
        AlexNetFc7(None)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the small custom CPU models stay silent
        build_crossvit(CrossVitConfig())
        ViTFeatures(ViTConfig())


def test_paper_profile_names_its_weight_files(project_root):
    from cmlib.protocol.config import load_yaml

    params = load_yaml(project_root / "params/whcmt/paper.yaml")
    assert params["visual"]["weights_file"] and params["vit"]["weights_file"] and params["cnn_weights"]


def test_unsupervised_backbone_features(tiny, tmp_path, one_thread):
    cfg, data = tiny
    torch.manual_seed(7)
    net = timm.create_model("test_resnet")  # with its classifier: the head's keys are ignored
    path = tmp_path / "test_resnet.pth"
    torch.save(net.state_dict(), path)
    bcfg = from_params(whcmt.Config, {**TINY, "unsup_features": "backbone", "unsup_backbone": "test_resnet",
                                      "unsup_backbone_weights": str(path)})
    feats = whcmt.unsupervised_features(data, bcfg)
    net.reset_classifier(0)
    with torch.no_grad():
        raw = net.eval()(whcmt.to_input(torch.from_numpy(data.images[:5]))).numpy()
    db = whcmt.unsupervised_features(data, cfg)
    assert feats.shape == (len(data.images), net.num_features) and db.shape[1] == 3 * cfg.unsup_pool ** 2
    # standardised on the database: the first images' features are the raw backbone features, shifted and scaled
    raw_all = whcmt.backbone_features(data.images, "test_resnet", path)
    assert np.allclose(raw_all[:5], raw, atol=1e-5)
    mu, sd = raw_all[data.database].mean(0), raw_all[data.database].std(0) + 1e-6
    assert np.allclose(feats, (raw_all - mu) / sd, atol=1e-4)
    rows = whcmt.unsupervised_rows(data, bcfg)
    assert len(rows) == 1 and 0 < rows[0]["map"] <= 1


def test_unsupervised_backbone_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"unsup_backbone_weights: path .*nope\.pth' does not exist; expected a "
                                          r"local state_dict"):
        from_params(whcmt.Config, {"unsup_features": "backbone", "unsup_backbone_weights": str(tmp_path / "nope.pth")})
    with pytest.raises(ConfigError, match=r"unsup_backbone_weights: unsup_features='backbone' needs a local"):
        from_params(whcmt.Config, {"unsup_features": "backbone"})
    with pytest.raises(FileNotFoundError, match=r"unsup_backbone_weights: no file at .*nope\.pth"):
        whcmt.load_backbone("test_resnet", tmp_path / "nope.pth")
    torch.save(timm.create_model("test_vit").state_dict(), tmp_path / "vit.pth")
    with pytest.raises(ValueError, match=r"vit.pth does not fit timm test_resnet: 90 of the model's 90 keys missing"):
        whcmt.load_backbone("test_resnet", tmp_path / "vit.pth")
    assert whcmt.Config().unsup_features == "pixels"
