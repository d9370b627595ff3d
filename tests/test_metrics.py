"""The any-dementia view agrees with scikit-learn and chooses its threshold on the rows it is given; DeLong's test,
the paired bootstrap and the three-class view against cases worked by hand."""

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import balanced_accuracy_score, recall_score, roc_auc_score

from alzmri.config import CLASS_NAMES
from alzmri.metrics import (any_dementia_metrics, any_dementia_threshold, balanced_accuracy, delong, delong_test,
                            p_any_dementia, paired_difference_interval, three_class, three_class_metrics)

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


# DeLong's test, worked by hand. Model A scores positives (0.9, 0.6, 0.4) and negatives (0.7, 0.2); model B the
# same but its second positive ties the first negative at 0.7.
#   A: positive placements (1, 1/2, 1/2), negative placements (1/3, 1): AUC 2/3; S10 = 1/12, S01 = 2/9,
#      var = S10/3 + S01/2 = 5/36.
#   B: positive placements (1, 3/4, 1/2), negative (1/2, 1): AUC 3/4; S10 = 1/16, S01 = 1/8, var = 1/12.
#   cov: S10 = 1/16, S01 = 1/6, cov = 1/48 + 1/12 = 5/48; var(A - B) = 5/36 + 1/12 - 5/24 = 1/72,
#   z = (-1/12) / sqrt(1/72) = -1/sqrt(2).
HAND_POSITIVE = np.array([True, True, True, False, False])
HAND_A = np.array([0.9, 0.6, 0.4, 0.7, 0.2])
HAND_B = np.array([0.9, 0.7, 0.4, 0.7, 0.2])


def test_delong_matches_the_hand_worked_table():
    aucs, cov = delong(HAND_POSITIVE, np.vstack([HAND_A, HAND_B]))
    np.testing.assert_allclose(aucs, [2 / 3, 3 / 4])
    np.testing.assert_allclose(cov, [[5 / 36, 5 / 48], [5 / 48, 1 / 12]])
    test = delong_test(HAND_POSITIVE, HAND_A, HAND_B)
    assert test["difference"] == pytest.approx(-1 / 12)
    assert test["z"] == pytest.approx(-1 / np.sqrt(2))
    assert test["p"] == pytest.approx(2 * stats.norm.cdf(-1 / np.sqrt(2)))
    assert test["ci"] == pytest.approx([-1 / 12 - 1.959964 / np.sqrt(72), -1 / 12 + 1.959964 / np.sqrt(72)], abs=1e-6)


def test_delong_on_hanley_and_mcneils_published_rating_table():
    # Hanley & McNeil (Radiology 1982), table 1: 109 CT images rated 1 (definitely normal) to 5 (definitely abnormal);
    # they report an AUC of 0.893 and a standard error of 0.032 (from an exponential approximation, so DeLong's
    # exact form lands near, not on it).
    positive = np.r_[np.zeros(58, bool), np.ones(51, bool)]
    rating = np.r_[np.repeat([1, 2, 3, 4, 5], [33, 6, 6, 11, 2]), np.repeat([1, 2, 3, 4, 5], [3, 2, 2, 11, 33])]
    aucs, cov = delong(positive, rating)
    assert round(float(aucs[0]), 3) == 0.893
    assert np.sqrt(cov[0, 0]) == pytest.approx(0.032, abs=0.003)


def _slow_delong(positive: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong et al. (1988) as written: the kernel over every positive-negative pair."""
    pos, neg = scores[:, positive], scores[:, ~positive]
    kernel = (pos[:, :, None] > neg[:, None, :]) + 0.5 * (pos[:, :, None] == neg[:, None, :])
    v10, v01 = kernel.mean(axis=2), kernel.mean(axis=1)
    return v10.mean(axis=1), np.cov(v10) / pos.shape[1] + np.cov(v01) / neg.shape[1]


def test_fast_delong_equals_the_pairwise_definition_with_ties():
    rng = np.random.default_rng(0)
    positive = rng.random(60) < 0.4
    scores = np.round(rng.random((3, 60)) + 0.3 * positive, 1)  # rounding makes ties
    aucs, cov = delong(positive, scores)
    slow_aucs, slow_cov = _slow_delong(positive, scores)
    np.testing.assert_allclose(aucs, slow_aucs)
    np.testing.assert_allclose(cov, slow_cov)
    np.testing.assert_allclose(aucs, [roc_auc_score(positive, s) for s in scores])


def test_a_subject_tested_twice_is_one_cluster_not_two_observations():
    rng = np.random.default_rng(1)
    positive = rng.random(40) < 0.5
    scores = rng.random((2, 40)) + 0.5 * positive
    _, once = delong(positive, scores)
    twice = np.tile(scores, 2), np.tile(positive, 2)
    _, clustered = delong(twice[1], twice[0], clusters=np.tile(np.arange(40), 2))
    _, naive = delong(twice[1], twice[0])
    np.testing.assert_allclose(clustered, once)  # the copies add no information
    assert naive[0, 0] < 0.6 * once[0, 0]  # counting them as new subjects would halve the variance


def test_delong_refuses_a_cluster_on_both_sides_and_gives_nan_without_a_side():
    with pytest.raises(ValueError, match="cluster"):
        delong(HAND_POSITIVE, HAND_A, clusters=np.array(["s1", "s1", "s2", "s1", "s3"]))
    assert np.isnan(delong_test(np.ones(5, bool), HAND_A, HAND_B)["p"])
    assert np.isnan(delong_test(HAND_POSITIVE, HAND_A, HAND_A)["p"])  # identical rankings: no variance, no test


def test_paired_bootstrap_interval_of_a_difference():
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    units = np.array(["a", "a", "b", "b", "c", "c", "d", "d"])
    right = np.eye(4)[labels]
    wrong = np.eye(4)[(labels + 1) % 4]

    def score(rows, proba):
        return balanced_accuracy(labels[rows], proba[rows].argmax(axis=1))

    assert paired_difference_interval(score, right, right, units, n_boot=100) == [0.0, 0.0]
    assert paired_difference_interval(score, right, wrong, units, n_boot=100) == [1.0, 1.0]
    # right on subjects a and b only: the difference lies between 0 (resamples of c and d) and 1 (of a and b)
    half = np.where(np.isin(units, ["a", "b"])[:, None], right, wrong)
    low, high = paired_difference_interval(score, half, wrong, units, n_boot=200)
    assert 0.0 <= low < 0.5 < high <= 1.0


def test_three_class_view_merges_mild_and_moderate():
    labels = np.array([0, 1, 2, 3])
    proba = np.array([[0.3, 0.3, 0.4, 0.0],   # Mild: merged 0.6 beats Non's 0.4, right in three classes
                      [0.5, 0.2, 0.3, 0.0],   # Moderate called Mild: wrong in four classes, right in three
                      [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    merged, merged_proba = three_class(labels, proba)
    assert list(merged) == [0, 0, 1, 2] and merged_proba.shape == (4, 3)
    np.testing.assert_allclose(merged_proba.sum(axis=1), 1)
    assert balanced_accuracy(labels, proba.argmax(axis=1)) == 0.5  # Mild wrong (Non), Moderate wrong (Mild)
    assert three_class_metrics(labels, proba, n_boot=20)["balanced_accuracy"] == 1.0
