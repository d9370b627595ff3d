"""The leakage audit: for each split protocol a dataset allows, which evaluation images have a copy or their
subject in train, and the check that relies on neither (each image's highest similarity to any training image).

:func:`audit_dataset` is the whole of ``alzmri audit``: index a dataset, find its copies and subjects, audit every
protocol; :func:`alzmri.reporting.reports.print_audit` prints what it returns.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alzmri.config import Config
from alzmri.data.datasets import DatasetIndex, DataWarning, index_dataset, resolve_data
from alzmri.leakage import copies as leakage
from alzmri.leakage.splits import PreparedData, annotate, available_protocols, split_frame
from alzmri.leakage.subjects import adjusted_rand, recover_subjects


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


def audit_dataset(spec: str, config: Config) -> AuditReport:
    """Index a dataset, find its copies and subjects, and audit every split protocol it allows.

    Args:
        spec: the data (``demo``, ``kaggle``, ``hf``, a folder or parquet files).
        config: the settings (seed, duplicate threshold, subject method, protocol).

    Returns:
        The :class:`AuditReport`.
    """
    root = resolve_data(spec, config=config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skipped and converted files are listed by the report
        index = index_dataset(root)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame, features, recovery = annotate(index, config)
    data = PreparedData(index, frame, config.split, features, recovery)
    quality = leakage.mapping_quality(index.frame, features.copy, config.duplicate_threshold)
    check = similarity_check(index, frame, features.slice) if recovery.is_truth else None
    table, per_image = audit(data, config)
    return AuditReport(index, data, [str(w.message) for w in caught], quality, check, table, per_image)
