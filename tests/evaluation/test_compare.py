"""The leakage lesson: subject-level intervals, the probe comparison on every protocol, and chance."""

import json
import warnings

import numpy as np
import pytest

from alzmri import metrics
from alzmri.cli import main
from alzmri.evaluation.compare import compare_protocols, comparison_json
from alzmri.config import get_config
from helpers import assert_drawn
from alzmri.reporting.summaries import memorises


@pytest.fixture(scope="module")
def probe_table(medium_data):
    return compare_protocols(medium_data, get_config("demo"), model="probe", n_boot=300, progress=False)


def test_probe_memorises_leaky_splits_even_with_shuffled_labels(probe_table):
    rows = probe_table.set_index("protocol")
    assert list(rows.index) == ["subject", "image", "official", "naive"]
    for protocol in ("image", "official", "naive"):  # every test subject also in train
        row = rows.loc[protocol]
        assert row["test_subjects_in_train"] == row["test_subjects"] > 0
        assert memorises(row) and row["ci_shuffled"][0] > row["chance_shuffled"] + 0.3, row  # far above chance
    subject = rows.loc["subject"]
    assert subject["test_subjects_in_train"] == 0
    assert subject["ci_shuffled"][0] <= subject["chance_shuffled"] <= subject["ci_shuffled"][1]
    assert subject["unit"] == "subject" and subject["units"] == subject["test_subjects"]


def test_comparison_json_has_the_promised_keys(probe_table):
    out = comparison_json(probe_table, "probe")
    assert set(out) == {"subject", "image", "official", "naive"}
    for entry in out.values():
        assert {"balanced_accuracy", "balanced_accuracy_shuffled", "chance", "test_images", "test_subjects_in_train",
                "ci"} <= set(entry)
        assert entry["ci"][0] <= entry["balanced_accuracy"] <= entry["ci"][1]
        assert entry["ci_auc_any_dementia"][0] <= entry["auc_any_dementia"] <= entry["ci_auc_any_dementia"][1]
    json.dumps(out)  # JSON-ready: plain numbers and lists


def test_interval_resamples_subjects_not_slices():
    """Two subjects of 100 slices each, one all right and one all wrong: the slices say 0.5 +- 0.07, the
    two subjects say anything from 0 to 1."""
    labels = np.zeros(200, int)
    predicted = np.r_[np.zeros(100, int), np.ones(100, int)]
    proba = np.eye(4)[predicted]
    subjects = np.repeat(["a", "b"], 100)
    by_subject = metrics.compute_metrics(labels, proba, subjects, "subject", n_boot=200)
    by_slice = metrics.compute_metrics(labels, proba, None, "image", n_boot=200)
    assert by_subject["ci95"]["accuracy"] == [0.0, 1.0]
    low, high = by_slice["ci95"]["accuracy"]
    assert 0.35 < low < 0.5 < high < 0.65
    assert by_subject["ci_resampled"] == {"unit": "subject", "count": 2, "resamples": 200}
    assert by_slice["ci_resampled"]["count"] == 200
    every = [set(np.unique(subjects[rows])) for rows in metrics.resample_rows(subjects, 50, seed=1)]
    assert all(len(rows) % 100 == 0 for rows in metrics.resample_rows(subjects, 50, seed=1))  # whole subjects
    assert {"a"} in every and {"b"} in every


def test_compare_command_prints_the_table_and_writes_figure_and_json(small_root, tmp_path, capsys):
    out_json = tmp_path / "c.json"
    assert main(["compare", str(small_root), "--profile", "smoke", "--protocols", "subject", "naive",
                 "--json", str(out_json), "--figures", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "shuffled labels [95% CI]" in out and "Intervals resample test subjects" in out
    assert set(json.loads(out_json.read_text())) == {"subject", "naive"}
    assert_drawn(tmp_path / "compare_probe.png")


def test_compare_scores_the_atrophy_baseline_with_its_any_dementia_auc(small_root, tmp_path, capsys):
    out_json = tmp_path / "c.json"
    assert main(["compare", str(small_root), "--profile", "smoke", "--protocols", "subject", "--model", "atrophy",
                 "--json", str(out_json), "--figures", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "atrophy measurements" in out and "any-dementia AUC [95% CI]" in out
    entry = json.loads(out_json.read_text())["subject"]
    assert entry["model"] == "atrophy" and 0 <= entry["auc_any_dementia"] <= 1
    assert_drawn(tmp_path / "compare_atrophy.png")


def test_compare_refuses_a_protocol_the_data_does_not_allow(tmp_path, capsys):
    from alzmri.data import synthetic

    root = synthetic.generate_dataset(tmp_path / "v1", n_per_class=8, size=48, layout="v1", balance="equal",
                                      slices=4, progress=False)
    assert main(["compare", str(root), "--profile", "smoke", "--protocols", "official", "--figures",
                 str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "does not allow the protocol(s) ['official']" in err and "Traceback" not in err


def test_cnn_comparison_reuses_the_finished_run_and_trains_the_shuffled_one(smoke_run, capsys):
    from alzmri.config import Config
    from alzmri.models.runs import load_run
    from alzmri.leakage.prepared import prepare_data

    config = Config.from_dict(load_run(smoke_run).metadata["config"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = prepare_data(config, progress=False)
        table = compare_protocols(data, config, ["subject"], model="cnn", n_boot=50)
    out = capsys.readouterr().out
    assert f"Reusing the finished run {smoke_run}" in out  # true labels: the run already trained
    shuffled = smoke_run.parent / smoke_run.name.replace("-subject-", "-subject-shuffled-")
    metadata = json.loads((shuffled / "metadata.json").read_text())
    assert metadata["config"]["shuffle_labels"] is True and metadata["labels"].startswith("shuffled")
    row = table.iloc[0]
    assert row["test_subjects_in_train"] == 0 and 0 <= row["balanced_accuracy_shuffled"] <= 1
    assert row["ci"][0] <= row["balanced_accuracy"] <= row["ci"][1]
    from alzmri.evaluation.evaluate import evaluate_run  # read back from its splits.csv: scored on the labels it learnt

    evaluation = evaluate_run(shuffled, n_boot=20, explain_images=4, progress=False)
    assert evaluation.metrics["labels"].startswith("shuffled")
    assert evaluation.metrics["balanced_accuracy"] == pytest.approx(row["balanced_accuracy_shuffled"])


def test_chance_is_what_predictions_unrelated_to_the_labels_would_score():
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    assert metrics.chance_level(labels, np.array([0, 1, 2, 3, 0, 1, 2, 3])) == pytest.approx(0.25)
    assert metrics.chance_level(labels, np.zeros(8, int)) == pytest.approx(0.25)  # one class always: 1/4 of the recall
    three = np.array([0, 0, 1, 1, 2, 2])  # class 3 absent from the labels
    assert metrics.chance_level(three, np.array([0, 1, 2, 0, 1, 2])) == pytest.approx(1 / 3)
    assert metrics.chance_level(three, np.array([0, 1, 2, 3, 3, 3])) == pytest.approx(1 / 6)  # half wasted on 3
    rng = np.random.default_rng(0)  # checked against shuffling the labels many times
    predicted = rng.choice(4, 300, p=[0.1, 0.2, 0.3, 0.4])
    truth = rng.choice(3, 300)
    shuffled = np.mean([metrics.balanced_accuracy(rng.permutation(truth), predicted) for _ in range(400)])
    assert metrics.chance_level(truth, predicted) == pytest.approx(shuffled, abs=0.01)
