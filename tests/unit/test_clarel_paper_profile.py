"""CLAREL's paper profile on a real-layout xlsa17 CUB folder, end to end through the runner's executor.

The tree: the real xlsa17 ``att_splits.mat`` and Reed ``sent_splits.mat`` from ../shared/datasets/cub (the proposed
split: 7,057 trainval / 1,764 test_seen / 2,967 test_unseen of 11,788 images, train/val locs from Reed's file), a
generated ``res101.mat`` over the real xlsa17 image order (``derived/xlsa17_CUB_image_order.tsv``: real image paths
and labels; generated 16-d features, the real file is 2,048-d and over GitHub's size limit) and generated Reed-layout
``text_c10/<class>/<image>.txt`` sentences built from each class's real top CUB attributes. The paper profile trains
from features (no backbone), so what it loads is the word-vector file: the test saves one (GloVe text) whose vectors
carry a marker in their first component and that leaves a tenth of the vocabulary out; the marker must reach every
trained model's frozen word table, and the coverage figure must be reported. params/clarel/paper.yaml is used as
shipped except: data_root, train.word_vectors, widths, 1 step, one seed, and the lambda/kappa grids cut to the main
setting (their points are the models notebook 04 trains anyway).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio
import torch
from conftest import unperturbed_only

from cmlib.protocol.config import load_yaml
from cmlib.runner import Job, execute

ROOT = Path(__file__).resolve().parents[2]
CUB = ROOT.parent / "shared" / "datasets" / "cub"
MARKER = 0.0123
DIM = 6
FEATS = 16
PROTOCOL = {"trainval": 7057, "test_seen": 1764, "test_unseen": 2967, "train": 5875, "val": 2946}


def _need_shared() -> None:
    if not (CUB / "xlsa17" / "att_splits.mat").is_file():
        pytest.skip(f"real xlsa17 CUB files not found at {CUB} (../shared/datasets beside the project)")


def _attribute_phrases() -> list[str]:
    """CUB's 312 attribute names as phrases: ``has_bill_shape::dagger`` -> ``dagger bill shape``."""
    out = []
    for line in (CUB / "CUB_200_2011_meta" / "attributes.txt").read_text().splitlines():
        part, value = line.split(" ", 1)[1].removeprefix("has_").split("::")
        out.append(f"{value} {part}".replace("_", " "))
    return out


def _write_tree(root: Path) -> list[str]:
    """res101.mat, att_splits.mat, sent_splits.mat and text_c10 under ``root``; returns the corpus's words."""
    rows = [ln.split("\t") for ln in (CUB / "derived" / "xlsa17_CUB_image_order.tsv").read_text().splitlines()[1:]]
    images, labels = [r[1] for r in rows], np.array([int(r[3]) for r in rows])  # labels 1-based, allclasses order
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(200, FEATS))[labels - 1] + rng.normal(scale=0.5, size=(len(rows), FEATS))
    sio.savemat(root / "res101.mat", {
        "features": feats.T.astype(np.float32), "labels": labels[:, None].astype(np.float64),
        "image_files": np.array([[f"/BS/xlsa17/CUB/CUB_200_2011/images/{p}"] for p in images], dtype=object)})
    for name, src in (("att_splits.mat", "xlsa17/att_splits.mat"),
                      ("sent_splits.mat", "reed_sentence_embeddings/sent_splits.mat")):
        (root / name).write_bytes((CUB / src).read_bytes())
    att = sio.loadmat(root / "att_splits.mat")["att"]  # (312, 200), columns in allclasses order
    phrases = _attribute_phrases()
    words: set[str] = set()
    for image, label in zip(images, labels):
        top = np.argsort(-att[:, label - 1])[:6]
        sents = [f"{phrases[a]}." for a in rng.choice(top, size=2)]  # short: tokenising 117,880 costs per word
        path = root / "text_c10" / Path(image).with_suffix(".txt")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes("\r\n".join(sents).encode() + b"\r\n")  # Reed's files: CRLF
        words.update(w for s in sents for w in re.findall(r"[a-z0-9]+", s.lower()))
    return sorted(words)


def _write_vectors(path: Path, words: list[str]) -> None:
    rng = np.random.default_rng(1)
    lines = [" ".join([w, str(MARKER), *(f"{v:.4f}" for v in rng.normal(size=DIM - 1))]) for w in words]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> dict:
    _need_shared()
    d = tmp_path_factory.mktemp("clarel_paper")
    root = d / "CUB"
    root.mkdir()
    words = _write_tree(root)
    missing = words[:: 10]  # a tenth of the vocabulary has no vector: coverage 90%, above the profile's 80%
    covered = [w for w in words if w not in missing]
    _write_vectors(d / "vectors.txt", covered)
    params = load_yaml(ROOT / "params/clarel/paper.yaml")
    params.update({
        "data_root": str(root), "run": {"seeds": [0], "cache_dir": str(d / "cache")}, "alphas": [0.0, 0.1, 0.2], "lambdas": [params["lam"]],
        "kappas": [params["kappa"]],
        "model": {"embed_dim": 8, "cnn_channels": 8, "lstm_hidden": 8},
        "train": {**params["train"], "steps": 1, "word_vectors": str(d / "vectors.txt"), "eval_batch": 4096},
    })
    return {"dir": d, "root": root, "params": params, "words": words, "covered": covered}


@unperturbed_only
def test_paper_profile_runs_every_notebook_from_the_given_word_vectors(tree):
    from cmlib.protocol.config import from_params
    from cmlib.studies import clarel

    cfg = from_params(clarel.Config, tree["params"])
    data = clarel.build_data(cfg)
    assert {k: len(v) for k, v in data.splits.items()} == PROTOCOL, "the xlsa17 proposed split, not a world's"
    assert len(data.labels) == 11788 and len(data.class_names) == 200 and data.inputs.shape == (11788, FEATS)
    share = len(tree["covered"]) / len(tree["words"])
    assert (data.word_coverage["tokens"], data.word_coverage["with_vector"]) == (len(tree["words"]),
                                                                                  len(tree["covered"]))
    assert data.source.startswith("xlsa17 CUB + Reed text_c10") and f"({share:.1%}," in data.source
    for nb in sorted((ROOT / "notebooks/clarel").glob("0*.py")):
        report = tree["dir"] / "reports" / nb.stem
        job = Job("clarel", nb.relative_to(ROOT), "paper", tree["params"], report, report / f"{nb.stem}.ipynb",
                  progress_every=0)
        out = execute(job, ROOT)
        assert out.ok, f"{nb.stem}: {out.error}"
    printed = (tree["dir"] / "reports/01_gzsl/01_gzsl.ipynb").read_text()
    assert f"data: xlsa17 CUB + Reed text_c10; word vectors vectors.txt: {len(tree['covered'])}/" in printed
    assert "world" not in json.loads((tree["dir"] / "reports/01_gzsl/run_info.json").read_text())["params"]["data"]
    blobs = [torch.load(p, map_location="cpu", weights_only=False) for p in (tree["dir"] / "cache").glob("*.pt")]
    models = [b for b in blobs if isinstance(b, dict) and "state_dict" in b]
    assert len(models) == 8, "val + test models of the four settings of Table 3"
    for b in models:  # the frozen table: every covered word's row starts with the marker, no other row does
        table = b["state_dict"]["text.words.weight"]
        assert int((table[:, 0] == torch.tensor(MARKER)).sum()) == len(tree["covered"])
    test_rows = {b["distances"].shape for b in models if b["distances"].shape[1] == 200}
    assert test_rows == {(PROTOCOL["test_seen"] + PROTOCOL["test_unseen"], 200)}, "test: test_seen + test_unseen"


def test_word_coverage_below_the_minimum_fails_in_one_line(tree):
    from cmlib.protocol.config import from_params
    from cmlib.studies import clarel

    half = tree["dir"] / "half.txt"
    _write_vectors(half, tree["words"][::2])
    cfg = from_params(clarel.Config, {**tree["params"], "train": {**tree["params"]["train"], "word_vectors": str(half)}})
    with pytest.raises(ValueError, match=r"train\.word_vectors .*half\.txt: only \d+ of \d+ vocabulary tokens "
                                         r"\(\d+\.\d%\) have a vector, below train\.min_word_coverage=80%") as err:
        clarel.build_data(cfg)
    assert "\n" not in str(err.value)
