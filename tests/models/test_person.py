"""The model of the person: one answer per subject from its whole stack (its cross-validation: tests/evaluation/test_cv.py)."""

import numpy as np
import pandas as pd
import pytest

from alzmri.config import get_config
from alzmri.errors import SettingsError
from alzmri.models.person import build_person_model, person_probabilities, stack_rows


def test_a_stack_is_evenly_spaced_from_its_lowest_to_its_highest_slice():
    frame = pd.DataFrame({"subject": ["s"] * 8 + ["t"] * 2 + [""], "slice_pos": [7, 6, 5, 4, 3, 2, 1, 0, 1, 0, -1],
                          "relpath": [f"f{i}" for i in range(11)]})
    units, rows = stack_rows(frame, 4)
    picked = dict(zip(units, rows))
    assert list(frame["slice_pos"].to_numpy()[picked["s"]]) == [0, 2, 5, 7]
    assert list(frame["slice_pos"].to_numpy()[picked["t"]]) == [0, 0, 1, 1]  # fewer slices: some repeat
    assert list(picked["image:f10"]) == [10] * 4  # no subject: a stack of its own


def test_files_without_positions_are_stacked_in_natural_name_order():
    """Uploaded files carry no slice position: ``slice2`` comes before ``slice10``, as ``evaluate``'s positions do."""
    names = ["b/slice10.png", "b/slice2.png", "b/slice1.png", "b/slice30.png"]
    frame = pd.DataFrame({"subject": ["b"] * 4, "slice_pos": -1, "relpath": names})
    units, rows = stack_rows(frame, 4)
    assert [names[i] for i in rows[0]] == ["b/slice1.png", "b/slice2.png", "b/slice10.png", "b/slice30.png"]


@pytest.mark.parametrize("pooling", ["mean", "attention"])
def test_the_person_model_answers_once_for_a_whole_stack(pooling):
    config = get_config("smoke", person_slices=3, person_pooling=pooling)
    model = build_person_model(config)
    stacks = np.random.default_rng(0).integers(0, 255, (2, 3, config.image_size, config.image_size, 1))
    proba = model.predict(stacks.astype(np.float32), verbose=0)
    assert proba.shape == (2, 4) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)


@pytest.mark.slow
def test_a_person_model_trained_on_training_subjects_answers_each_test_subject_once(small_data):
    config = get_config("smoke", person_slices=3, person_epochs=1)
    train, val, test = (small_data.part(p) for p in ("train", "val", "test"))
    proba = person_probabilities(train[train["kind"] == "original"], val, {"test": test}, config)["test"]
    assert proba.shape == (len(test), 4) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert (pd.DataFrame(proba).groupby(test["subject"].to_numpy()).nunique() == 1).all().all()


def test_an_unknown_pooling_is_refused_by_name():
    with pytest.raises(SettingsError, match="person_pooling must be one of"):
        get_config("smoke", person_pooling="max")


def test_an_attention_model_of_the_person_saves_and_loads_in_safe_mode(tmp_path):
    import keras

    config = get_config("smoke", person_slices=3, person_pooling="attention")
    model = build_person_model(config)
    model.save(tmp_path / "person.keras")
    loaded = keras.models.load_model(tmp_path / "person.keras", compile=False, safe_mode=True)  # no Lambda layer
    stacks = np.random.default_rng(1).uniform(0, 255, (2, 3, config.image_size, config.image_size, 1)).astype("float32")
    np.testing.assert_allclose(loaded.predict(stacks, verbose=0), model.predict(stacks, verbose=0), atol=1e-6)


def test_a_person_run_is_an_ordinary_run_that_says_it_is_a_model_of_the_person(person_run):
    from alzmri.models.runs import CARD_FILE, CHECK_FILE, HISTORY_FILE, SPLITS_FILE, load_run, runs_table

    run = load_run(person_run)
    assert run.is_person and run.metadata["config"]["model"] == "person" and "-person-" in person_run.name
    assert "model of the person" in run.metadata["model_description"] and run.metadata["backbone"] is None
    assert run.model.input_shape[1:] == (4, run.image_size, run.image_size, 1)
    assert run.metadata["metrics"]["val"]["images"] > 0
    assert (person_run / SPLITS_FILE).exists() and not (person_run / CHECK_FILE).exists()
    history = pd.read_csv(person_run / HISTORY_FILE)
    assert set(history["stage"]) == {"person"} and "val_loss" in history and 1 <= len(history) <= 2
    card = (person_run / CARD_FILE).read_text()
    assert "Network: `model of the person" in card and "--per-subject" in card and "Backbone:" not in card
    table, _ = runs_table(person_run.parent)
    assert "model of the person" in table.set_index("run").loc[person_run.name, "network"]
