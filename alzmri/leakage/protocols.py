"""The split protocols: which images train, which validate and which test, by one of four protocols.

Owns the protocols and nothing else: the data they split is :mod:`alzmri.leakage.prepared`, the file a run
keeps of its split is :mod:`alzmri.leakage.saved_splits`, and a split made elsewhere is
:mod:`alzmri.leakage.split_file`. Four protocols, named in every output and in a run's metadata:

* ``subject`` (default): stratified by class over *subjects*; no brain in two splits, copies follow
  their original. The only one that estimates performance on unseen people. ``alzmri cv`` tests every
  subject once: with ``cv_fold`` = k its test split is fold k of :func:`subject_folds`.
* ``image``: stratified over near-duplicate groups of originals; copies kept with their original, but
  other slices of the same brain land on both sides.
* ``official``: the dataset's own folders (``train``/``test``; the V2 set's ``data/train`` copies vs
  ``data/val`` originals), validation drawn at random from train.
* ``naive``: a random split of the augmented images (of all images where there are none), the common
  mistake, kept for comparison.

Whatever the protocol, pixel-identical images end on one side (:func:`split_frame`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from alzmri.config import CLASS_NAMES, SPLIT_PROTOCOLS, Config
from alzmri.data.datasets import DataWarning
from alzmri.errors import DatasetError, SettingsError

PROTOCOLS = SPLIT_PROTOCOLS
SPLITS = ("train", "val", "test")
OFFICIAL_NAMES = {"train": "train", "training": "train", "test": "test", "testing": "test", "val": "val",
                  "valid": "val", "validation": "val"}


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
