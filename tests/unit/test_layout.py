"""The package's floors (cmlib/__init__.py): each module imports only from its own floor and the floors below, and
no group of modules imports itself round a cycle (imports inside functions count too: they are arrows as well)."""

from __future__ import annotations

import ast
from pathlib import Path

CMLIB = Path(__file__).resolve().parents[2] / "cmlib"

#: the floor of each top-level name under cmlib (a module may import from its own floor and lower ones)
FLOORS = {"_lazy": 0, "protocol": 1, "text": 2, "layers": 2, "data": 2, "models": 2, "losses": 2, "metrics": 2,
          "studies": 3, "execution": 4, "runner": 5, "__init__": 5}


def _module_name(path: Path) -> str:
    parts = path.relative_to(CMLIB.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the cmlib modules it imports (``from cmlib.x import name`` counts ``cmlib.x.name`` where that is a
    module)."""
    paths = {_module_name(p): p for p in CMLIB.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "cmlib":
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    deps.add(sub if sub in paths else node.module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.split(".")[0] == "cmlib"}
        graph[name] = {d for d in deps if d in paths and d != name}
    return graph


def floor(module: str) -> int:
    parts = module.split(".")
    return FLOORS[parts[1] if len(parts) > 1 else "__init__"]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_top_level_name_has_a_floor() -> None:
    names = {p.stem for p in CMLIB.glob("*.py")} | {p.name for p in CMLIB.iterdir() if (p / "__init__.py").is_file()}
    assert names <= set(FLOORS), f"cmlib/ holds names of no floor: {sorted(names - set(FLOORS))}"
    assert {p.stem for p in CMLIB.glob("*.py")} == {"__init__", "_lazy", "runner"}, "modules belong in a floor's folder"


def test_no_module_imports_from_a_higher_floor() -> None:
    graph = import_graph()
    upward = [f"{m} -> {d}" for m, deps in sorted(graph.items()) for d in sorted(deps) if floor(d) > floor(m)]
    assert upward == []


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_the_checks_see_a_cycle_and_an_upward_arrow() -> None:
    graph = {"cmlib.data.a": {"cmlib.data.b"}, "cmlib.data.b": {"cmlib.data.a", "cmlib.execution.c"},
             "cmlib.execution.c": set()}
    assert cycles(graph) == [["cmlib.data.a", "cmlib.data.b"]]
    assert floor("cmlib.execution.c") > floor("cmlib.data.b")
