"""``alzmri cv``: every subject tested once over folds of subjects, scored per slice and per subject."""

import json
import math

import numpy as np
import pytest

from alzmri.cli import main
from alzmri.config import CLASS_NAMES, get_config
from alzmri.errors import SettingsError
from alzmri.evaluation.cv import centred_on_threshold, cross_validate, fold_config, fold_run_name
from alzmri.metrics import p_any_dementia
from helpers import assert_drawn

LEVEL_KEYS = {"balanced_accuracy", "ci", "auc_any_dementia", "ci_auc_any_dementia", "accuracy", "quadratic_kappa",
              "any_dementia", "confusion_matrix"}


def _inside(value: float, ci: list[float]) -> bool:
    return math.isnan(value) or ci[0] - 1e-9 <= value <= ci[1] + 1e-9


@pytest.mark.parametrize("model", ["probe", "thumbnail", "atrophy"])
def test_cv_tests_every_subject_once_and_gives_the_promised_summary(small_data, model):
    result = cross_validate(small_data, get_config("smoke"), model, folds=2, n_boot=50, progress=False)
    summary, predictions = result.summary, result.predictions
    assert {"model", "folds", "subjects_tested", "images_tested", "slice_level", "subject_level", "per_fold", "data",
            "any_dementia_threshold_from"} <= set(summary)
    frame = small_data.frame
    originals = frame[(frame["kind"] == "original") & (frame["subject"] != "")]
    assert summary["subjects_tested"] == originals["subject"].nunique() == summary["subject_level"]["subjects"]
    assert summary["images_tested"] == len(originals) == predictions["relpath"].nunique() == len(predictions)
    assert (predictions.groupby("subject")["fold"].nunique() == 1).all()  # each subject tested in one fold only
    assert [f["fold"] for f in summary["per_fold"]] == [1, 2]
    assert sum(f["test_subjects"] for f in summary["per_fold"]) == summary["subjects_tested"]
    for level in ("slice_level", "subject_level"):
        scores = summary[level]
        assert LEVEL_KEYS <= set(scores), level
        assert _inside(scores["balanced_accuracy"], scores["ci"]) and 0 <= scores["balanced_accuracy"] <= 1
        assert _inside(scores["auc_any_dementia"], scores["ci_auc_any_dementia"])
    assert summary["slice_level"]["ci_resampled"]["unit"] == "subject"
    assert summary["slice_level"]["ci_resampled"]["count"] == summary["subjects_tested"]  # resamples subjects
    assert "validation" in summary["any_dementia_threshold_from"]
    assert summary["data"]["synthetic"] and summary["model"] == model


def test_each_row_is_called_at_its_own_folds_threshold():
    proba = np.array([[0.1, 0.0, 0.6, 0.3],   # P(any) 0.4, fold threshold 0.3: called demented
                      [0.1, 0.0, 0.6, 0.3],   # the same, fold threshold 0.5: not called
                      [0.0, 0.0, 0.2, 0.8]])  # P(any) 0.8, threshold 0.8: called (at the threshold counts)
    moved = centred_on_threshold(proba, np.array([0.3, 0.5, 0.8]))
    assert list(p_any_dementia(moved) >= 0.5) == [True, False, True]
    np.testing.assert_array_equal(np.delete(moved, CLASS_NAMES.index("NonDemented"), axis=1),
                                  np.delete(proba, CLASS_NAMES.index("NonDemented"), axis=1))


def test_every_fold_is_a_run_of_its_own_name():
    config = get_config("smoke")
    names = {fold_run_name(fold_config(config, k, 3)) for k in (1, 2, 3)}
    assert len(names) == 3 and all(n.endswith("of3") for n in names)
    assert fold_config(config, 2, 3).split == "subject" and fold_config(config, 2, 3).cv_fold == 2


def test_an_unknown_model_or_too_many_folds_is_refused_before_any_work(small_data):
    with pytest.raises(SettingsError, match="--model must be one of"):
        cross_validate(small_data, get_config("smoke"), "forest", progress=False)
    with pytest.raises(SettingsError, match="--folds 9 is more than the subjects of any class"):
        cross_validate(small_data, get_config("smoke"), "probe", folds=9, progress=False)
    with pytest.raises(SettingsError, match="--against must be one of"):
        cross_validate(small_data, get_config("smoke"), "probe", against="forest", progress=False)
    with pytest.raises(SettingsError, match="--repeats must be a whole number from 1"):
        cross_validate(small_data, get_config("smoke"), "probe", folds=2, repeats=0, progress=False)


def test_cv_command_prints_both_levels_and_writes_figure_and_json(small_root, tmp_path, capsys):
    out_json = tmp_path / "cv.json"
    assert main(["cv", str(small_root), "--profile", "smoke", "--folds", "2", "--model", "thumbnail", "--against",
                 "atrophy", "--repeats", "2", "--json", str(out_json), "--figures", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "per slice" in out and "per subject" in out and "bal. acc per subject" in out and "3-class" in out
    assert "thumbnail minus atrophy per subject" in out and "DeLong p" in out
    assert "not a medical device" in out and "SYNTHETIC" in out
    summary = json.loads(out_json.read_text())
    assert summary["model"] == "thumbnail" and summary["folds"] == 2 and summary["repeats"] == 2
    assert [(f["repeat"], f["fold"]) for f in summary["per_fold"]] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert sum(f["test_subjects"] for f in summary["per_fold"]) == 2 * summary["subjects_tested"]  # tested twice
    assert summary["subject_level"]["ci_resampled"]["count"] == summary["subjects_tested"]  # resampled once each
    assert summary["slice_level"]["images"] == summary["images_tested"] < summary["tests"]  # each image counted once
    for level in ("slice_level", "subject_level"):
        paired = summary["against"][level]
        assert {"balanced_accuracy_difference", "ci", "auc_any_dementia_difference", "ci_auc", "delong_p"} <= set(paired)
        assert _inside(paired["balanced_accuracy_difference"], paired["ci"])
        assert _inside(paired["auc_any_dementia_difference"], paired["ci_auc"]) and 0 <= paired["delong_p"] <= 1
        assert paired["balanced_accuracy_difference"] == pytest.approx(
            summary[level]["balanced_accuracy"] - paired["reference_balanced_accuracy"])
        three = summary["three_class"][level]
        assert _inside(three["balanced_accuracy"], three["ci"])
    assert summary["against"]["model"] == "atrophy"
    assert_drawn(tmp_path / "cv_thumbnail.png")


def test_a_model_against_itself_differs_by_nothing(small_data):
    summary = cross_validate(small_data, get_config("smoke"), "atrophy", folds=2, n_boot=20, progress=False,
                             against="atrophy").summary
    for level in ("slice_level", "subject_level"):
        paired = summary["against"][level]
        assert paired["balanced_accuracy_difference"] == 0 and paired["ci"] == [0, 0]
        assert paired["auc_any_dementia_difference"] == 0 and math.isnan(paired["delong_p"])


def test_a_given_probabilities_function_answers_every_fold_of_the_model_not_the_reference(small_data):
    """cv's ``probabilities`` hook (benchmarks/operating_point.py averages several runs with it): called once per fold
    with that fold's split, its answers are the model's predictions, and the reference is still scored the usual way."""
    from alzmri.evaluation.compare import held_out_probabilities

    calls = []

    def flipped(model, split, config, parts, run_name, progress):
        calls.append((model, config.cv_fold, run_name, parts, set(split.part("test")["subject"])))
        return {part: held_out_probabilities(model, split, config, parts)[part][:, ::-1] for part in parts}

    plain = cross_validate(small_data, get_config("smoke"), "atrophy", folds=2, n_boot=20, progress=False)
    hooked = cross_validate(small_data, get_config("smoke"), "atrophy", folds=2, n_boot=20, progress=False,
                            against="atrophy", probabilities=flipped)
    assert [(model, fold) for model, fold, *_ in calls] == [("atrophy", 1), ("atrophy", 2)]
    assert [name for _, _, name, _, _ in calls] == [fold_run_name(fold_config(get_config("smoke"), k, 2))
                                                    for k in (1, 2)]
    assert not calls[0][4] & calls[1][4]  # each call holds its own fold's test subjects
    columns = [f"p_{c}" for c in CLASS_NAMES]
    np.testing.assert_allclose(hooked.predictions[columns].to_numpy(),
                               plain.predictions[columns].to_numpy()[:, ::-1])
    reference = hooked.summary["against"]["subject_level"]["reference_balanced_accuracy"]
    assert reference == plain.summary["subject_level"]["balanced_accuracy"]  # the reference: not through the hook


def test_cv_command_refuses_more_folds_than_subjects_in_one_line(small_root, tmp_path, capsys):
    assert main(["cv", str(small_root), "--profile", "smoke", "--folds", "9", "--figures", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--folds 9" in err and "Traceback" not in err


def test_cv_of_the_person_model_tests_every_subject_once_with_one_answer(small_data, monkeypatch):
    """The cv wiring, with the training replaced by a model of the person that answers from the subject's name (the
    training itself: tests/models/test_person.py)."""
    import alzmri.models.person as person
    from alzmri.reporting.summaries import format_cv

    seen = []

    def by_name(train, val, parts, config, progress=False):
        seen.append((set(train["subject"]), {name: set(frame["subject"]) for name, frame in parts.items()}))
        return {name: np.eye(4)[[hash(s) % 4 for s in frame["subject"]]] for name, frame in parts.items()}

    monkeypatch.setattr(person, "person_probabilities", by_name)
    result = cross_validate(small_data, get_config("smoke"), "person", folds=2, n_boot=20, progress=False)
    predictions, summary = result.predictions, result.summary
    assert all(not (train & tested) for train, parts in seen for tested in parts.values())  # no subject on both sides
    assert summary["subjects_tested"] == small_data.frame.loc[small_data.frame["kind"] == "original", "subject"].nunique()
    assert (predictions.filter(like="p_").groupby(predictions["subject"]).nunique() == 1).all().all()
    assert "model of the person" in summary["model_description"]
    assert "per subject: the model of the person, once from all its slices" in format_cv(summary)


@pytest.mark.slow
def test_cnn_folds_are_ordinary_runs_reused_when_finished(small_data, tmp_path, capsys):
    from alzmri.models.runs import CARD_FILE, is_finished

    config = get_config("smoke").replace(runs_dir=str(tmp_path / "runs"), data=str(small_data.root))
    first = cross_validate(small_data, config, "cnn", folds=2, n_boot=20)
    runs = sorted((tmp_path / "runs").iterdir())
    assert [r.name for r in runs if is_finished(r)] == [fold_run_name(fold_config(config, k, 2)) for k in (1, 2)]
    assert all((r / CARD_FILE).exists() for r in runs if is_finished(r))
    assert first.summary["subjects_tested"] == small_data.frame.loc[small_data.frame["kind"] == "original",
                                                                     "subject"].nunique()
    capsys.readouterr()
    again = cross_validate(small_data, config, "cnn", folds=2, n_boot=20)
    assert capsys.readouterr().out.count("Reusing the finished run") == 2
    assert again.summary["slice_level"]["balanced_accuracy"] == first.summary["slice_level"]["balanced_accuracy"]


def test_a_file_deleted_during_cv_is_named_in_one_line(small_data, tmp_path, monkeypatch):
    import tensorflow as tf

    from alzmri.errors import DatasetError
    from alzmri.evaluation import cv

    real = cv.held_out_probabilities

    def vanishing(model, split, config, *args):
        if config.cv_fold == 2:  # a file of fold 2's split is gone
            split.frame.loc[split.frame.index[0], "path"] = str(tmp_path / "gone.jpg")  # this fold's own copy
            tf.io.read_file(str(tmp_path / "gone.jpg"))  # TensorFlow's own NotFoundError, as tf.data raises it
        return real("probe", split, config, *args)

    monkeypatch.setattr(cv, "held_out_probabilities", vanishing)
    with pytest.raises(DatasetError, match=r"gone\.jpg vanished during cv fold 2 of 2") as raised:
        cross_validate(small_data, get_config("smoke"), "probe", folds=2, n_boot=10, progress=False)
    assert "\n" not in str(raised.value)
