"""Each golden notebook runs its notebook's code: nbval executes tests/notebooks/golden/*.ipynb, not notebooks/*.py,
so an edited notebook would stay untested until ``make golden`` (issue 27). This fast check compares the code cells."""

from __future__ import annotations

import json
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[2]
GOLDENS = sorted((ROOT / "tests" / "notebooks" / "golden").glob("*/*.ipynb"))


def code_cells(cells: list[dict]) -> list[str]:
    """The code of a notebook's cells, without the cell papermill injects (the runner's parameters)."""
    out = []
    for cell in cells:
        if cell["cell_type"] != "code" or "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            continue
        source = cell["source"]
        out.append(("".join(source) if isinstance(source, list) else source).strip())
    return out


@pytest.mark.parametrize("golden", GOLDENS, ids=[f"{g.parent.name}/{g.stem}" for g in GOLDENS])
def test_golden_runs_its_notebooks_code(golden: Path) -> None:
    notebook = ROOT / "notebooks" / golden.parent.name / f"{golden.stem}.py"
    assert notebook.is_file(), f"{golden}: no notebook {notebook.relative_to(ROOT)}; remove the golden or restore it"
    ours = code_cells(json.loads(golden.read_text())["cells"])
    theirs = code_cells(jupytext.read(notebook).cells)
    assert ours == theirs, (f"{notebook.relative_to(ROOT)} changed since its golden was made: run `make golden "
                            f"PAPER={golden.parent.name}`")


def test_code_cells_skip_the_injected_parameters() -> None:
    cells = [{"cell_type": "code", "source": ["a = 1\n", "b = 2\n"], "metadata": {}},
             {"cell_type": "code", "source": "x = 3", "metadata": {"tags": ["injected-parameters"]}},
             {"cell_type": "markdown", "source": "# title", "metadata": {}}]
    assert code_cells(cells) == ["a = 1\nb = 2"]
