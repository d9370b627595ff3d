"""The notebooks themselves run under nbval (see pyproject.toml); here: they are committed clean."""

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_the_four_numbered_notebooks_exist():
    assert [p.name for p in NOTEBOOKS] == ["01_eda.ipynb", "02_training.ipynb", "03_gradcam.ipynb",
                                           "04_evaluation.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_are_stripped_and_setup_comes_first(path):
    book = json.loads(path.read_text())
    code = [c for c in book["cells"] if c["cell_type"] == "code"]
    assert all(not c["outputs"] and c["execution_count"] is None for c in code), f"run nbstripout on {path.name}"
    assert "colab.research.google.com" in "".join(book["cells"][0]["source"])  # the Open-in-Colab badge
    first_code = "".join(code[0]["source"])
    assert "IN_COLAB" in first_code and "ALZMRI_PROFILE" in first_code
    assert max(len("".join(c["source"]).splitlines()) for c in code[1:]) <= 15  # logic lives in the package


def test_one_repository_address_for_badges_setup_and_package():
    import re

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((NOTEBOOKS[0].parents[1] / "pyproject.toml").read_text())
    repo = project["project"]["urls"]["Repository"]
    owner_name = repo.removeprefix("https://github.com/")
    setups = set()
    for path in NOTEBOOKS:
        book = json.loads(path.read_text())
        badge = re.search(r"colab\.research\.google\.com/github/([^)]+)", "".join(book["cells"][0]["source"]))
        assert badge and badge.group(1) == f"{owner_name}/blob/main/notebooks/{path.name}"
        setup = "".join(next(c for c in book["cells"] if c["cell_type"] == "code")["source"])
        assert f'"ALZMRI_REPO", "{repo}"' in setup
        assert 'sys.path.insert(0, os.path.abspath(".."))' not in setup  # in Colab ".." is "/": no silent fallback
        setups.add(setup)
    assert len(setups) == 1  # the same setup everywhere


def test_setup_stops_with_a_clear_message_when_the_colab_install_fails(monkeypatch):
    import subprocess
    import sys
    import types

    cells = json.loads(NOTEBOOKS[0].read_text())["cells"]
    setup = "".join(next(c for c in cells if c["cell_type"] == "code")["source"])
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))  # as in Colab
    monkeypatch.setenv("ALZMRI_REPO", "https://example.invalid/no-such-repo")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(
        a, returncode=1, stdout="", stderr="fatal: repository 'https://example.invalid/no-such-repo/' not found"))
    with pytest.raises(RuntimeError, match=r"(?s)Could not install alzmri from https://example.invalid/no-such-repo: "
                                           r"fatal: repository .* not found.*ALZMRI_REPO"):
        exec(compile(setup, "setup-cell", "exec"), {})
