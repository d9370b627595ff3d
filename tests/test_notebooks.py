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
