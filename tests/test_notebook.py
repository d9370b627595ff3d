"""The Colab path, simulated: the notebooks' setup cell with a fake ``google.colab`` (its Drive a temporary folder),
pip and kagglehub stubbed (no network), with and without a GPU; the ``colab`` preset; 03 and 04 finding 02's run.

Nothing here downloads or trains: the tests take a second or two.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from alzmri import notebook
from alzmri.config import PRESETS, get_config

SETUP = "".join(next(c for c in json.loads((Path(__file__).resolve().parents[1] / "notebooks" / "02_training.ipynb")
                                           .read_text())["cells"] if c["cell_type"] == "code")["source"])


@pytest.fixture
def colab(monkeypatch, tmp_path):
    """A Colab runtime as far as the setup cell can tell: ``google.colab`` with a Drive mounted into ``tmp_path``,
    pip answering success, kagglehub refusing any call, no ``$ALZMRI_PROFILE``, no Kaggle credentials."""
    mounted = []

    def mount(mount_point, **_):
        (Path(mount_point) / "MyDrive").mkdir(parents=True, exist_ok=True)
        mounted.append(mount_point)

    fake = types.ModuleType("google.colab")
    fake.drive = types.SimpleNamespace(mount=mount)
    monkeypatch.setitem(sys.modules, "google.colab", fake)
    installs, real_run = [], subprocess.run

    def run(args, **kwargs):  # pip answers at once; anything else (a library's own calls) runs for real
        if list(args[1:4]) != ["-m", "pip", "-q"]:
            return real_run(args, **kwargs)
        installs.append(args)
        return subprocess.CompletedProcess(args, returncode=0, stdout="", stderr="")

    monkeypatch.setattr(subprocess, "run", run)

    def offline(*_, **__):
        raise AssertionError("the setup must not call kagglehub (no network in this test)")

    monkeypatch.setitem(sys.modules, "kagglehub", types.SimpleNamespace(login=offline, dataset_download=offline))
    monkeypatch.setattr(notebook, "DRIVE_MOUNT", str(tmp_path / "drive"))
    for name in ("ALZMRI_PROFILE", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN", "KAGGLE_CONFIG_DIR",
                 "KAGGLEHUB_CACHE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALZMRI_CACHE", os.environ["ALZMRI_CACHE"])  # put back after the Drive test moves it
    monkeypatch.setenv("ALZMRI_RUNS", str(tmp_path / "local-runs"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return types.SimpleNamespace(drive=tmp_path / "drive", mounted=mounted, installs=installs)


def run_setup(monkeypatch, gpus: list[str], use_drive: bool = False) -> dict:
    """Execute the setup cell as Colab would, with ``gpus`` as the runtime's GPUs; returns its variables."""
    monkeypatch.setattr(notebook, "gpu_names", lambda: gpus)
    source = SETUP.replace("USE_DRIVE = False", f"USE_DRIVE = {use_drive}", 1)
    namespace: dict = {}
    exec(compile(source, "setup-cell", "exec"), namespace)
    return namespace


def test_a_colab_gpu_gets_the_colab_profile_with_runs_on_drive_and_the_kaggle_login(colab, monkeypatch, capsys):
    cell = run_setup(monkeypatch, ["Tesla T4"], use_drive=True)
    out = capsys.readouterr().out
    assert cell["config"] == get_config("colab")
    assert "profile colab (a Colab GPU: Tesla T4)" in out
    assert "ResNet152V2 (ImageNet weights) at 224 px, on the Kaggle V2 set" in out
    folder = colab.drive / "MyDrive" / "alzmri"
    runs = folder / "saved_models"
    assert colab.mounted == [str(colab.drive)] and runs.is_dir()
    assert cell["config"].runs_dir == str(runs)
    assert f"Runs, the features cache and the Kaggle download are kept on Google Drive: {folder}" in out
    # the next notebook's runtime finds the download and the features the first one made
    assert os.environ["ALZMRI_CACHE"] == str(folder / "cache") and os.environ["KAGGLEHUB_CACHE"] == str(
        folder / "kagglehub")
    assert "needs a (free) Kaggle account" in out and "import kagglehub; kagglehub.login()" in out
    assert "No Kaggle credentials found yet." in out
    assert len(colab.installs) == 1 and colab.installs[0][-1] == "git+https://github.com/alzmri/alzmri.git"


def test_a_colab_without_gpu_says_so_in_one_line_and_takes_the_cpu_profile(colab, monkeypatch, capsys):
    cell = run_setup(monkeypatch, [])
    out = capsys.readouterr().out
    assert cell["config"].profile == "demo" and cell["config"].data == "demo"
    gpu_lines = [line for line in out.splitlines() if "GPU" in line]
    assert len(gpu_lines) == 1 and "NO GPU in this Colab runtime, so the CPU profile" in gpu_lines[0]
    assert "Change runtime type > T4 GPU" in gpu_lines[0]
    assert "Kaggle" not in out  # the synthetic data needs no account
    assert "set USE_DRIVE = True" in out and not colab.mounted  # Drive only on request
    assert cell["config"].runs_dir == str(colab.drive.parent / "local-runs")


def test_an_explicit_profile_is_kept_and_found_kaggle_credentials_are_named(colab, monkeypatch, capsys):
    monkeypatch.setenv("ALZMRI_PROFILE", "full")
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "not-a-real-key")
    cell = run_setup(monkeypatch, [])
    out = capsys.readouterr().out
    assert cell["config"].profile == "full" and "from $ALZMRI_PROFILE" in out
    assert "Kaggle credentials found (in the environment)" in out
    assert "NO GPU here: the full profile is made for a T4-class GPU" in out


def test_locally_nothing_is_installed_and_the_default_profile_is_demo(colab, monkeypatch, capsys):
    monkeypatch.delitem(sys.modules, "google.colab")
    cell = run_setup(monkeypatch, ["Tesla T4"])
    out = capsys.readouterr().out
    assert cell["config"].profile == "demo" and not colab.installs
    assert "Drive" not in out and "Colab" not in out


def test_a_kaggle_login_stored_in_colabs_secrets_is_found_and_handed_to_kagglehub(colab, monkeypatch, capsys):
    secrets = {"KAGGLE_USERNAME": "someone", "KAGGLE_KEY": "not-a-real-key"}
    asked = []
    sys.modules["google.colab"].userdata = types.SimpleNamespace(  # a missing one raises
        get=lambda name: asked.append(name) or secrets[name])
    cell = run_setup(monkeypatch, ["Tesla T4"])
    assert "Kaggle credentials found (in Colab's Secrets)." in capsys.readouterr().out
    assert cell["config"].data == "kaggle" and os.environ["KAGGLE_KEY"] == "not-a-real-key"
    asked.clear()
    run_setup(monkeypatch, ["Tesla T4"])  # a login in the environment: Colab is not asked again
    assert "(in the environment)" in capsys.readouterr().out and asked == []
    del secrets["KAGGLE_KEY"]
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    run_setup(monkeypatch, ["Tesla T4"])
    assert "No Kaggle credentials found yet." in capsys.readouterr().out


def test_the_colab_preset_is_the_real_setting_sized_for_a_t4():
    colab = PRESETS["colab"]
    assert (colab.backbone, colab.backbone_end, colab.weights, colab.image_size) == ("ResNet152V2", None, "imagenet",
                                                                                     224)
    assert (colab.data, colab.split, colab.use_augmented, colab.augment) == ("kaggle", "subject", False, True)
    assert colab.head_epochs > 0 and colab.finetune_epochs > 0 and colab.finetune_blocks == 2
    # The V2 set under the subject split: 141 training brains x 32 slices, 29 val brains (see config.py).
    training = notebook.training_seconds(colab, 141 * 32, 29 * 32)
    assert 10 * 60 < training < 16 * 60  # leaves the install, download and features inside about 20 minutes
    assert notebook.training_seconds(notebook.quick_config(colab), 141 * 32, 29 * 32) < 4 * 60
    assert notebook.training_seconds(PRESETS["demo"], 2023, 156) == pytest.approx(3 * 60, abs=30)  # measured ~3 min


def _fake_run(folder: Path, config) -> Path:
    """A finished run as far as the lookup can tell: its metadata names its settings (as tests/models/test_cards.py's)."""
    folder.mkdir(parents=True)
    (folder / "metadata.json").write_text(json.dumps({"config": config.to_dict(), "profile": config.profile,
                                                      "data_fingerprint": "fake"}))
    return folder


def test_03_and_04_find_02s_run_on_drive(colab, monkeypatch, capsys):
    run_setup(monkeypatch, ["Tesla T4"], use_drive=True)
    config = get_config("colab")
    from alzmri.models.runs import default_run_name

    saved = _fake_run(Path(config.runs_dir) / default_run_name(config), config)
    choice = notebook.choose_run(config)
    assert choice.found and choice.run_dir == saved and choice.config == config and choice.run_name is None
    assert choice.message == f"Using notebook 02's run {saved}."
    calls = []
    monkeypatch.setattr("alzmri.models.training.get_or_train", lambda *a, **k: calls.append((a, k)) or saved)
    assert notebook.run_for_notebook(config, data=None) == saved
    assert calls == [((config,), {"run_name": None, "data": None, "progress": False})]
    assert capsys.readouterr().out.endswith(f"Using notebook 02's run {saved}.\n")


def test_without_02s_run_they_say_so_and_train_a_quick_one(colab, monkeypatch):
    run_setup(monkeypatch, ["Tesla T4"], use_drive=True)
    config = get_config("colab")
    choice = notebook.choose_run(config)
    assert not choice.found and choice.config == config.replace(finetune_epochs=0)
    assert choice.run_name.endswith("-quick") and choice.run_dir.parent == Path(config.runs_dir)
    assert choice.message.startswith(f"No finished run of notebook 02 in {config.runs_dir}: training a quick one")
    assert "stage 1 only" in choice.message and "USE_DRIVE = True" in choice.message
    _fake_run(choice.run_dir, choice.config)  # 03 trained it: 04 takes it
    again = notebook.choose_run(config)
    assert again.found and again.run_dir == choice.run_dir and "quick run" in again.message


def test_a_run_of_other_settings_under_02s_name_is_not_taken_for_02s(colab, monkeypatch):
    config = get_config("demo")
    from alzmri.models.runs import default_run_name

    _fake_run(Path(config.runs_dir) / default_run_name(config), config.replace(finetune_epochs=2))
    choice = notebook.choose_run(config)
    assert not choice.found and choice.config == config and choice.run_name is None  # demo is cheap: itself
    assert "training the demo profile's run here, the one 02 trains" in choice.message
