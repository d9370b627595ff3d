import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, cohen_kappa_score, f1_score

from alzmri.evaluation import evaluate
from alzmri.models.runs import write_metrics
from alzmri import metrics as E
from alzmri.config import CLASS_NAMES, get_config
from alzmri.data.datasets import DataWarning
from alzmri.evaluation.evaluate import leak_breakdown
from alzmri.leakage.copies import leak_counts
from helpers import assert_drawn


def _predictions(n=200, seed=0, skill=2.0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    logits = rng.normal(0, 1, (n, 4))
    logits[np.arange(n), labels] += skill
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return labels, proba


@pytest.mark.parametrize("seed, drop", [(0, None), (1, 1), (2, 3), (3, 0)])
def test_headline_metrics_match_scikit_learn(seed, drop):
    from sklearn.metrics import roc_auc_score

    labels, proba = _predictions(seed=seed, skill=1.0)
    if drop is not None:  # a class missing from the labels (it may still be predicted), as in a bootstrap resample
        keep = labels != drop
        labels, proba = labels[keep], proba[keep]
    predicted = proba.argmax(axis=1)
    m = E.compute_metrics(labels, proba, n_boot=50)
    assert m["accuracy"] == pytest.approx(accuracy_score(labels, predicted))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(labels, predicted))
    present = sorted(set(labels) | set(predicted))
    assert m["macro_f1"] == pytest.approx(f1_score(labels, predicted, average="macro", labels=present,
                                                   zero_division=0))
    rank = np.array([2, 3, 0, 1])  # Mild, Moderate, Non, VeryMild → severity
    assert m["quadratic_kappa"] == pytest.approx(cohen_kappa_score(rank[labels], rank[predicted], weights="quadratic",
                                                                   labels=[0, 1, 2, 3]))
    auc = np.mean([roc_auc_score(labels == c, proba[:, c]) for c in np.unique(labels)])
    assert m["roc_auc_ovr"] == pytest.approx(auc)
    assert np.array(m["confusion_matrix"]).sum() == len(labels)
    assert np.allclose(np.array(m["confusion_matrix_normalised"]).sum(axis=1)[np.unique(labels)], 1, atol=1e-3)


def test_kappa_is_ordinal():
    labels = np.array([2, 3, 0, 1])  # Non, VeryMild, Mild, Moderate in severity terms
    assert E.quadratic_kappa(labels, labels) == pytest.approx(1.0)
    near = E.quadratic_kappa(np.array([2, 2, 3, 0, 1]), np.array([3, 2, 3, 0, 1]))  # Non → VeryMild: one step
    far = E.quadratic_kappa(np.array([2, 2, 3, 0, 1]), np.array([1, 2, 3, 0, 1]))  # Non → Moderate: three steps
    assert near > far


def test_expected_calibration_error_by_hand():
    labels = np.array([0, 0, 0, 0, 1])
    proba = np.tile([0.8, 0.2, 0.0, 0.0], (5, 1))  # confidence 0.8, accuracy 0.8 → perfectly calibrated
    assert E.expected_calibration_error(labels, proba) == pytest.approx(0.0)
    assert E.expected_calibration_error(np.array([1, 1]), np.tile([0.9, 0.1, 0, 0], (2, 1))) == pytest.approx(0.9)
    # two bins: half the images at 0.95 confidence all right (gap 0.05), half at 0.55 all wrong (gap 0.55)
    proba = np.array([[0.95, 0.05, 0, 0]] * 2 + [[0.55, 0.45, 0, 0]] * 2)
    assert E.expected_calibration_error(np.array([0, 0, 1, 1]), proba) == pytest.approx(0.5 * 0.05 + 0.5 * 0.55)


def test_bootstrap_intervals_bracket_the_estimate_and_shrink_with_data():
    small_labels, small_proba = _predictions(60, seed=1)
    big_labels, big_proba = _predictions(600, seed=1)
    small = E.compute_metrics(small_labels, small_proba, n_boot=200)
    big = E.compute_metrics(big_labels, big_proba, n_boot=200)
    for name in E.HEADLINE:
        low, high = small["ci95"][name]
        assert low <= small[name] <= high
    width = lambda m: m["ci95"]["balanced_accuracy"][1] - m["ci95"]["balanced_accuracy"][0]  # noqa: E731
    assert width(big) < width(small)


def test_a_class_missing_from_the_test_split_is_reported_not_a_crash():
    labels, proba = _predictions(80, seed=2)
    keep = labels != 1
    m = E.compute_metrics(labels[keep], proba[keep], n_boot=30)
    assert m["absent_classes"] == ["ModerateDemented"]
    assert m["per_class"]["ModerateDemented"]["support"] == 0
    assert np.isfinite(m["roc_auc_ovr"]) and np.array(m["confusion_matrix"])[1].sum() == 0


def test_evaluate_run_writes_metrics_and_faithfulness(smoke_evaluation):
    evaluation, saved = smoke_evaluation.evaluation, smoke_evaluation.saved
    assert saved["images"] == len(evaluation.frame) and saved["split_protocol"] == "subject"
    assert set(E.HEADLINE) <= set(saved["ci95"]) and saved["synthetic"] is True
    test_subjects = evaluation.frame["subject"].nunique()
    assert saved["ci_resampled"] == {"unit": "subject", "count": test_subjects, "resamples": 50}
    assert saved["leakage"]["leaked"]["images"] == 0 and saved["leakage"]["clean"]["images"] == saved["images"]
    faith = saved["faithfulness"]
    assert faith["images"] == min(16, len(evaluation.frame)) and faith["layer"].endswith("_out")  # main path
    for kind in ("deletion_auc", "insertion_auc"):
        assert set(faith[kind]) == {"gradcam", "random", "centre"}
        assert all(low <= faith[kind][m] <= high for m, (low, high) in faith[f"{kind}_ci"].items())
    assert [step["randomised"] for step in faith["randomisation"]][0] == "head"
    assert all(step["rank_correlation"] is None or -1 <= step["rank_correlation"] <= 1  # None: flat maps
               for step in faith["randomisation"])
    plaus = saved["plausibility"]  # synthetic data: the evidence masks exist
    per_class = plaus["by_class"]
    assert sum(scores["gradcam"]["images"] for scores in per_class.values()) == plaus["gradcam"]["images"]
    weighted = sum(s["centre"]["pointing_game"] * s["centre"]["images"] for s in per_class.values())
    assert weighted / plaus["centre"]["images"] == pytest.approx(plaus["centre"]["pointing_game"])
    assert evaluation.proba.shape == (len(evaluation.frame), len(CLASS_NAMES))


def test_evaluation_figures_are_written(smoke_evaluation, tmp_path):
    from alzmri.reporting import plots
    from alzmri.reporting.plots import save_evaluation_figures

    evaluation = smoke_evaluation.evaluation
    written = save_evaluation_figures(evaluation, evaluate.explain_examples(evaluation), [tmp_path])
    names = {p.name for p in written}
    assert {"confusion_matrix.png", "roc_curves.png", "reliability.png", "training_curves.png",
            "confident_mistakes.png", "gradcam.png", "deletion_insertion.png", "randomisation.png"} <= names
    for path in written:
        assert_drawn(path)
    counts = [int(t.get_text()) for t in plots.confusion_matrices(evaluation.metrics).axes[0].texts]
    assert len(counts) == 16 and sum(counts) == len(evaluation.frame)  # every test image counted once


def test_a_gallery_takes_one_middle_slice_of_each_subject():
    frame = pd.DataFrame({"subject": ["a"] * 5 + ["b"] * 3 + ["", ""], "slice_pos": [0, 1, 2, 3, 4, 0, 1, 2, 0, 0],
                          "path": [f"p{i}" for i in range(10)]})
    picked = evaluate.one_slice_per_subject(frame)
    assert picked["path"].tolist() == ["p2", "p6", "p8", "p9"]  # middle of a, middle of b, unknowns kept


def test_evaluating_other_data_keeps_the_runs_own_result(smoke_run, tmp_path, capsys):
    import shutil

    from alzmri.data import synthetic
    from alzmri.cli import main

    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    shutil.rmtree(run / "figures", ignore_errors=True)  # whatever earlier tests drew for the run's own split
    own = {"balanced_accuracy": 0.123, "data": {"fingerprint": "the run's own"}}  # as `evaluate RUN` left it
    write_metrics(run, "test", own)
    other = synthetic.generate_dataset(tmp_path / "their_scans", n_per_class=12, size=48, seed=5, slices=4,
                                       copies=1.0, balance="equal", progress=False)
    (other / synthetic.MANIFEST).unlink()  # no manifest: data alzmri did not generate, whatever it looks like
    assert main(["evaluate", str(run), "--data", str(other)]) == 0
    saved = json.loads((run / "metrics.json").read_text())
    keys = [k for k in saved if k.startswith("test@their_scans-subject-")]
    assert len(keys) == 1 and f"under {keys[0]!r}" in capsys.readouterr().out
    theirs = saved[keys[0]]
    assert theirs["synthetic"] is False and theirs["data"]["path"] == str(other)
    assert saved["test"] == own  # the run's own result is untouched
    assert theirs["data"]["fingerprint"] != json.loads((run / "metadata.json").read_text())["data_fingerprint"]
    assert not (run / "figures" / "confusion_matrix.png").exists()  # the run's own figures are not overwritten:
    assert_drawn(run / "figures" / keys[0] / "confusion_matrix.png")  # the other data's go beside its key


def test_a_card_that_cannot_be_written_never_costs_the_metrics_or_figures(smoke_run, tmp_path, monkeypatch, capsys):
    import shutil

    from alzmri.cli import main

    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    shutil.rmtree(run / "figures", ignore_errors=True)
    (run / "metrics.json").unlink(missing_ok=True)

    def read_only(run_dir):  # as a read-only MODEL_CARD.md behaves for a user who is not root
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(evaluate, "write_model_card", read_only)
    with pytest.warns(UserWarning, match=r"could not be rewritten \(Permission denied\); the metrics are saved"):
        assert main(["evaluate", str(run)]) == 0
    assert "test" in json.loads((run / "metrics.json").read_text())
    assert_drawn(run / "figures" / "confusion_matrix.png")
    assert not [p for p in run.iterdir() if p.name.startswith(".")]  # no temporary file left behind


def _run_copy(smoke_run, tmp_path):
    """A copy of the shared smoke run, never scored: its metrics.json removed."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    (run / "metrics.json").unlink(missing_ok=True)
    return run


def _train_rows_marked_test(path):
    text = path.read_text().splitlines()
    path.write_text("\n".join([text[0]] + [r[:-len(",train")] + ",test" if r.endswith(",train") else r
                                           for r in text[1:]]) + "\n")


def _one_train_and_one_test_row_swapped(path):
    table = pd.read_csv(path, keep_default_na=False, dtype=str)
    train, test = table.index[table["split"] == "train"][0], table.index[table["split"] == "test"][0]
    table.loc[[train, test], "split"] = ["test", "train"]
    table.to_csv(path, index=False)


@pytest.mark.parametrize("tamper, message", [
    (_train_rows_marked_test, r"splits.csv does not match what the run's metadata recorded: train 0 images "
                              r"\(recorded \d+\); test \d+ images \(recorded \d+\)\. It was edited or replaced"),
    (_one_train_and_one_test_row_swapped, r"splits.csv was changed after training \(same images per split, but its "
                                          r"SHA-256 is not the one the run's metadata recorded\)"),
    (lambda path: path.unlink(), r"splits.csv is gone: the run's split .* cannot be recomputed safely without it\. "
                                 r"Restore the file, or train the run again \(--replace\)"),
    (lambda path: path.write_bytes(b""), r"splits.csv is empty: restore the file"),
    (lambda path: path.write_bytes(bytes(range(256)) * 40), r"splits.csv is not a table of splits"),
    (lambda path: path.write_text("relpath,split\na.jpg,test\n"), r"splits.csv is not a table of splits \(no column "
                                                                  r"class_name, kind, original, group, subject"),
], ids=["train-rows-marked-test", "rows-swapped", "deleted", "empty", "binary", "other-table"])
def test_a_splits_file_that_is_not_the_runs_own_is_refused_in_one_line(tamper, message, smoke_run, tmp_path,
                                                                        monkeypatch, capsys):
    """An edited, deleted, empty or binary splits.csv is never scored as the run's test split (nor recomputed)."""
    import re

    import alzmri.leakage.prepared
    import alzmri.leakage.saved_splits
    from alzmri.models.runs import CARD_FILE
    from alzmri.cli import main

    run = _run_copy(smoke_run, tmp_path)
    card = (run / CARD_FILE).read_text()
    tamper(run / "splits.csv")
    refused = [(alzmri.leakage.prepared, "resolve_data"), (alzmri.leakage.prepared, "prepare_data"),
               (alzmri.leakage.saved_splits, "resolve_data")]
    for module, name in refused:  # refused before any data is read or any split recomputed
        monkeypatch.setattr(module, name, lambda *a, **k: pytest.fail("data was read"))
    assert main(["evaluate", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("alzmri evaluate: error: ") and len(err.strip().splitlines()) == 1, err
    assert re.search(message, err), err
    assert not (run / "metrics.json").exists() and (run / CARD_FILE).read_text() == card  # nothing written


def test_splits_rows_naming_files_that_are_gone_are_named(smoke_run, tmp_path):
    """Files deleted from the data since training are named, with their split, not called "added since"."""
    import shutil
    import warnings

    from alzmri.config import Config
    from alzmri.data.datasets import DataWarning
    from alzmri.models.runs import load_run_splits

    run = _run_copy(smoke_run, tmp_path)
    metadata = json.loads((run / "metadata.json").read_text())
    data = tmp_path / "data"
    shutil.copytree(metadata["data"], data)
    saved = pd.read_csv(run / "splits.csv", keep_default_na=False)
    gone = saved.loc[saved["split"] == "test", "relpath"].head(2).tolist()
    for relpath in gone:
        (data / relpath).unlink()
    config = Config.from_dict(metadata["config"]).replace(data=str(data))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_run_splits(run, config, progress=False)
    notes = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    named = [n for n in notes if "names are not in" in n]
    assert len(named) == 1 and all(f"{r} (test)" in named[0] for r in gone), notes
    assert named[0].startswith("2 file(s) the run's splits.csv names are not in") and "deleted or moved" in named[0]
    assert not [n for n in notes if "added since" in n]  # nothing was added
    assert len(loaded.part("test")) == metadata["split_sizes"]["test"]["images"] - 2


def test_evaluate_scores_each_subject_once_and_any_dementia_on_validation_cut_offs(smoke_evaluation):
    """The subject-level block is the voted answers scored over subjects; any dementia's cut-offs come from val."""
    from sklearn.metrics import roc_auc_score

    evaluation, saved = smoke_evaluation.evaluation, smoke_evaluation.saved
    frame, people = evaluation.frame, saved["subject_level"]
    assert people["subjects"] == frame["subject"].nunique() and people["images"] == len(frame)
    assert people["voting"] == "soft" and "note" not in people  # every synthetic slice knows its subject
    assert people["ci_resampled"] == {"unit": "subject", "count": people["subjects"], "resamples": 50}
    voted = pd.DataFrame(evaluation.proba).groupby(frame["subject"].to_numpy()).mean()  # soft voting by hand
    truth = frame.groupby("subject")["label"].first().reindex(voted.index).to_numpy()
    assert people["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(truth, voted.to_numpy().argmax(axis=1)))
    assert np.array(people["confusion_matrix"]).sum() == people["subjects"]
    view = saved["any_dementia"]
    assert view["threshold_from"] == "val" and "note" not in view
    level = view["subject_level"]
    assert level["positives"] + level["negatives"] == people["subjects"] == level["subjects"]
    assert view["slice_level"]["positives"] + view["slice_level"]["negatives"] == len(frame)
    demented = truth != CLASS_NAMES.index("NonDemented")
    if demented.any() and not demented.all():
        score = 1 - voted.to_numpy()[:, CLASS_NAMES.index("NonDemented")]
        assert level["auc"] == pytest.approx(roc_auc_score(demented, score))
    merged = np.where(truth == CLASS_NAMES.index("ModerateDemented"), CLASS_NAMES.index("MildDemented"), truth)
    merged_proba = voted.to_numpy().copy()
    merged_proba[:, CLASS_NAMES.index("MildDemented")] += merged_proba[:, CLASS_NAMES.index("ModerateDemented")]
    merged_proba[:, CLASS_NAMES.index("ModerateDemented")] = -1  # merged away: never the answer
    assert saved["three_class"]["subject_level"]["balanced_accuracy"] == pytest.approx(
        balanced_accuracy_score(merged, merged_proba.argmax(axis=1)))


def test_weighted_voting_through_evaluate_takes_its_weights_from_validation(smoke_run, tmp_path):
    import warnings

    from alzmri.models.runs import read_metadata, write_metadata

    run = _run_copy(smoke_run, tmp_path)
    metadata = read_metadata(run)
    metadata["config"]["voting"] = "weighted"
    write_metadata(run, metadata)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluation = evaluate.evaluate_run(run, n_boot=20, explain_images=2, progress=False)
    people = evaluation.metrics["subject_level"]
    assert people["voting"] == "weighted" and people["weights_from"] == "val"
    splits = pd.read_csv(run / "splits.csv", keep_default_na=False)
    val_positions = set(splits.loc[splits["split"] == "val", "slice_pos"].astype(int)) - {-1}
    assert {int(p) for p in people["position_weights"]} == val_positions
    assert all(w == 0 or w >= 0.25 for w in people["position_weights"].values())  # under the threshold: dropped
    saved = json.loads((run / "metrics.json").read_text())["test"]["subject_level"]
    assert saved["position_weights"] == people["position_weights"]


def test_evaluate_can_be_told_to_vote_by_slice_position(smoke_run, tmp_path, capsys):
    from alzmri.cli import main

    run = _run_copy(smoke_run, tmp_path)
    assert main(["evaluate", str(run), "--voting", "weighted", "--voting-threshold", "0.5"]) == 0
    people = json.loads((run / "metrics.json").read_text())["test"]["subject_level"]
    weights = people["position_weights"]
    assert weights and all(w == 0 or w >= 0.5 for w in weights.values())
    # which positions reach 0.5 depends on the smoke model, which another CPU (or thread order) trains differently:
    # weighted voting where one does, soft voting that says so where none does
    kept = any(w > 0 for w in weights.values())
    assert people["voting"] == ("weighted" if kept else "soft")
    assert kept or "dropped every slice position" in people["voting_note"]


def test_a_person_run_is_evaluated_per_subject_and_per_slice_like_any_run(person_run, capsys):
    from alzmri.models.runs import CARD_FILE, read_metrics
    from alzmri.reporting.plots import save_evaluation_figures
    from alzmri.reporting.reports import print_evaluation

    evaluation = evaluate.evaluate_run(person_run, n_boot=50, progress=False,
                                       draw=save_evaluation_figures)  # what `evaluate RUN` does
    print_evaluation(evaluation)
    out = capsys.readouterr().out
    assert "each answered by the model of the person, once from all its slices" in out and "soft voting" not in out
    per_subject = pd.DataFrame(evaluation.proba).groupby(evaluation.frame["subject"].to_numpy())
    assert (per_subject.nunique() == 1).all().all()  # every slice carries its subject's one answer
    test = read_metrics(person_run)["test"]
    assert {"ci95", "subject_level", "any_dementia", "three_class", "leakage"} <= set(test)
    assert "faithfulness" not in test  # Grad-CAM explains slice models
    assert test["subject_level"]["subjects"] == per_subject.ngroups == test["ci_resampled"]["count"]
    assert test["images"] == len(evaluation.frame) and 0 <= test["subject_level"]["balanced_accuracy"] <= 1
    figures = {p.name for p in evaluation.figures}
    assert {"confusion_matrix.png", "confusion_matrix_subjects.png", "training_curves.png"} <= figures
    assert "gradcam.png" not in figures
    card = (person_run / CARD_FILE).read_text()
    assert "**Per subject**" in card and "Not scored on the test split yet" not in card
    assert test["subject_level"]["voting"] == "person" and "voting of its slices" not in card
    front = card.split("---")[1]  # the card's tags: a model of the person, no transfer learning, no Grad-CAM
    assert "model-of-the-person" in front and "transfer-learning" not in front and "grad-cam" not in front


def _stack_files(tmp_path) -> pd.DataFrame:
    """Three slices of brain ``a`` (grey 10, 100 and 200 at positions 0, 1, 2) and one of brain ``b`` (grey 50)."""
    from PIL import Image

    rows = []
    for i, (subject, pos, grey) in enumerate([("a", 2, 200), ("b", 0, 50), ("a", 0, 10), ("a", 1, 100)]):
        path = tmp_path / f"slice{i}.png"
        Image.fromarray(np.full((36, 36), grey, np.uint8)).save(path)
        rows.append({"path": str(path), "relpath": path.name, "subject": subject, "slice_pos": pos, "label": 2,
                     "class_name": "NonDemented"})
    return pd.DataFrame(rows)


def test_a_2_5_d_run_s_grad_cam_images_carry_each_slice_s_neighbours_from_the_split(tmp_path):
    from types import SimpleNamespace

    split = _stack_files(tmp_path)
    middle = split[split["slice_pos"] == 1]  # a sample of the split: its neighbours are not in it
    np.testing.assert_allclose(evaluate.batch_images(middle, 32)[0, 16, 16], [100, 100, 100])  # a single slice
    np.testing.assert_allclose(evaluate.batch_images(middle, 32, split)[0, 16, 16], [10, 100, 200])
    for neighbours, expected in ((True, [10, 100, 200]), (False, [100, 100, 100])):
        run = SimpleNamespace(metadata={"config": {"neighbour_slices": neighbours}}, image_size=32)
        scored = evaluate.Evaluation(run, split, np.full((len(split), 4), 0.25), {}, "test")
        np.testing.assert_allclose(scored.model_images(middle)[0, 16, 16], expected)  # what the figures explain
        assert evaluate.stacks_of(run, split) is (split if neighbours else None)  # what faithfulness scores


def test_leaked_and_clean_parts_add_up(medium_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        naive = medium_data.with_protocol("naive", get_config("demo"))
    test = naive.part("test")
    predicted = np.random.default_rng(0).integers(0, 4, len(test))
    parts = leak_breakdown(naive, "test", predicted)
    assert parts["leaked"]["images"] + parts["clean"]["images"] == len(test)
    counts = leak_counts(naive.frame, naive.features, 0.99).set_index("pair").loc["train→test"]
    assert parts["leaked"]["images"] >= max(counts["copy_in_train"], counts["subject_in_train"]) > 0
    correct = (predicted == test["label"].to_numpy()).sum()
    together = sum(p["accuracy"] * p["images"] for p in parts.values() if p["images"])
    assert together == pytest.approx(correct)
    honest = leak_breakdown(medium_data, "test", np.zeros(len(medium_data.part("test")), int))
    assert honest["leaked"] == {"images": 0, "subjects": 0, "accuracy": None, "balanced_accuracy": None}


def test_evaluate_scores_leaked_and_clean_test_images_apart(smoke_run, capsys):
    from alzmri.reporting.reports import print_evaluation
    from alzmri.config import Config
    from alzmri.evaluation.evaluate import evaluate_run
    from alzmri.models.runs import load_run
    from alzmri.leakage.prepared import prepare_data

    config = Config.from_dict(load_run(smoke_run).metadata["config"]).replace(split="naive")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        naive = prepare_data(config, progress=False)
    evaluation = evaluate_run(smoke_run, data=naive, n_boot=20, explain_images=4, progress=False)
    m = evaluation.metrics
    assert m["split_protocol"] == "naive"
    assert m["leakage"]["leaked"]["images"] > 0
    assert m["leakage"]["leaked"]["images"] + m["leakage"]["clean"]["images"] == m["images"]
    print_evaluation(evaluation)
    out = capsys.readouterr().out
    assert "(leaked) vs the rest (clean)" in out and re.search(r"^ *leaked +\d+", out, re.M)
