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


@pytest.mark.parametrize("pooling", ["mean", "attention"])
def test_the_person_model_answers_once_for_a_whole_stack(pooling):
    config = get_config("smoke", person_slices=3, person_pooling=pooling)
    model = build_person_model(config)
    stacks = np.random.default_rng(0).integers(0, 255, (2, 3, config.image_size, config.image_size, 1))
    proba = model.predict(stacks.astype(np.float32), verbose=0)
    assert proba.shape == (2, 4) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)


def test_a_person_model_trained_on_training_subjects_answers_each_test_subject_once(small_data):
    config = get_config("smoke", person_slices=3, person_epochs=1)
    train, val, test = (small_data.part(p) for p in ("train", "val", "test"))
    proba = person_probabilities(train[train["kind"] == "original"], val, {"test": test}, config)["test"]
    assert proba.shape == (len(test), 4) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert (pd.DataFrame(proba).groupby(test["subject"].to_numpy()).nunique() == 1).all().all()


def test_an_unknown_pooling_is_refused_by_name():
    with pytest.raises(SettingsError, match="person_pooling must be one of"):
        get_config("smoke", person_pooling="max")
