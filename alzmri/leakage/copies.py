"""Near-duplicates (augmented copies) and the leakage counts of a split.

An augmented copy and its original have nearly the same copy descriptor (:mod:`alzmri.leakage.similarity`);
two images whose descriptors correlate above a threshold are near-duplicates. For each evaluation
split, :func:`leak_counts` says how many images have a copy in train, how many have their subject in
train, and, without relying on either, how close each comes to its most similar training image.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from alzmri.leakage.similarity import Features, best_match, similarity_blocks


def group_near_duplicates(desc: np.ndarray, threshold: float) -> np.ndarray:
    """Connected components of the near-duplicate graph: one group id per descriptor."""
    if len(desc) == 0:
        return np.zeros(0, int)
    rows, cols = [], []
    for start, block in similarity_blocks(desc, desc):
        r, c = np.nonzero(block >= threshold)
        rows.append(r + start)
        cols.append(c)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(desc), len(desc)))
    return connected_components(graph, directed=False)[1]


def exact_duplicates(features: Features) -> np.ndarray:
    """For each image, the row of the first image with the very same pixels (-1 for a first or unique one).

    Images are the same when both their features are equal bit for bit; blank images (all-zero
    features, :func:`alzmri.leakage.similarity.standardise` of a flat image) are never called the same.
    """
    keys = [hashlib.sha1(c.tobytes() + s.tobytes()).digest() for c, s in zip(features.copy, features.slice)]
    first = pd.Series(np.arange(len(keys))).groupby(keys).transform("min").to_numpy()
    blank = ~features.slice.any(axis=1)
    return np.where((first == np.arange(len(keys))) | blank, -1, first)


def match_precision_recall(predicted: pd.Series, truth: pd.Series) -> tuple[float, float]:
    """Precision and recall of a predicted augmented→original mapping ("" = no match) against the truth."""
    made = predicted != ""
    correct = (predicted == truth) & made
    precision = correct.sum() / max(made.sum(), 1)
    recall = correct.sum() / max(len(truth), 1)
    return float(precision), float(recall)


def recover_originals(frame: pd.DataFrame, desc: np.ndarray, threshold: float) -> pd.Series:
    """For each augmented image, the relpath of the original it was made from ("" when none matches).

    Only originals of the copy's own class are candidates: a copy never changes class.
    """
    found = pd.Series("", index=frame.index[frame["kind"] == "augmented"], name="recovered_original", dtype=object)
    for _, members in frame.groupby("class_name").groups.items():
        rows = frame.index.get_indexer(members)
        orig = rows[(frame["kind"].to_numpy()[rows] == "original")]
        aug = rows[(frame["kind"].to_numpy()[rows] == "augmented")]
        if len(aug) == 0 or len(orig) == 0:
            continue
        match, score = best_match(desc[aug], desc[orig])
        names = frame["relpath"].to_numpy()[orig][match]
        found.loc[frame.index[aug]] = np.where(score >= threshold, names, "")
    return found


def original_rows(frame: pd.DataFrame) -> np.ndarray:
    """For each row, the row of the original it is a copy of (-1 for originals and unmatched copies)."""
    row_of = pd.Series(np.arange(len(frame)), index=frame["relpath"].to_numpy())
    rows = row_of.reindex(frame["original"].to_numpy()).fillna(-1).astype(int).to_numpy()
    return np.where(frame["kind"].to_numpy() == "augmented", rows, -1)


def mapping_quality(frame: pd.DataFrame, desc: np.ndarray, threshold: float) -> tuple[float, float] | None:
    """Precision and recall of the recovered augmented→original mapping, where the truth is known."""
    truth = frame.loc[frame["kind"] == "augmented", "original"]
    if len(truth) == 0 or (truth == "").all():
        return None
    return match_precision_recall(recover_originals(frame, desc, threshold), truth)


def leak_flags(frame: pd.DataFrame, split_col: str = "split") -> pd.DataFrame:
    """Per image: is a copy of it (or its original) in train, is its subject in train.

    Args:
        frame: the images with ``relpath``, ``kind``, ``original`` and ``subject`` columns (and ``duplicate_of``,
            the first pixel-identical file, where known: identical files count as copies of each other).
        split_col: the column that holds the split.

    Returns:
        Boolean columns ``copy_in_train`` and ``subject_in_train``, aligned with ``frame``; training
        images themselves count as in train.
    """
    train = frame[split_col].to_numpy() == "train"
    relpath, original = frame["relpath"].to_numpy(dtype=str), frame["original"].to_numpy(dtype=str)
    if "duplicate_of" in frame:  # pixel-identical files are one picture (a split made elsewhere may part them)
        duplicate_of = frame["duplicate_of"].to_numpy(dtype=str)
        relpath = np.where(duplicate_of != "", duplicate_of, relpath)
    source = np.where(frame["kind"].to_numpy() == "augmented", original, relpath)
    subjects = frame["subject"].to_numpy(dtype=str)
    return pd.DataFrame({
        "copy_in_train": np.isin(source, list(set(source[train]) - {""})),
        "subject_in_train": np.isin(subjects, list(set(subjects[train]) - {""})),
    }, index=frame.index)


@dataclass(frozen=True)
class Leaks:
    """What of one evaluation split is also in train: the one count of leaks that the audit, ``compare``,
    ``evaluate`` and the command line all report.

    Attributes:
        images: the split's images.
        subjects: its known subjects.
        copy_in_train: its images with a copy (or their original) in train.
        subject_in_train: its images whose subject is in train.
        subjects_in_train: its subjects that are also in train.
        leaked: per image of the split, in order: a copy or the subject in train.
    """

    images: int
    subjects: int
    copy_in_train: int
    subject_in_train: int
    subjects_in_train: int
    leaked: np.ndarray

    @property
    def images_leaked(self) -> int:
        """The split's images with a copy or their subject in train."""
        return int(self.leaked.sum())


def leaks(frame: pd.DataFrame, split: str, split_col: str = "split") -> Leaks:
    """Count what of ``split`` is also in train (see :class:`Leaks`).

    Args:
        frame: the images with ``relpath``, ``kind``, ``original``, ``subject`` and ``split_col`` columns.
        split: the evaluation split (``val``, ``test``).
        split_col: the column that holds the split.

    Returns:
        The split's :class:`Leaks`.
    """
    members = (frame[split_col] == split).to_numpy()
    flags = leak_flags(frame, split_col)
    copy, subject = flags["copy_in_train"].to_numpy()[members], flags["subject_in_train"].to_numpy()[members]
    subjects = frame["subject"].to_numpy(dtype=str)
    known = set(subjects[members]) - {""}
    in_train = set(subjects[(frame[split_col] == "train").to_numpy()]) - {""}
    return Leaks(images=int(members.sum()), subjects=len(known), copy_in_train=int(copy.sum()),
                 subject_in_train=int(subject.sum()), subjects_in_train=len(known & in_train), leaked=copy | subject)


def leak_counts(frame: pd.DataFrame, features: Features, neighbour_level: float,
                split_col: str = "split") -> pd.DataFrame:
    """Per evaluation split: images, and how many of them have a copy / their subject / a neighbour in train.

    Args:
        frame: the images with ``kind``, ``original`` (a copy's original), ``subject`` and ``split_col``
            columns, row i matching row i of ``features``.
        features: the images' features.
        neighbour_level: slice-feature similarity from which two slices look like neighbours of one brain.
        split_col: the column that holds the split.

    Returns:
        One row per evaluation split: ``images``, ``copy_in_train`` (it, its original or another copy of
            its original is in train),
        ``subject_in_train`` (its recovered subject does), ``images_leaked`` (either), ``subjects`` and
        ``subjects_in_train``, and the
        check that relies on neither: ``max_similarity`` (the highest slice-feature correlation of any of
        its images to any training image) and ``at_neighbour_level`` (images at least that close).
    """
    split = frame[split_col].to_numpy()
    train = np.flatnonzero(split == "train")
    rows = []
    for name in ("val", "test"):
        members = np.flatnonzero(split == name)
        if len(members) == 0:
            continue
        _, score = best_match(features.slice[members], features.slice[train], flips=False)
        counted = leaks(frame, name, split_col)
        rows.append(dict(pair=f"train→{name}", images=counted.images, copy_in_train=counted.copy_in_train,
                         subject_in_train=counted.subject_in_train, images_leaked=counted.images_leaked,
                         subjects=counted.subjects,
                         subjects_in_train=counted.subjects_in_train,
                         max_similarity=float(score.max()) if len(train) else float("nan"),
                         at_neighbour_level=int((score >= neighbour_level).sum())))
    return pd.DataFrame(rows)


def leaked_pairs(frame: pd.DataFrame, desc: np.ndarray, threshold: float, n: int = 6,
                 split_col: str = "split") -> list[tuple[str, str, float]]:
    """Up to ``n`` (test image, its near-duplicate in train, similarity) triples, for showing a leak."""
    train = np.flatnonzero(frame[split_col].to_numpy() == "train")
    test = np.flatnonzero(frame[split_col].to_numpy() == "test")
    match, score = best_match(desc[test], desc[train])
    leaked = np.flatnonzero(score >= threshold)[:n]
    paths = frame["path"].to_numpy()
    return [(paths[test[i]], paths[train[match[i]]], float(score[i])) for i in leaked]
