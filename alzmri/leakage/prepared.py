"""The prepared data a run uses: the indexed images annotated with who each belongs to, and split.

Owns :class:`PreparedData` and what is done to it: :func:`annotate` (each copy's original, copy groups,
subjects, identical images), :func:`prepare_data` (resolve, index, annotate and split by the configured
protocol), :func:`check_held_out` (training refuses a val or test split too small to mean anything),
:func:`independent_units` and :func:`shuffle_labels` (the memorisation control). The protocols themselves are
:mod:`alzmri.leakage.protocols`; a run's ``splits.csv`` is :mod:`alzmri.leakage.saved_splits`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from alzmri.leakage import copies as leakage
from alzmri.config import CLASS_NAMES, Config, default_cache_dir
from alzmri.data.datasets import DatasetIndex, DataWarning, index_dataset, resolve_data
from alzmri.errors import DatasetError
from alzmri.leakage.protocols import split_frame
from alzmri.leakage.similarity import Features, cached_features
from alzmri.leakage.subjects import SubjectRecovery, named_files, recover_subjects

MIN_MATCHED_COPIES = 0.5  # below this share of matched copies, a folder named like copies holds originals
MIN_HELD_OUT = 2  # independent units (subjects, else copy groups, else images) that val and test each need


@dataclass
class PreparedData:
    """The indexed dataset, who each image belongs to, and its split by one protocol."""

    index: DatasetIndex
    frame: pd.DataFrame  # index.frame + original, group, subject, slice_pos, split
    protocol: str
    features: Features | None = None
    subjects: SubjectRecovery | None = None

    @property
    def root(self) -> Path:
        return self.index.root

    @property
    def fingerprint(self) -> str:
        return self.index.fingerprint

    @property
    def synthetic(self) -> bool:
        return self.index.synthetic

    def part(self, split: str) -> pd.DataFrame:
        return self.frame[self.frame["split"] == split]

    def with_protocol(self, protocol: str, config: Config) -> "PreparedData":
        """The same annotated data split by another protocol."""
        return PreparedData(self.index, split_frame(self.frame, protocol, config), protocol, self.features,
                            self.subjects)

    def with_split(self, split: np.ndarray, name: str) -> "PreparedData":
        """The same annotated data split as given (one split name per image), e.g. a split made elsewhere."""
        return PreparedData(self.index, self.frame.assign(split=split), name, self.features, self.subjects)

    def with_shuffled_labels(self, seed: int) -> "PreparedData":
        """The same data and split, every subject's label replaced by a random class (:func:`shuffle_labels`)."""
        return PreparedData(self.index, shuffle_labels(self.frame, seed), self.protocol, self.features, self.subjects)

    def sizes(self) -> dict:
        """Images and subjects per split, for metadata and printing."""
        used = self.frame[self.frame["split"] != "unused"]
        return {split: {"images": int(len(g)), "subjects": int(g.loc[g["subject"] != "", "subject"].nunique())}
                for split, g in used.groupby("split")}


def annotate(index: DatasetIndex, config: Config, cache_dir: str | Path | None = None,
             progress: bool = True) -> tuple[pd.DataFrame, Features, SubjectRecovery]:
    """The index with each copy's ``original``, copy ``group``, ``subject`` and ``duplicate_of``, plus the features.

    ``duplicate_of`` is the relpath of the first image with the very same pixels ("" for a first or unique
    one); identical images filed under different classes are named in a :class:`DataWarning`.
    """
    features = cached_features(index.frame["path"].tolist(), Path(cache_dir or default_cache_dir()),
                               index.fingerprint, progress=progress)
    frame = index.frame.copy()
    frame["duplicate_of"] = _exact_duplicates(frame, features)
    recovered = leakage.recover_originals(frame, features.copy, config.duplicate_threshold)
    unknown = frame.loc[recovered.index, "original"] == ""
    frame.loc[recovered.index[unknown], "original"] = recovered[unknown]
    _check_claimed_copies(frame)
    frame["group"] = _copy_groups(frame, features.copy, config.duplicate_threshold)
    recovery = recover_subjects(index.root, frame, features.slice, config.subjects)
    frame["subject"], frame["slice_pos"] = recovery.subject, recovery.slice_pos
    return frame, features, recovery


def _exact_duplicates(frame: pd.DataFrame, features: Features) -> np.ndarray:
    """Each image's first pixel-identical file ("" if none); a picture filed under two classes is named."""
    first = leakage.exact_duplicates(features)
    relpath, classes = frame["relpath"].to_numpy(object), frame["class_name"].to_numpy(object)
    has_first = first >= 0
    duplicate_of = np.where(has_first, relpath[np.maximum(first, 0)], "")
    conflicts = np.flatnonzero(has_first & (classes != classes[np.maximum(first, 0)]))
    if len(conflicts):
        named = named_files([f"{relpath[i]} = {duplicate_of[i]}" for i in conflicts])
        warnings.warn(f"{len(conflicts)} image(s) are identical to an image of another class, so their labels "
                      f"contradict each other: {named}. Identical images are kept on one side of every split and "
                      "counted once in the similarity levels; remove the copies with the wrong label", DataWarning,
                      stacklevel=3)
    return duplicate_of


def _check_claimed_copies(frame: pd.DataFrame) -> None:
    """A folder named like augmented copies whose images mostly match no original holds originals: say so."""
    for subset, part in frame[frame["kind"] == "augmented"].groupby("subset"):
        matched = (part["original"] != "").mean()
        if matched < MIN_MATCHED_COPIES:
            frame.loc[part.index, ["kind", "original"]] = ["original", ""]
            warnings.warn(f"{subset}/ is named like the Kaggle set's augmented copies, but only {matched:.0%} of its "
                          "images are copies of an original: its images are used as originals", DataWarning,
                          stacklevel=3)
        elif matched < 1:
            warnings.warn(f"{(part['original'] == '').sum()} of the {len(part)} augmented images in {subset}/ match "
                          "no original: they are left out of the subject and image splits", DataWarning, stacklevel=3)


def _copy_groups(frame: pd.DataFrame, desc: np.ndarray, threshold: float) -> np.ndarray:
    """Near-duplicate groups of the originals; a copy joins its original's group (-1 when unknown)."""
    groups = np.full(len(frame), -1)
    orig = np.flatnonzero(frame["kind"].to_numpy() == "original")
    groups[orig] = leakage.group_near_duplicates(desc[orig], threshold)
    source = leakage.original_rows(frame)
    copies = source >= 0
    groups[copies] = groups[source[copies]]
    return groups
def check_held_out(data: PreparedData) -> None:
    """Refuse a split whose val or test is too small to mean anything: under :data:`MIN_HELD_OUT` independent units.

    One person (or one image) is an anecdote: a score over it says nothing about anyone else, and a
    bootstrap over subjects has nothing to resample.

    Args:
        data: the split data a model is about to be trained on.

    Raises:
        DatasetError: one line naming the split, its size, the subjects per class and what to change.
    """
    for name in ("val", "test"):
        part = data.part(name)
        units, unit = independent_units(part)
        if len(set(units)) < MIN_HELD_OUT:
            raise DatasetError(f"The {data.protocol} split is too small to mean anything: its {name} split holds "
                               f"{len(set(units))} {unit}(s), {len(part)} image(s); val and test need at least "
                               f"{MIN_HELD_OUT} each. {_more_data_hint(data)}")


def _more_data_hint(data: PreparedData) -> str:
    """What to change when a split is too small: per class, how many subjects there are and are needed."""
    originals = data.frame[(data.frame["kind"] == "original") & (data.frame["subject"] != "")]
    per_class = originals.groupby("class_name")["subject"].nunique()
    counts = ", ".join(f"{c} {per_class.get(c, 0)}" for c in CLASS_NAMES)
    if data.protocol != "subject":
        return f"Subjects per class: {counts}. Use more data."
    return (f"Subjects per class: {counts}; a class gives test a subject from 2 subjects up, and val one from 3. "
            "Use data with more subjects per class (synthetic: a larger --n-per-class, or fewer --slices)")


def independent_units(frame: pd.DataFrame) -> tuple[np.ndarray, str]:
    """Each image's independent unit (its subject, else its copy group, else itself) and the unit's name.

    Slices of one subject, and copies of one slice, are not independent: intervals resample these
    units and the shuffled-label check relabels them whole.
    """
    subject = frame["subject"].to_numpy(dtype=str)
    group = frame["group"].to_numpy() if "group" in frame else np.full(len(frame), -1)
    units = np.where(subject != "", np.char.add("subject:", subject),
                     np.where(group >= 0, np.char.add("group:", group.astype(str)),
                              np.char.add("image:", frame["relpath"].to_numpy(dtype=str))))
    if (subject != "").all():
        name = "subject"
    elif (group >= 0).all():
        name = "copy group" if (subject == "").all() else "subject or copy group"
    else:
        name = "subject, copy group or image"
    return units, name


def shuffle_labels(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A copy of ``frame`` in which every subject (unit) gets a random class, class sizes kept.

    The labels then carry no information about disease, only about who is who: a model that still
    scores above chance on a split has recognised subjects it saw in training (Yagis et al.,
    Sci Rep 2021). Splits are made before shuffling, so both labellings share one split.
    """
    units, _ = independent_units(frame)
    per_unit = pd.Series(frame["label"].to_numpy(), index=units).groupby(level=0).first()
    relabel = dict(zip(per_unit.index, np.random.default_rng(seed).permutation(per_unit.to_numpy())))
    frame = frame.copy()
    frame["label"] = pd.Series(units).map(relabel).to_numpy().astype(int)
    frame["class_name"] = np.asarray(CLASS_NAMES)[frame["label"].to_numpy()]
    return frame


def prepare_data(config: Config, progress: bool = True) -> PreparedData:
    """Resolve, index, annotate (copies, subjects) and split the data named by ``config.data``.

    With ``config.shuffle_labels`` the labels are shuffled by subject after splitting.
    """
    index = index_dataset(resolve_data(config.data, config=config, progress=progress), progress=progress)
    frame, features, recovery = annotate(index, config, progress=progress)
    data = PreparedData(index, split_frame(frame, config.split, config), config.split, features, recovery)
    return data.with_shuffled_labels(config.seed) if config.shuffle_labels else data
