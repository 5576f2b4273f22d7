"""cmlib.protocol.pretrain: a backbone trained as a classifier, its weights file saved atomically, cached, reloadable."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from cmlib.protocol.pretrain import PretrainConfig, pretrain_backbone


class TinyBackbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(2 * 4 * 4, 8), nn.ReLU())
        self.out_dim = 8

    def forward(self, x):
        return self.net(x)


def _data(n: int = 400, seed: int = 0):
    """Three classes told apart by the mean of channel 0 (-1, 0, +1)."""
    gen = np.random.default_rng(seed)
    y = gen.integers(3, size=n)
    x = gen.normal(size=(n, 2, 4, 4)).astype(np.float32) * 0.5
    x[:, 0] += (y - 1)[:, None, None]
    return x, y


def test_pretrained_backbone_beats_chance_and_its_file_reloads(tmp_path):
    cfg = PretrainConfig(steps=150, lr=0.01, batch_size=32, held_out=0.25)
    res = pretrain_backbone("tiny", TinyBackbone, _data, cfg, tmp_path, key={"v": 1}, log=None)
    assert not res.cached and res.path.is_file() and res.n_classes == 3
    assert res.accuracy > res.chance + 0.3  # separable classes; chance = majority rate of the held-out part
    state = torch.load(res.path, weights_only=True)
    assert set(state) == {"net.1.weight", "net.1.bias"}  # the backbone only, no classifier
    fresh = TinyBackbone()
    fresh.load_state_dict(state)  # strict: the file fits a freshly built backbone
    meta = json.loads(res.path.with_name(res.path.name + ".json").read_text())
    assert meta["accuracy"] == res.accuracy and meta["n_classes"] == 3


def test_cached_file_is_reused_without_touching_the_data_and_keys_separate_configs(tmp_path):
    cfg = PretrainConfig(steps=5, batch_size=16)
    first = pretrain_backbone("tiny", TinyBackbone, _data, cfg, tmp_path, key={"v": 1}, log=None)

    def no_data():
        raise AssertionError("a cached pretraining must not build its data")

    again = pretrain_backbone("tiny", TinyBackbone, no_data, cfg, tmp_path, key={"v": 1}, log=None)
    assert again.cached and again.path == first.path and again.accuracy == first.accuracy
    other = pretrain_backbone("tiny", TinyBackbone, _data, PretrainConfig(steps=6, batch_size=16), tmp_path,
                              key={"v": 1}, log=None)
    assert other.path != first.path
    assert pretrain_backbone("tiny", TinyBackbone, _data, cfg, tmp_path, key={"v": 2}, log=None).path != first.path


def test_saved_part_and_bad_labels(tmp_path):
    cfg = PretrainConfig(steps=3, batch_size=16)
    res = pretrain_backbone("part", TinyBackbone, _data, cfg, tmp_path, key=0, saved=lambda b: b.net[1], log=None)
    assert set(torch.load(res.path, weights_only=True)) == {"weight", "bias"}
    x, y = _data()
    with pytest.raises(ValueError, match="labels"):
        pretrain_backbone("bad", TinyBackbone, lambda: (x, y[:10]), cfg, tmp_path, key=0, log=None)
    with pytest.raises(ValueError, match="C >= 2"):
        pretrain_backbone("one", TinyBackbone, lambda: (x, np.zeros(len(x), dtype=int)), cfg, tmp_path, key=0,
                          log=None)


def test_matched_accuracy_stops_at_the_target_and_reports_the_other_half(tmp_path):
    cfg = PretrainConfig(steps=300, lr=0.01, batch_size=32, held_out=0.5, target_accuracy=0.6, check_every=10)
    res = pretrain_backbone("tiny", TinyBackbone, _data, cfg, tmp_path, key={"v": 1}, log=None)
    steps = [s for s, _ in res.curve]
    assert steps == list(range(10, res.steps + 1, 10)) and res.steps < 300  # separable: reached long before the cap
    assert res.curve[-1][1] >= 0.6 and all(a < 0.6 for _, a in res.curve[:-1])  # the first check at the target
    assert res.accuracy > res.chance + 0.2  # measured on the report half, the images the stop never saw
    again = pretrain_backbone("tiny", TinyBackbone, _data, cfg, tmp_path, key={"v": 1}, log=None)
    assert again.cached and again.steps == res.steps and again.curve == res.curve
    unreachable = pretrain_backbone("tiny", TinyBackbone, _data, PretrainConfig(
        steps=30, lr=0.01, batch_size=32, held_out=0.5, target_accuracy=1.0, check_every=10), tmp_path, key={"v": 1},
        log=None)
    assert unreachable.steps == 30 and [s for s, _ in unreachable.curve] == [10, 20, 30]
    with pytest.raises(ValueError, match="held-out"):
        PretrainConfig(held_out=0.0, target_accuracy=0.5)


def test_files_pretrained_before_matched_accuracy_keep_their_keys(tmp_path):
    """The default config's key has no target fields, so caches made before they existed stay valid."""
    from dataclasses import asdict

    from cmlib.protocol.cache import stable_hash
    from cmlib.protocol.run import RunConfig

    cfg = PretrainConfig(steps=2, batch_size=16)
    old = {k: v for k, v in asdict(cfg).items() if k not in ("target_accuracy", "check_every")}
    digest = stable_hash({"name": "tiny", "key": {"v": 1}, "cfg": old, **RunConfig().key_part()})
    res = pretrain_backbone("tiny", TinyBackbone, _data, cfg, tmp_path, key={"v": 1}, log=None)
    assert res.path.name == f"tiny-{digest}.pth" and res.steps == 2 and res.curve == ()


def test_a_file_another_process_is_training_is_skipped_without_waiting(tmp_path):
    from filelock import FileLock

    cfg = PretrainConfig(steps=2, batch_size=16)
    first = pretrain_backbone("tiny", TinyBackbone, _data, cfg, tmp_path, key={"v": 1}, log=None)
    with FileLock(str(first.path) + ".lock"):  # as if a parallel replicate were training it now
        assert pretrain_backbone("tiny", TinyBackbone, _data, cfg, tmp_path, key={"v": 1}, log=None,
                                 wait=False) is None
    assert pretrain_backbone("tiny", TinyBackbone, _data, cfg, tmp_path, key={"v": 1}, log=None, wait=False).cached
