import pytest

from alzmri.config import CLASS_NAMES, PRESETS, SEVERITY_RANK, get_config


def test_class_order_is_alphabetical_and_severity_is_ordinal():
    assert list(CLASS_NAMES) == sorted(CLASS_NAMES)
    assert sorted(SEVERITY_RANK.values()) == [0, 1, 2, 3]
    assert SEVERITY_RANK["NonDemented"] < SEVERITY_RANK["VeryMildDemented"] < SEVERITY_RANK["MildDemented"]


def test_presets_differ_where_they_should():
    smoke, demo, full = PRESETS["smoke"], PRESETS["demo"], PRESETS["full"]
    assert smoke.image_size < demo.image_size < full.image_size == 224
    assert full.backbone == "ResNet152V2" and full.weights == "imagenet" and full.data == "kaggle"
    assert smoke.weights is None and demo.data == "demo"


def test_profile_from_environment(monkeypatch):
    monkeypatch.setenv("ALZMRI_PROFILE", "smoke")
    assert get_config().profile == "smoke"
    assert get_config("full").profile == "full"  # an explicit argument wins


def test_overrides_and_their_errors(monkeypatch):
    monkeypatch.delenv("ALZMRI_PROFILE", raising=False)
    config = get_config(image_size=64, weights=None)
    assert config.profile == "demo" and config.image_size == 64
    with pytest.raises(ValueError, match="image_sise.*valid fields"):
        get_config(image_sise=64)
    monkeypatch.setenv("ALZMRI_PROFILE", "tiny")
    with pytest.raises(ValueError, match=r"'tiny'.*ALZMRI_PROFILE.*smoke"):
        get_config()


def test_runs_folder_is_read_when_a_config_is_made(monkeypatch, tmp_path):
    monkeypatch.setenv("ALZMRI_RUNS", str(tmp_path / "a"))
    assert get_config("smoke").runs_dir == str(tmp_path / "a")
    monkeypatch.setenv("ALZMRI_RUNS", str(tmp_path / "b"))  # changed after import and after the first config
    assert get_config("demo").runs_dir == str(tmp_path / "b")
    assert get_config("demo", runs_dir="elsewhere").runs_dir == "elsewhere"  # an explicit override wins


def test_an_empty_environment_variable_counts_as_unset(monkeypatch):
    from pathlib import Path

    from alzmri.config import default_cache_dir

    monkeypatch.setenv("ALZMRI_CACHE", "")
    monkeypatch.setenv("ALZMRI_RUNS", "")
    assert default_cache_dir() == Path.home() / ".cache" / "alzmri"  # not the working folder
    assert get_config("smoke").runs_dir == "saved_models"
