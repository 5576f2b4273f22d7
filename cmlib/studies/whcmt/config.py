"""WHCMT study configuration: the one :class:`Config` every notebook and params profile resolves against."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

from cmlib.data.nuswide import LAYOUT as NUSWIDE_LAYOUT
from cmlib.data.worlds import whcmt as world_lib
from cmlib.models.hashing_baselines import UNSUPERVISED, ViTConfig
from cmlib.models.whcmt import CrossVitConfig
from cmlib.protocol.config import ConfigError, check_range, path_field
from cmlib.protocol.pretrain import PretrainConfig
from cmlib.protocol.run import MOVED, RunConfig

METHODS = ("WDHT-CNN", "WDHT-ViT", "WDHT-CrossViT", "WHCMT")
# Rows outside the paper's Table 4: WHCMT-meanvec = WHCMT with WDHT's mean tag vector as the eqs. (2)-(3) target;
# WHCMT-paper = WHCMT trained as the paper states (every image with its own tags, tag_dropout 0), beside our default
# WHCMT, whose tag_dropout (config) is our addition against the train/retrieval tag mismatch; WHCMT-notags = WHCMT
# whose cross-modal branch never sees a tag in training (tag_dropout 1: the all-ones retrieval token is its only tag
# input, the tags stay the eqs. (2)-(3) target), the "without the cross-modal branch" side of issue 30's diagnostic.
DIAGNOSTIC_METHODS = ("WHCMT-meanvec", "WHCMT-paper", "WHCMT-notags")


MIRFLICKR_DB = 22581

# NUS-WIDE split sizes (query, train): 2,100 queries (100 per concept x 21), the rest the database, 10,500 training
# images (500 per concept) from the database, as in WSDHQ / DSDH and the DeepHash-pytorch ``nuswide_21`` lists
# (test.txt 2,100 lines, train.txt 10,500 lines; ../shared/datasets/nus-wide/SOURCE.md).
NUSWIDE_SPLIT = (2100, 10500)

TABLE3 = ((1.0, 10.0, 1.0), (1.0, 1.0, 1.0), (1.0, 0.1, 1.0), (1.0, 10.0, 0.1), (1.0, 10.0, 10.0))


_MIRFLICKR_LAYOUT = ("<root>/all_imgs.txt, all_tags.txt, all_labels.txt (or vtmuch/...), optional "
                     "dreamupers/hash_split_for_flickr25k.json + allannots.txt")
_DATA_ROOT_LAYOUT = f"a MIRFLICKR-25K folder ({_MIRFLICKR_LAYOUT}) or, for data: nuswide, a NUS-WIDE folder ({NUSWIDE_LAYOUT})"


@dataclass
class Config:
    """Everything a WHCMT notebook needs (defaults: the smoke profile, seconds on 2 CPU cores).

    Attributes:
        data: ``world`` (embedded default), ``mirflickr_tags`` (real MIRFLICKR tags and labels from ``data_root``,
            images rendered from the real labels), ``mirflickr`` (real images under ``data_root``) or ``nuswide``
            (a NUS-WIDE tree under ``data_root``: TagList1k tags, the 21 most frequent concepts, real images).
        data_root: MIRFLICKR-25K folder (cleaned all_*.txt files or the raw layout; split json optional) or the
            NUS-WIDE folder (``cmlib.data.nuswide.LAYOUT``).
        on_corrupt: ``fail`` or ``skip`` an unreadable image (real images only); skipped files are warned about,
            counted and named in the data summary.
        nuswide_split: (query, train) sizes of the NUS-WIDE split: random queries, the rest the database, training
            images drawn from the database (``NUSWIDE_SPLIT``: 2,100 / 10,500 as WSDHQ and the DeepHash-pytorch
            nuswide_21 lists; drawn uniformly here, not 100 / 500 per concept).
        mirflickr_split: (query, train) sizes of a random MIRFLICKR split, used only when ``data_root`` holds no
            ``hash_split_for_flickr25k.json`` + ``allannots.txt`` (None, the default: a missing split file is an
            error naming the files, since the paper's protocol is that file's 2,000 / rest / 5,000 split; a random
            split sized from the synthetic ``world`` defaults was drawn silently before, issue 29).
        max_database: Keep at most this many database images (real data; every training image is kept), None = all.
        world: Synthetic world sizes and noise (also the image size / split sizes for ``mirflickr_tags``).
        word_vectors: Local word-vector file (word2vec .bin/.txt, GloVe .txt, pickled dict or the NUS-WIDE BiAM
            GloVe pickle with TagList1k.txt beside it); None = train word2vec (gensim) on the training tags.
        w2v_epochs: Epochs of that word2vec.
        w2v_corpus_sentences: World only: sentences of the world's text corpus (``text_corpus``) added to the
            training tags for word2vec, standing in for the paper's Wikipedia-pretrained word2vec; 0 = tags only.
        center_word_vectors: Subtract the vocabulary mean from the tag vectors (our choice: word2vec trained on a
            small corpus puts every vector along one common direction, all cosines ~0.99, which would make the
            targets of eq. (2) constant; pretrained vectors have mean cosine near 0).
        tag_min_count: Training-tag frequency needed to enter the vocabulary.
        max_tags: Tags per image kept (in the given order).
        visual: CrossViT backbone (WHCMT and WDHT-CrossViT).
        vit: ViT backbone (WDHT-ViT).
        cnn: ``small`` (AlexNet-shaped CNN for small images) or ``alexnet`` (torchvision, ``cnn_weights`` file).
        cnn_weights: Local weights of the CNN: a torchvision AlexNet state_dict for ``cnn: alexnet``, a state_dict of
            ``SmallAlexNet`` for ``cnn: small`` (e.g. the file the pretraining stage writes).
        pretrain_images: Size of the ImageNet stand-in (``cmlib.data.worlds.whcmt.pretraining_set``, single-object
            world images from a stream no retrieval image uses, 12 shape x colour classes); every backbone of the
            study whose weights file is unset is first trained on it as a classifier (``cmlib.protocol.pretrain``, the same
            ``pretrain`` settings for each: a matched budget, or with ``pretrain.target_accuracy`` a matched held-out
            accuracy, issue 30 item 2) and then loaded through its weights key (``visual.weights_file``,
            ``vit.weights_file``, ``cnn_weights``), the path real ImageNet weights take. 0 = no pretraining.
        pretrain: Steps (the cap under a target accuracy), optimiser, held-out fraction and target accuracy of that
            pretraining.
        pretrain_dir: Where the pretrained weights files are cached (once per config, shared by every replicate).
        diagnostics: Diagnostic rows of notebook 03 (some of ``DIAGNOSTIC_METHODS``) trained beside Table 4's four.
        collapse_share: A model counts as collapsed when one code holds at least this share of the database.
        hidden: Width of FC1 / FC2.
        tag_depth: Tag transformer blocks.
        tag_heads: Tag transformer heads (divide the word-vector size).
        cm_heads: Heads of the cross-modal MCA (divide the CrossViT L width).
        bits: Code lengths of Table 2.
        lambdas: (lambda1, lambda2, lambda3) of the main runs.
        margin: Hinge margin of eq. (3) (WDHT's 0.2).
        loss_reduction: ``mean`` (WDHT's official code averages each loss over the batch) or ``sum`` (the paper's
            formulas read literally); see ``cmlib.losses.hashing``.
        lr: SGD learning rate. momentum: SGD momentum. batch_size: Mini-batch size B.
        steps: Optimizer steps per run.
        method_steps: Per-method training length overriding ``steps`` (``{method: steps}``, methods of ``METHODS`` /
            ``DIAGNOSTIC_METHODS``): the study's rule "converge first" for a model whose validation curve still rises
            at ``steps`` while the others have stopped (issue 30 item 4). Each length is chosen on probe seeds by the
            rule in params/whcmt/tuning.yaml; it applies to every run of that method (every bit length, notebook and dose
            level) and enters the method's cache key as its ``steps`` (:func:`cmlib.studies.whcmt.runs.method_config`).
        curve_points: Every trained run measures validation MAP@K (image-only codes, validation queries against the
            validation database, :func:`cmlib.studies.whcmt.runs.validation_map`) every ``max(1, steps //
            curve_points)`` steps and at the end: the ``curve`` of its row, which the convergence gate of its
            ``ModelCheck`` reads (issue 30 item 4). 0, or no validation split (``world.n_val_query`` /
            ``n_val_database`` 0, as in the smoke profile and the paper profile): no curve, and the claims table
            says convergence was not measured.
        grad_clip: Max global gradient norm of the main runs (None = off, the paper; from random init a clip at 10
            kept the transformer backbones at chance, with pretrained backbones it is the validated choice of the
            study profile; see the package docstring).
        sum_grad_clip: Max global gradient norm of notebook 02's run with the literal sums (which diverge unclipped).
        tag_target_grad: Let L1 / L2 back-propagate into the tag class token (False = stop-gradient, our choice: with
            the joint gradient the hinge squeezes every t_cls together and the codes collapse; see
            ``cmlib.losses.hashing``).
        tag_dropout: Fraction of training images per batch whose *input* tags (the cross-modal attention's tag tokens)
            are replaced by the all-ones retrieval token, while their real tags stay the target of eqs. (2)-(3)
            (WHCMT only; 0 = the paper). Our choice against the train/retrieval mismatch: with real tags in the input
            h and r can be read off the tags that also define the targets (see ``cmlib.models.whcmt``).
        unit_variance_init: Rescale the hash head (and a from-scratch CNN) so activations have unit variance on the
            first training batch (LSUV; ``cmlib.models.whcmt.unit_variance_init``); without a pretrained backbone the
            codes of all images start equal and eq. (2)'s gradient vanishes.
        unsupervised: Unsupervised baselines of Table 2 (LSH, ITQ, SH).
        unsup_pool: Images are average-pooled to this side before flattening into unsupervised features.
        unsup_features: Features of the unsupervised baselines (``cmlib.studies.whcmt.data.unsupervised_features``):
            ``pretrained`` (the study, real-tag and paper profiles: fc7 of the WDHT CNN loaded from ``cnn_weights``,
            the pretraining stage's file, so the baselines hash the pretrained features a deep method starts from,
            as in the paper's protocol (WSDHQ: AlexNet fc7 for the shallow methods); issue 30 item 2), ``pixels``
            (average-pooled raw pixels, the smoke default: no pretraining needed) or ``backbone`` (pooled features
            of the timm model ``unsup_backbone`` loaded from ``unsup_backbone_weights``; never downloaded).
        unsup_backbone: timm model name for ``unsup_features: backbone`` (e.g. ``resnet50``).
        unsup_backbone_weights: Local state_dict of ``unsup_backbone`` (.pth/.pt, ``torch.save``; a classifier head
            in it is ignored); required by ``unsup_features: backbone``.
        topk: MAP depth K; None = 5000 x database size / 22,581.
        n_attention_images: Images shown in notebook 04.
        drop_threshold: Table 3: a MAP drop counts as "sharp" above this (the bound of a directional claim).
        little_threshold: Table 3: the equivalence margin (MAP) of the "changes little" claims: a change counts as
            little when its 95% interval lies within +- this. 0.02: just under the smallest gain the paper calls
            significant (Table 4: cross-modal attention, 0.755 vs 0.733 = +0.022). Fixed before the run.
        dose_noise_tags / dose_distractors: notebook 06's levels of tag informativeness (world data only): at level
            i the world's ``mean_noise_tags`` = ``dose_noise_tags[i]`` and ``n_distractors`` =
            ``dose_distractors[i]`` (:mod:`cmlib.studies.whcmt.dose`); the same length, >= 2 levels.
        dose_replicates: notebook 06 runs on the first ``dose_replicates`` of ``run.seeds`` (0: all of them).
        run: the run section every paper shares (:class:`cmlib.protocol.run.RunConfig`: seeds, workers, cache
            directory, threads, device, executor). One replicate per ``run.seeds`` entry: the world (``world.seed``
            + seed: images, tags, split, word2vec), the initialisation and the batch order all change with it;
            ``run.threads`` holds in :func:`prepare_data` and every training (results depend on the thread count
            through float summation order, so the golden notebooks fix it).
    """

    data: Literal["world", "mirflickr_tags", "mirflickr", "nuswide"] = "world"
    data_root: Path | None = path_field(layout=_DATA_ROOT_LAYOUT)
    on_corrupt: Literal["fail", "skip"] = "fail"
    nuswide_split: list[int] = field(default_factory=lambda: list(NUSWIDE_SPLIT))
    mirflickr_split: list[int] | None = None
    max_database: int | None = None
    world: world_lib.WorldConfig = field(default_factory=world_lib.WorldConfig)
    word_vectors: Path | None = path_field(layout="a word2vec/GloVe file or the NUS-WIDE GloVe pickle")
    w2v_epochs: int = 5
    w2v_corpus_sentences: int = 5000
    center_word_vectors: bool = True
    tag_min_count: int = 1
    max_tags: int = 10
    visual: CrossVitConfig = field(default_factory=CrossVitConfig)
    vit: ViTConfig = field(default_factory=ViTConfig)
    cnn: Literal["small", "alexnet"] = "small"
    cnn_weights: Path | None = path_field(layout="a torchvision alexnet / SmallAlexNet state_dict (.pth)")
    pretrain_images: int = 256
    pretrain: PretrainConfig = field(default_factory=lambda: PretrainConfig(steps=20, batch_size=32))
    pretrain_dir: Path = path_field(default=Path(".cache/whcmt/pretrain"), must_exist=False)
    diagnostics: list[str] = field(default_factory=lambda: list(DIAGNOSTIC_METHODS))
    collapse_share: float = 0.9
    hidden: int = 256
    tag_depth: int = 1
    tag_heads: int = 6
    cm_heads: int = 3
    bits: list[int] = field(default_factory=lambda: [8, 16])
    lambdas: list[float] = field(default_factory=lambda: [1.0, 10.0, 1.0])
    margin: float = 0.2
    loss_reduction: Literal["mean", "sum"] = "mean"
    lr: float = 0.001
    momentum: float = 0.9
    batch_size: int = 50
    steps: int = 20
    method_steps: dict[str, int] = field(default_factory=dict)
    curve_points: int = 5
    grad_clip: float | None = None
    sum_grad_clip: float = 10.0
    tag_target_grad: bool = False
    tag_dropout: float = 0.0
    unit_variance_init: bool = True
    unsupervised: list[str] = field(default_factory=lambda: ["LSH", "ITQ", "SH"])
    unsup_pool: int = 8
    unsup_features: Literal["pixels", "pretrained", "backbone"] = "pixels"
    unsup_backbone: str = "resnet50"
    unsup_backbone_weights: Path | None = path_field(layout="a local state_dict (.pth) of the timm unsup_backbone")
    topk: int | None = None
    n_attention_images: int = 3
    drop_threshold: float = 0.05
    little_threshold: float = 0.02
    dose_noise_tags: list[float] = field(default_factory=lambda: [0.0, 2.0])
    dose_distractors: list[int] = field(default_factory=lambda: [0, 0])
    dose_replicates: int = 0

    run: RunConfig = field(default_factory=RunConfig)

    MOVED_KEYS: ClassVar[dict[str, str]] = MOVED

    def __post_init__(self) -> None:
        check_range("steps", self.steps, lo=1)
        check_range("curve_points", self.curve_points, lo=0)
        check_range("batch_size", self.batch_size, lo=2)
        check_range("lr", self.lr, lo=0.0)
        check_range("margin", self.margin, lo=0.0)
        check_range("tag_dropout", self.tag_dropout, lo=0.0, hi=1.0)
        check_range("pretrain_images", self.pretrain_images, lo=0)
        check_range("collapse_share", self.collapse_share, lo=0.0, hi=1.0)
        check_range("dose_replicates", self.dose_replicates, lo=0)
        if len(self.dose_noise_tags) < 2 or len(self.dose_noise_tags) != len(self.dose_distractors):
            raise ConfigError(f"dose_noise_tags / dose_distractors: need >= 2 levels and the same length, got "
                              f"{self.dose_noise_tags} and {self.dose_distractors}")
        for key, values in (("dose_noise_tags", self.dose_noise_tags), ("dose_distractors", self.dose_distractors)):
            for i, v in enumerate(values):
                check_range(f"{key}[{i}]", v, lo=0)
        for b in self.bits:
            check_range("bits", b, lo=1, hi=64)
        for name, n in self.method_steps.items():
            if name not in METHODS + DIAGNOSTIC_METHODS:
                raise ConfigError(f"method_steps: unknown method {name!r}; expected some of "
                                  f"{list(METHODS + DIAGNOSTIC_METHODS)}")
            check_range(f"method_steps.{name}", n, lo=1)
        for name in self.diagnostics:
            if name not in DIAGNOSTIC_METHODS:
                raise ConfigError(f"diagnostics: unknown row {name!r}; expected some of {list(DIAGNOSTIC_METHODS)}")
        for name in self.unsupervised:
            if name not in UNSUPERVISED:
                raise ConfigError(f"unsupervised: unknown method {name!r}; expected some of {sorted(UNSUPERVISED)}")
        if self.data != "world" and self.data_root is None:
            what = "a NUS-WIDE folder" if self.data == "nuswide" else "a MIRFLICKR-25K folder"
            raise ConfigError(f"data_root: data={self.data!r} needs data_root ({what})")
        if len(self.nuswide_split) != 2 or min(self.nuswide_split) < 1:
            raise ConfigError(f"nuswide_split: expected [n_query, n_train], both >= 1, got {self.nuswide_split}")
        if self.unsup_features == "pretrained" and self.cnn_weights is None and self.pretrain_images == 0:
            raise ConfigError("unsup_features: 'pretrained' hashes the pretrained CNN's features; set cnn_weights or "
                              "pretrain_images > 0 (the pretraining stage), or unsup_features: pixels")
        if self.unsup_features == "backbone" and self.unsup_backbone_weights is None:
            raise ConfigError(f"unsup_backbone_weights: unsup_features='backbone' needs a local state_dict of "
                              f"{self.unsup_backbone!r} (nothing is downloaded)")
        if self.mirflickr_split is not None and (len(self.mirflickr_split) != 2 or min(self.mirflickr_split) < 1):
            raise ConfigError(f"mirflickr_split: expected [n_query, n_train], both >= 1, got {self.mirflickr_split}")
        for key, size in (("visual.img_size", self.visual.img_size), ("vit.img_size", self.vit.img_size)):
            if size != self.world.image_size:
                raise ConfigError(f"{key}={size} must equal world.image_size={self.world.image_size} (the images "
                                  f"are loaded at world.image_size; a named timm variant is built at img_size and a "
                                  f"checkpoint's position embedding resampled to it)")
        self._check_backbones()
        if len(self.lambdas) != 3:
            raise ConfigError(f"lambdas: expected 3 weights (lambda1, lambda2, lambda3), got {self.lambdas}")

    def _check_backbones(self) -> None:
        """Config-time architecture checks: ``cm_heads`` divides the CrossViT L width, and every weights file
        (``visual.weights_file``, ``vit.weights_file``, ``cnn_weights``, ``unsup_backbone_weights``) fits its model (:mod:`cmlib.models.weights`, meta device: no memory).

        Raises:
            ConfigError: naming the key, the value and what was expected.
        """
        from cmlib.models.hashing_baselines import SmallAlexNet, check_vit_weights
        from cmlib.models.weights import WeightsError, check_weights, timm_model, torchvision_model
        from cmlib.models.whcmt import check_crossvit_weights, crossvit_l_width

        try:
            width = crossvit_l_width(self.visual)
        except RuntimeError as err:
            raise ConfigError(f"visual.variant: {self.visual.variant!r} is not a timm CrossViT ({err})") from None
        if width % self.cm_heads:
            divisors = [h for h in range(1, 17) if width % h == 0]
            raise ConfigError(f"cm_heads={self.cm_heads} must divide the CrossViT L-branch width {width} of "
                              f"visual.variant={self.visual.variant!r} (e.g. one of {divisors})")
        try:
            check_crossvit_weights(self.visual)
            check_vit_weights(self.vit)
            if self.cnn == "alexnet" and self.cnn_weights is not None:
                torchvision_model("alexnet", self.cnn_weights, key="cnn_weights", check_only=True)
            elif self.cnn_weights is not None:
                check_weights(lambda: SmallAlexNet(self.world.image_size), self.cnn_weights, key="cnn_weights",
                              model_name=f"SmallAlexNet({self.world.image_size})")
            if self.unsup_features == "backbone" and self.unsup_backbone_weights is not None:
                timm_model(self.unsup_backbone, self.unsup_backbone_weights, key="unsup_backbone_weights",
                           check_only=True)
        except (WeightsError, ValueError) as err:
            raise ConfigError(str(err)) from None
