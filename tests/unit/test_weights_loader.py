"""The one strict weights loader (cmlib.models.weights): a wrong-architecture file fails by name for every paper's
weights key (at config time where the architecture is known), a right one lands in the model (a marker value)."""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision

from cmlib.models.osnet import load_osnet_weights, osnet
from cmlib.models.weights import WeightsError, load_weights, timm_model
from cmlib.protocol.config import ConfigError, from_params
from cmlib.studies import clarel, deskpro, grmnet, whcmt


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Small weight files: a timm test ViT, timm resnet10t / resnet14t, torchvision resnet18 (plain and net.-prefixed),
    an OSNet x0.25; each with a marker in its first weight."""
    d = tmp_path_factory.mktemp("weights")

    def save(state, name):
        state = dict(state)
        first = next(iter(state))
        state[first] = torch.full_like(state[first], 0.125)
        torch.save(state, d / name)
        return d / name

    out = {"vit": save(timm.create_model("test_vit").state_dict(), "test_vit.pth"),
           "resnet10t": save(timm.create_model("resnet10t").state_dict(), "resnet10t.pth"),
           "resnet14t": save(timm.create_model("resnet14t").state_dict(), "resnet14t.pth")}
    r18 = torchvision.models.resnet18().state_dict()
    out["tv_resnet18"] = save(r18, "resnet18.pth")
    out["net_resnet18"] = save({"net." + k: v for k, v in r18.items()}, "resnet18_net.pth")
    out["osnet025"] = save(osnet(0.25).state_dict(), "osnet_x0_25.pth")
    return out


def test_timm_loader_drops_only_the_head_and_is_strict(files):
    m = timm_model("resnet14t", files["resnet14t"], key="k")
    assert torch.all(next(iter(m.state_dict().values())) == 0.125)
    with pytest.raises(WeightsError, match=r"k: .*resnet10t\.pth does not fit timm resnet14t: .* of another shape"):
        timm_model("resnet14t", files["resnet10t"], key="k")  # partly matching keys: refused, not loaded in part
    with pytest.raises(WeightsError, match=r"unexpected \(net\.conv1\.weight"):
        timm_model("resnet18", files["net_resnet18"], key="k")
    with pytest.raises(FileNotFoundError, match=r"k: no file at .*nope\.pth"):
        timm_model("resnet18", files["vit"].parent / "nope.pth", key="k")


def test_whcmt_wrong_architecture_fails_at_config_time(files):
    with pytest.raises(ConfigError, match=r"visual\.weights_file: .*test_vit\.pth does not fit timm crossvit_9_240: "
                                          r"\d+ of the model's \d+ keys missing"):
        from_params(whcmt.Config, {"visual": {"variant": "crossvit_9_240", "img_size": 240,
                                              "weights_file": str(files["vit"])},
                                   "cm_heads": 4, "world": {"image_size": 240}, "vit": {"img_size": 240}})
    with pytest.raises(ConfigError, match=r"vit\.weights_file: .*resnet10t\.pth does not fit custom VisionTransformer"):
        from_params(whcmt.Config, {"vit": {"weights_file": str(files["resnet10t"])}})
    with pytest.raises(ConfigError, match=r"cnn_weights: .*resnet18\.pth does not fit torchvision alexnet"):
        from_params(whcmt.Config, {"cnn": "alexnet", "cnn_weights": str(files["tv_resnet18"])})


def test_whcmt_heads_and_img_size_checked_against_the_backbone():
    with pytest.raises(ConfigError, match=r"cm_heads=3 must divide the CrossViT L-branch width 256 of "
                                          r"visual.variant='crossvit_9_240'"):
        from_params(whcmt.Config, {"visual": {"variant": "crossvit_9_240", "img_size": 240},
                                   "world": {"image_size": 240}, "vit": {"img_size": 240}})
    with pytest.raises(ConfigError, match=r"vit\.img_size=224 must equal world\.image_size=240"):
        from_params(whcmt.Config, {"visual": {"variant": "crossvit_9_240", "img_size": 240}, "cm_heads": 4,
                                   "world": {"image_size": 240}, "vit": {"img_size": 224}})


def test_clarel_wrong_architecture_fails_at_config_time(files):
    model = {"backbone": "resnet18", "embed_dim": 16, "cnn_channels": 8, "lstm_hidden": 8}
    for bad in ("vit", "net_resnet18"):
        with pytest.raises(ConfigError, match=rf"model\.backbone_weights: .*{files[bad].name} does not fit timm "
                                              r"resnet18"):
            from_params(clarel.Config, {"model": {**model, "backbone_weights": str(files[bad])}})


def test_deskpro_wrong_width_or_architecture_fails_at_config_time(files):
    with pytest.raises(ConfigError, match=r"model\.pretrained: .*osnet_x0_25\.pth does not fit OSNet width 1\.0: "
                                          r".* of another shape"):
        from_params(deskpro.Config, {"model": {"width": 1.0, "pretrained": str(files["osnet025"])}})
    with pytest.raises(ConfigError, match=r"model\.pretrained: .*resnet18\.pth does not fit OSNet width 0\.25"):
        from_params(deskpro.Config, {"model": {"width": 0.25, "pretrained": str(files["tv_resnet18"])}})
    net = osnet(0.25)
    load_osnet_weights(net, files["osnet025"])
    assert torch.all(next(iter(net.state_dict().values())) == 0.125)


def test_grmnet_backbone_weights_are_strict_and_reach_the_resnet(files):
    with pytest.raises(ConfigError, match=r"model\.backbone_weights: .*resnet18\.pth does not fit torchvision "
                                          r"resnet50"):
        from_params(grmnet.Config, {"model": {"backbone": "resnet50", "backbone_weights": str(files["tv_resnet18"])}})
    with pytest.raises(ConfigError, match=r"tiny backbone has no pretrained weights"):
        from_params(grmnet.Config, {"model": {"backbone_weights": str(files["tv_resnet18"])}})
    from cmlib.models.grmnet import GRMNetSpec, build_backbone

    body, _, _ = build_backbone(GRMNetSpec(backbone="resnet18", backbone_weights=str(files["tv_resnet18"])))
    assert torch.all(body.body.conv1.weight == 0.125)


def test_load_weights_names_a_file_that_is_no_state_dict(tmp_path):
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match=r"key: .*junk\.pth cannot be read as a state_dict"):
        load_weights(torch.nn.Linear(2, 2), tmp_path / "junk.pth", key="key", model_name="Linear")
