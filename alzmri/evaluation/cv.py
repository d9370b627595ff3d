"""Every subject tested once: K-fold cross-validation over subjects, scored per slice and per subject.

One 30-subject test split gives intervals about 0.1 wide; K folds over subjects test all of them, which is
how ClinicaDL (Wen et al., Medical Image Analysis 2020) reports slice-level models. Fold k is the ``subject``
protocol's split with ``cv_fold`` = k (:func:`alzmri.leakage.protocols.subject_folds`): its test subjects are
fold k, validation subjects are drawn by class from the other folds, the rest train; no subject is in two
parts, augmented copies follow their original into train (or out of use) and identical images stay on one
side. Every model, baselines and CNN alike, learns from a fold's train subjects only; the CNN folds are
ordinary runs (resumable, reused when finished, each with its card).

The out-of-fold test predictions are pooled and scored per slice (intervals resample subjects) and per
subject (soft voting, :func:`alzmri.voting.vote`), for the four classes and for any dementia against none.
The any-dementia threshold is chosen on each fold's validation subjects (Youden's J, per slice and per subject
separately), never on the subjects it is tested on.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from alzmri.config import CLASS_NAMES, Config
from alzmri.data.datasets import DataWarning
from alzmri.data.pipeline import files_kept
from alzmri.errors import SettingsError
from alzmri.evaluation.compare import MODELS, TRAINED, describe_model, held_out_probabilities
from alzmri.leakage.prepared import PreparedData
from alzmri.leakage.protocols import subject_folds
from alzmri.metrics import (THREE_CLASS_NAMES, any_dementia_metrics, any_dementia_threshold, balanced_accuracy,
                            compute_metrics, delong_test, is_demented, p_any_dementia, paired_difference_interval,
                            three_class_metrics)
from alzmri.models.runs import default_run_name
from alzmri.voting import slice_units, vote

THRESHOLD_FROM = ("each fold's validation subjects (Youden's J; per slice and per subject separately; 0.5 in a fold "
                  "without validation subjects)")
NON_DEMENTED = CLASS_NAMES.index("NonDemented")
PROBA_COLUMNS = [f"p_{c}" for c in CLASS_NAMES]

#: How a fold's probabilities are got: ``(model, split, config, parts, run_name, progress) -> {part: probabilities}``,
#: as :func:`alzmri.evaluation.compare.held_out_probabilities` (the default) does.
Probabilities = Callable[[str, PreparedData, Config, tuple[str, ...], str, bool], dict[str, np.ndarray]]


@dataclass
class CrossValidation:
    """What :func:`cross_validate` measured: ``summary`` (the ``--json`` layout) and ``predictions``, one row per
    tested slice (``relpath``, ``subject``, ``fold``, ``label``, a ``p_<class>`` column per class, and the fold's
    ``threshold_slice`` / ``threshold_subject``)."""

    summary: dict
    predictions: pd.DataFrame

    def level_scores(self, level: str) -> tuple[np.ndarray, np.ndarray]:
        """``(demented, P(any dementia))`` pooled at ``level`` (``slice`` or ``subject``), for an ROC curve."""
        labels, proba, _, _ = _level_rows(self.predictions, level)
        return is_demented(labels), p_any_dementia(proba)


def fold_config(config: Config, fold: int, folds: int) -> Config:
    """The settings of fold ``fold`` of ``folds``: the subject protocol with that fold as its test split."""
    return config.replace(split="subject", cv_fold=fold, cv_folds=folds, shuffle_labels=False)


def fold_run_name(config: Config) -> str:
    """A fold's run name: the run's usual name with ``-cv<k>of<K>``, so every fold is a run of its own."""
    return f"{default_run_name(config)}-cv{config.cv_fold}of{config.cv_folds}"


def _thresholds(val: pd.DataFrame, proba: np.ndarray | None) -> dict[str, float]:
    """The fold's any-dementia thresholds, per slice and per subject, chosen on its validation split (0.5 without)."""
    if proba is None:
        return {"threshold_slice": 0.5, "threshold_subject": 0.5}
    votes = vote(proba, _units(val), labels=val["label"].to_numpy())
    return {"threshold_slice": any_dementia_threshold(val["label"].to_numpy(), proba),
            "threshold_subject": any_dementia_threshold(votes.labels, votes.proba)}


def _fold_rows(fold: int, data: PreparedData, proba: dict[str, np.ndarray]) -> pd.DataFrame:
    """One fold's tested slices with their probabilities and the fold's thresholds."""
    rows = data.part("test")[["relpath", "subject", "label"]].assign(fold=fold)
    rows[PROBA_COLUMNS] = proba["test"]
    return rows.assign(**_thresholds(data.part("val"), proba.get("val")))


def _units(frame: pd.DataFrame) -> np.ndarray:
    """Each slice's subject (or its own unit where the subject is unknown): the unit intervals resample."""
    return slice_units(frame["subject"], frame["relpath"])


def _tested_units(frame: pd.DataFrame) -> np.ndarray:
    """Each slice's voting unit: its subject in one repeat of the folds (a subject tested R times votes R times)."""
    return np.char.add(np.char.add(_units(frame), "#"), frame["repeat"].to_numpy(str))


def _level_rows(predictions: pd.DataFrame, level: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(labels, proba, threshold, subjects)`` per slice, or per subject and repeat (soft votes; in each repeat a
    subject is tested in one fold); ``subjects`` are the units the intervals resample."""
    proba, labels = predictions[PROBA_COLUMNS].to_numpy(), predictions["label"].to_numpy()
    if level == "slice":
        return labels, proba, predictions["threshold_slice"].to_numpy(), _units(predictions)
    tested = _tested_units(predictions)
    votes = vote(proba, tested, labels=labels)
    first = predictions.assign(subject_unit=_units(predictions)).groupby(tested)[["threshold_subject",
                                                                                  "subject_unit"]].first()
    first = first.loc[votes.units]
    return votes.labels, votes.proba, first["threshold_subject"].to_numpy(), first["subject_unit"].to_numpy(str)


def centred_on_threshold(proba: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """``proba`` with each row's P(any dementia) moved so that its own threshold sits at 0.5.

    Pooled folds have one threshold each; calling every row at 0.5 after the move calls it at its fold's
    threshold, so the any-dementia metrics (one threshold) score the pooled folds as each fold called them.
    Only P(NonDemented) moves, which is all P(any dementia) = 1 - P(NonDemented) depends on.
    """
    moved = np.array(proba, dtype=float)
    moved[:, NON_DEMENTED] += np.asarray(threshold) - 0.5
    return moved


def _level_summary(predictions: pd.DataFrame, level: str, n_boot: int, seed: int) -> dict:
    """The pooled metrics of one level: four-class with intervals over subjects, and the any-dementia view
    (sensitivity and specificity at each fold's threshold; the AUC of the pooled P(any dementia))."""
    labels, proba, threshold, units = _level_rows(predictions, level)
    four = compute_metrics(labels, proba, units, "subject", n_boot, seed)
    called = any_dementia_metrics(labels, centred_on_threshold(proba, threshold), 0.5, units, "subject", n_boot, seed)
    ranked = any_dementia_metrics(labels, proba, 0.5, units, "subject", n_boot, seed)
    any_dementia = {**{k: called[k] for k in ("sensitivity", "specificity", "balanced_accuracy", "positives",
                                              "negatives")},
                    "ci95": {**called["ci95"], "auc": ranked["ci95"]["auc"]}, "auc": ranked["auc"],
                    "distinct_thresholds": sorted({round(float(t), 4) for t in threshold})}
    tested = len(np.unique(units)) if level == "subject" else predictions["relpath"].nunique()  # with --repeats,
    return {"images" if level == "slice" else "subjects": int(tested),  # each image or subject counted once
            "balanced_accuracy": four["balanced_accuracy"], "ci": four["ci95"]["balanced_accuracy"],
            "auc_any_dementia": ranked["auc"], "ci_auc_any_dementia": ranked["ci95"]["auc"],
            **{k: four[k] for k in ("accuracy", "quadratic_kappa", "roc_auc_ovr", "macro_f1", "ci95", "ci_resampled",
                                    "per_class", "absent_classes", "confusion_matrix")},
            "any_dementia": any_dementia}


def _three_class(predictions: pd.DataFrame, n_boot: int, seed: int) -> dict:
    """The three-class view (Mild and Moderate merged) at both levels: balanced accuracy and its interval."""
    def level_block(level: str) -> dict:
        labels, proba, _, units = _level_rows(predictions, level)
        return three_class_metrics(labels, proba, units, n_boot, seed)

    return {"classes": list(THREE_CLASS_NAMES), "slice_level": level_block("slice"),
            "subject_level": level_block("subject")}


def _per_fold(predictions: pd.DataFrame, val_subjects: dict[tuple[int, int], int]) -> list[dict]:
    """One row per repeat and fold: its test subjects and images, validation subjects, and balanced accuracy at both
    levels."""
    rows = []
    for (repeat, fold), part in predictions.groupby(["repeat", "fold"]):
        labels, proba, _, _ = _level_rows(part, "subject")
        rows.append({"repeat": int(repeat), "fold": int(fold), "test_subjects": int(len(labels)),
                     "test_images": int(len(part)), "val_subjects": val_subjects[(repeat, fold)],
                     "balanced_accuracy_slice": balanced_accuracy(part["label"].to_numpy(),
                                                                  part[PROBA_COLUMNS].to_numpy().argmax(axis=1)),
                     "balanced_accuracy_subject": balanced_accuracy(labels, proba.argmax(axis=1)),
                     "threshold_slice": float(part["threshold_slice"].iloc[0]),
                     "threshold_subject": float(part["threshold_subject"].iloc[0])})
    return rows


def repeat_config(config: Config, repeat: int) -> Config:
    """The settings of repeat ``repeat`` (1..): its seed, which draws the folds (and seeds the training), is the
    preset's plus ``repeat - 1``, so repeat 1 is the single cross-validation of the same settings."""
    return config.replace(seed=config.seed + repeat - 1)


def _out_of_fold(data: PreparedData, config: Config, model: str, folds: int, repeats: int, progress: bool,
                 probabilities: Probabilities | None = None) -> tuple[pd.DataFrame, dict[tuple[int, int], int]]:
    """Every repeat's every fold trained and tested: the tested slices (with ``repeat`` and ``fold``) and each
    fold's number of validation subjects; ``probabilities`` (default :func:`held_out_probabilities`) answers a fold."""
    answer = probabilities or held_out_probabilities  # looked up now, not when defined
    parts, val_subjects = [], {}
    for repeat in range(1, repeats + 1):
        for fold in range(1, folds + 1):
            cfg = fold_config(repeat_config(config, repeat), fold, folds)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DataWarning)  # a fold without a rare class is expected
                split = data.with_protocol("subject", cfg)
            if progress and model in TRAINED:
                print(f"cv: repeat {repeat} of {repeats}, fold {fold} of {folds}: "
                      f"{fold_run_name(cfg) if model == 'cnn' else 'the model of the person, trained anew'}")
            asked = ("val", "test") if len(split.part("val")) else ("test",)
            kept = "; the finished folds are saved runs, reused when cv runs again" if model == "cnn" else ""
            during = f"cv fold {fold} of {folds}" + (f", repeat {repeat}" if repeats > 1 else "")
            with files_kept(split.frame, during, kept):
                proba = answer(model, split, cfg, asked, fold_run_name(cfg), progress)
            parts.append(_fold_rows(fold, split, proba).assign(repeat=repeat))
            val_subjects[(repeat, fold)] = int(split.part("val")["subject"].nunique())
    return pd.concat(parts, ignore_index=True), val_subjects


def _summary(data: PreparedData, config: Config, model: str, folds: int, repeats: int, n_boot: int,
             predictions: pd.DataFrame, val_subjects: dict, seconds: float) -> dict:
    """The ``--json`` layout of one model's pooled out-of-fold predictions."""
    return {"model": model, "model_description": describe_model(model, config), "folds": folds, "repeats": repeats,
            "subjects_tested": int(predictions["subject"].nunique()),
            "images_tested": int(predictions["relpath"].nunique()), "tests": int(len(predictions)),
            "slice_level": _level_summary(predictions, "slice", n_boot, config.seed),
            "subject_level": _level_summary(predictions, "subject", n_boot, config.seed),
            "three_class": _three_class(predictions, n_boot, config.seed),
            "per_fold": _per_fold(predictions, val_subjects), "voting": "soft",
            "any_dementia_threshold_from": THRESHOLD_FROM,
            "intervals": ("95 % bootstrap intervals resample subjects" + (f", each with its {repeats} tests"
                                                                          if repeats > 1 else "")),
            "data": {"path": str(data.root), "fingerprint": data.fingerprint, "synthetic": data.synthetic,
                     "subjects": data.subjects.method if data.subjects else None},
            "seed": config.seed, "seconds": round(seconds, 1),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def _paired_level(ours: pd.DataFrame, theirs: pd.DataFrame, level: str, n_boot: int, seed: int) -> dict:
    """Model minus reference at one level, on the same tests: balanced accuracy (paired bootstrap over subjects) and
    the any-dementia AUC (DeLong's test, tests of one subject clustered)."""
    labels, proba, _, units = _level_rows(ours, level)
    _, reference, _, _ = _level_rows(theirs, level)

    def score(rows: np.ndarray, p: np.ndarray) -> float:
        return balanced_accuracy(labels[rows], p[rows].argmax(axis=1))

    every = np.arange(len(labels))
    test = delong_test(is_demented(labels), p_any_dementia(proba), p_any_dementia(reference), units)
    return {"balanced_accuracy_difference": score(every, proba) - score(every, reference),
            "ci": paired_difference_interval(score, proba, reference, units, n_boot, seed),
            "reference_balanced_accuracy": score(every, reference),
            "auc_any_dementia_difference": test["difference"], "ci_auc": test["ci"], "delong_z": test["z"],
            "delong_p": test["p"], "reference_auc_any_dementia": test["auc_b"]}


def paired_comparison(ours: pd.DataFrame, theirs: pd.DataFrame, reference: str, n_boot: int, seed: int) -> dict:
    """The ``against`` block: ``ours`` minus ``theirs`` (the same tests: repeat, fold and slice) per slice and per
    subject.

    Raises:
        SettingsError: the two were not tested on the same slices in the same folds.
    """
    keys = ["repeat", "fold", "relpath"]
    theirs = ours[keys].merge(theirs, on=keys, how="left", validate="one_to_one")
    if theirs[PROBA_COLUMNS].isna().any().any() or len(theirs) != len(ours):
        raise SettingsError(f"--against {reference}: the reference was not tested on the same slices in the same folds")
    return {"model": reference, "difference": "model minus reference, on the same subjects in the same folds",
            "slice_level": _paired_level(ours, theirs, "slice", n_boot, seed),
            "subject_level": _paired_level(ours, theirs, "subject", n_boot, seed),
            "method": ("balanced accuracy: paired bootstrap over subjects (both models' tests of a subject drawn "
                       "together); any-dementia AUC: DeLong's test (Sun & Xu's fast form), a subject's tests "
                       "clustered (Obuchowski)")}


def cross_validate(data: PreparedData, config: Config, model: str = "probe", folds: int | None = None,
                   n_boot: int | None = None, progress: bool = True, repeats: int | None = None,
                   against: str | None = None, probabilities: Probabilities | None = None) -> CrossValidation:
    """Test every subject once per repeat: ``model`` trained and scored on each of ``folds`` subject folds, pooled.

    Args:
        data: annotated data (copies, subjects), e.g. from :func:`alzmri.leakage.prepared.prepare_data`; it is
            re-split for each fold.
        config: the preset (the CNN's budget; its seed draws the folds).
        model: one of :data:`alzmri.evaluation.compare.MODELS`.
        folds: how many folds (default ``config.cv_folds``).
        n_boot: bootstrap resamples of the subjects (default ``config.n_boot``).
        progress: say which fold is being trained (cnn, person) and show training's progress.
        repeats: draw the folds this many times, with seeds ``seed``, ``seed + 1``, ... (default
            ``config.cv_repeats``); every subject is tested once per repeat and the tests are pooled.
        against: a reference model scored on the same folds; the summary's ``against`` block holds the paired
            differences (:func:`paired_comparison`).
        probabilities: how ``model``'s probabilities of a fold are got (:data:`Probabilities`; default
            :func:`alzmri.evaluation.compare.held_out_probabilities`), e.g. several runs of a fold averaged
            (benchmarks/operating_point.py); the reference is always scored the usual way.

    Returns:
        The pooled out-of-fold predictions (a ``repeat`` column among them) and their summary: ``model``,
        ``folds``, ``repeats``, ``subjects_tested``, ``images_tested``, ``slice_level`` and ``subject_level`` (each
        with ``balanced_accuracy``, ``ci``, ``auc_any_dementia``, ``ci_auc_any_dementia`` and more),
        ``three_class``, ``per_fold``, ``data``, ``any_dementia_threshold_from`` and, with ``against``, ``against``.

    Raises:
        SettingsError: an unknown model or reference, or more folds than the largest class has subjects (naming
            ``--folds``).
    """
    for name, given in (("--model", model), ("--against", against)):
        if given is not None and given not in MODELS:
            raise SettingsError(f"{name} must be one of {list(MODELS)}, got {given!r}")
    config = config if repeats is None else config.replace(cv_repeats=repeats)  # out of range: refused, named
    folds, repeats = folds or config.cv_folds, config.cv_repeats
    subject_folds(data.frame, folds, config.seed)  # too many folds are refused before any work
    n_boot = n_boot or config.n_boot
    start = time.perf_counter()
    predictions, val_subjects = _out_of_fold(data, config, model, folds, repeats, progress, probabilities)
    summary = _summary(data, config, model, folds, repeats, n_boot, predictions, val_subjects,
                       time.perf_counter() - start)
    if against is not None:
        start = time.perf_counter()
        reference, _ = _out_of_fold(data, config, against, folds, repeats, progress)
        summary["against"] = {**paired_comparison(predictions, reference, against, n_boot, config.seed),
                              "seconds": round(time.perf_counter() - start, 1)}
    return CrossValidation(summary, predictions)
