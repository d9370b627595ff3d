"""One answer per person: a subject's slice probabilities combined into one.

A brain is a stack of slices, and a researcher (or an application sent 32 slices of one patient) wants
one answer for it. Following ClinicaDL (Wen et al., Medical Image Analysis 2020):

* ``soft`` voting (the default): the subject's probabilities are the mean of its slices' probabilities.
* ``weighted`` voting, where slice positions are known: each position weighted by the balanced accuracy
  its slices reached on the validation split, positions under a threshold dropped; a subject whose every
  slice was dropped falls back to the plain mean, so no subject goes unanswered.

Slices with no known subject are each their own unit (``image:<name>``), and :func:`units_note` says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alzmri.metrics import balanced_accuracy

OWN_UNIT = "image:"  # prefix of the unit of a slice whose subject is unknown
PERSON = "person"  # a run's subject-level ``voting`` where the model of the person answered: nothing was voted


def describe_voting(method: str) -> str:
    """How each subject's one answer came about, in words, from a subject-level block's ``voting``.

    Args:
        method: ``soft``, ``weighted``, or :data:`PERSON` (a model of the person answered once from the stack).

    Returns:
        e.g. ``soft voting of its slices``, for a title, a card or a printed line.
    """
    return "the model of the person, once from all its slices" if method == PERSON else f"{method} voting of its slices"


@dataclass
class SubjectVotes:
    """Each unit's combined answer: ``units`` (sorted ids), ``proba`` (n_units, n_classes), ``slices`` used,
    ``labels`` (the unit's class id where labels were given, else None)."""

    units: np.ndarray
    proba: np.ndarray
    slices: np.ndarray
    labels: np.ndarray | None = None

    @property
    def predicted(self) -> np.ndarray:
        return self.proba.argmax(axis=1)


def slice_units(subjects, names) -> np.ndarray:
    """Each slice's voting unit: its subject, or ``image:<name>`` where the subject is unknown ("")."""
    subjects = np.asarray(subjects, dtype=str)
    own = np.char.add(OWN_UNIT, np.asarray(names, dtype=str))
    return np.where(subjects != "", subjects, own)


def units_note(units: np.ndarray) -> str | None:
    """One line saying how many slices had no known subject and were scored as their own unit, or None."""
    alone = int(np.char.startswith(np.asarray(units, dtype=str), OWN_UNIT).sum())
    if not alone:
        return None
    return f"{alone} slice(s) have no known subject and count as a person each"


def position_weights(labels: np.ndarray, proba: np.ndarray, positions: np.ndarray,
                     threshold: float) -> dict[int, float]:
    """ClinicaDL's slice-position weights: each position's balanced accuracy on validation slices.

    Args:
        labels: validation class ids.
        proba: validation probabilities, (n, n_classes).
        positions: each validation slice's position in its stack (-1 where unknown; ignored).
        threshold: positions whose balanced accuracy is under this get weight 0.

    Returns:
        ``{position: weight}``; a position absent from the validation slices has no entry.
    """
    positions = np.asarray(positions)
    predicted = np.asarray(proba).argmax(axis=1)
    weights = {}
    for pos in np.unique(positions[positions >= 0]):
        rows = positions == pos
        score = balanced_accuracy(np.asarray(labels)[rows], predicted[rows])
        weights[int(pos)] = float(score) if score >= threshold else 0.0
    return weights


def slice_weights(positions: np.ndarray, weights: dict[int, float] | None) -> np.ndarray:
    """Each slice's voting weight: 1 everywhere for soft voting (``weights`` None), else its position's weight
    (0 for positions validation never saw or where the position is unknown)."""
    positions = np.asarray(positions)
    if weights is None:
        return np.ones(len(positions))
    return np.array([weights.get(int(p), 0.0) for p in positions], dtype=float)


def vote(proba: np.ndarray, units, weights: np.ndarray | None = None, labels: np.ndarray | None = None) -> SubjectVotes:
    """Combine slice probabilities into one row per unit: their (weighted) mean.

    Args:
        proba: slice probabilities, (n, n_classes).
        units: each slice's unit (:func:`slice_units`).
        weights: each slice's weight (:func:`slice_weights`); None for soft voting. A unit whose weights
            are all 0 takes the plain mean of its slices.
        labels: slice class ids; each unit's label is its slices' most common one.

    Returns:
        The units in sorted order with their probabilities, slice counts and labels.
    """
    proba = np.asarray(proba, dtype=float)
    units = np.asarray(units, dtype=str)
    if len(units) != len(proba):
        raise ValueError(f"{len(proba)} probability rows but {len(units)} units")
    ids, codes = np.unique(units, return_inverse=True)
    w = np.ones(len(proba)) if weights is None else np.asarray(weights, dtype=float)
    totals = np.bincount(codes, weights=w, minlength=len(ids))
    w = np.where(totals[codes] > 0, w, 1.0)  # all-dropped units fall back to the plain mean
    summed = np.zeros((len(ids), proba.shape[1]))
    np.add.at(summed, codes, proba * w[:, None])
    combined = summed / np.bincount(codes, weights=w, minlength=len(ids))[:, None]
    unit_labels = None
    if labels is not None:
        labels = np.asarray(labels)
        unit_labels = np.array([np.bincount(labels[codes == i]).argmax() for i in range(len(ids))])
    return SubjectVotes(ids, combined, np.bincount(codes, minlength=len(ids)), unit_labels)

