"""The leakage audit: for each split protocol a dataset allows, which evaluation images have a copy or their
subject in train, and the check that relies on neither (each image's highest similarity to any training image).

:func:`audit_dataset` is the whole of ``alzmri audit``: index a dataset, find its copies and subjects, audit every
protocol; :func:`alzmri.reporting.reports.print_audit` prints what it returns. :func:`audit_given_split` is
``alzmri audit --split-file`` / ``--split``: the same counts for a split made elsewhere (a published file list,
or the split a Keras or scikit-learn notebook draws), printed by :func:`alzmri.reporting.reports.print_split_audit`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from alzmri.config import Config
from alzmri.data.datasets import DatasetIndex, DataWarning, index_dataset, resolve_data
from alzmri.errors import SettingsError
from alzmri.leakage import copies as leakage
from alzmri.leakage.library_splits import draw_split, parse_split_spec
from alzmri.leakage.split_file import ListedSplit, match_split, read_split_file
from alzmri.leakage.prepared import PreparedData, annotate
from alzmri.leakage.protocols import available_protocols, split_frame
from alzmri.leakage.subjects import adjusted_rand, recover_subjects
from alzmri.safe_text import one_line


def audit(data: PreparedData, config: Config, protocols: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The leakage audit of every protocol the data allows, on one set of features and subjects.

    Returns:
        ``(table, per_image)``: the table has one row per protocol and evaluation split (see
        :func:`alzmri.leakage.copies.leak_counts`); ``per_image`` has ``relpath``, ``class_name``, ``kind``,
        ``original``, ``subject`` and a ``split_<protocol>`` column per protocol.
    """
    protocols = protocols or available_protocols(data.frame)
    per_image = data.frame[["relpath", "class_name", "kind", "original", "subject"]].copy()
    tables = []
    for protocol in protocols:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            split = split_frame(data.frame, protocol, config)
        per_image[f"split_{protocol}"] = split["split"]
        counts = leakage.leak_counts(split, data.features, data.subjects.evidence.threshold)
        tables.append(counts.assign(protocol=protocol))
    table = pd.concat(tables, ignore_index=True)
    return table[["protocol"] + [c for c in table.columns if c != "protocol"]], per_image


@dataclass
class SimilarityCheck:
    """How well similarity alone recovers subjects that are known: ``found`` subjects, adjusted Rand index ``ari``."""

    found: int
    ari: float


@dataclass
class AuditReport:
    """What ``alzmri audit`` found (printed by :func:`alzmri.reporting.reports.print_audit`).

    Attributes:
        index: the indexed dataset (usable, skipped and converted files).
        data: the images annotated with copies and subjects (split by the config's protocol).
        notes: the warnings raised while finding copies and subjects, one line each.
        mapping_quality: precision and recall of the recovered copy→original mapping where a manifest knows it.
        similarity: the similarity-only subject check where subjects are known, else None.
        table: one row per protocol and evaluation split (:func:`audit`).
        per_image: one row per image, its split under each protocol.
    """

    index: DatasetIndex
    data: PreparedData
    notes: list[str]
    mapping_quality: tuple[float, float] | None
    similarity: SimilarityCheck | None
    table: pd.DataFrame
    per_image: pd.DataFrame


def similarity_check(index: DatasetIndex, frame: pd.DataFrame, slice_features: np.ndarray) -> SimilarityCheck:
    """How well the similarity method alone recovers the known subjects of ``frame`` (its originals).

    Args:
        index: the dataset.
        frame: the annotated images, with their true ``subject``.
        slice_features: the images' slice features, row i matching row i of ``frame``.

    Returns:
        The subjects similarity finds among the originals, and its adjusted Rand index against the truth.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        guess = recover_subjects(index.root, frame, slice_features, "similarity")
    originals = frame["kind"].to_numpy() == "original"
    return SimilarityCheck(len(set(guess.subject[originals])),
                           adjusted_rand(frame["subject"].to_numpy()[originals], guess.subject[originals]))


def annotated_data(spec: str, config: Config) -> tuple[PreparedData, list[str]]:
    """Index a dataset and find its copies and subjects (not yet split).

    Args:
        spec: the data (``demo``, ``kaggle``, ``hf``, a folder or parquet files).
        config: the settings (duplicate threshold, subject method).

    Returns:
        The annotated data (its protocol the config's, its frame without a split) and the warnings raised while
        finding copies and subjects, one line each (skipped and converted files are listed by the index).
    """
    root = resolve_data(spec, config=config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        index = index_dataset(root)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame, features, recovery = annotate(index, config)
    return PreparedData(index, frame, config.split, features, recovery), [str(w.message) for w in caught]


def audit_dataset(spec: str, config: Config) -> AuditReport:
    """Index a dataset, find its copies and subjects, and audit every split protocol it allows.

    Args:
        spec: the data (``demo``, ``kaggle``, ``hf``, a folder or parquet files).
        config: the settings (seed, duplicate threshold, subject method, protocol).

    Returns:
        The :class:`AuditReport`.
    """
    data, notes = annotated_data(spec, config)
    index, frame, features = data.index, data.frame, data.features
    quality = leakage.mapping_quality(index.frame, features.copy, config.duplicate_threshold)
    check = similarity_check(index, frame, features.slice) if data.subjects.is_truth else None
    table, per_image = audit(data, config)
    return AuditReport(index, data, notes, quality, check, table, per_image)


def given_split(data: PreparedData, config: Config, split_file: list[str] | None = None,
                split: str | None = None) -> ListedSplit:
    """A split made elsewhere, matched to ``data``: a user's file list, or the split a library draws.

    Args:
        data: the annotated data (features and relative paths).
        config: the settings (the duplicate threshold, for matching by content).
        split_file: one CSV file or ``NAME=FILE`` text lists (:func:`alzmri.leakage.split_file.read_split_file`).
        split: else a library's split, e.g. ``keras:0.2:123`` (:func:`alzmri.leakage.library_splits.parse_split_spec`).

    Returns:
        The :class:`alzmri.leakage.split_file.ListedSplit`, its ``description`` saying what it is.

    Raises:
        SplitListError: the list cannot be read or used (one line naming it).
        SettingsError: neither or both given, or a malformed ``split``.
    """
    if bool(split_file) == bool(split):
        raise SettingsError("give a split file (--split-file) or a library's split (--split), one of the two")
    where = one_line(data.root)
    if split_file:
        table, name = read_split_file(split_file), " ".join(Path(s).name for s in split_file)
        listed = match_split(table, data.frame["relpath"], data.features, config.duplicate_threshold, name, where)
        listed.description = f"the split listed in {' '.join(split_file)}"
        return listed
    table, description = draw_split(data.root, parse_split_spec(split), data.frame["subset"])
    listed = match_split(table.assign(base=str(data.root)), data.frame["relpath"], None, config.duplicate_threshold,
                         split, where)
    listed.description = description
    return listed


@dataclass
class SplitAudit:
    """What ``alzmri audit --split-file`` / ``--split`` found (printed by
    :func:`alzmri.reporting.reports.print_split_audit`).

    Attributes:
        data: the annotated data, split as given (its ``protocol`` the split's name).
        listed: the split as read and matched, with what was left out.
        notes: the warnings raised while finding copies and subjects.
        table: one row per pair (train→val, train→test): :func:`alzmri.leakage.copies.leak_counts`, the
            ``leaked_share`` of the held-out images, and a ``verdict`` in words.
    """

    data: PreparedData
    listed: ListedSplit
    notes: list[str]
    table: pd.DataFrame


def split_verdict(row: dict) -> str:
    """What one pair's counts say: whether the held-out split's brains or copies are in train, in words."""
    held = row["pair"].partition("→")[2]
    if row["images_leaked"]:
        return (f"{row['subjects_in_train']} of its {row['subjects']} {held} subjects are also in train and "
                f"{row['copy_in_train']} {held} images have a copy there: {row['leaked_share']:.0%} of the {held} set "
                "is leaked, so a score on it measures recognition of brains the model trained on, not diagnosis of "
                "new people")
    if row["at_neighbour_level"]:
        return (f"no {held} subject or copy in train, but {row['at_neighbour_level']} {held} images are as close to a "
                "training slice as neighbouring slices of one brain: check how the subjects were found")
    return f"no {held} subject or copy in train: this split keeps brains apart, as far as the subjects were recovered"


def audit_split(data: PreparedData) -> pd.DataFrame:
    """The leak counts of ``data``'s split, per pair, with the share leaked and the verdict (:class:`SplitAudit`)."""
    table = leakage.leak_counts(data.frame, data.features, data.subjects.evidence.threshold)
    table["leaked_share"] = table["images_leaked"] / table["images"]
    table["verdict"] = [split_verdict(row) for row in table.to_dict("records")]
    return table


def audit_given_split(spec: str, config: Config, split_file: list[str] | None = None,
                      split: str | None = None) -> SplitAudit:
    """Index a dataset, find its copies and subjects, and audit a split made elsewhere (:func:`given_split`).

    Args:
        spec: the data (``demo``, ``kaggle``, ``hf``, a folder or parquet files).
        config: the settings (duplicate threshold, subject method).
        split_file: a user's file list.
        split: else a library's split.

    Returns:
        The :class:`SplitAudit`.
    """
    data, notes = annotated_data(spec, config)
    listed = given_split(data, config, split_file, split)
    split_data = data.with_split(listed.split, listed.name)
    return SplitAudit(split_data, listed, notes, audit_split(split_data))


def split_audit_json(report: SplitAudit) -> dict:
    """``--json`` of a split audit: the split, what was matched and left out, each split's files, per-pair counts."""
    pairs = {}
    for row in report.table.to_dict("records"):
        pairs[row["pair"]] = {"test_images": row["images"], "test_subjects": row["subjects"],
                              "test_subjects_in_train": row["subjects_in_train"],
                              "test_images_with_copy_in_train": row["copy_in_train"],
                              "test_images_with_subject_in_train": row["subject_in_train"],
                              "test_images_leaked": row["images_leaked"], "leaked_share": row["leaked_share"],
                              "max_similarity": row["max_similarity"],
                              "test_images_at_neighbour_level": row["at_neighbour_level"], "verdict": row["verdict"]}
    listed, data = report.listed, report.data
    return {"split": listed.name, "description": listed.description, "data": str(data.root),
            "fingerprint": data.fingerprint, "synthetic": data.synthetic, "subjects": data.subjects.describe(data.frame),
            "rows": listed.rows, "matched": listed.matched, "notes": listed.notes,
            "files": listed.files(data.frame["relpath"]), "pairs": pairs}
