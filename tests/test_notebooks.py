"""The notebooks themselves run under nbval (see pyproject.toml); here: they are committed clean, their text holds
under every profile, and the helpers behind their printed lines say what they should."""

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
#: What differs by profile, so markdown must not state it (the notebooks print it from the config).
PROFILE_FACTS = {
    "a backbone": re.compile(r"\b(?:ResNet|EfficientNet|MobileNet|DenseNet|VGG|Xception|Inception|ConvNeXt|NASNet|"
                             r"RegNet)\w*\d\w*", re.IGNORECASE),
    "an image size": re.compile(r"\b\d+\s*(?:px|pixels?)\b|\b\d+-pixel", re.IGNORECASE),
    "an epoch count": re.compile(r"\b\d+\s+(?:\w+\s+)?epochs?\b", re.IGNORECASE),
    "a learning-rate ratio": re.compile(r"\b\d+\s*[x×]\s+lower", re.IGNORECASE),
}
#: The notebook way to change a run is a function argument, never a command-line flag or command.
CLI_TEXT = re.compile(r"(?<![\w-])--[a-z][\w-]*|python -m alzmri")


def _cells(path: Path, kind: str) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == kind]


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
    assert first_code.startswith("USE_DRIVE = False") and "config = setup_notebook(use_drive=USE_DRIVE)" in first_code
    assert len(first_code.splitlines()) <= 10 and "import tensorflow" not in first_code  # a short setup
    assert max(len("".join(c["source"]).splitlines()) for c in code[1:]) <= 20  # one idea a cell


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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_is_asked_for_a_t4_gpu(path):
    metadata = json.loads(path.read_text())["metadata"]
    assert metadata["accelerator"] == "GPU" and metadata["colab"]["gpuType"] == "T4"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_markdown_states_nothing_a_profile_could_contradict(path):
    """Backbone, image size, epochs and stage details differ by profile: printed from the config, never written."""
    for text in _cells(path, "markdown"):
        for fact, pattern in PROFILE_FACTS.items():
            found = pattern.search(text)
            assert not found, f"{path.name} markdown names {fact} ({found.group(0)!r}); print it from the config"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_command_line_in_notebook_text(path):
    for text in _cells(path, "markdown") + _cells(path, "code"):
        found = CLI_TEXT.search(text)
        assert not found, f"{path.name} names the command line ({found.group(0)!r}); use a function argument"


@pytest.mark.parametrize("profile", ["smoke", "demo", "full", "colab"])
def test_what_the_notebooks_print_for_a_profile_comes_from_its_config(profile):
    from alzmri.config import get_config
    from alzmri.notebook import describe_profile, training_time
    from alzmri.models.training import training_plan

    config = get_config(profile)
    line, plan = describe_profile(config), training_plan(config)
    assert config.backbone in line and f"{config.image_size} px" in line and config.backbone in plan
    assert ("stage 1 (the head" in line) == (config.head_epochs > 0) and f"up to {config.finetune_epochs} epoch" in plan
    data = SimpleNamespace(sizes=lambda: {"train": {"images": 1000}, "val": {"images": 100}, "test": {"images": 100}})
    assert re.search(r"takes up to (under a minute|about \d+ min) on .+ \((measured|estimated|rough)", 
                     training_time(config, data))


def _split(counts: dict[str, dict[str, int]]) -> SimpleNamespace:
    """Prepared data stand-in: ``counts[split][class]`` subjects of 10 slices each."""
    rows = [(split, cls, f"{split}-{cls}-{i}") for split, per_class in counts.items()
            for cls, n in per_class.items() for i in range(n) for _ in range(10)]
    frame = pd.DataFrame(rows, columns=["split", "class_name", "subject"])
    return SimpleNamespace(part=lambda split: frame[frame["split"] == split])


def test_a_gap_between_validation_and_test_is_explained_by_the_brains_behind_them():
    from alzmri.notebook import val_test_note, validation_note

    data = _split({"val": {"NonDemented": 5, "MildDemented": 2, "ModerateDemented": 1},
                   "test": {"NonDemented": 5, "MildDemented": 2, "ModerateDemented": 1}})
    metadata = {"metrics": {"val": {"images": 80, "balanced_accuracy": 0.444}}}
    note = validation_note(metadata, data)
    assert "0.444 on 80 slices of 8 brains" in note and "up to 0.33" in note and "chose the kept epoch" in note
    far = val_test_note(metadata, {"balanced_accuracy": 0.767, "ci95": {"balanced_accuracy": [0.55, 0.892]}}, data)
    assert "test 0.767 [0.550, 0.892]" in far and "A gap of 0.32" in far and "rest on 1 and 1 brain" in far
    assert "chose the kept epoch" in far
    near = val_test_note(metadata, {"balanced_accuracy": 0.47, "ci95": {"balanced_accuracy": [0.3, 0.6]}}, data)
    assert near.endswith("They agree within the test interval.")


#: What each notebook writes out by hand (plain Keras, TensorFlow, scikit-learn, pandas, NumPy), and the package
#: call its assert checks it against.
TAUGHT = {
    "01_eda.ipynb": (("train_test_split(", "GroupShuffleSplit("), "leaks("),
    "02_training.ipynb": (("include_top=False", "base.trainable = False", "training=False", "model.compile(",
                           "model.fit(", "BatchNormalization"), "build_classifier("),
    "03_gradcam.ipynb": (("tf.GradientTape()", "tape.gradient(", "tf.reduce_mean(grads", "tf.nn.relu("),
                         "= gradcam(run.model"),
    "04_evaluation.ipynb": (("np.add.at(", "rng.integers(", '.groupby("subject")', '1 - per_brain["NonDemented"]'),
                            "subject_votes("),
}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_notebook_writes_its_method_out_and_checks_it_against_the_package(path):
    code = "\n".join(_cells(path, "code"))
    written, package = TAUGHT[path.name]
    missing = [piece for piece in written if piece not in code]
    assert not missing, f"{path.name} does not write out {missing}"
    after = code[code.index(written[0]):]  # the package's version is called after the hand-written one, and asserted
    assert package in after and re.search(r"^(assert|np\.testing\.assert_)", after[after.index(package):], re.M)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_notebook_ends_with_exercises_and_their_solutions(path):
    cells = json.loads(path.read_text())["cells"]
    heading = next(i for i, c in enumerate(cells) if "".join(c["source"]).startswith("## Exercises"))
    questions = re.findall(r"^\d+\. \*\*", "".join(cells[heading]["source"]), re.MULTILINE)
    solutions = [c for c in cells[heading + 1:] if "".join(c["source"]).startswith("# Solution")]
    assert len(questions) >= 2 and len(solutions) == len(questions)
    assert all(c["cell_type"] == "code" for c in solutions)  # nbval runs them
