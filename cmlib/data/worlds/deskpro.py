"""A synthetic cloth-changing re-ID world for DeSKPro, deterministic by seed.

People are rendered from identity traits that survive a change of clothes (body shape, height, skin tone, hair
colour and length, and a face pattern legible only at high resolution) wearing one of 2-5 outfits (top and bottom
colours and textures, sleeve and trouser length, shoes, an optional bag), seen by cameras that change the
background, illumination and pose. Outfits are drawn from a small palette, so different people often dress alike:
clothing is a strong shortcut inside one outfit and misleads once clothes change.

Each image comes with per-pixel parsing labels (:data:`PARSING_LABELS`), the low-resolution head crop cut from the
body image (at the ground-truth head box: the world's stand-in for the face detector) and a clean high-resolution
render of the same face (``hr_face``), i.e. the parallel inputs of :mod:`cmlib.data.reid_folders`. The clean render
is an *oracle*: the DeSKPro study uses it only as the training target of its restoration model on a pool of people
disjoint from the study's (:func:`pretraining_pool`), and feeds its teacher ``restore(lr_face)`` instead
(``cmlib.studies.deskpro.priors``). Some images show the back of the head (no face detected).

Protocols (test identities are disjoint from training and validation identities):

- ``celeb_light`` (Celeb-reID-light): every image is its own camera; for each identity one outfit forms the query,
  the others the gallery, so query and gallery never share clothes.
- ``celeb`` (Celeb-reID): the Celeb-reID-light query against the Celeb-light gallery plus one more image of the
  query outfit per identity (``celeb_full_gallery``), so that over 70% of each identity's gallery images show other
  clothes (Sec. 3: "over 70% of samples show different clothes"; here at least 75%); evaluated in the standard
  mode (nothing but the query's own camera is removed).
- ``prcc`` (PRCC): cameras A, B, C; A and B show the same outfit, C another. Gallery A, same-clothes query B,
  cross-clothes query C.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from cmlib.data.reid_folders import ReIDSet
from cmlib.protocol.config import check_range

__all__ = ["CLOTH_LABELS", "PARSING_LABELS", "DeskproWorld", "WorldConfig", "make_world", "pretraining_pool",
           "stand_in_world"]

PARSING_LABELS = ("background", "hair", "face", "skin", "top", "bottom", "shoes", "accessory")
CLOTH_LABELS = (4, 5, 6, 7)  # the set C of eq. (3) in this world: top, bottom, shoes, accessory

_PALETTE = np.array(
    [[200, 40, 40], [40, 60, 180], [40, 150, 60], [230, 200, 50], [30, 30, 30], [230, 230, 230],
     [120, 60, 150], [240, 130, 40], [120, 120, 120], [90, 60, 30]], np.float32)
_HAIR = np.array([[25, 20, 15], [90, 55, 25], [200, 170, 90], [150, 50, 20], [170, 170, 170]], np.float32)


@dataclass
class WorldConfig:
    """Size and difficulty of the world.

    Attributes:
        n_train_ids, n_val_ids, n_test_ids: identities per split (disjoint).
        height, width: body image size (study: 128x64 since issue 31, a 16x8 CSA grid; 64x32 before, an 8x4 grid;
            params/deskpro/study.yaml).
        face_size: side of the face inputs (low-res crop upsampled, and the high-res render; study 48 since issue 31,
            a 3x3 map at OSNet's last stage, stride 16).
        min_outfits, max_outfits: outfits per identity.
        images_per_outfit: images of each outfit in training / celeb_light splits.
        no_face_prob: probability that an image shows no face (back view).
        noise: pixel noise standard deviation (0-255 scale).
        camera_gain: half-range of a camera's per-channel colour gain (white balance), drawn from
            U(1 - camera_gain, 1 + camera_gain) per channel.
        shot_gain: half-range of an image's overall brightness factor, U(1 - shot_gain, 1 + shot_gain).
        body_identity: how much the body tells people apart (issue 31): every person's skin tone, hair colour,
            shoulder width and height are drawn as before and then pulled towards the population's centre, keeping
            ``body_identity`` of their deviation from it, so the between-person standard deviation of these traits
            scales by ``body_identity`` (variance by its square); the share of long-haired people is
            ``0.4 * body_identity``. 1.0 is the world of every earlier study (the same draws, the same pixels); 0.0
            makes every body alike, leaving the face (eye spacing and its 4x4 code) as the only identity cue.
        palette_size: outfit colours are drawn from the first ``palette_size`` of the 10 palette colours (10: every
            earlier study); fewer colours make different people dress alike more often (clothing confusability,
            :func:`cmlib.studies.deskpro.premise.shared_pattern_share`).
    """

    n_train_ids: int = 30
    n_val_ids: int = 10
    n_test_ids: int = 20
    height: int = 64
    width: int = 32
    face_size: int = 24
    min_outfits: int = 2
    max_outfits: int = 4
    images_per_outfit: int = 3
    no_face_prob: float = 0.1
    noise: float = 8.0
    camera_gain: float = 0.15
    shot_gain: float = 0.1
    body_identity: float = 1.0
    palette_size: int = 10

    def __post_init__(self) -> None:
        check_range("world.body_identity", self.body_identity, lo=0.0, hi=1.0)
        check_range("world.palette_size", self.palette_size, lo=2, hi=len(_PALETTE))


#: population centres of the body traits :attr:`WorldConfig.body_identity` shrinks towards (the means of their draws)
_SHOULDER_MID, _HEIGHT_MID, _SKIN_MID = 0.54, 0.93, 0.5
_HAIR_MID = _HAIR.mean(0)


def _identity(rng: np.random.Generator, body_identity: float = 1.0) -> dict:
    """One person's traits; the body traits keep ``body_identity`` of their deviation from the population centre
    (the same draws at every level, so 1.0 reproduces the unscaled world exactly)."""
    b = body_identity
    shrink = lambda x, mid: mid + b * (x - mid) if b != 1.0 else x
    return {
        "shoulder": shrink(rng.uniform(0.42, 0.66), _SHOULDER_MID),
        "height": shrink(rng.uniform(0.86, 1.0), _HEIGHT_MID),
        "skin_t": shrink(rng.uniform(0.0, 1.0), _SKIN_MID),
        "hair": shrink(_HAIR[rng.integers(len(_HAIR))] + rng.normal(0, 12, 3), _HAIR_MID),
        "long_hair": bool(rng.random() < 0.4 * b),
        "face_code": rng.integers(0, 2, size=(4, 4)).astype(np.float32),
        "eye": rng.uniform(0.3, 0.7),
    }


def _skin_rgb(t: float) -> np.ndarray:
    light, dark = np.array([240, 200, 170], np.float32), np.array([95, 60, 40], np.float32)
    return light * (1 - t) + dark * t


def _outfit(rng: np.random.Generator, palette_size: int = len(_PALETTE)) -> dict:
    """One outfit; ``pattern`` is (top colour, bottom colour) as palette indices, the colours of the two largest
    garments (what :func:`cmlib.studies.deskpro.premise.shared_pattern_share` compares)."""
    idx = {}

    def pick(name: str | None = None) -> np.ndarray:
        i = int(rng.integers(palette_size))
        if name is not None:
            idx[name] = i
        return _PALETTE[i]

    out = {
        "top": pick("top"), "top2": pick(), "top_tex": int(rng.integers(4)),
        "bottom": pick("bottom"), "bottom2": pick(), "bottom_tex": int(rng.integers(3)),
        "long_sleeve": bool(rng.random() < 0.5), "shorts": bool(rng.random() < 0.3),
        "shoes": pick() * 0.6, "bag": pick() if rng.random() < 0.35 else None,
    }
    return out | {"pattern": (idx["top"], idx["bottom"])}


def _texture(kind: int, c1: np.ndarray, c2: np.ndarray, yy: np.ndarray, xx: np.ndarray, period: float) -> np.ndarray:
    """(h, w, 3) colours of a garment: plain, horizontal stripes, vertical stripes, checks."""
    stripes_h = (np.floor(yy / period) % 2).astype(bool)
    stripes_v = (np.floor(xx / period) % 2).astype(bool)
    sel = [np.zeros_like(stripes_h), stripes_h, stripes_v, stripes_h ^ stripes_v][kind]
    return np.where(sel[..., None], c2, c1)


def render_face(ident: dict, size: int, rng: np.random.Generator, back: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The head at ``size`` x ``size``: hair, skin and the identity's face pattern (eyes + a 4x4 code).

    Returns:
        (image float32 (size, size, 3), labels uint8 (size, size)) with labels in {0 bg, 1 hair, 2 face}.
    """
    s = size
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) + 0.5
    cy, cx = s * 0.52 + rng.normal(0, s * 0.02), s * 0.5 + rng.normal(0, s * 0.02)
    head = ((yy - cy) / (s * 0.42)) ** 2 + ((xx - cx) / (s * 0.34)) ** 2 <= 1
    hair = head & ((yy < cy - s * 0.16) | back)
    if ident["long_hair"]:
        hair |= (np.abs(xx - cx) > s * 0.26) & (np.abs(xx - cx) < s * 0.42) & (yy > cy - s * 0.2)
    labels = np.where(hair, 1, np.where(head, 2, 0)).astype(np.uint8)
    img = np.zeros((s, s, 3), np.float32)
    img[labels == 2] = _skin_rgb(ident["skin_t"])
    img[labels == 1] = np.clip(ident["hair"], 0, 255)
    if not back:
        # eyes: two dark dots whose spacing is an identity trait
        for side in (-1, 1):
            ex = cx + side * s * 0.12 * (0.7 + ident["eye"])
            eye = ((yy - (cy - s * 0.06)) ** 2 + (xx - ex) ** 2) <= (s * 0.045) ** 2
            img[eye & (labels == 2)] = (20, 20, 40)
        # a 4x4 code (freckles / marks) on the lower face: legible at high resolution only
        gy = ((yy - (cy + s * 0.02)) / (s * 0.07)).astype(int)
        gx = ((xx - (cx - s * 0.14)) / (s * 0.07)).astype(int)
        inside = (gy >= 0) & (gy < 4) & (gx >= 0) & (gx < 4) & (labels == 2)
        code = ident["face_code"][np.clip(gy, 0, 3), np.clip(gx, 0, 3)]
        img[inside & (code > 0)] *= 0.55
    return img, labels


def _resize(img: np.ndarray, h: int, w: int, mode: str) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))
    t = t.permute(2, 0, 1)[None] if t.ndim == 3 else t[None, None]
    kw = {"antialias": True, "align_corners": False} if mode == "bilinear" else {}
    out = F.interpolate(t, size=(h, w), mode=mode, **kw)[0]
    return out.permute(1, 2, 0).numpy() if img.ndim == 3 else out[0].numpy()


def render_person(ident: dict, outfit: dict, cam: dict, h: int, w: int, rng: np.random.Generator, back: bool,
                  shot_gain: float = 0.1):
    """One body image.

    Returns:
        (image uint8 (h, w, 3), parsing uint8 (h, w), head box (y0, x0, y1, x1)).
    """
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
    lab = np.zeros((h, w), np.uint8)
    col = np.zeros((h, w, 3), np.float32)
    cx = w * (0.5 + rng.normal(0, 0.04))
    scale = ident["height"] * (1 + rng.normal(0, 0.03))
    top = h * (0.03 + rng.uniform(0, 0.04)) + h * (1 - scale) * 0.5
    hs = h * 0.16 * scale  # head box side
    hy0, hx0 = top, cx - hs * 0.5
    torso0, torso1 = top + hs * 0.95, top + hs + h * 0.30 * scale
    sw = w * ident["shoulder"] * 0.5
    skin = _skin_rgb(ident["skin_t"])

    def paint(mask: np.ndarray, label: int, colour) -> None:
        lab[mask] = label
        col[mask] = colour[mask] if isinstance(colour, np.ndarray) and colour.ndim == 3 else colour

    period = max(h / 24.0, 1.5)
    feet = min(top + h * 0.93 * scale, h - 1)
    hip = torso1
    leg_w = sw * 0.45
    legs = (yy >= hip) & (yy < feet - h * 0.04) & (np.abs(np.abs(xx - cx) - sw * 0.5) < leg_w)
    shorts_end = hip + (feet - hip) * (0.4 if outfit["shorts"] else 1.0)
    bottom_tex = _texture(outfit["bottom_tex"], outfit["bottom"], outfit["bottom2"], yy, xx, period)
    paint(legs & (yy >= shorts_end), 3, skin)
    paint(legs & (yy < shorts_end), 5, bottom_tex)
    shoes = (yy >= feet - h * 0.04) & (yy < feet) & (np.abs(np.abs(xx - cx) - sw * 0.5) < leg_w * 1.1)
    paint(shoes, 6, outfit["shoes"])
    arms = (yy >= torso0 + h * 0.01) & (yy < torso1 + h * 0.04) & (np.abs(xx - cx) >= sw) & (np.abs(xx - cx) < sw + w * 0.09)
    sleeve_end = torso1 + h * 0.04 if outfit["long_sleeve"] else torso0 + h * 0.08
    top_tex = _texture(outfit["top_tex"], outfit["top"], outfit["top2"], yy, xx, period)
    paint(arms & (yy >= sleeve_end), 3, skin)
    paint(arms & (yy < sleeve_end), 4, top_tex)
    torso = (yy >= torso0) & (yy < torso1) & (np.abs(xx - cx) < sw)
    paint(torso, 4, top_tex)
    if outfit["bag"] is not None:
        bag = (yy >= torso0 + h * 0.12) & (yy < torso1 + h * 0.02) & (xx - cx > sw * 0.55) & (xx - cx < sw * 1.15)
        paint(bag, 7, outfit["bag"])
    # head: the face render, downsampled into its box
    y0, x0, side = int(round(hy0)), int(round(hx0)), max(int(round(hs)), 2)
    face, flab = render_face(ident, 48, rng, back=back)
    face_s = _resize(face, side, side, "bilinear")
    flab_s = _resize(flab.astype(np.float32), side, side, "nearest").astype(np.uint8)
    ys, xs = slice(max(y0, 0), min(y0 + side, h)), slice(max(x0, 0), min(x0 + side, w))
    sub = flab_s[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
    region = sub > 0
    lab[ys, xs][region] = sub[region]
    col[ys, xs][region] = face_s[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0][region]
    # camera: background, illumination and noise
    bg = cam["bg"] * (0.8 + 0.4 * yy[..., None] / h) + rng.normal(0, 6, (h, w, 3))
    img = np.where(lab[..., None] > 0, col, bg) * cam["gain"] * rng.uniform(1 - shot_gain, 1 + shot_gain)
    img = img + rng.normal(0, cam["noise"], img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), lab, (y0, x0, y0 + side, x0 + side)


def _camera(rng: np.random.Generator, cfg: WorldConfig) -> dict:
    return {"bg": rng.uniform(40, 200, 3), "gain": rng.uniform(1 - cfg.camera_gain, 1 + cfg.camera_gain, 3),
            "noise": cfg.noise}


@dataclass
class DeskproWorld:
    """The rendered splits: ``train``, ``val`` (celeb_light protocol) and the test protocols (``celeb_full_gallery``:
    the Celeb-reID gallery, the Celeb-light gallery plus one same-outfit image per identity); ``patterns``: each
    clothes id's (top colour, bottom colour) palette indices (None for real data, which records no outfits).

    The study also fills this container from real data, where the splits of the other protocol are None.
    """

    train: ReIDSet
    val_query: ReIDSet
    val_gallery: ReIDSet
    celeb_query: ReIDSet
    celeb_gallery: ReIDSet
    prcc_gallery: ReIDSet
    prcc_same_query: ReIDSet
    prcc_cross_query: ReIDSet
    config: WorldConfig
    celeb_full_gallery: ReIDSet | None = None
    patterns: dict[int, tuple[int, int]] | None = None


class _Renderer:
    def __init__(self, cfg: WorldConfig, rng: np.random.Generator) -> None:
        self.cfg, self.rng = cfg, rng
        self.rows: list[tuple] = []

    def shot(self, pid: int, ident: dict, outfit: dict, clothes: int, cam: dict, camid: int) -> None:
        cfg, rng = self.cfg, self.rng
        back = bool(rng.random() < cfg.no_face_prob)
        img, lab, (y0, x0, y1, x1) = render_person(ident, outfit, cam, cfg.height, cfg.width, rng, back, cfg.shot_gain)
        f = cfg.face_size
        if back:
            lr, hr = np.zeros((f, f, 3), np.uint8), np.zeros((f, f, 3), np.uint8)
        else:
            pad = np.pad(img.astype(np.float32), ((y1 - y0,) * 2, (x1 - x0,) * 2, (0, 0)), mode="edge")
            crop = pad[y0 + (y1 - y0) : y1 + (y1 - y0), x0 + (x1 - x0) : x1 + (x1 - x0)]
            lr = np.clip(_resize(crop, f, f, "bilinear"), 0, 255).astype(np.uint8)
            face, _ = render_face(ident, f, rng)
            face = face * cam["gain"] + rng.normal(0, cfg.noise * 0.5, face.shape)  # imperfect restoration
            hr = np.clip(face, 0, 255).astype(np.uint8)
        self.rows.append((img, lab, lr, hr, not back, pid, camid, clothes))

    def take(self) -> ReIDSet:
        rows, self.rows = self.rows, []
        stack = lambda i: np.stack([r[i] for r in rows])
        chw = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).contiguous()
        ints = lambda i: torch.tensor([r[i] for r in rows], dtype=torch.long)
        return ReIDSet(chw(stack(0)), torch.from_numpy(stack(1)), chw(stack(2)), chw(stack(3)),
                       torch.tensor([r[4] for r in rows]), ints(5), ints(6), ints(7))


def _people(cfg: WorldConfig, rng: np.random.Generator, n: int, first_pid: int) -> list[tuple[int, dict, list[dict]]]:
    out = []
    for k in range(n):
        ident = _identity(rng, cfg.body_identity)
        n_outfits = int(rng.integers(cfg.min_outfits, cfg.max_outfits + 1))
        outfits = [_outfit(rng, cfg.palette_size) for _ in range(n_outfits)]
        out.append((first_pid + k, ident, outfits))
    return out


def _celeb_split(cfg: WorldConfig, r: _Renderer, people, query: bool) -> tuple[ReIDSet, ReIDSet] | ReIDSet:
    """Every image its own camera; with ``query`` the first outfit of each person is the query."""
    q_rows, g_rows = [], []
    for pid, ident, outfits in people:
        for o, outfit in enumerate(outfits):
            for _ in range(cfg.images_per_outfit if not (query and o == 0) else 1):
                r.shot(pid, ident, outfit, pid * 10 + o, _camera(r.rng, cfg), len(q_rows) + len(g_rows) + len(r.rows))
            (q_rows if query and o == 0 else g_rows).extend(r.rows)
            r.rows = []
    if not query:
        r.rows = g_rows
        return r.take()
    r.rows = q_rows
    q = r.take()
    r.rows = g_rows
    return q, r.take()


def make_world(cfg: WorldConfig, seed: int = 0) -> DeskproWorld:
    """Render every split from ``seed`` (same config and seed -> identical tensors).

    Raises:
        ValueError: for sizes that cannot hold the protocols.
    """
    if cfg.min_outfits < 2 or cfg.max_outfits < cfg.min_outfits:
        raise ValueError(f"WorldConfig: need 2 <= min_outfits <= max_outfits, got {cfg.min_outfits}, {cfg.max_outfits}")
    if cfg.height < 32 or cfg.width < 16 or cfg.face_size < 16:
        raise ValueError(f"WorldConfig: images must be >= 32x16 and faces >= 16 (OSNet output stride 16), got {cfg.height}x{cfg.width}, {cfg.face_size}")
    rng = np.random.default_rng(seed)
    r = _Renderer(cfg, rng)
    train_p = _people(cfg, rng, cfg.n_train_ids, 0)
    val_p = _people(cfg, rng, cfg.n_val_ids, 10_000)
    test_p = _people(cfg, rng, cfg.n_test_ids, 20_000)
    train = _celeb_split(cfg, r, train_p, query=False)
    val_q, val_g = _celeb_split(cfg, r, val_p, query=True)
    celeb_q, celeb_g = _celeb_split(cfg, r, test_p, query=True)
    for pid, ident, outfits in test_p:  # Celeb-reID: one more image of the query outfit per identity
        r.shot(pid, ident, outfits[0], pid * 10, _camera(rng, cfg), len(celeb_q) + len(celeb_g) + len(r.rows))
    celeb_same = r.take()
    cams = [_camera(rng, cfg) for _ in range(3)]
    prcc = []
    for camid, cam in enumerate(cams):
        for pid, ident, outfits in test_p:
            o = 1 if camid == 2 else 0
            for _ in range(max(cfg.images_per_outfit - 1, 1)):
                r.shot(pid, ident, outfits[o], pid * 10 + o, cam, camid)
        prcc.append(r.take())
    full = ReIDSet(**{k: (None if v is None else torch.cat([v, getattr(celeb_same, k)]))
                      for k, v in vars(celeb_g).items()})
    patterns = {pid * 10 + o: outfit["pattern"] for pid, _, outfits in train_p + val_p + test_p
                for o, outfit in enumerate(outfits)}
    return DeskproWorld(train, val_q, val_g, celeb_q, celeb_g, prcc[0], prcc[1], prcc[2], cfg, full, patterns)


def stand_in_world(cfg: WorldConfig) -> WorldConfig:
    """The world the stand-ins' pools (:func:`pretraining_pool`) are drawn in: ``cfg`` at ``body_identity`` 1.0.

    The pools stand for ImageNet and GPEN's face data, which know nothing of the study's population, so the premise
    knob (:attr:`WorldConfig.body_identity`) does not reach them (issue 31, params/deskpro/tuning.yaml 2026-12-07):
    drawn at the study's 0.4, the OSNet stand-in learned nothing at 128x64 (held-out identity accuracy 0.42%
    against a chance of 1.46%), since 0.4 shrinks the very traits an own-outfit pool leaves to learn from.
    """
    return cfg if cfg.body_identity == 1.0 else dataclasses.replace(cfg, body_identity=1.0)


def pretraining_pool(cfg: WorldConfig, n_ids: int, seed: int = 0, images_per_id: int = 0) -> ReIDSet:
    """Images of ``n_ids`` people no study world contains, for the ImageNet / GPEN stand-ins (labels 0..n_ids-1).

    The people are drawn from a generator of their own (``seed`` offset by 10**6, a stream no :func:`make_world`
    seed reaches in practice; traits are continuous draws and a 16-bit face code, so a repeat is a coincidence of
    measure zero), with the clean face render in ``hr_face``.

    ``images_per_id == 0``: rendered like the training split (same sizes, outfits, cameras; each person keeps a few
    outfits). ``images_per_id > 0``: every image of a person wears an outfit of its own, drawn independently, under
    a camera of its own, so the identity of an image is carried only by what the person is (hair, face, skin,
    build), never by what they wear: an identity classifier on this pool can only learn cloth-irrelevant features,
    as ImageNet features are tied to no person's outfit (the OSNet stand-in's recipe, issue 16).

    The people are drawn in :func:`stand_in_world` ``(cfg)``: at ``body_identity`` 1.0 whatever ``cfg`` says.
    """
    if n_ids < 2:
        raise ValueError(f"pretraining_pool: need n_ids >= 2, got {n_ids}")
    if images_per_id < 0:
        raise ValueError(f"pretraining_pool: images_per_id must be >= 0, got {images_per_id}")
    cfg = stand_in_world(cfg)  # drawn at body_identity 1.0 whatever the study's knob
    rng = np.random.default_rng(1_000_000 + seed)
    r = _Renderer(cfg, rng)
    if images_per_id == 0:
        return _celeb_split(cfg, r, _people(cfg, rng, n_ids, 0), query=False)
    for pid in range(n_ids):
        ident = _identity(rng, cfg.body_identity)
        for i in range(images_per_id):
            r.shot(pid, ident, _outfit(rng, cfg.palette_size), pid * images_per_id + i, _camera(rng, cfg), len(r.rows))
    return r.take()
