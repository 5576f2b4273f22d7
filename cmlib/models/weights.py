"""One strict loader for local weight files: timm models by name, torchvision models, cmlib's OSNet.

Every weights key of every paper (WHCMT ``visual.weights_file`` / ``vit.weights_file`` / ``cnn_weights`` /
``unsup_backbone_weights``, CLAREL ``model.backbone_weights``, DeSKPro ``model.pretrained``, GRM-Net
``backbone_weights``) goes through :func:`load_weights`:

1. the file is read (``torch.save``d state dict, optionally under ``"state_dict"`` / ``"model"``, a ``module.``
   prefix from DataParallel removed; or ``.safetensors``);
2. the classifier head is dropped **by name** (timm: ``pretrained_cfg["classifier"]``; torchvision / torchreid:
   given by the caller), and nothing else;
3. the rest must match the model exactly (every key present, no extra key, every shape equal), else
   :class:`WeightsError` names the key, the file, the model and the first missing / unexpected / mismatched keys.

Why not timm's ``pretrained=True, pretrained_cfg_overlay={"file": ...}``: when ``num_classes`` differs from the
checkpoint's head, timm loads with ``strict=False``, so a checkpoint of another architecture loads as nothing and the
model stays random with only a stderr line (issue 29). One exception to "exactly": ``num_batches_tracked`` of a
BatchNorm that the model freezes (torchvision's ``FrozenBatchNorm2d`` has no such buffer and ignores it itself).

:func:`check_weights` runs steps 1-3 against a model built on the ``meta`` device (no memory, no initialisation), so
a config can reject a wrong file when the params are loaded, before any data is read.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["WeightsError", "check_backbone_weights", "check_weights", "load_weights", "read_state_dict", "timm_head_names", "timm_model",
           "torchvision_model"]


class WeightsError(ValueError):
    """A weights file that cannot be read or does not fit its model (the message names both)."""


def read_state_dict(path: str | Path, key: str) -> dict[str, Tensor]:
    """The tensors of a local weights file, unwrapped from ``"state_dict"`` / ``"model"``, ``module.`` removed.

    Args:
        path: a ``torch.save``d dict of tensors (.pth/.pt/.bin) or a ``.safetensors`` file.
        key: the params key that named the file (for messages).

    Raises:
        FileNotFoundError: no file at ``path``.
        WeightsError: the file cannot be read, or holds no dict of tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{key}: no file at {str(path)!r} (expected a local state_dict .pth/.safetensors)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise WeightsError(f"{key}: {path} cannot be read as a state_dict ({type(err).__name__}: "
                           f"{str(err).splitlines()[0][:200] if str(err) else ''})") from err
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise WeightsError(f"{key}: {path} holds no dict of tensors (got {type(state).__name__})")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _is_head(name: str, head: Iterable[str]) -> bool:
    return any(name == h or name.startswith(h + ".") for h in head)


def _first(names: list[str], n: int = 3) -> str:
    return ", ".join(names[:n]) + (", ..." if len(names) > n else "")


def _fit_state(model: nn.Module, state: dict[str, Tensor], path: Path, key: str, model_name: str,
               head: tuple[str, ...]) -> dict[str, Tensor]:
    """``state`` without the head, checked key by key and shape by shape against ``model``; raises WeightsError."""
    state = {k: v for k, v in state.items() if not _is_head(k, head)}
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own
                  and not (k.endswith(".num_batches_tracked") and k.replace("num_batches_tracked", "running_mean") in own)]
    shaped = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or shaped:
        parts = []
        if missing:
            parts.append(f"{len(missing)} of the model's {len(own)} keys missing ({_first(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected ({_first(unexpected)})")
        if shaped:
            k = shaped[0]
            parts.append(f"{len(shaped)} of another shape ({k}: file {tuple(state[k].shape)}, model "
                         f"{tuple(own[k].shape)})")
        dropped = f"; classifier head {list(head)} dropped" if head else ""
        raise WeightsError(f"{key}: {path} does not fit {model_name}: {'; '.join(parts)}{dropped}. Expected a "
                           f"state_dict of {model_name}")
    return {k: v for k, v in state.items() if k in own}


def load_weights(model: nn.Module, path: str | Path, *, key: str, model_name: str, head: Iterable[str] = (),
                 rename: Callable[[str], str] | None = None) -> nn.Module:
    """Load a local checkpoint into ``model`` strictly, dropping only the classifier ``head`` (by name).

    Args:
        model: the model to fill in place (returned).
        path: the local weights file (:func:`read_state_dict`).
        key: the params key that named the file, e.g. ``"visual.weights_file"``.
        model_name: what the model is, for messages (``"timm crossvit_9_240"``).
        head: names of classifier modules whose keys are dropped (``"fc"`` drops ``fc.weight``, ``fc.bias``).
        rename: optional map from the file's key names to the model's (e.g. torchreid's OSNet stream names).

    Raises:
        FileNotFoundError, WeightsError: naming ``key``, the file, the model and the first offending keys.
    """
    path = Path(path)
    state = read_state_dict(path, key)
    if rename is not None:
        state = {rename(k): v for k, v in state.items()}
    state = _fit_state(model, state, path, key, model_name, tuple(head))
    model.load_state_dict(state, strict=True)
    return model


def check_weights(build: Callable[[], nn.Module], path: str | Path, *, key: str, model_name: str,
                  head: Iterable[str] = (), rename: Callable[[str], str] | None = None,
                  filter_fn: Callable[[dict[str, Tensor], nn.Module], dict[str, Tensor]] | None = None) -> None:
    """Check at config time that ``path`` fits the model ``build()`` makes, without allocating it (meta device).

    Raises:
        FileNotFoundError, WeightsError: as :func:`load_weights`.
    """
    path = Path(path)
    with torch.device("meta"):
        model = build()
    state = read_state_dict(path, key)
    if rename is not None:
        state = {rename(k): v for k, v in state.items()}
    if filter_fn is not None:
        state = filter_fn({k: v for k, v in state.items() if not _is_head(k, tuple(head))}, model)
    _fit_state(model, state, path, key, model_name, tuple(head))


def check_backbone_weights(cfg: Any, build_custom: Callable[[], nn.Module], *, key: str, model_name: str) -> None:
    """Config-time check of a backbone config with ``variant`` (``"custom"`` or a timm name), ``weights_file`` and
    ``img_size``: a custom model against ``build_custom()``, a named one through :func:`timm_model` (meta device,
    no memory). Nothing to check without a ``weights_file``.

    Raises:
        FileNotFoundError, WeightsError: naming ``key``, the file, the model and the first keys.
    """
    if cfg.weights_file is None:
        return
    if cfg.variant == "custom":
        check_weights(build_custom, cfg.weights_file, key=key, model_name=model_name)
    else:
        timm_model(cfg.variant, cfg.weights_file, key=key, check_only=True, img_size=cfg.img_size)


def timm_head_names(model: nn.Module) -> tuple[str, ...]:
    """Classifier module names of a timm model (``pretrained_cfg["classifier"]``, e.g. ``("head.0", "head.1")``)."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    head = cfg.get("classifier") or ()
    heads = (head,) if isinstance(head, str) else tuple(head)
    return heads + tuple(h for h in ("head_dist",) if hasattr(model, h) and h not in heads)


def _timm_filter(model: nn.Module) -> Callable[[dict[str, Tensor], nn.Module], dict[str, Tensor]] | None:
    """The ``checkpoint_filter_fn`` of the timm module defining ``model`` (ViT: resamples ``pos_embed`` to
    ``img_size``, as timm does when it loads pretrained weights at another resolution), or None."""
    return getattr(sys.modules.get(type(model).__module__), "checkpoint_filter_fn", None)


def timm_model(name: str, weights: str | Path | None, *, key: str, check_only: bool = False,
               **kwargs: object) -> nn.Module | None:
    """The timm model ``name`` without classifier (``num_classes=0``), weights from a local file (never downloads).

    ``kwargs`` go to ``timm.create_model`` (e.g. ``img_size``). The file's classifier head (by the model's
    ``pretrained_cfg["classifier"]`` name) is dropped, the model's ``checkpoint_filter_fn`` applied (the ViT family
    resamples the position embedding to ``img_size``), and every other weight must match.

    Args:
        name: a registered timm name, e.g. ``"crossvit_9_240"``.
        weights: local checkpoint; None = random init.
        key: the params key that named the file.
        check_only: build on the meta device and only check the file (returns None).

    Raises:
        ValueError: ``name`` is not a timm model.
        FileNotFoundError, WeightsError: the file is missing or does not fit (naming key, file, model, keys).
    """
    import timm

    if not timm.is_model(name):
        raise ValueError(f"{key.rsplit('.', 1)[0]}: {name!r} is not a timm model name")

    def build() -> nn.Module:
        return timm.create_model(name, pretrained=False, num_classes=0, **kwargs)

    if check_only:
        if weights is not None:
            with torch.device("meta"):
                probe = build()
            check_weights(build, weights, key=key, model_name=f"timm {name}", head=timm_head_names(probe),
                          filter_fn=_timm_filter(probe))
        return None
    model = build()
    if weights is None:
        return model
    path = Path(weights)
    head = timm_head_names(model)
    state = {k: v for k, v in read_state_dict(path, key).items() if not _is_head(k, head)}
    filt = _timm_filter(model)
    if filt is not None:
        state = filt(state, model)
    state = _fit_state(model, state, path, key, f"timm {name}", head)
    model.load_state_dict(state, strict=True)
    return model


def torchvision_model(name: str, weights: str | Path | None, *, key: str, head: Iterable[str] = (),
                      check_only: bool = False, **kwargs: object) -> nn.Module | None:
    """The torchvision classification model ``name`` (``weights=None``), weights from a local file.

    ``head`` names modules whose file keys are dropped (e.g. ``("fc",)`` when the model's ``fc`` is replaced later);
    by default every key of the torchvision model, classifier included, must be in the file.

    Raises:
        FileNotFoundError, WeightsError: as :func:`load_weights`.
    """
    import torchvision

    def build() -> nn.Module:
        return torchvision.models.get_model(name, weights=None, **kwargs)

    if check_only:
        if weights is not None:
            check_weights(build, weights, key=key, model_name=f"torchvision {name}", head=tuple(head))
        return None
    model = build()
    if weights is not None:
        load_weights(model, weights, key=key, model_name=f"torchvision {name}", head=tuple(head))
    return model
