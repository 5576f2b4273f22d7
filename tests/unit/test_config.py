"""cmlib.protocol.config: strict nested configs with errors that name the key and what was expected."""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from cmlib.protocol.config import ConfigError, check_range, from_params, load_yaml, path_field, to_dict


@dataclass
class Inner:
    width: int = 8
    act: Literal["relu", "gelu"] = "relu"


@dataclass
class Pair:
    span: tuple[float, int] = (0.5, 2)
    inner: Inner = field(default_factory=lambda: Inner(width=32, act="gelu"))


@dataclass
class Outer:
    lr: float = 0.1
    seeds: list[int] = field(default_factory=lambda: [0])
    sizes: tuple[int, ...] = (1, 2)
    name: str | None = None
    inner: Inner = field(default_factory=Inner)
    weights: dict[str, float] = field(default_factory=dict)
    data_root: Path | None = path_field(layout="<root>/res101.mat and <root>/att_splits.mat")
    alpha: float = 0.0

    def __post_init__(self) -> None:
        check_range("alpha", self.alpha, lo=0.0)


def test_defaults_and_nested_values() -> None:
    cfg = from_params(Outer, {"lr": 1, "inner": {"width": 16}, "sizes": [3, 4, 5], "weights": {"a": 2}})
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert cfg.inner == Inner(width=16, act="relu")
    assert cfg.sizes == (3, 4, 5) and cfg.weights == {"a": 2.0}
    assert from_params(Outer, None) == Outer()


def test_unknown_key_names_valid_keys_and_closest_match() -> None:
    with pytest.raises(ConfigError) as err:
        from_params(Outer, {"inner": {"widht": 3}})
    msg = str(err.value)
    assert "params.inner: unknown key 'widht'" in msg and "did you mean 'width'" in msg and "valid keys: width, act" in msg



def _hint(cls: type, mapping: dict) -> str:
    with pytest.raises(ConfigError) as err:
        from_params(cls, mapping)
    return str(err.value).split(";")[0]


def test_typo_hint_prefers_a_field_of_the_same_kind() -> None:
    """A float suggests the float ``lam``, not the list ``lambdas``; a section is not suggested for a scalar."""
    from cmlib.studies import clarel, whcmt

    assert _hint(clarel.Config, {"lamda": 0.3}) == "params: unknown key 'lamda' (did you mean 'lam'?)"
    assert _hint(clarel.Config, {"lamda": [0.0, 0.5]}) == "params: unknown key 'lamda' (did you mean 'lambdas'?)"
    # (WHCMT now has a `fit` section itself, so the rule is checked on its fields without it.)
    from cmlib.protocol.config import closest_field

    fields = {n: t for n, t in typing.get_type_hints(whcmt.Config).items() if n != "fit"}
    assert closest_field("fit", 20, fields) is None  # vit is a section
    assert closest_field("fit", {"max_steps": 3}, fields) is None  # vit has no max_steps
    assert closest_field("vti", {"depth": 2}, fields) == "vit"
    assert _hint(whcmt.Config, {"vti": {"depth": 2}}) == "params: unknown key 'vti' (did you mean 'vit'?)"
    assert _hint(clarel.Config, {"wrold": {"n_clases": 3}}) == "params: unknown key 'wrold' (did you mean 'world'?)"

@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        ({"lr": "fast"}, "params.lr: expected float, got str 'fast'"),
        ({"seeds": [0, "x"]}, "params.seeds[1]: expected int, got str 'x'"),
        ({"inner": {"act": "tanh"}}, "params.inner.act: expected one of ['relu', 'gelu'], got 'tanh'"),
        ({"inner": 3}, "params.inner: expected a mapping for Inner, got int 3"),
        ({"seeds": 3}, "params.seeds: expected a list, got int 3"),
        ({"alpha": -1}, "alpha: expected a value in [0.0, inf], got -1.0"),
    ],
)
def test_wrong_values_name_the_field_and_the_expectation(mapping: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        from_params(Outer, mapping)
    assert expected in str(err.value)


def test_bool_is_not_an_int() -> None:
    with pytest.raises(ConfigError, match="expected int, got bool"):
        from_params(Inner, {"width": True})


def test_missing_path_names_path_and_layout(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(ConfigError) as err:
        from_params(Outer, {"data_root": str(missing)})
    assert str(missing) in str(err.value) and "res101.mat" in str(err.value)
    assert from_params(Outer, {"data_root": str(tmp_path)}).data_root == tmp_path


def test_to_dict_round_trips() -> None:
    cfg = from_params(Outer, {"sizes": [7], "inner": {"act": "gelu"}, "name": "x"})
    assert from_params(Outer, to_dict(cfg)) == cfg


def test_load_yaml_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("lr: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_yaml(bad)
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="bad.yaml: expected a mapping"):
        load_yaml(bad)
    with pytest.raises(ConfigError, match="params file not found"):
        load_yaml(tmp_path / "missing.yaml")


def test_fixed_length_tuples_convert_each_item() -> None:
    assert from_params(Pair, {"span": [1, 3]}).span == (1.0, 3)
    with pytest.raises(ConfigError, match=r"params.span\[1\]: expected int, got float 0.5"):
        from_params(Pair, {"span": [1, 0.5]})
    with pytest.raises(ConfigError, match="params.span: expected 2 items, got 3"):
        from_params(Pair, {"span": [1, 2, 3]})


def test_partial_nested_section_keeps_the_parent_defaults() -> None:
    cfg = from_params(Pair, {"inner": {"width": 8}})
    assert cfg.inner == Inner(width=8, act="gelu")  # act from Pair's default, not Inner's own "relu"
    with pytest.raises(ConfigError, match="params.inner: unknown key 'depth'"):
        from_params(Pair, {"inner": {"depth": 2}})
