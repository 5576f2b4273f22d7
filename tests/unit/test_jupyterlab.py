"""JupyterLab as a user meets it after ``make setup``: a jupytext notebook (``notebooks/*/*.py``) is served as a
notebook, and a double-click opens it in the notebook view (the resolved default viewer for Python files is
"Jupytext Notebook"), checked through the server's REST API on a real ``jupyter lab`` process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "cmlib-test"
OVERRIDES = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.d" / "cmlib.json"



def _get(base: str, path: str) -> dict:
    with urllib.request.urlopen(f"{base}{path}?token={TOKEN}", timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A headless ``jupyter lab`` on the project root with a throw-away user-settings dir: base URL."""
    if not OVERRIDES.exists():
        pytest.fail(f"{OVERRIDES} is missing: `make setup` installs jupyter/lab-overrides.json there")
    port = free_port()
    home = tmp_path_factory.mktemp("lab")
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "ws"), "JUPYTER_RUNTIME_DIR": str(home / "rt")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={ROOT}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
            try:
                _get(base, "/api/status")
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("jupyter lab did not answer within 60 s")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_python_files_open_in_the_jupytext_notebook_view(lab: str) -> None:
    plugin = _get(lab, "/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
    # What the frontend resolves: the user's settings (none in this throw-away dir) over the schema default, which
    # the override replaces (an override changes the default, so a user's own choice still wins).
    default = plugin["schema"]["properties"]["defaultViewers"]["default"]
    resolved = {**default, **plugin["settings"].get("defaultViewers", {})}
    assert resolved.get("python") == "Jupytext Notebook", plugin["schema"]["properties"]["defaultViewers"]


def test_a_study_notebook_is_served_as_a_notebook(lab: str) -> None:
    model = _get(lab, "/api/contents/notebooks/clarel/01_gzsl.py")
    assert model["type"] == "notebook"
    assert any(c["cell_type"] == "code" for c in model["content"]["cells"])


def _put(base: str, path: str, model: dict) -> dict:
    body = json.dumps({"type": model["type"], "format": model["format"], "content": model["content"]}).encode()
    req = urllib.request.Request(f"{base}{path}", data=body, method="PUT",
                                 headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def test_opening_and_saving_a_notebook_unchanged_leaves_the_file_unchanged(lab: str) -> None:
    """What Lab's autosave does to a notebook nobody edited: every notebook's file must stay byte for byte (no
    jupytext version header added), so ``git status`` stays clean (the headers pin jupytext's
    ``notebook_metadata_filter``)."""
    changed = []
    for path in sorted((ROOT / "notebooks").glob("*/[0-9][0-9]_*.py")):
        rel = path.relative_to(ROOT).as_posix()
        before = path.read_bytes()
        try:
            _put(lab, f"/api/contents/{rel}", _get(lab, f"/api/contents/{rel}"))
            if path.read_bytes() != before:
                changed.append(rel)
        finally:
            path.write_bytes(before)  # a failing run must not leave the tracked file modified
    assert not changed, f"saved unchanged through Lab, these notebooks changed (git diff would show them): {changed}"
