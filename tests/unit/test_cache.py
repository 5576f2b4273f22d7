"""cmlib.protocol.cache and engine.torch_threads: stable keys, atomic writes, restored thread counts."""

from __future__ import annotations

from pathlib import Path

import torch

from cmlib.protocol.cache import load, save_atomic, stable_hash
from cmlib.protocol.engine import torch_threads


def test_stable_hash_ignores_key_order_and_sees_values() -> None:
    assert stable_hash({"a": 1, "b": [1, 2]}) == stable_hash({"b": [1, 2], "a": 1})
    assert stable_hash({"a": 1}) != stable_hash({"a": 2})
    assert len(stable_hash({"p": Path("x")}, length=8)) == 8  # non-JSON values go through str


def test_save_atomic_round_trips_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = save_atomic({"w": torch.arange(3), "info": {"steps": 5}}, tmp_path / "sub" / "m.pt")
    blob = load(path)
    assert torch.equal(blob["w"], torch.arange(3)) and blob["info"] == {"steps": 5}
    assert [p.name for p in path.parent.iterdir()] == ["m.pt"]


def test_torch_threads_restores_the_previous_count() -> None:
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(0):  # 0 leaves the setting alone
        assert torch.get_num_threads() == before


def test_source_text_is_the_defining_files_in_order():
    import cmlib.protocol.cache as cache_mod
    import cmlib.protocol.perturb as perturb_mod
    from cmlib.protocol.cache import source_text

    own = Path(cache_mod.__file__).read_text(encoding="utf-8")
    assert source_text(cache_mod) == own
    assert source_text(cache_mod.stable_hash) == own  # a function: the file that defines it
    assert source_text(perturb_mod, cache_mod) == Path(perturb_mod.__file__).read_text(encoding="utf-8") + own


def test_keep_recent_makes_once_and_keeps_the_most_recent() -> None:
    from cmlib.protocol.cache import keep_recent

    store: dict = {}
    made: list[str] = []

    def make(k: str):
        return lambda: made.append(k) or k.upper()

    assert keep_recent(store, "a", make("a")) == "A"
    assert keep_recent(store, "a", make("a")) == "A" and made == ["a"]  # made once
    keep_recent(store, "b", make("b"))
    keep_recent(store, "c", make("c"))  # a third key evicts the oldest
    assert list(store) == ["b", "c"]
    keep_recent(store, "a", make("a"))
    assert made == ["a", "b", "c", "a"] and list(store) == ["c", "a"]
