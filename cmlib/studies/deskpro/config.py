"""DeSKPro study config, the streams of Table 3 and the rows built from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

from cmlib.data.reid_folders import FOLDER_LAYOUT, LIP_CLOTH_LABELS
from cmlib.data.worlds.deskpro import WorldConfig
from cmlib.protocol.config import ConfigError, check_range, path_field
from cmlib.protocol.pretrain import PretrainConfig
from cmlib.protocol.run import MOVED, RunConfig

__all__ = ["ABLATION_ROWS", "DATASETS", "STREAMS", "Config", "ModelConfig", "RestoreConfig", "StreamSpec"]

DATASETS = ("celeb-light", "celeb", "prcc")  # the real datasets `data` may name (Tables 1-2)


@dataclass
class ModelConfig:
    """Backbone size: ``width`` scales OSNet x1.0 (the paper), ``feat_dim`` is the embedding size (512 in the paper).

    ``pretrained``: a torchreid-format OSNet state dict of this ``width`` (e.g. ImageNet ``osnet_x1_0_imagenet.pth``);
    left None, the study pretrains its stand-in (``Config.pretrain_ids``) and sets this path to the file it wrote.
    """

    width: float = 0.25
    feat_dim: int = 64
    pretrained: str | None = path_field(layout="a torchreid OSNet state dict (.pth) matching `width`")

    def __post_init__(self) -> None:
        check_range("model.width", self.width, lo=0.05, hi=2.0)
        check_range("model.feat_dim", self.feat_dim, lo=4)
        if self.pretrained is not None:  # an OSNet of another width or a ResNet file fails here, naming its keys
            from cmlib.models.osnet import TORCHREID_HEAD, osnet, torchreid_key
            from cmlib.models.weights import WeightsError, check_weights

            try:
                check_weights(lambda: osnet(self.width), self.pretrained, key="model.pretrained",
                              model_name=f"OSNet width {self.width}", head=TORCHREID_HEAD, rename=torchreid_key)
            except WeightsError as err:
                raise ConfigError(str(err)) from None


@dataclass
class RestoreConfig:
    """The learned face restoration standing in for GPEN [21] (``cmlib.studies.deskpro.priors``).

    Attributes:
        ids: people of the pretraining pool whose faces it is trained on (0: no restoration model; then the teacher
            sees the dataset's own ``hr_face``, e.g. real GPEN outputs, or the world's oracle render).
        steps, lr, batch_size: Adam schedule of its L1 training.
        channels: width of the small residual CNN.
    """

    ids: int = 30
    steps: int = 10
    lr: float = 2e-3
    batch_size: int = 64
    channels: int = 32

    def __post_init__(self) -> None:
        check_range("restore.ids", self.ids, lo=0)
        check_range("restore.steps", self.steps, lo=1)
        check_range("restore.channels", self.channels, lo=4)


@dataclass
class Config:
    """DeSKPro study config; the defaults are the smoke profile.

    Paper hyper-parameters: epsilon 0.1, lambda 7, (tau, alpha) = (5, 0.7) on Celeb-reID(-light) and (1, 0.8) on
    PRCC, Adam 6e-4, P x K = 5 x 6.

    Attributes (beyond the paper's):
        pretrain_ids: people of the pretraining pool the OSNet stand-in is pretrained on (0: no pretraining).
        pretrain_images_per_id: images of each pool person, each in an outfit of its own (0: the pool keeps the
            world's few outfits per person; see :func:`cmlib.data.worlds.deskpro.pretraining_pool`).
        pretrain: its budget (:class:`cmlib.protocol.pretrain.PretrainConfig`).
        pretrain_dir: where the pretrained OSNet and restoration files are kept (shared by every replicate).
        face_lr: learning rate of the face streams (teacher, students); None: ``lr`` (the paper has one lr for
            the jointly trained streams; the study chooses each stream kind's on validation, issue 16).
        data: real datasets, ``{name: root}`` with names in :data:`DATASETS` in the layout of
            :mod:`cmlib.data.reid_folders` (empty: the embedded synthetic world gives every protocol).
        on_corrupt: real data: ``fail`` on an unreadable body image / mask / face crop (naming it) or ``skip`` that
            record with a warning naming the files.
        body_identity_levels: notebook 05's levels of ``world.body_identity`` (the face streams trained at each).
        palette_levels: notebook 05's levels of ``world.palette_size`` (G and G+CSA trained at each).
        run: the run section every paper shares (:class:`cmlib.protocol.run.RunConfig`: seeds, workers, cache
            directory (default ``.cache/deskpro``), threads, device, executor). One replicate per ``run.seeds``
            entry: the world, split, initialisation and batch order all follow it. A thread count other than 1
            enters every cache key.
    """

    world: WorldConfig = field(default_factory=WorldConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    pretrain_ids: int = 30
    pretrain_images_per_id: int = 0
    pretrain: PretrainConfig = field(default_factory=lambda: PretrainConfig(steps=10, lr=2e-3, batch_size=32))
    restore: RestoreConfig = field(default_factory=RestoreConfig)
    pretrain_dir: str = ".cache/deskpro/pretrain"
    p: int = 5
    k: int = 6
    lr: float = 6e-4
    face_lr: float | None = None
    weight_decay: float = 5e-4
    warmup_frac: float = 0.1
    epsilon: float = 0.1
    lam: float = 7.0
    tau: float = 5.0
    alpha: float = 0.7
    tau_prcc: float = 1.0
    alpha_prcc: float = 0.8
    margin: float = 0.7
    smoothing: float = 0.1
    random_erasing: float = 0.5
    body_steps: int = 10
    face_steps: int = 10
    eval_every: int = 5
    timing_images: int = 32
    body_identity_levels: list[float] = field(default_factory=lambda: [0.5, 1.0])
    palette_levels: list[int] = field(default_factory=lambda: [5, 10])
    run: RunConfig = field(default_factory=lambda: RunConfig(cache_dir=".cache/deskpro"))

    MOVED_KEYS: ClassVar[dict[str, str]] = MOVED
    data: dict[str, str] = field(default_factory=dict)
    on_corrupt: Literal["fail", "skip"] = "fail"
    cloth_labels: list[int] = field(default_factory=lambda: list(LIP_CLOTH_LABELS))

    def __post_init__(self) -> None:
        check_range("pretrain_ids", self.pretrain_ids, lo=0)
        check_range("pretrain_images_per_id", self.pretrain_images_per_id, lo=0)
        check_range("p", self.p, lo=2)
        check_range("k", self.k, lo=2)
        check_range("lr", self.lr, lo=0.0)
        if self.face_lr is not None:
            check_range("face_lr", self.face_lr, lo=0.0)
        check_range("epsilon", self.epsilon, lo=0.0, hi=1.0)
        check_range("lam", self.lam, lo=0.0)
        check_range("alpha", self.alpha, lo=0.0, hi=1.0)
        check_range("alpha_prcc", self.alpha_prcc, lo=0.0, hi=1.0)
        check_range("tau", self.tau, lo=1e-6)
        check_range("tau_prcc", self.tau_prcc, lo=1e-6)
        check_range("random_erasing", self.random_erasing, lo=0.0, hi=1.0)
        check_range("body_steps", self.body_steps, lo=1)
        check_range("face_steps", self.face_steps, lo=1)
        check_range("eval_every", self.eval_every, lo=1)
        check_range("timing_images", self.timing_images, lo=1)
        for key, levels, lo, hi in (("body_identity_levels", self.body_identity_levels, 0.0, 1.0),
                                    ("palette_levels", self.palette_levels, 2, 10)):
            if len(set(levels)) < 2:
                raise ConfigError(f"{key}: a trend needs at least 2 distinct levels, got {levels}")
            for level in levels:
                check_range(key, level, lo=lo, hi=hi)
        for name, root in self.data.items():
            if name not in DATASETS:
                raise ConfigError(f"data: unknown dataset {name!r}; expected some of {list(DATASETS)}")
            if not Path(root).is_dir():
                raise ConfigError(f"data.{name}: {root} is not a directory (expected layout {FOLDER_LAYOUT})")


@dataclass(frozen=True)
class StreamSpec:
    """One trainable stream: ``kind`` body | teacher | student; CSA / L_att for body, L_fkp for the student."""

    kind: Literal["body", "teacher", "student"]
    csa: bool = False
    att: bool = False
    kd: bool = False


STREAMS: dict[str, StreamSpec] = {
    "G": StreamSpec("body"),
    "G+CSA": StreamSpec("body", csa=True),
    "G+CSA+Latt": StreamSpec("body", csa=True, att=True),
    "teacher": StreamSpec("teacher"),
    "student-": StreamSpec("student"),
    "student+": StreamSpec("student", kd=True),
}

# Table 3: row name -> streams concatenated at inference.
ABLATION_ROWS: list[tuple[str, list[str]]] = [
    ("1 (baseline)", ["G"]),
    ("2", ["G+CSA"]),
    ("3", ["G+CSA+Latt"]),
    ("4", ["student-"]),
    ("5", ["student+"]),
    ("6", ["teacher"]),
    ("7", ["G+CSA+Latt", "student-"]),
    ("DeSKPro", ["G+CSA+Latt", "student+"]),
    ("DeSKPro*", ["G+CSA+Latt", "teacher"]),
]
