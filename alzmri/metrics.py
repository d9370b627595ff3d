"""Metrics of one set of predictions, with bootstrap intervals that resample the independent unit.

Slices of one brain are not independent observations: 900 test slices from 29 brains say about as much
as 29 patients do. So intervals resample *units* (subjects where they are known, else copy groups) with
replacement and take all of each unit's slices along; they are wider than a slice-level bootstrap, and
honest.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
from scipy import stats

from alzmri.config import CLASS_NAMES, SEVERITY_RANK

HEADLINE = ("accuracy", "balanced_accuracy", "macro_f1", "quadratic_kappa", "roc_auc_ovr")
LEVEL = 0.95


def expected_calibration_error(labels: np.ndarray, proba: np.ndarray, bins: int = 15) -> float:
    """ECE: the gap between confidence and accuracy, averaged over equal-width confidence bins."""
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == labels
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    gap = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            gap += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(gap)


def confusion(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Counts of (true, predicted) class pairs over all four classes, rows true."""
    k = len(CLASS_NAMES)
    return np.bincount(np.asarray(labels) * k + np.asarray(predicted), minlength=k * k).reshape(k, k)


# The headline numbers are computed from the confusion matrix with NumPy rather than with scikit-learn's
# functions: a bootstrap calls them a thousand times, where scikit-learn's input checks cost 25 ms a call;
# tests/evaluation/test_evaluate.py checks that both agree.

def quadratic_kappa(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Cohen's kappa with quadratic weights over the clinical severity order (Non < VeryMild < Mild < Moderate)."""
    order = np.argsort([SEVERITY_RANK[c] for c in CLASS_NAMES])  # classes from least to most severe
    observed = confusion(labels, predicted)[np.ix_(order, order)].astype(float)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / max(observed.sum(), 1)
    weights = np.subtract.outer(np.arange(len(order)), np.arange(len(order))) ** 2
    disagreement = (weights * expected).sum()
    return float(1 - (weights * observed).sum() / disagreement) if disagreement else float("nan")


def _auc(positive: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC as the Mann-Whitney statistic (ties count half)."""
    ranks = stats.rankdata(scores)
    n_pos, n_neg = positive.sum(), (~positive).sum()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_auc_ovr(labels: np.ndarray, proba: np.ndarray) -> float:
    """Macro one-vs-rest ROC-AUC over the classes present in ``labels`` (nan with fewer than two)."""
    present = np.unique(labels)
    if len(present) < 2:
        return float("nan")
    return float(np.mean([_auc(labels == c, proba[:, c]) for c in present]))


def balanced_accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Mean recall over the classes present in ``labels`` (chance is 1 / their number)."""
    counts = confusion(labels, predicted)
    rows = counts.sum(axis=1)
    return float(np.mean(np.diag(counts)[rows > 0] / rows[rows > 0])) if rows.any() else float("nan")


def chance_level(labels: np.ndarray, predicted: np.ndarray) -> float:
    """The balanced accuracy ``predicted`` would get if it had nothing to do with ``labels``.

    Under a random pairing of predictions and labels the recall of a class is the share of predictions
    of that class, so chance is their mean over the classes in ``labels``: 1/4 when every class is
    there, up to 1/3 when one is missing and a model never predicts it, less when it predicts a class
    the labels lack. (1 / the number of classes present would overstate chance for such a model.)
    """
    present = np.unique(labels)
    return float(np.mean([(predicted == c).mean() for c in present])) if len(present) else float("nan")


def headline_metrics(labels: np.ndarray, proba: np.ndarray) -> dict:
    """The headline numbers for one set of predictions (macro-F1 over the classes in the labels or predictions)."""
    predicted = proba.argmax(axis=1)
    counts = confusion(labels, predicted)
    true_positive, in_labels, in_predicted = np.diag(counts), counts.sum(axis=1), counts.sum(axis=0)
    present = (in_labels + in_predicted) > 0
    f1 = 2 * true_positive[present] / (in_labels[present] + in_predicted[present])
    return {
        "accuracy": float(true_positive.sum() / max(counts.sum(), 1)),
        "balanced_accuracy": balanced_accuracy(labels, predicted),
        "macro_f1": float(f1.mean()) if present.any() else float("nan"),
        "quadratic_kappa": quadratic_kappa(labels, predicted),
        "roc_auc_ovr": roc_auc_ovr(labels, proba),
    }


def resample_rows(units: np.ndarray, n_boot: int, seed: int = 0):
    """Row indices of ``n_boot`` cluster-bootstrap resamples: units drawn with replacement, all their rows kept.

    Written here because ``scipy.stats.bootstrap`` resamples single observations, and here an
    observation is a unit holding many rows.
    """
    _, codes = np.unique(np.asarray(units, dtype=str), return_inverse=True)
    rows_of = np.split(np.argsort(codes, kind="stable"), np.cumsum(np.bincount(codes))[:-1])
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        yield np.concatenate([rows_of[u] for u in rng.integers(0, len(rows_of), len(rows_of))])


def percentile_interval(samples: list[float], level: float = LEVEL) -> list[float]:
    """The central ``level`` percentile interval of bootstrap samples (nan-aware)."""
    samples = np.asarray(samples, dtype=float)
    if np.isnan(samples).all():  # e.g. ROC-AUC when every resample holds one class
        return [float("nan"), float("nan")]
    tail = (1 - level) / 2 * 100
    return [float(np.nanpercentile(samples, tail)), float(np.nanpercentile(samples, 100 - tail))]


def bootstrap_intervals(labels: np.ndarray, proba: np.ndarray, units: np.ndarray | None = None, n_boot: int = 1000,
                        seed: int = 0, level: float = LEVEL) -> dict:
    """Percentile bootstrap intervals of the headline metrics, resampling ``units`` (default: rows).

    Returns:
        ``{metric: [low, high]}``.
    """
    units = np.arange(len(labels)) if units is None else units
    samples = {name: [] for name in HEADLINE}
    for pick in resample_rows(units, n_boot, seed):
        for name, value in headline_metrics(labels[pick], proba[pick]).items():
            samples[name].append(value)
    return {name: percentile_interval(v, level) for name, v in samples.items()}


def statistic_interval(statistic: Callable[[np.ndarray], float], units: np.ndarray, n_boot: int = 1000,
                       seed: int = 0, level: float = LEVEL) -> list[float]:
    """The bootstrap interval of ``statistic(rows)``, resampling ``units``; e.g. a balanced accuracy."""
    return percentile_interval([statistic(pick) for pick in resample_rows(units, n_boot, seed)], level)


def describe_units(units: np.ndarray, unit: str) -> dict:
    """What an interval resampled, for metrics.json: ``{"unit": ..., "count": ...}``."""
    return {"unit": unit, "count": int(len(np.unique(np.asarray(units, dtype=str))))}


def compute_metrics(labels: np.ndarray, proba: np.ndarray, units: np.ndarray | None = None, unit: str = "image",
                    n_boot: int = 1000, seed: int = 0) -> dict:
    """All metrics of one split: headline numbers with 95 % intervals, per class, confusion, calibration.

    Args:
        labels: true class ids.
        proba: predicted probabilities, shape (n, n_classes).
        units: the independent unit of each row (subject, copy group); None treats rows as independent.
        unit: the name of that unit, written beside the intervals.
        n_boot: bootstrap resamples.
        seed: the bootstrap's seed.

    Returns:
        A JSON-ready dict; ``ci95`` holds the intervals and ``ci_resampled`` their unit and count.
    """
    from sklearn.metrics import classification_report, confusion_matrix

    labels = np.asarray(labels)
    units = np.arange(len(labels)) if units is None else np.asarray(units)
    predicted = proba.argmax(axis=1)
    counts = confusion_matrix(labels, predicted, labels=list(range(len(CLASS_NAMES))))
    with np.errstate(invalid="ignore", divide="ignore"):
        normalised = np.nan_to_num(counts / counts.sum(axis=1, keepdims=True))
    report = classification_report(labels, predicted, labels=list(range(len(CLASS_NAMES))),
                                   target_names=list(CLASS_NAMES), output_dict=True, zero_division=0)
    return {
        "images": int(len(labels)),
        **headline_metrics(labels, proba),
        "ci95": bootstrap_intervals(labels, proba, units, n_boot, seed),
        "ci_resampled": {**describe_units(units, unit), "resamples": n_boot},
        "expected_calibration_error": expected_calibration_error(labels, proba),
        "per_class": {c: {k: float(report[c][k]) for k in ("precision", "recall", "f1-score", "support")}
                      for c in CLASS_NAMES},
        "absent_classes": [c for i, c in enumerate(CLASS_NAMES) if not (labels == i).any()],
        "confusion_matrix": counts.tolist(),
        "confusion_matrix_normalised": normalised.round(4).tolist(),
    }


def metrics_table(metrics: dict) -> pd.DataFrame:
    """Headline metrics with their 95 % intervals, as a printable table."""
    return pd.DataFrame([(name, metrics[name], *metrics["ci95"][name]) for name in HEADLINE],
                        columns=["metric", "value", "ci95_low", "ci95_high"])


def correlation_text(value: float | None) -> str:
    """A rank correlation for printing; None where the maps were flat (no ranks to correlate)."""
    return "flat" if value is None else f"{value:.2f}"


# The any-dementia view: NonDemented (CDR 0) against the three others (CDR >= 0.5), the task the literature
# reports (AD vs CN) and the one the two Moderate subjects of the real set do not make meaningless.
ANY_DEMENTIA = ("auc", "sensitivity", "specificity", "balanced_accuracy")


def p_any_dementia(proba: np.ndarray) -> np.ndarray:
    """P(any dementia) = 1 - P(NonDemented), from four-class probabilities."""
    return 1.0 - np.asarray(proba)[:, CLASS_NAMES.index("NonDemented")]


def is_demented(labels: np.ndarray) -> np.ndarray:
    """True for every class but NonDemented."""
    return np.asarray(labels) != CLASS_NAMES.index("NonDemented")


def any_dementia_threshold(labels: np.ndarray, proba: np.ndarray) -> float:
    """The P(any dementia) cut-off that maximises balanced accuracy (Youden's J) on these (validation) rows.

    Returns 0.5 when the rows hold only one side, where no cut-off can be chosen. The lowest score is no
    candidate where there are others: it calls every row demented, which is no test at all (and would win the
    ties of a model at chance, e.g. one-hot answers).
    """
    positive, score = is_demented(labels), p_any_dementia(proba)
    if positive.all() or not positive.any():
        return 0.5
    cuts = np.unique(score)
    cuts = cuts[1:] if len(cuts) > 1 else cuts
    sensitivity = (score[positive][None, :] >= cuts[:, None]).mean(axis=1)
    specificity = (score[~positive][None, :] < cuts[:, None]).mean(axis=1)
    return float(cuts[np.argmax(sensitivity + specificity)])


def any_dementia_scores(labels: np.ndarray, proba: np.ndarray, threshold: float) -> dict:
    """AUC, sensitivity, specificity and balanced accuracy of any dementia against none (nan where a side is absent)."""
    positive, score = is_demented(labels), p_any_dementia(proba)
    called = score >= threshold
    sensitivity = float(called[positive].mean()) if positive.any() else float("nan")
    specificity = float((~called[~positive]).mean()) if (~positive).any() else float("nan")
    return {"auc": _auc(positive, score) if positive.any() and (~positive).any() else float("nan"),
            "sensitivity": sensitivity, "specificity": specificity,
            "balanced_accuracy": float(np.mean([sensitivity, specificity]))}


def any_dementia_metrics(labels: np.ndarray, proba: np.ndarray, threshold: float, units: np.ndarray | None = None,
                         unit: str = "image", n_boot: int = 1000, seed: int = 0) -> dict:
    """The any-dementia view of four-class predictions, with 95 % intervals resampling ``units``.

    Args:
        labels: true class ids.
        proba: four-class probabilities, (n, 4).
        threshold: the P(any dementia) cut-off, chosen on validation (:func:`any_dementia_threshold`).
        units: the independent unit of each row; None treats rows as independent.
        unit: the name of that unit, written beside the intervals.
        n_boot: bootstrap resamples.
        seed: the bootstrap's seed.

    Returns:
        ``{"auc", "sensitivity", "specificity", "balanced_accuracy", "threshold", "positives", "negatives",
        "ci95": {metric: [low, high]}, "ci_resampled"}``.
    """
    labels, proba = np.asarray(labels), np.asarray(proba)
    units = np.arange(len(labels)) if units is None else np.asarray(units)
    samples = {name: [] for name in ANY_DEMENTIA}
    for pick in resample_rows(units, n_boot, seed):
        with np.errstate(invalid="ignore"):
            for name, value in any_dementia_scores(labels[pick], proba[pick], threshold).items():
                samples[name].append(value)
    positive = is_demented(labels)
    return {**any_dementia_scores(labels, proba, threshold), "threshold": float(threshold),
            "positives": int(positive.sum()), "negatives": int((~positive).sum()),
            "ci95": {name: percentile_interval(v) for name, v in samples.items()},
            "ci_resampled": {**describe_units(units, unit), "resamples": n_boot}}


# Paired comparisons: two models scored on the same subjects. The difference is what is resampled (or tested), which
# is sharper than two intervals side by side: what both models find hard or easy cancels out.

def paired_difference_interval(statistic: Callable[[np.ndarray, np.ndarray], float], proba_a: np.ndarray,
                               proba_b: np.ndarray, units: np.ndarray, n_boot: int = 1000, seed: int = 0,
                               level: float = LEVEL) -> list[float]:
    """The paired bootstrap interval of ``statistic(rows, a) - statistic(rows, b)``, resampling ``units``.

    Both models' rows are drawn together (the same units in every resample), so the interval is the one of the
    difference itself, not of either model.

    Args:
        statistic: ``statistic(rows, proba)``: e.g. a balanced accuracy of the ``rows`` of ``proba``.
        proba_a: model A's probabilities, one row per tested row.
        proba_b: model B's, for the same rows in the same order.
        units: the independent unit of each row (subjects).
        n_boot: bootstrap resamples.
        seed: the bootstrap's seed.
        level: the interval's coverage.

    Returns:
        ``[low, high]`` of A minus B.
    """
    return statistic_interval(lambda rows: statistic(rows, proba_a) - statistic(rows, proba_b), units, n_boot, seed,
                              level)


def _side_covariance(placements: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """The covariance of the mean of one side's placement values (k models x rows), rows grouped in ``clusters``.

    Obuchowski's (1997) clustered form: with I clusters holding all M rows of the side, the cluster sums S_c of the
    centred placements give I / ((I - 1) M^2) * sum_c S_c S_c'; with one row a cluster it is DeLong's S / M.
    """
    centred = placements - placements.mean(axis=1, keepdims=True)
    _, codes = np.unique(clusters, return_inverse=True)
    sums = np.stack([np.bincount(codes, weights=row) for row in centred])  # (k, I)
    count, rows = sums.shape[1], placements.shape[1]
    if count < 2:
        return np.full((len(placements), len(placements)), np.nan)
    return count / ((count - 1) * rows**2) * (sums @ sums.T)


def delong(positive: np.ndarray, scores: np.ndarray,
           clusters: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ROC-AUCs of ``k`` scorings of the same rows and their covariance: DeLong et al. (1988), computed with the
    midranks of Sun & Xu (2014), rows optionally grouped in clusters (Obuchowski 1997).

    Each positive row's placement is the share of negatives it outranks (ties half), each negative's the share of
    positives that outrank it; the AUC is the mean placement on either side, and its variance follows from the
    placements' spread. Rows of one cluster (e.g. one subject's slices, or one subject tested in several repeats)
    must share their label; their placements are summed before the spread is taken.

    Args:
        positive: True for the positive rows, (n,).
        scores: (k, n) scores, or (n,) for one model; higher means more likely positive.
        clusters: the independent unit of each row; None: rows are independent.

    Returns:
        ``(aucs, covariance)``: (k,) and (k, k).

    Raises:
        ValueError: one side is empty, or a cluster holds positive and negative rows.
    """
    positive = np.asarray(positive, dtype=bool)
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    clusters = np.arange(len(positive)) if clusters is None else np.asarray(clusters, dtype=str)
    if positive.all() or not positive.any():
        raise ValueError("DeLong's test needs positive and negative rows")
    if set(clusters[positive]) & set(clusters[~positive]):
        raise ValueError("a cluster holds positive and negative rows")
    pos, neg = scores[:, positive], scores[:, ~positive]
    m, n = pos.shape[1], neg.shape[1]
    both = stats.rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    v_pos = (both[:, :m] - stats.rankdata(pos, axis=1)) / n  # negatives each positive outranks
    v_neg = 1 - (both[:, m:] - stats.rankdata(neg, axis=1)) / m  # positives that outrank each negative
    covariance = _side_covariance(v_pos, clusters[positive]) + _side_covariance(v_neg, clusters[~positive])
    return v_pos.mean(axis=1), covariance


def delong_test(positive: np.ndarray, score_a: np.ndarray, score_b: np.ndarray, clusters: np.ndarray | None = None,
                level: float = LEVEL) -> dict:
    """DeLong's test of two correlated AUCs (two models scoring the same rows).

    Args:
        positive: True for the positive rows.
        score_a: model A's scores (higher: more likely positive).
        score_b: model B's scores of the same rows.
        clusters: the independent unit of each row (see :func:`delong`); None: rows independent.
        level: the interval's coverage.

    Returns:
        ``{"auc_a", "auc_b", "difference" (A - B), "ci" (normal interval of the difference), "z", "p"
        (two-sided)}``; ``z`` and ``p`` are nan where the difference has no variance (identical rankings), and
        everything is nan where a side is empty.
    """
    sides = np.asarray(positive, dtype=bool)
    if sides.all() or not sides.any():  # no AUC without both sides
        return {key: float("nan") for key in ("auc_a", "auc_b", "difference", "z", "p")} | {"ci": [float("nan")] * 2}
    aucs, cov = delong(positive, np.vstack([score_a, score_b]), clusters)
    difference = float(aucs[0] - aucs[1])
    sd = float(np.sqrt(max(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1], 0.0)))
    half = stats.norm.ppf(0.5 + level / 2) * sd
    z = difference / sd if sd > 0 else float("nan")
    return {"auc_a": float(aucs[0]), "auc_b": float(aucs[1]), "difference": difference,
            "ci": [float(difference - half), float(difference + half)], "z": z,
            "p": float(2 * stats.norm.sf(abs(z))) if sd > 0 else float("nan")}


# The three-class view: MildDemented and ModerateDemented merged. The real set has two Moderate brains, each worth
# 1/8 of a four-class balanced accuracy; merged, the rarest class has 30.
THREE_CLASS_NAMES = ("Mild or Moderate", "NonDemented", "VeryMildDemented")
_TO_THREE = np.array([0, 0, 1, 2])  # four-class id -> three-class id, in CLASS_NAMES order


def three_class(labels: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Four-class labels and probabilities with Mild and Moderate merged: ``(labels, proba (n, 3))``."""
    proba = np.asarray(proba, dtype=float)
    return _TO_THREE[np.asarray(labels)], np.column_stack([proba[:, 0] + proba[:, 1], proba[:, 2], proba[:, 3]])


def three_class_metrics(labels: np.ndarray, proba: np.ndarray, units: np.ndarray | None = None, n_boot: int = 1000,
                        seed: int = 0) -> dict:
    """Balanced accuracy of the three-class view (:func:`three_class`) with its 95 % interval over ``units``.

    Returns:
        ``{"balanced_accuracy", "ci", "classes"}``.
    """
    merged, merged_proba = three_class(labels, proba)
    predicted = merged_proba.argmax(axis=1)
    units = np.arange(len(merged)) if units is None else units
    return {"balanced_accuracy": balanced_accuracy(merged, predicted),
            "ci": statistic_interval(lambda rows: balanced_accuracy(merged[rows], predicted[rows]), units, n_boot,
                                     seed),
            "classes": list(THREE_CLASS_NAMES)}
