"""Strict dataclass configs built from plain mappings (a params YAML, a papermill ``params`` dict).

``from_params(Cls, mapping)`` is the single door between user input and the library: it walks the dataclass fields,
converts and checks every value, and fails *before any compute* with a message that names the offending key, what
was expected and (for typos) the closest valid key::

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Train:
    ...     lr: float = 0.1
    ...     steps: int = 10
    >>> from_params(Train, {"lr": 1})
    Train(lr=1.0, steps=10)
    >>> from_params(Train, {"lrate": 1})
    Traceback (most recent call last):
    ...
    cmlib.protocol.config.ConfigError: params: unknown key 'lrate' (did you mean 'lr'?); valid keys: lr, steps

A nested section given only in part keeps the *parent's* defaults for the keys it leaves out: with
``fit: FitConfig = field(default_factory=lambda: FitConfig(max_steps=40))``, the mapping ``{"fit": {"seed": 3}}``
gives ``max_steps=40`` (the paper's smoke default), not FitConfig's own 100.

Conventions of the study: the dataclass defaults of each paper's ``Config`` are its smoke profile, range checks live
in ``__post_init__`` through :func:`check_range`, and paths that must exist are declared with :func:`path_field`.

Profiles compose: a params file may start from another with ``extends: study`` (its keys merged over the parent's,
sections key by key), and dotted overrides (``fit.max_steps=600``, parsed by OmegaConf's dotlist parser) are merged
over a profile the same way; :func:`profile_params` does both for a notebook, ``python -m cmlib.runner`` for a run.
The result is a plain mapping that :func:`from_params` still checks strictly (a typo in an override is named, with
its closest valid key, like a typo in a file).
"""

from __future__ import annotations

import dataclasses
import difflib
import pathlib
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar, Union

import yaml

__all__ = ["ConfigError", "check_range", "closest_field", "from_params", "load_profile", "load_yaml", "merge_params",
           "parse_overrides", "path_field", "profile_params", "to_dict"]

T = TypeVar("T")
_MUST_EXIST = "cmlib_must_exist"
_LAYOUT = "cmlib_layout"
EXTENDS = "extends"  # the key of a params file naming the profile it starts from


class ConfigError(ValueError):
    """A params mapping that does not fit its config: the message names the key and what was expected."""


def path_field(*, layout: str = "", default: Any = None, must_exist: bool = True) -> Any:
    """A dataclass field holding a path that must exist when it is set (``None`` means "not used").

    Args:
        layout: what the user should find at that path (shown in the error), e.g. ``"<root>/res101.mat"``.
        default: default value (usually ``None``: the embedded world is used instead).
        must_exist: check existence in :func:`from_params`.
    """
    return dataclasses.field(default=default, metadata={_MUST_EXIST: must_exist, _LAYOUT: layout})


def check_range(name: str, value: float, *, lo: float | None = None, hi: float | None = None) -> None:
    """Raise :class:`ConfigError` unless ``lo <= value <= hi`` (each bound optional), naming the field."""
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        lo_s = "-inf" if lo is None else repr(lo)
        hi_s = "inf" if hi is None else repr(hi)
        raise ConfigError(f"{name}: expected a value in [{lo_s}, {hi_s}], got {value!r}")


def load_yaml(path: str | pathlib.Path) -> dict[str, Any]:
    """Read a params YAML file into a dict, with errors that name the file (missing, unparsable, not a mapping)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of parameter names to values at the top, got {type(data).__name__}")
    return data


def parse_overrides(overrides: Sequence[str], *, where: str = "override") -> dict[str, Any]:
    """Dotted ``key=value`` overrides -> a nested mapping, values read as YAML (OmegaConf's dotlist parser).

    ``["fit.max_steps=600", "seeds=[0,1]", "cache_dir=null"]`` -> ``{"fit": {"max_steps": 600}, "seeds": [0, 1],
    "cache_dir": None}``. The keys are not checked here: :func:`from_params` checks the merged params.

    Raises:
        ConfigError: an item without ``=`` or with an empty key, or a value that is not valid YAML (naming the item).
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    conf = OmegaConf.create()
    for item in overrides:
        key = item.split("=", 1)[0].strip()
        if "=" not in item or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"{where} {item!r}: expected dotted.key=value, e.g. fit.max_steps=600")
        try:
            conf.merge_with_dotlist([item])
        except (OmegaConfBaseException, yaml.YAMLError, ValueError) as err:
            raise ConfigError(f"{where} {item!r}: the value is not valid YAML ({_one_line(err)})") from None
    return _plain(conf, resolve=False)  # ${...} resolves against the profile, in merge_params


def merge_params(base: Mapping[str, Any], *layers: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with each layer merged over it in turn (OmegaConf.merge): mappings key by key, anything else
    (a list, a scalar) replaced whole. Returns a plain dict; ``${a.b}`` interpolations are resolved.

    Raises:
        ConfigError: a layer cannot be merged (e.g. an interpolation naming a missing key).
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        return _plain(OmegaConf.merge(*(OmegaConf.create(dict(m)) for m in (base, *layers))))
    except (OmegaConfBaseException, ValueError) as err:
        raise ConfigError(f"params: cannot merge the overrides ({_one_line(err)})") from None


def load_profile(folder: str | pathlib.Path, profile: str) -> dict[str, Any]:
    """Read ``<folder>/<profile>.yaml``, following ``extends: <parent>`` (a profile of the same folder) to the root.

    A file's keys are merged over its parent's (:func:`merge_params`): ``extends: study`` plus ``fit: {devices: 2}``
    is the study profile with two devices, everything else as in study.yaml.

    Raises:
        ConfigError: no such profile (listing the folder's profiles), bad YAML, ``extends`` not a profile name, or a
            cycle of ``extends`` (naming the chain).
    """
    folder = pathlib.Path(folder)
    chain: list[str] = []
    layers: list[dict[str, Any]] = []
    name: Any = profile
    while name is not None:
        path = folder / f"{name}.yaml"
        if not isinstance(name, str) or not name or not path.is_file():
            known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml"))) or "none"
            where = f"{folder / chain[-1]}.yaml: extends" if chain else str(path)
            raise ConfigError(f"{where}: no such profile {name!r} in {folder}; available: {known}")
        if name in chain:
            raise ConfigError(f"{folder / chain[0]}.yaml: 'extends' loops: {' -> '.join([*chain, name])}")
        chain.append(name)
        data = load_yaml(path)
        name = data.pop(EXTENDS, None)
        layers.insert(0, data)
    return merge_params(*layers) if len(layers) > 1 else layers[0]


def profile_params(paper: str, profile: str = "study", overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The params of ``params/<paper>/<profile>.yaml`` (``extends`` followed) with dotted ``overrides`` merged over
    them: what ``python -m cmlib.runner <paper> --profile <profile> <overrides...>`` injects, for a notebook in
    JupyterLab (``params = profile_params("clarel", "study", ["train.steps=600"])``). Found from any folder inside
    the project (:func:`cmlib.protocol.files.project_root`). Check the result with :func:`from_params`.

    Raises:
        ConfigError: unknown profile, bad YAML, a malformed override.
    """
    from cmlib.protocol.files import project_root

    params = load_profile(project_root() / "params" / paper, profile)
    return merge_params(params, parse_overrides(overrides)) if overrides else params


def _plain(conf: Any, *, resolve: bool = True) -> dict[str, Any]:
    """An OmegaConf container as plain Python (dicts and lists), interpolations resolved unless ``resolve=False``."""
    from omegaconf import OmegaConf

    return typing.cast(dict[str, Any], OmegaConf.to_container(conf, resolve=resolve))


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())


def from_params(cls: type[T], mapping: Mapping[str, Any] | None, *, where: str = "params") -> T:
    """Build the dataclass ``cls`` from ``mapping``, strictly.

    Args:
        cls: a dataclass type; fields may be int, float, bool, str, Path, Optional[X], list[X], tuple[X, ...],
            dict[str, X], Literal[...] or nested dataclasses. Missing keys take the field default.
        mapping: user values (``None`` = all defaults).
        where: dotted prefix used in error messages (e.g. the params file name).

    Returns:
        An instance of ``cls``; its ``__post_init__`` runs (range checks).

    A class may declare ``MOVED_KEYS`` (old key -> its new dotted name): such a key fails with a hint to the new
    name (the paper Configs list the settings that moved into the run section, :data:`cmlib.protocol.run.MOVED`).

    Raises:
        ConfigError: unknown key (with the valid keys and the closest match), wrong type (field and expected type),
            a path that does not exist (path and expected layout), or a failed range check.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"from_params needs a dataclass type, got {cls!r}")
    mapping = {} if mapping is None else mapping
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"{where}: expected a mapping for {cls.__name__}, got {type(mapping).__name__} {mapping!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in mapping if k not in fields]
    moved = getattr(cls, "MOVED_KEYS", {})  # a class's renamed keys: old name -> the new dotted one
    if unknown and unknown[0] in moved:
        raise ConfigError(f"{where}: {unknown[0]!r} is now {moved[unknown[0]]!r} (the run section every paper "
                          f"shares, cmlib.protocol.run.RunConfig); write it as run: {{{moved[unknown[0]].split('.')[1]}: "
                          f"...}} or override {moved[unknown[0]]}=...")
    if unknown:
        key = unknown[0]
        close = closest_field(str(key), mapping[key], {name: hints[name] for name in fields})
        hint = f" (did you mean {close!r}?)" if close else ""
        raise ConfigError(f"{where}: unknown key {key!r}{hint}; valid keys: {', '.join(fields)}")
    kwargs = {}
    for name, value in mapping.items():
        field = fields[name]
        base = _default_of(field)
        if isinstance(value, Mapping) and dataclasses.is_dataclass(base) and not isinstance(base, type):
            value = _deep_merge(to_dict(base), value)  # a partial section keeps the parent's defaults for the rest
        kwargs[name] = _convert(value, hints[name], f"{where}.{name}")
        _check_path(field, kwargs[name], f"{where}.{name}")
    try:
        return cls(**kwargs)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None


def closest_field(key: str, value: Any, fields: Mapping[str, Any]) -> str | None:
    """The field an unknown ``key`` most likely meant: the closest name among fields of the value's kind.

    A float suggests ``lam`` rather than the list ``lambdas``; a mapping suggests a section that accepts its keys.
    A field of another kind is suggested only when its name is very close (difflib ratio >= 0.8): ``fit`` with
    ``vit`` (0.67) gives no hint, ``wrold`` with ``world`` (0.8) does.

    Args:
        key: the unknown key as written.
        value: the value given for it.
        fields: field name -> type hint of the config.

    Returns:
        A field name, or None when nothing is close.
    """
    same_kind = [name for name, tp in fields.items() if _same_kind(tp, value)]
    close = difflib.get_close_matches(key, same_kind, n=1) or difflib.get_close_matches(key, list(fields), n=1,
                                                                                        cutoff=0.8)
    return close[0] if close else None


def _same_kind(tp: Any, value: Any) -> bool:
    """Whether a field typed ``tp`` takes a value of ``value``'s kind (mapping, list or scalar; None fits any)."""
    origin = typing.get_origin(tp)
    if tp is Any or value is None:
        return True
    if origin in (Union, types.UnionType):
        return any(_same_kind(arg, value) for arg in typing.get_args(tp) if arg is not type(None))
    if dataclasses.is_dataclass(tp):
        names = {f.name for f in dataclasses.fields(tp) if f.init}
        return isinstance(value, Mapping) and all(k in names for k in value)
    if origin is dict or tp is dict:
        return isinstance(value, Mapping)
    if origin in (list, tuple) or tp in (list, tuple):
        return isinstance(value, (list, tuple))
    return not isinstance(value, (Mapping, list, tuple))


def to_dict(cfg: Any) -> Any:
    """Plain, YAML/JSON-able view of a config (Paths as str, tuples as lists); inverse of :func:`from_params`."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, (list, tuple)):
        return [to_dict(v) for v in cfg]
    if isinstance(cfg, dict):
        return {str(k): to_dict(v) for k, v in cfg.items()}
    if isinstance(cfg, pathlib.PurePath):
        return str(cfg)
    return cfg


def _default_of(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _check_path(field: dataclasses.Field, value: Any, where: str) -> None:
    if not field.metadata.get(_MUST_EXIST) or value is None:
        return
    path = pathlib.Path(value)
    if not path.exists():
        layout = field.metadata.get(_LAYOUT) or "an existing file or folder"
        raise ConfigError(f"{where}: path {str(path)!r} does not exist; expected {layout}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(value, arg, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: expected one of {list(args)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        return from_params(tp, value, where=where)
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
            return tuple(_convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        out = [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if (origin is tuple or tp is tuple) else out
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
        vt = args[1] if len(args) == 2 else Any
        return {str(k): _convert(v, vt, f"{where}.{k}") for k, v in value.items()}
    return _convert_scalar(value, tp, where)


def _convert_scalar(value: Any, tp: Any, where: str) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML reads 1e-3 as a string; accept numeric strings only
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp in (pathlib.Path, pathlib.PurePath):
        if isinstance(value, (str, pathlib.PurePath)):
            return pathlib.Path(value)
    elif isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"{where}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}")
