"""Split protocols, the data a run uses, and the audit that checks a split without trusting it.

Four protocols, named in every output and in a run's metadata:

* ``subject`` (default): stratified by class over *subjects*; no brain in two splits, copies follow
  their original. The only one that estimates performance on unseen people.
* ``image``: stratified over near-duplicate groups of originals; copies kept with their original, but
  other slices of the same brain land on both sides.
* ``official``: the dataset's own folders (``train``/``test``; the V2 set's ``data/train`` copies vs
  ``data/val`` originals), validation drawn at random from train.
* ``naive``: a random split of the augmented images (of all images where there are none), the common
  mistake, kept for comparison.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import leakage
from .config import CLASS_NAMES, SPLIT_PROTOCOLS, Config, default_cache_dir
from .datasets import DatasetError, DatasetIndex, DataWarning, index_dataset, resolve_data
from .errors import SettingsError
from .similarity import Features, cached_features
from .subjects import SubjectRecovery, recover_subjects

PROTOCOLS = SPLIT_PROTOCOLS
SPLITS = ("train", "val", "test")
SPLITS_FILE = "splits.csv"
SPLITS_COLUMNS = ["relpath", "class_name", "kind", "original", "group", "subject", "slice_pos", "split"]
OFFICIAL_NAMES = {"train": "train", "training": "train", "test": "test", "testing": "test", "val": "val",
                  "valid": "val", "validation": "val"}
MIN_MATCHED_COPIES = 0.5  # below this share of matched copies, a folder named like copies holds originals


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
    """The index with each copy's ``original``, copy ``group`` and ``subject``, plus the features behind them."""
    features = cached_features(index.frame["path"].tolist(), Path(cache_dir or default_cache_dir()),
                               index.fingerprint, progress=progress)
    frame = index.frame.copy()
    recovered = leakage.recover_originals(frame, features.copy, config.duplicate_threshold)
    unknown = frame.loc[recovered.index, "original"] == ""
    frame.loc[recovered.index[unknown], "original"] = recovered[unknown]
    _check_claimed_copies(frame)
    frame["group"] = _copy_groups(frame, features.copy, config.duplicate_threshold)
    recovery = recover_subjects(index.root, frame, features.slice, config.subjects)
    frame["subject"], frame["slice_pos"] = recovery.subject, recovery.slice_pos
    return frame, features, recovery


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


def _held_out_counts(n: int, config: Config) -> tuple[int, int]:
    """How many of a class's ``n`` subjects go to test and val: at least one each where there are enough."""
    n_test = max(1, round(config.test_fraction * n)) if n >= 2 else 0
    n_val = max(1, round(config.val_fraction * n)) if n - n_test >= 2 else 0
    return n_test, n_val


def subject_split(frame: pd.DataFrame, config: Config) -> np.ndarray:
    """Per class, whole subjects to test, val and train (stratification over subjects is exact).

    Written here rather than with scikit-learn's StratifiedGroupKFold, which may leave a rare class
    (the real set has two Moderate subjects) out of the test split altogether.
    """
    rng = np.random.default_rng(config.seed)
    split_of: dict[str, str] = {}
    originals = frame[(frame["kind"] == "original") & (frame["subject"] != "")]
    for class_name in CLASS_NAMES:
        subjects = sorted(originals.loc[originals["class_name"] == class_name, "subject"].unique())
        order = rng.permutation(len(subjects))
        n_test, n_val = _held_out_counts(len(subjects), config)
        for rank, i in enumerate(order):
            split_of[subjects[i]] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    split = frame["subject"].map(split_of).fillna("unused").to_numpy(object)
    return _copies_train_only(frame, split, config)


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


def official_split(frame: pd.DataFrame, config: Config) -> np.ndarray:
    """The dataset's own train/test folders; validation drawn at random from train, as its users do."""
    from sklearn.model_selection import train_test_split

    folders = official_folders(frame)
    if not folders:
        raise DatasetError(f"This dataset has no train/test folders of its own (subsets: "
                           f"{sorted(frame['subset'].unique())}); choose the subject, image or naive split")
    split = frame["subset"].map(folders).fillna("unused").to_numpy(object)
    if "val" not in folders.values():
        train = np.flatnonzero(split == "train")
        _, val = train_test_split(train, test_size=config.val_fraction, random_state=config.seed,
                                  stratify=frame["label"].to_numpy()[train])
        split[val] = "val"
    return split


def naive_split(frame: pd.DataFrame, config: Config) -> np.ndarray:
    """The common mistake, kept for comparison: a random split of the augmented images (of all, if none)."""
    from sklearn.model_selection import train_test_split

    pool = np.flatnonzero(frame["kind"].to_numpy() == "augmented")
    if len(pool) == 0:
        pool = np.arange(len(frame))
    labels = frame["label"].to_numpy()
    rest, test = train_test_split(pool, test_size=config.test_fraction, stratify=labels[pool],
                                  random_state=config.seed)
    val_share = config.val_fraction / (1 - config.test_fraction)
    train, val = train_test_split(rest, test_size=val_share, stratify=labels[rest], random_state=config.seed)
    split = np.full(len(frame), "unused", dtype=object)
    split[train], split[val], split[test] = "train", "val", "test"
    return split


SPLITTERS = {"subject": subject_split, "image": image_split, "official": official_split, "naive": naive_split}


def available_protocols(frame: pd.DataFrame) -> list[str]:
    """The protocols this data allows (``official`` needs the dataset's own train/test folders)."""
    return [p for p in PROTOCOLS if p != "official" or official_folders(frame)]


def split_frame(frame: pd.DataFrame, protocol: str, config: Config) -> pd.DataFrame:
    """A copy of the annotated ``frame`` with a ``split`` column (train/val/test/unused) by ``protocol``."""
    if protocol not in SPLITTERS:
        raise SettingsError(f"split must be one of {list(PROTOCOLS)}, got {protocol!r}")
    frame = frame.copy()
    frame["split"] = SPLITTERS[protocol](frame, config)
    _warn_missing_classes(frame, protocol)
    return frame


def _warn_missing_classes(frame: pd.DataFrame, protocol: str) -> None:
    """A split without some class is allowed (tiny data) but must not pass unnoticed."""
    for split in SPLITS:
        present = set(frame.loc[frame["split"] == split, "class_name"])
        missing = [c for c in CLASS_NAMES if c not in present]
        if missing:
            warnings.warn(f"The {split} split ({protocol} protocol) has no images of {missing}", DataWarning,
                          stacklevel=3)


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


def save_splits(frame: pd.DataFrame, path: Path) -> Path:
    """Write which file went to which split (one row per image) to ``path``."""
    frame[SPLITS_COLUMNS].to_csv(path, index=False)
    return path


def load_splits(run_dir: Path, config: Config, progress: bool = True) -> PreparedData:
    """The data of a saved run, split as it was trained (read from its ``splits.csv``, not recomputed)."""
    index = index_dataset(resolve_data(config.data, config=config, progress=progress), progress=progress)
    saved = pd.read_csv(Path(run_dir) / SPLITS_FILE, keep_default_na=False, dtype={"subject": str, "original": str})
    saved = saved.reindex(columns=SPLITS_COLUMNS).fillna({"group": -1, "original": ""})  # older runs lack some
    kept = ["relpath", "original", "group", "subject", "slice_pos", "split"]
    frame = index.frame.drop(columns=["original"]).merge(saved[kept], on="relpath", how="left")
    missing = int(frame["split"].isna().sum())
    if missing:
        warnings.warn(f"{missing} image(s) of {index.root} are not in the run's {SPLITS_FILE} (added since it was "
                      "trained?): left out", DataWarning, stacklevel=2)
    frame = frame.fillna({"split": "unused", "subject": "", "original": "", "group": -1})
    frame["group"] = frame["group"].astype(int)
    if config.shuffle_labels:  # the labels it was trained and tested on are the saved ones
        frame["class_name"] = frame["relpath"].map(saved.set_index("relpath")["class_name"]).fillna(frame["class_name"])
        frame["label"] = frame["class_name"].map({c: i for i, c in enumerate(CLASS_NAMES)})
    return PreparedData(index, frame, config.split)


def audit(data: PreparedData, config: Config, protocols: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The leakage audit of every protocol the data allows, on one set of features and subjects.

    Returns:
        ``(table, per_image)``: the table has one row per protocol and evaluation split (see
        :func:`alzmri.leakage.leak_counts`); ``per_image`` has ``relpath``, ``class_name``, ``kind``,
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
