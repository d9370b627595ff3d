"""The any-dementia view agrees with scikit-learn and chooses its threshold on the rows it is given."""

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, recall_score, roc_auc_score

from alzmri.config import CLASS_NAMES
from alzmri.metrics import any_dementia_metrics, any_dementia_threshold, p_any_dementia

NON = CLASS_NAMES.index("NonDemented")


@pytest.fixture
def predictions():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, 300)
    proba = rng.dirichlet(np.ones(4), 300)
    proba[labels == NON, NON] += 0.4  # some signal
    return labels, proba / proba.sum(axis=1, keepdims=True)


def test_any_dementia_metrics_agree_with_scikit_learn(predictions):
    labels, proba = predictions
    positive, score = labels != NON, 1 - proba[:, NON]
    threshold = any_dementia_threshold(labels, proba)
    got = any_dementia_metrics(labels, proba, threshold, n_boot=50)
    called = score >= threshold
    assert got["auc"] == pytest.approx(roc_auc_score(positive, score))
    assert got["sensitivity"] == pytest.approx(recall_score(positive, called))
    assert got["specificity"] == pytest.approx(recall_score(~positive, ~called))
    assert got["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(positive, called))
    assert (got["positives"], got["negatives"]) == (positive.sum(), (~positive).sum())
    low, high = got["ci95"]["auc"]
    assert low <= got["auc"] <= high


def test_the_chosen_threshold_maximises_balanced_accuracy(predictions):
    labels, proba = predictions
    positive, score = labels != NON, p_any_dementia(proba)
    best = max(balanced_accuracy_score(positive, score >= t) for t in np.unique(score))
    chosen = any_dementia_threshold(labels, proba)
    assert balanced_accuracy_score(positive, score >= chosen) == pytest.approx(best)


def test_one_sided_rows_give_the_default_threshold_and_nan_where_undefined():
    labels = np.full(5, NON)
    proba = np.tile([0.1, 0.1, 0.7, 0.1], (5, 1))
    assert any_dementia_threshold(labels, proba) == 0.5
    got = any_dementia_metrics(labels, proba, 0.5, n_boot=20)
    assert np.isnan(got["auc"]) and np.isnan(got["sensitivity"]) and got["specificity"] == 1.0


def test_intervals_resample_units(predictions):
    labels, proba = predictions
    units = np.repeat(np.arange(30), 10)
    got = any_dementia_metrics(labels, proba, 0.5, units=units, unit="subject", n_boot=50)
    assert got["ci_resampled"] == {"unit": "subject", "count": 30, "resamples": 50}


def test_a_cut_off_that_calls_everyone_demented_is_never_chosen():
    labels = np.array([NON, NON, 0, 0])
    one_hot = np.eye(4)[[0, NON, NON, 0]]  # right on half of each side: at chance, a tie with "everyone demented"
    assert any_dementia_threshold(labels, one_hot) == 1.0
