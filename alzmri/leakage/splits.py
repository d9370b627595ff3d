"""Split protocols, the data a run uses, and the audit that checks a split without trusting it.

Four protocols, named in every output and in a run's metadata:

* ``subject`` (default): stratified by class over *subjects*; no brain in two splits, copies follow
  their original. The only one that estimates performance on unseen people. ``alzmri cv`` tests every
  subject once: with ``cv_fold`` = k its test split is fold k of :func:`subject_folds`.
* ``image``: stratified over near-duplicate groups of originals; copies kept with their original, but
  other slices of the same brain land on both sides.
* ``official``: the dataset's own folders (``train``/``test``; the V2 set's ``data/train`` copies vs
  ``data/val`` originals), validation drawn at random from train.
* ``naive``: a random split of the augmented images (of all images where there are none), the common
  mistake, kept for comparison.

Whatever the protocol, pixel-identical images end on one side. Training refuses a val or test split too
small to mean anything (:func:`check_held_out`).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from alzmri.leakage import copies as leakage
from alzmri.config import CLASS_NAMES, SPLIT_PROTOCOLS, Config, default_cache_dir
from alzmri.data.datasets import DatasetIndex, DataWarning, index_dataset, resolve_data
from alzmri.errors import DatasetError, SettingsError, SplitsFileError
from alzmri.leakage.similarity import Features, cached_features
from alzmri.leakage.subjects import SubjectRecovery, named_files, recover_subjects
from alzmri.safe_text import one_line

PROTOCOLS = SPLIT_PROTOCOLS
SPLITS = ("train", "val", "test")
SPLITS_COLUMNS = ["relpath", "class_name", "kind", "original", "group", "subject", "slice_pos", "split"]
OFFICIAL_NAMES = {"train": "train", "training": "train", "test": "test", "testing": "test", "val": "val",
                  "valid": "val", "validation": "val"}
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


def _held_out_counts(n: int, config: Config, n_test: int | None = None) -> tuple[int, int]:
    """How many of a class's ``n`` subjects go to test and val: at least one each where there are enough.

    ``n_test`` given (a cross-validation fold's share of the class) is kept; val is then drawn from the rest.
    """
    if n_test is None:
        n_test = max(1, round(config.test_fraction * n)) if n >= 2 else 0
    n_val = max(1, round(config.val_fraction * n)) if n - n_test >= 2 else 0
    return n_test, n_val


def _class_subjects(frame: pd.DataFrame) -> dict[str, list[str]]:
    """The sorted subjects of each class, from the originals whose subject is known."""
    originals = frame[(frame["kind"] == "original") & (frame["subject"] != "")]
    return {c: sorted(originals.loc[originals["class_name"] == c, "subject"].unique()) for c in CLASS_NAMES}


def subject_split(frame: pd.DataFrame, config: Config) -> np.ndarray:
    """Per class, whole subjects to test, val and train (stratification over subjects is exact).

    Written here rather than with scikit-learn's StratifiedGroupKFold, which may leave a rare class
    (the real set has two Moderate subjects) out of the test split altogether. With ``config.cv_fold`` = k
    the test subjects are fold k of :func:`subject_folds` instead, and val is drawn from the other folds.
    """
    rng = np.random.default_rng(config.seed)
    fold_of = subject_folds(frame, config.cv_folds, config.seed) if config.cv_fold else {}
    split_of: dict[str, str] = {}
    for subjects in _class_subjects(frame).values():
        order = [subjects[i] for i in rng.permutation(len(subjects))]
        n_test = None
        if config.cv_fold:
            held = [s for s in order if fold_of[s] == config.cv_fold]
            order, n_test = held + [s for s in order if fold_of[s] != config.cv_fold], len(held)
        n_test, n_val = _held_out_counts(len(subjects), config, n_test)
        for rank, subject in enumerate(order):
            split_of[subject] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    split = frame["subject"].map(split_of).fillna("unused").to_numpy(object)
    return _copies_train_only(frame, split, config)


def subject_folds(frame: pd.DataFrame, folds: int, seed: int) -> dict[str, int]:
    """Each subject's cross-validation fold (1..``folds``): stratified by class over subjects, with
    scikit-learn's StratifiedGroupKFold, every subject in exactly one fold.

    Subjects that share an identical image are one group, so the image stays on one side of every fold
    (:func:`_duplicates_together` then has nothing to move between test and the rest).

    Args:
        frame: the annotated images (``subject``, ``class_name``, ``kind``, ``relpath``, ``duplicate_of``).
        folds: how many folds.
        seed: the shuffle's seed.

    Returns:
        ``{subject: fold}`` for every subject of the originals.

    Raises:
        SettingsError: more folds than the largest class has subjects, or than there are groups of subjects tied
            by identical images (one line naming ``--folds``).
    """
    from sklearn.model_selection import StratifiedGroupKFold

    per_class = _class_subjects(frame)
    largest = max(len(s) for s in per_class.values())
    if folds > largest:
        counts = ", ".join(f"{c} {len(s)}" for c, s in per_class.items())
        raise SettingsError(f"--folds {folds} is more than the subjects of any class ({counts}): a fold would test "
                            f"no subject of it. Use --folds {largest} or fewer, or data with more subjects")
    subjects = [s for c in CLASS_NAMES for s in per_class[c]]
    classes = [c for c in CLASS_NAMES for _ in per_class[c]]
    rows = np.flatnonzero(frame["subject"].isin(subjects).to_numpy())
    tie = pd.Series(_tied_wholes(frame, rows, "subject"), index=frame["subject"].to_numpy()[rows])
    groups = tie.groupby(level=0).first().loc[subjects].to_numpy()
    if folds > len(set(groups)):
        raise SettingsError(f"--folds {folds} is more than the {len(set(groups))} groups of subjects that share no "
                            f"identical image: use --folds {len(set(groups))} or fewer")
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a class with fewer subjects than folds: it sits in fewer folds
        tests = [held for _, held in splitter.split(np.zeros(len(subjects)), classes, groups)]
    return {subjects[i]: fold for fold, held in enumerate(tests, start=1) for i in held}


def _copies_train_only(frame: pd.DataFrame, split: np.ndarray, config: Config) -> np.ndarray:
    """Augmented copies are training material: kept where their original trains, else unused."""
    copies = frame["kind"].to_numpy() == "augmented"
    split[copies & (split != "train")] = "unused"
    if not config.use_augmented:
        split[copies] = "unused"
    return split


def _stratified_group_fold(labels: np.ndarray, groups: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of one stratified fold holding about ``fraction`` of the rows, groups kept whole."""
    from sklearn.model_selection import StratifiedGroupKFold

    n_splits = max(2, round(1 / fraction))
    if len(np.unique(groups)) < n_splits:
        raise DatasetError(f"Only {len(np.unique(groups))} independent image groups: too few to hold out "
                           f"{fraction:.0%}. Use more data or a smaller val/test fraction.")
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class" warnings: checked afterwards
        _, held = next(folds.split(np.zeros(len(labels)), labels, groups))
    mask = np.zeros(len(labels), bool)
    mask[held] = True
    return mask


def image_split(frame: pd.DataFrame, config: Config) -> np.ndarray:
    """Stratified over near-duplicate groups of originals; copies follow their original's group."""
    orig = np.flatnonzero(frame["kind"].to_numpy() == "original")
    labels, groups = frame["label"].to_numpy()[orig], frame["group"].to_numpy()[orig]
    test = _stratified_group_fold(labels, groups, config.test_fraction, config.seed)
    rest = np.flatnonzero(~test)
    val = np.zeros(len(orig), bool)
    val[rest] = _stratified_group_fold(labels[rest], groups[rest], config.val_fraction / (1 - config.test_fraction),
                                       config.seed + 1)
    split = np.full(len(frame), "unused", dtype=object)
    split[orig] = np.where(test, "test", np.where(val, "val", "train"))
    train_groups = set(groups[~test & ~val])
    copies = frame["kind"].to_numpy() == "augmented"
    split[copies] = np.where(np.isin(frame["group"].to_numpy()[copies], list(train_groups)), "train", "unused")
    return _copies_train_only(frame, split, config)


def official_folders(frame: pd.DataFrame) -> dict[str, str]:
    """``{subset: split}`` of the dataset's own train/test folders (V2: ``data/val`` is its test); {} if none."""
    named = {s: OFFICIAL_NAMES.get(s.rpartition("/")[2].lower()) for s in frame["subset"].unique()}
    named = {s: v for s, v in named.items() if v}
    if "test" not in named.values() and "val" in named.values():
        named = {s: "test" if v == "val" else v for s, v in named.items()}
    return named if {"train", "test"} <= set(named.values()) else {}


def _random_split(rows: np.ndarray, labels: np.ndarray, held_share: float, seed: int,
                  what: str) -> tuple[np.ndarray, np.ndarray]:
    """``(kept, held)``: ``rows`` split at random, ``held_share`` of them held out.

    Stratified by ``labels`` where every class can give both sides an image (scikit-learn's condition);
    otherwise drawn without stratification, with a :class:`DataWarning` that names the class sizes.
    """
    from sklearn.model_selection import train_test_split

    if len(rows) < 2:
        raise DatasetError(f"Only {len(rows)} image(s) to draw {what} from: use more data")
    counts = pd.Series(labels).value_counts().sort_index()
    n_held = int(np.ceil(held_share * len(rows)))
    if counts.min() >= 2 and min(n_held, len(rows) - n_held) >= len(counts):
        return tuple(train_test_split(rows, test_size=held_share, stratify=labels, random_state=seed))
    sizes = ", ".join(f"{CLASS_NAMES[c]} {n}" for c, n in counts.items())
    warnings.warn(f"Too few images per class to stratify {what} ({sizes} of {len(rows)}): drawn at random instead",
                  DataWarning, stacklevel=4)
    return tuple(train_test_split(rows, test_size=held_share, random_state=seed))


def official_split(frame: pd.DataFrame, config: Config) -> np.ndarray:
    """The dataset's own train/test folders; validation drawn at random from train, as its users do."""
    folders = official_folders(frame)
    if not folders:
        raise DatasetError(f"This dataset has no train/test folders of its own (subsets: "
                           f"{sorted(frame['subset'].unique())}); choose the subject, image or naive split")
    split = frame["subset"].map(folders).fillna("unused").to_numpy(object)
    if "val" not in folders.values():
        train = np.flatnonzero(split == "train")
        _, val = _random_split(train, frame["label"].to_numpy()[train], config.val_fraction, config.seed,
                               "the official split's val")
        split[val] = "val"
    return split


def naive_split(frame: pd.DataFrame, config: Config) -> np.ndarray:
    """The common mistake, kept for comparison: a random split of the augmented images (of all, if none)."""
    pool = np.flatnonzero(frame["kind"].to_numpy() == "augmented")
    if len(pool) == 0:
        pool = np.arange(len(frame))
    labels = frame["label"].to_numpy()
    rest, test = _random_split(pool, labels[pool], config.test_fraction, config.seed, "the naive split's test")
    val_share = config.val_fraction / (1 - config.test_fraction)
    train, val = _random_split(rest, labels[rest], val_share, config.seed, "the naive split's val")
    split = np.full(len(frame), "unused", dtype=object)
    split[train], split[val], split[test] = "train", "val", "test"
    return split


SPLITTERS = {"subject": subject_split, "image": image_split, "official": official_split, "naive": naive_split}


def available_protocols(frame: pd.DataFrame) -> list[str]:
    """The protocols this data allows (``official`` needs the dataset's own train/test folders)."""
    return [p for p in PROTOCOLS if p != "official" or official_folders(frame)]


def split_frame(frame: pd.DataFrame, protocol: str, config: Config) -> pd.DataFrame:
    """A copy of the annotated ``frame`` with a ``split`` column (train/val/test/unused) by ``protocol``.

    Identical images (``duplicate_of``) end on one side whatever the protocol (:func:`_duplicates_together`).
    A cross-validation fold (``config.cv_fold``) exists only for the ``subject`` protocol.
    """
    if protocol not in SPLITTERS:
        raise SettingsError(f"split must be one of {list(PROTOCOLS)}, got {protocol!r}")
    if config.cv_fold and protocol != "subject":
        raise SettingsError(f"cv_fold {config.cv_fold} needs the subject split (its folds are over subjects), got "
                            f"the {protocol} split")
    frame = frame.copy()
    frame["split"] = _duplicates_together(frame, SPLITTERS[protocol](frame, config), protocol, config)
    _warn_missing_classes(frame, protocol)
    return frame


def _kept_whole(frame: pd.DataFrame, protocol: str) -> np.ndarray:
    """What ``protocol`` keeps on one side: subjects (subject), copy groups (image), else single images."""
    own = frame["relpath"].to_numpy(dtype=str)
    if protocol == "subject":
        subject = frame["subject"].to_numpy(dtype=str)
        return np.where(subject != "", np.char.add("subject:", subject), own)
    if protocol == "image":
        group = frame["group"].to_numpy()
        return np.where(group >= 0, np.char.add("group:", group.astype(str)), own)
    return own


def _tied_wholes(frame: pd.DataFrame, rows: np.ndarray, protocol: str) -> np.ndarray:
    """For each of ``rows``, a component id: what ``protocol`` keeps whole (:func:`_kept_whole`), joined to every
    other whole that shares an identical image with it."""
    duplicate_of = frame["duplicate_of"].to_numpy(dtype=str)[rows]
    picture = np.where(duplicate_of != "", duplicate_of, frame["relpath"].to_numpy(dtype=str)[rows])
    wholes, whole_of = np.unique(_kept_whole(frame, protocol)[rows], return_inverse=True)
    pictures, picture_of = np.unique(picture, return_inverse=True)
    size = len(wholes) + len(pictures)
    graph = coo_matrix((np.ones(len(rows)), (whole_of, len(wholes) + picture_of)), shape=(size, size))
    return connected_components(graph, directed=False)[1][whole_of]


def _duplicates_together(frame: pd.DataFrame, split: np.ndarray, protocol: str, config: Config) -> np.ndarray:
    """``split`` with every set of identical images on one side: the side of its first used image.

    What the protocol keeps whole (:func:`_kept_whole`: a subject, a copy group) moves with the image, and
    so does anything tied to it by another identical image; augmented copies moved out of train stay out
    of use under the subject and image protocols. Without identical images ``split`` is returned as is.
    """
    if (frame["duplicate_of"].to_numpy(dtype=str) == "").all():
        return split
    used = np.flatnonzero(split != "unused")
    component = _tied_wholes(frame, used, protocol)
    split = split.copy()
    split[used] = pd.Series(split[used]).groupby(component).transform("first").to_numpy()
    return _copies_train_only(frame, split, config) if protocol in ("subject", "image") else split


def _warn_missing_classes(frame: pd.DataFrame, protocol: str) -> None:
    """A split without some class is allowed (tiny data) but must not pass unnoticed."""
    for split in SPLITS:
        present = set(frame.loc[frame["split"] == split, "class_name"])
        missing = [c for c in CLASS_NAMES if c not in present]
        if missing:
            warnings.warn(f"The {split} split ({protocol} protocol) has no images of {missing}", DataWarning,
                          stacklevel=3)


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


def splits_table(frame: pd.DataFrame) -> bytes:
    """The bytes of ``splits.csv`` for ``frame``: one row per image, :data:`SPLITS_COLUMNS`."""
    return frame[SPLITS_COLUMNS].to_csv(index=False, lineterminator="\n").encode()


def split_record(data: PreparedData) -> dict:
    """What a run's metadata records of its split, for :func:`load_splits` to check ``splits.csv`` against.

    Returns:
        ``split_sizes`` (images and subjects per split) and ``split_sha256``, the SHA-256 of the whole
        ``splits.csv`` (which file is in which split, with its class, copy group and subject).
    """
    return {"split_sizes": data.sizes(), "split_sha256": hashlib.sha256(splits_table(data.frame)).hexdigest()}


def save_splits(frame: pd.DataFrame, path: Path) -> Path:
    """Write which file went to which split (one row per image, :func:`splits_table`) to ``path``."""
    Path(path).write_bytes(splits_table(frame))
    return Path(path)


def read_splits(path: Path, recorded: dict) -> pd.DataFrame:
    """A run's splits file, refused unless it is the file its training wrote (as its metadata records).

    Args:
        path: the file (:func:`alzmri.models.runs.load_run_splits` passes the run's ``splits.csv``).
        recorded: the run's metadata (its ``split_sizes`` and ``split_sha256``, from :func:`split_record`).

    Returns:
        The table, one row per image, with :data:`SPLITS_COLUMNS`.

    Raises:
        SplitsFileError: the file is gone, empty, not a table of splits, or differs from what training wrote
            (images per split, then the SHA-256 of the whole file); one line that says what to do.
    """
    path = Path(path)
    if not path.is_file():
        raise SplitsFileError(f"{path} is gone: the run's split (which file it trained and is tested on) cannot be "
                              "recomputed safely without it. Restore the file, or train the run again (--replace)")
    raw = path.read_bytes()
    table = _parse_splits(raw, path)
    _check_split_sizes(table, recorded.get("split_sizes"), path)
    if hashlib.sha256(raw).hexdigest() != recorded.get("split_sha256"):
        raise SplitsFileError(f"{path} was changed after training (same images per split, but its SHA-256 is not the "
                              "one the run's metadata recorded): restore the file, or train the run again (--replace)")
    return table


def _parse_splits(raw: bytes, path: Path) -> pd.DataFrame:
    """``raw`` read as a splits table; a SplitsFileError naming ``path`` if it is empty or not one."""
    if not raw.strip():
        raise SplitsFileError(f"{path} is empty: restore the file, or train the run again (--replace)")
    try:
        table = pd.read_csv(io.BytesIO(raw), keep_default_na=False, dtype={"subject": str, "original": str})
    except ValueError as err:  # pandas' parser errors and UnicodeDecodeError are ValueErrors
        raise SplitsFileError(f"{path} is not a table of splits ({type(err).__name__}); binary or damaged? Restore "
                              "the file, or train the run again (--replace)") from None
    missing = [c for c in SPLITS_COLUMNS if c not in table.columns]
    if missing:
        raise SplitsFileError(f"{path} is not a table of splits (no column {', '.join(missing)}): restore the file, or "
                              "train the run again (--replace)")
    return table


def _check_split_sizes(table: pd.DataFrame, sizes, path: Path) -> None:
    """Refuse a splits table whose images per split differ from ``sizes`` (the run's ``split_sizes``)."""
    recorded = {k: v.get("images") for k, v in sizes.items() if isinstance(v, dict)} if isinstance(sizes, dict) else {}
    found = table["split"].value_counts()
    wrong = [f"{split} {int(found.get(split, 0))} images (recorded {recorded.get(split, 0)})" for split in SPLITS
             if int(found.get(split, 0)) != recorded.get(split, 0)]
    if wrong:
        raise SplitsFileError(f"{path} does not match what the run's metadata recorded: {'; '.join(wrong)}. "
                              "It was edited or replaced after training: restore it, or train the run again (--replace)")


def load_splits(path: Path, recorded: dict, config: Config, progress: bool = True) -> PreparedData:
    """The data of a saved run, split as it was trained: its splits file (:func:`read_splits`), not recomputed.

    Args:
        path: the run's splits file.
        recorded: the run's metadata, which the file is checked against.
        config: the run's settings (its data, protocol, and whether its labels were shuffled).
        progress: show progress bars.

    Returns:
        The run's data with its saved split; images on disk that the file does not list are ``unused``, and rows
        naming files that are not on disk are named in a DataWarning and left out.

    Raises:
        SplitsFileError: the file is gone, unreadable, or not what the run's metadata recorded.
    """
    saved = read_splits(path, recorded)
    index = index_dataset(resolve_data(config.data, config=config, progress=progress), progress=progress)
    _warn_unmatched(saved, index, Path(path).name)
    kept = ["relpath", "original", "group", "subject", "slice_pos", "split"]
    frame = index.frame.drop(columns=["original"]).merge(saved[kept], on="relpath", how="left")
    frame = frame.fillna({"split": "unused", "subject": "", "original": "", "group": -1})
    frame["group"] = frame["group"].astype(int)
    if config.shuffle_labels:  # the labels it was trained and tested on are the saved ones
        frame["class_name"] = frame["relpath"].map(saved.set_index("relpath")["class_name"]).fillna(frame["class_name"])
        frame["label"] = frame["class_name"].map({c: i for i, c in enumerate(CLASS_NAMES)})
    return PreparedData(index, frame, config.split)


def _warn_unmatched(saved: pd.DataFrame, index: DatasetIndex, name: str) -> None:
    """Name the files ``saved`` lists that are not in the data (and count the data's images it does not list)."""
    on_disk = set(index.frame["relpath"])
    gone = saved[~saved["relpath"].isin(on_disk) & (saved["split"] != "unused")]
    if len(gone):
        named = ", ".join(f"{r} ({s})" for r, s in zip(gone["relpath"].head(5), gone["split"].head(5)))
        more = f" and {len(gone) - 5} more" if len(gone) > 5 else ""
        warnings.warn(f"{len(gone)} file(s) the run's {name} names are not in {one_line(index.root)} (deleted or moved "
                      f"since training?): {named}{more}; they are left out of their splits", DataWarning, stacklevel=3)
    added = len(on_disk - set(saved["relpath"]))
    if added:
        warnings.warn(f"{added} image(s) of {one_line(index.root)} are not in the run's {name} (added since it was "
                      "trained?): left out", DataWarning, stacklevel=3)
