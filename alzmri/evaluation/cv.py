"""Every subject tested once: K-fold cross-validation over subjects, scored per slice and per subject.

One 30-subject test split gives intervals about 0.1 wide; K folds over subjects test all of them, which is
how ClinicaDL (Wen et al., Medical Image Analysis 2020) reports slice-level models. Fold k is the ``subject``
protocol's split with ``cv_fold`` = k (:func:`alzmri.leakage.splits.subject_folds`): its test subjects are
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
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from alzmri.config import CLASS_NAMES, Config
from alzmri.data.datasets import DataWarning
from alzmri.data.pipeline import files_kept
from alzmri.errors import SettingsError
from alzmri.evaluation.compare import MODELS, describe_model, held_out_probabilities, with_ci
from alzmri.leakage.splits import PreparedData, subject_folds
from alzmri.metrics import (any_dementia_metrics, any_dementia_threshold, balanced_accuracy, compute_metrics,
                            is_demented, p_any_dementia)
from alzmri.models.runs import default_run_name
from alzmri.voting import slice_units, vote

THRESHOLD_FROM = ("each fold's validation subjects (Youden's J; per slice and per subject separately; 0.5 in a fold "
                  "without validation subjects)")
NON_DEMENTED = CLASS_NAMES.index("NonDemented")
PROBA_COLUMNS = [f"p_{c}" for c in CLASS_NAMES]


@dataclass
class CrossValidation:
    """What :func:`cross_validate` measured: ``summary`` (the ``--json`` layout) and ``predictions``, one row per
    tested slice (``relpath``, ``subject``, ``fold``, ``label``, a ``p_<class>`` column per class, and the fold's
    ``threshold_slice`` / ``threshold_subject``)."""

    summary: dict
    predictions: pd.DataFrame

    def level_scores(self, level: str) -> tuple[np.ndarray, np.ndarray]:
        """``(demented, P(any dementia))`` pooled at ``level`` (``slice`` or ``subject``), for an ROC curve."""
        labels, proba, _ = _level_rows(self.predictions, level)
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
    """Each slice's subject (or its own unit where the subject is unknown)."""
    return slice_units(frame["subject"], frame["relpath"])


def _level_rows(predictions: pd.DataFrame, level: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(labels, proba, threshold)`` per slice, or per subject (soft votes; each subject tested in one fold)."""
    proba, labels = predictions[PROBA_COLUMNS].to_numpy(), predictions["label"].to_numpy()
    if level == "slice":
        return labels, proba, predictions["threshold_slice"].to_numpy()
    votes = vote(proba, _units(predictions), labels=labels)
    threshold = predictions.groupby(_units(predictions))["threshold_subject"].first().loc[votes.units]
    return votes.labels, votes.proba, threshold.to_numpy()


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
    labels, proba, threshold = _level_rows(predictions, level)
    units = _units(predictions) if level == "slice" else None
    four = compute_metrics(labels, proba, units, "subject", n_boot, seed)
    called = any_dementia_metrics(labels, centred_on_threshold(proba, threshold), 0.5, units, "subject", n_boot, seed)
    ranked = any_dementia_metrics(labels, proba, 0.5, units, "subject", n_boot, seed)
    any_dementia = {**{k: called[k] for k in ("sensitivity", "specificity", "balanced_accuracy", "positives",
                                              "negatives")},
                    "ci95": {**called["ci95"], "auc": ranked["ci95"]["auc"]}, "auc": ranked["auc"],
                    "distinct_thresholds": sorted({round(float(t), 4) for t in threshold})}
    return {"images" if level == "slice" else "subjects": int(len(labels)),
            "balanced_accuracy": four["balanced_accuracy"], "ci": four["ci95"]["balanced_accuracy"],
            "auc_any_dementia": ranked["auc"], "ci_auc_any_dementia": ranked["ci95"]["auc"],
            **{k: four[k] for k in ("accuracy", "quadratic_kappa", "roc_auc_ovr", "macro_f1", "ci95", "ci_resampled",
                                    "per_class", "absent_classes", "confusion_matrix")},
            "any_dementia": any_dementia}


def _per_fold(predictions: pd.DataFrame, val_subjects: dict[int, int]) -> list[dict]:
    """One row per fold: its test subjects and images, validation subjects, and balanced accuracy at both levels."""
    rows = []
    for fold, part in predictions.groupby("fold"):
        labels, proba, _ = _level_rows(part, "subject")
        rows.append({"fold": int(fold), "test_subjects": int(len(labels)), "test_images": int(len(part)),
                     "val_subjects": val_subjects[fold],
                     "balanced_accuracy_slice": balanced_accuracy(part["label"].to_numpy(),
                                                                  part[PROBA_COLUMNS].to_numpy().argmax(axis=1)),
                     "balanced_accuracy_subject": balanced_accuracy(labels, proba.argmax(axis=1)),
                     "threshold_slice": float(part["threshold_slice"].iloc[0]),
                     "threshold_subject": float(part["threshold_subject"].iloc[0])})
    return rows


def cross_validate(data: PreparedData, config: Config, model: str = "probe", folds: int | None = None,
                   n_boot: int | None = None, progress: bool = True) -> CrossValidation:
    """Test every subject once: ``model`` trained and scored on each of ``folds`` subject folds, pooled.

    Args:
        data: annotated data (copies, subjects), e.g. from :func:`alzmri.leakage.splits.prepare_data`; it is
            re-split for each fold.
        config: the preset (the CNN's budget; its seed draws the folds).
        model: one of :data:`alzmri.evaluation.compare.MODELS`.
        folds: how many folds (default ``config.cv_folds``).
        n_boot: bootstrap resamples of the subjects (default ``config.n_boot``).
        progress: say which fold is being trained (cnn) and show training's progress.

    Returns:
        The pooled out-of-fold predictions and their summary: ``model``, ``folds``, ``subjects_tested``,
        ``images_tested``, ``slice_level`` and ``subject_level`` (each with ``balanced_accuracy``, ``ci``,
        ``auc_any_dementia``, ``ci_auc_any_dementia`` and more), ``per_fold``, ``data`` and
        ``any_dementia_threshold_from``.

    Raises:
        SettingsError: an unknown model, or more folds than the largest class has subjects (naming ``--folds``).
    """
    if model not in MODELS:
        raise SettingsError(f"--model must be one of {list(MODELS)}, got {model!r}")
    folds = folds or config.cv_folds
    subject_folds(data.frame, folds, config.seed)  # too many folds are refused before any work
    parts, val_subjects, start = [], {}, time.perf_counter()
    for fold in range(1, folds + 1):
        cfg = fold_config(config, fold, folds)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)  # a fold without a rare class is expected
            split = data.with_protocol("subject", cfg)
        if progress and model == "cnn":
            print(f"cv: fold {fold} of {folds}: {fold_run_name(cfg)}")
        asked = ("val", "test") if len(split.part("val")) else ("test",)
        kept = "; the finished folds are saved runs, reused when cv runs again" if model == "cnn" else ""
        with files_kept(split.frame, f"cv fold {fold} of {folds}", kept):
            proba = held_out_probabilities(model, split, cfg, asked, fold_run_name(cfg), progress)
        parts.append(_fold_rows(fold, split, proba))
        val_subjects[fold] = int(split.part("val")["subject"].nunique())
    predictions = pd.concat(parts, ignore_index=True)
    n_boot = n_boot or config.n_boot
    summary = {"model": model, "model_description": describe_model(model, config), "folds": folds,
               "subjects_tested": int(predictions["subject"].nunique()), "images_tested": int(len(predictions)),
               "slice_level": _level_summary(predictions, "slice", n_boot, config.seed),
               "subject_level": _level_summary(predictions, "subject", n_boot, config.seed),
               "per_fold": _per_fold(predictions, val_subjects), "voting": "soft",
               "any_dementia_threshold_from": THRESHOLD_FROM,
               "data": {"path": str(data.root), "fingerprint": data.fingerprint, "synthetic": data.synthetic,
                        "subjects": data.subjects.method if data.subjects else None},
               "seed": config.seed, "seconds": round(time.perf_counter() - start, 1),
               "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    return CrossValidation(summary, predictions)


def format_cv(summary: dict) -> str:
    """The per-fold table and both pooled levels (four classes and any dementia, with intervals), printable."""
    table = pd.DataFrame(summary["per_fold"]).rename(columns={
        "test_subjects": "test subjects", "test_images": "test images", "val_subjects": "val subjects",
        "balanced_accuracy_slice": "bal. acc per slice", "balanced_accuracy_subject": "bal. acc per subject",
        "threshold_slice": "any-dementia cut (slice)", "threshold_subject": "(subject)"})
    lines = [table.to_string(index=False, float_format=lambda v: f"{v:.3f}"), ""]
    for level in ("slice", "subject"):
        m = summary[f"{level}_level"]
        a = m["any_dementia"]
        lines.append(f"per {level:7s} ({m['images'] if level == 'slice' else m['subjects']} {level}s): "
                     f"4-class balanced accuracy {with_ci(m['balanced_accuracy'], m['ci'])}, "
                     f"kappa {with_ci(m['quadratic_kappa'], m['ci95']['quadratic_kappa'])}; any dementia: AUC "
                     f"{with_ci(m['auc_any_dementia'], m['ci_auc_any_dementia'])}, sensitivity "
                     f"{with_ci(a['sensitivity'], a['ci95']['sensitivity'])}, specificity "
                     f"{with_ci(a['specificity'], a['ci95']['specificity'])}")
    lines.append(f"{summary['subjects_tested']} subjects and {summary['images_tested']} slices, each tested once "
                 f"over {summary['folds']} folds; intervals resample subjects; per subject: soft voting; "
                 f"any-dementia threshold from {summary['any_dementia_threshold_from']}. A fold's balanced accuracy "
                 "averages the classes it tests (a fold without a rare class averages fewer), so the pooled one can "
                 "lie below every fold's.")
    return "\n".join(lines)
