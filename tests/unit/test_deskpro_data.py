"""DeSKPro data: P x K batches, the synthetic world's protocols, Celeb-reID / PRCC parsers and parallel folders."""

import numpy as np
import pytest
import torch
from PIL import Image

from cmlib.data.celebreid import read_celebreid
from cmlib.data.prcc import read_prcc
from cmlib.data.reid_folders import ParallelFolders, ReIDRecord, load_reid_set
from cmlib.data.samplers import PKBatches
from cmlib.data.worlds.deskpro import CLOTH_LABELS, WorldConfig, make_world, pretraining_pool

pytestmark = pytest.mark.usefixtures("one_thread")


def test_pk_batches_hold_p_identities_times_k_images_and_are_deterministic():
    labels = [i // 4 for i in range(40)] + [10, 10]  # 10 ids x 4 images, one id with 2 (sampled with replacement)
    pk = PKBatches(labels, p=3, k=3, fetch=lambda idx: idx, seed=1)
    batches = list(pk(0))
    assert len(batches) == len(pk) == 11 // 3
    for b in batches:
        ids = torch.tensor(labels)[b]
        assert len(b) == 9 and len(ids.unique()) == 3 and all((ids == i).sum() == 3 for i in ids.unique())
    assert all(torch.equal(a, b) for a, b in zip(batches, pk(0)))
    assert not all(torch.equal(a, b) for a, b in zip(batches, pk(1)))


def test_pk_batches_name_single_image_identities():
    labels = ["a", "a", "b", "b", "lonely"]
    with pytest.warns(UserWarning, match="lonely"):
        pk = PKBatches(labels, p=2, k=2, fetch=lambda i: i)
    assert pk.dropped == ["lonely"]
    with pytest.raises(ValueError, match="lonely"):
        PKBatches(labels, p=2, k=2, fetch=lambda i: i, on_singleton="error")
    with pytest.raises(ValueError, match="fewer than p=3"):
        PKBatches(["a", "a", "b", "b"], p=3, k=2, fetch=lambda i: i)


@pytest.fixture(scope="module")
def world():
    cfg = WorldConfig(n_train_ids=6, n_val_ids=3, n_test_ids=4, height=64, width=32, face_size=16)
    return make_world(cfg, seed=3)


def test_world_is_deterministic_by_seed(world):
    again = make_world(world.config, seed=3)
    assert torch.equal(again.train.images, world.train.images) and torch.equal(again.prcc_cross_query.lr_face, world.prcc_cross_query.lr_face)
    other = make_world(world.config, seed=4)
    assert not torch.equal(other.train.images, world.train.images)


def test_world_protocols(world):
    q, g = world.celeb_query, world.celeb_gallery
    assert not set(q.clothes.tolist()) & set(g.clothes.tolist())  # Celeb-light: never the same clothes
    assert len(set(q.camids.tolist()) | set(g.camids.tolist())) == len(q) + len(g)  # every image its own camera
    a, b, c = world.prcc_gallery, world.prcc_same_query, world.prcc_cross_query
    assert set(a.camids.tolist()) == {0} and set(b.camids.tolist()) == {1} and set(c.camids.tolist()) == {2}
    assert set(b.clothes.tolist()) == set(a.clothes.tolist()) and not set(c.clothes.tolist()) & set(a.clothes.tolist())
    ids = [set(s.pids.tolist()) for s in (world.train, world.val_query, q)]
    assert not ids[0] & ids[1] and not ids[0] & ids[2] and not ids[1] & ids[2]


def test_celeb_protocol_gallery_is_mostly_other_clothes(world):
    q, full, light = world.celeb_query, world.celeb_full_gallery, world.celeb_gallery
    assert len(full) == len(light) + len(q) and torch.equal(full.images[: len(light)], light.images)
    for pid, clothes in zip(q.pids.tolist(), q.clothes.tolist(), strict=True):
        mine = full.pids == pid
        same = int((full.clothes[mine] == clothes).sum())
        assert same == 1 and same / int(mine.sum()) <= 0.3  # Sec. 3: over 70% of samples in different clothes
    assert len(set(full.camids.tolist()) | set(q.camids.tolist())) == len(full) + len(q)


def test_pretraining_pool_is_other_people(world):
    pool = pretraining_pool(world.config, 5, seed=0)
    assert sorted(set(pool.pids.tolist())) == list(range(5)) and pool.hr_face is not None
    again = pretraining_pool(world.config, 5, seed=0)
    assert torch.equal(pool.images, again.images)
    other = make_world(world.config, seed=0)  # a study world with the same seed draws different people
    n = min(len(pool), len(other.train))
    assert not torch.equal(pool.images[:n], other.train.images[:n])
    with pytest.raises(ValueError, match="n_ids >= 2"):
        pretraining_pool(world.config, 1)


def test_the_premise_knob_does_not_reach_the_stand_ins_pools(world):
    """The pools stand for ImageNet / GPEN's data: drawn at body_identity 1.0 whatever the study world's knob."""
    import dataclasses

    from cmlib.data.worlds.deskpro import stand_in_world

    low = dataclasses.replace(world.config, body_identity=0.4)
    assert stand_in_world(low).body_identity == 1.0 and stand_in_world(world.config) is world.config
    for images_per_id in (0, 2):
        a = pretraining_pool(low, 4, seed=0, images_per_id=images_per_id)
        b = pretraining_pool(world.config, 4, seed=0, images_per_id=images_per_id)
        assert torch.equal(a.images, b.images)
    assert not torch.equal(make_world(low, seed=3).train.images, world.train.images)  # the study world does move


def test_world_parsing_faces_and_clothing(world):
    t = world.train
    assert t.images.dtype == torch.uint8 and t.images.shape[1:] == (3, 64, 32)
    assert int(t.parsing.max()) <= 7 and bool(torch.isin(t.parsing, torch.tensor(CLOTH_LABELS)).any())
    no_face = ~t.has_face
    assert t.lr_face[no_face].sum() == 0 and (t.lr_face[t.has_face].flatten(1).sum(1) > 0).all()
    # clothing covers a large part of the person: the shortcut the CSA must learn to suppress
    person = (t.parsing > 0).sum()
    cloth = torch.isin(t.parsing, torch.tensor(CLOTH_LABELS)).sum()
    assert 0.5 < float(cloth) / float(person) < 0.95


def _write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_celebreid_parser_and_parallel_folders(tmp_path):
    rgb = np.full((40, 20, 3), 128, np.uint8)
    for split, names in {"train": ["3_1_0.jpg", "3_2_0.jpg", "7_1_0.jpg"], "query": ["9_1_0.jpg"], "gallery": ["9_2_0.jpg"]}.items():
        for n in names:
            _write(tmp_path / "imgs" / split / n, rgb)
            _write(tmp_path / "mask" / split / n.replace(".jpg", ".png"), np.full((40, 20), 5, np.uint8))
    _write(tmp_path / "lr_face" / "train" / "3_1_0.jpg", rgb[:8, :8])
    _write(tmp_path / "hr_face" / "train" / "3_1_0.jpg", rgb[:16, :16])
    recs = read_celebreid(tmp_path, "train")
    assert [r.pid for r in recs] == [3, 3, 7] and len({r.camid for r in recs}) == 3
    data = load_reid_set(recs, ParallelFolders(tmp_path), size=(32, 16), face_size=8)
    assert data.images.shape == (3, 3, 32, 16) and data.has_face.tolist() == [True, False, False]
    assert data.hr_face.shape == (3, 3, 8, 8) and int(data.parsing.max()) == 5
    with pytest.raises(ValueError, match="split must be"):
        read_celebreid(tmp_path, "val")


def test_missing_parallel_folder_and_mask_size_mismatch(tmp_path):
    _write(tmp_path / "imgs" / "train" / "1_1_0.jpg", np.zeros((40, 20, 3), np.uint8))
    recs = read_celebreid(tmp_path, "train")
    with pytest.raises(FileNotFoundError, match=r"mask.*expected layout"):
        load_reid_set(recs, ParallelFolders(tmp_path), size=(32, 16), face_size=8)
    _write(tmp_path / "mask" / "train" / "1_1_0.png", np.full((20, 10), 4, np.uint8))  # half size
    (tmp_path / "lr_face").mkdir()
    (tmp_path / "hr_face").mkdir()
    data = load_reid_set(recs, ParallelFolders(tmp_path), size=(32, 16), face_size=8)
    assert data.parsing.shape == (1, 32, 16) and bool((data.parsing == 4).all())
    with pytest.raises(ValueError, match=r"20x10 but its image is 40x20"):
        load_reid_set(recs, ParallelFolders(tmp_path), size=(32, 16), face_size=8, mask_size_mismatch="error")


def test_prcc_parser_cameras_and_clothes(tmp_path):
    rgb = np.zeros((8, 4, 3), np.uint8)
    for n in ["A_cropped_rgb001.jpg", "C_cropped_rgb002.jpg"]:
        _write(tmp_path / "imgs" / "train" / "001" / n, rgb)
    for cam in "ABC":
        _write(tmp_path / "imgs" / "test" / cam / "005" / "cropped_rgb001.jpg", rgb)
    train = read_prcc(tmp_path, "train")
    assert [(r.pid, r.camid, r.clothes_id) for r in train] == [(1, 0, 2), (1, 2, 3)]
    test = read_prcc(tmp_path, "test")
    assert [r.camid for r in test] == [0, 1, 2] and test[0].clothes_id == test[1].clothes_id != test[2].clothes_id
    assert read_prcc(tmp_path, "test", camera="C") == [ReIDRecord("test/C/005/cropped_rgb001.jpg", 5, 2, 11)]
    with pytest.raises(FileNotFoundError, match="expected"):
        read_prcc(tmp_path, "val")


def test_pretraining_pool_with_an_outfit_per_image(world):
    pool = pretraining_pool(world.config, 4, seed=0, images_per_id=6)
    assert len(pool) == 24 and sorted(set(pool.pids.tolist())) == list(range(4))
    assert len(set(pool.clothes.tolist())) == 24  # every image its own outfit: clothes never identify a person
    assert len(set(pool.camids.tolist())) == 24
    top = [pool.images[i][:, pool.parsing[i] == 4].float().mean(1) for i in range(6)]  # person 0's tops differ
    assert any(not torch.allclose(top[0], t, atol=20) for t in top[1:])
    with pytest.raises(ValueError, match="images_per_id must be >= 0"):
        pretraining_pool(world.config, 4, images_per_id=-1)


def test_camera_gain_is_the_configured_range():
    from cmlib.data.worlds.deskpro import _camera

    rng = np.random.default_rng(0)
    flat = [_camera(rng, WorldConfig(camera_gain=0.0))["gain"] for _ in range(20)]
    assert all(np.array_equal(g, np.ones(3)) for g in flat)
    wide = np.stack([_camera(rng, WorldConfig(camera_gain=0.3))["gain"] for _ in range(200)])
    assert wide.min() >= 0.7 and wide.max() <= 1.3 and wide.max() - wide.min() > 0.4


def test_world_builds_for_200_seeds_at_the_study_settings() -> None:
    """Issue 33 item 8 ("every seed works"): seeds 0-199 (a replicate's world seed is its seed) with the study
    profile's world settings (params/deskpro/study.yaml: 64 x 32 bodies, 24-px faces, the default outfits, views,
    noise and gains), one identity per split and one image per outfit.

    The study's 100 / 30 / 150 identities and 3 images an outfit take 13 s a world (about 3,200 renders, one random
    stream): 200 of them would take over 40 minutes. What a seed can break is the same for one identity as for 150: the
    draws of each identity and outfit and the geometry of each shot (body height and position, the head box cut out
    of the body image for the low-resolution face, faces seen from the back), and every protocol's loop runs for
    one identity as for many (Celeb-light query and gallery, the extra Celeb image, the three PRCC cameras). So each
    seed renders one person per split, about 13 shots, and checks that every image holds a person with a head, that
    a face crop exists exactly where a face is seen, and the protocols' clothes: 2,600 shots (over 200 from the
    back, 800 with a bag) in about 5 s.
    """
    from dataclasses import replace
    from pathlib import Path

    from cmlib.protocol.config import from_params, load_profile

    root = Path(__file__).resolve().parents[2]
    study = from_params(WorldConfig, load_profile(root / "params" / "deskpro", "study")["world"])
    cfg = replace(study, n_train_ids=1, n_val_ids=1, n_test_ids=1, images_per_outfit=1)
    seen = {"back views": 0, "bags": 0, "shots": 0}
    for seed in range(200):
        w = make_world(cfg, seed)
        sets = [w.train, w.val_query, w.val_gallery, w.celeb_query, w.celeb_gallery, w.celeb_full_gallery,
                w.prcc_gallery, w.prcc_same_query, w.prcc_cross_query]
        for s in sets:
            assert len(s) > 0 and s.images.shape[1:] == (3, study.height, study.width), seed
            head = torch.isin(s.parsing, torch.tensor([1, 2])).flatten(1).any(1)
            assert head.all() and (s.parsing > 0).flatten(1).float().mean(1).min() > 0.1, f"seed {seed}: no head"
            assert torch.equal(s.lr_face.flatten(1).any(1), s.has_face), f"seed {seed}: face crop where no face"
            if s is not w.celeb_gallery:  # counted in the full gallery: it holds the light one's shots and more
                seen["back views"] += int((~s.has_face).sum())
                seen["bags"] += int((s.parsing == 7).flatten(1).any(1).sum())
                seen["shots"] += len(s)
        assert not set(w.celeb_query.clothes.tolist()) & set(w.celeb_gallery.clothes.tolist()), seed
        assert not set(w.prcc_cross_query.clothes.tolist()) & set(w.prcc_gallery.clothes.tolist()), seed
    assert seen["back views"] > 100 and seen["bags"] > 100, seen
