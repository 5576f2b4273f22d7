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
    cmlib.config.ConfigError: params: unknown key 'lrate' (did you mean 'lr'?); valid keys: lr, steps

A nested section given only in part keeps the *parent's* defaults for the keys it leaves out: with
``fit: FitConfig = field(default_factory=lambda: FitConfig(max_steps=40))``, the mapping ``{"fit": {"seed": 3}}``
gives ``max_steps=40`` (the paper's smoke default), not FitConfig's own 100.

Conventions of the study: the dataclass defaults of each paper's ``Config`` are its smoke profile, range checks live
in ``__post_init__`` through :func:`check_range`, and paths that must exist are declared with :func:`path_field`.
"""

from __future__ import annotations

import dataclasses
import difflib
import pathlib
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union

import yaml

__all__ = ["ConfigError", "check_range", "closest_field", "from_params", "load_yaml", "path_field", "to_dict"]

T = TypeVar("T")
_MUST_EXIST = "cmlib_must_exist"
_LAYOUT = "cmlib_layout"


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


def from_params(cls: type[T], mapping: Mapping[str, Any] | None, *, where: str = "params") -> T:
    """Build the dataclass ``cls`` from ``mapping``, strictly.

    Args:
        cls: a dataclass type; fields may be int, float, bool, str, Path, Optional[X], list[X], tuple[X, ...],
            dict[str, X], Literal[...] or nested dataclasses. Missing keys take the field default.
        mapping: user values (``None`` = all defaults).
        where: dotted prefix used in error messages (e.g. the params file name).

    Returns:
        An instance of ``cls``; its ``__post_init__`` runs (range checks).

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
