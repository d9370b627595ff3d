"""Who each slice belongs to: subjects from a manifest, from the source set's file names, or from similarity.

The real slices are 200 brains x 32 consecutive axial slices, and neighbouring slices of one brain are
nearly alike; a split that keeps one brain's slices on both sides measures memory. This module gives
every image a subject id, by the best evidence available:

1. ``manifest``: the synthetic set's ``manifest.csv`` (ground truth).
2. ``names``: the source set's own file names (``train/<Class>/<stem><i>.jpg`` in slice-major order,
   ``test/<Class>/<s> (<k>).jpg``), used only where every file follows them and neighbouring slices by
   the names are also neighbours by the pixels.
3. ``similarity``: within each class, slices linked when they are as alike as neighbouring slices of
   one brain and more alike than any two slices of different classes (certainly different brains);
   connected components are the subjects. The threshold comes from the data, never from a constant.

Augmented copies take the subject of the original they were made from. Images that cannot be brain
slices (tiny, extreme aspect, blank or noise: :func:`degenerate_images`) and all but the first of
pixel-identical images (``duplicate_of``) are kept out of the similarity levels; a degenerate image is
never linked to another by similarity.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from alzmri.data import synthetic
from alzmri.config import CLASS_NAMES, SUBJECT_METHODS
from alzmri.errors import DatasetError, SettingsError
from alzmri.leakage.copies import original_rows
from alzmri.leakage.similarity import SLICE_FEATURE_SIZE

TEST_NAME = re.compile(r"^(\d+)(?: \((\d+)\))?\.jpe?g$", re.IGNORECASE)
TRAIN_NAME = re.compile(r"^([A-Za-z_]+?)(\d+)\.jpe?g$")
NAMES_AGREE = 0.9  # share of name-derived neighbouring slices that must also be neighbours by the pixels
NEIGHBOUR_QUANTILE = 1.0  # percentile of each slice's closest same-class slice taken as "neighbour level"
MIN_SIDE = 24  # px; smaller is an icon, not a slice (synthetic slices are >= 32 px, real ones about 180)
MAX_ASPECT = 3.0  # long side / short side; axial brain slices are about 1.2 (176 x 208)
STRUCTURE_SHIFT = 4  # px of the 64 px slice thumbnail
MIN_STRUCTURE = 0.25  # thumbnail vs itself shifted: real slices >= 0.58, synthetic >= 0.67, noise and blank <= 0.05
SHOWN_FILES = 10  # files named in one warning


class SubjectWarning(UserWarning):
    """Subjects could not be recovered as cleanly as hoped; the message says why."""


@dataclass
class NeighbourEvidence:
    """What the data says about neighbouring slices vs different brains (slice-feature correlations)."""

    neighbour: float  # nearly every slice has a same-class slice at least this close
    different: float  # no two slices of different classes (so different brains) are closer than this
    threshold: float  # halfway: linked as one brain from here up

    @property
    def gap(self) -> float:
        """Positive when neighbouring slices and different brains separate cleanly."""
        return self.neighbour - self.different

    @property
    def clear(self) -> bool:
        return self.gap > 0


@dataclass
class SubjectRecovery:
    """A subject id (and slice position, where known) for every row of a frame, and how they were found."""

    subject: np.ndarray  # str per row, "" where unknown (a copy that matched no original)
    slice_pos: np.ndarray  # int per row, -1 where unknown
    method: str  # "manifest", "names" or "similarity"
    evidence: NeighbourEvidence
    notes: list[str] = field(default_factory=list)

    @property
    def is_truth(self) -> bool:
        """Whether the ids come from ground truth (a manifest, or verified file names)."""
        return self.method in ("manifest", "names")

    def per_class(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Subjects and images per class, and the spread of slices per subject (originals only)."""
        originals = frame.assign(subject=self.subject)[frame["kind"].to_numpy() == "original"]
        sizes = originals.groupby(["class_name", "subject"]).size()
        table = sizes.groupby(level=0).agg(subjects="size", images="sum", min_slices="min", median_slices="median",
                                           max_slices="max")
        return table.reindex([c for c in CLASS_NAMES if c in table.index])

    def describe(self, frame: pd.DataFrame) -> str:
        """A few lines a user can read: how the subjects were found and how sure that is."""
        e = self.evidence
        n = len(set(self.subject[frame["kind"].to_numpy() == "original"]) - {""})
        source = {"manifest": "the synthetic manifest (ground truth)",
                  "names": "the source set's file names (checked against the pixels)",
                  "similarity": "image similarity (estimated)"}[self.method]
        lines = [f"{n} subjects, from {source}.",
                 f"Nearly every slice (all but {NEIGHBOUR_QUANTILE:g} %) has a same-class neighbour correlating at >= "
                 f"{e.neighbour:.3f}; slices of different classes (so different brains) at <= {e.different:.3f}: "
                 + (f"a clear gap of {e.gap:.3f}, linked from {e.threshold:.3f}." if e.clear else
                    f"NO clear gap ({e.gap:.3f}): subjects found by similarity are unreliable here.")]
        return "\n".join(lines + self.notes)


def self_similarity(slice_features: np.ndarray, shift: int = STRUCTURE_SHIFT) -> np.ndarray:
    """Each slice thumbnail's correlation with itself shifted by ``shift`` px (the lower of across and down).

    A slice has structure larger than a few pixels (high); noise and blank images have none (about 0).
    """
    thumbs = slice_features.reshape(-1, SLICE_FEATURE_SIZE, SLICE_FEATURE_SIZE)
    energy = np.maximum((thumbs ** 2).sum(axis=(1, 2)), 1e-12)
    across = (thumbs[:, :, shift:] * thumbs[:, :, :-shift]).sum(axis=(1, 2)) / energy
    down = (thumbs[:, shift:, :] * thumbs[:, :-shift, :]).sum(axis=(1, 2)) / energy
    return np.minimum(across, down)


def degenerate_images(frame: pd.DataFrame, slice_features: np.ndarray) -> np.ndarray:
    """Why each image cannot be a brain slice, "" for those that can.

    Args:
        frame: the images, with ``width`` and ``height`` in px.
        slice_features: :func:`alzmri.leakage.similarity.slice_feature` of every row.

    Returns:
        One reason per row: tiny (a side under :data:`MIN_SIDE` px), extreme aspect (over
        :data:`MAX_ASPECT`), or no structure (blank or noise, :func:`self_similarity` under
        :data:`MIN_STRUCTURE`); "" where none applies.
    """
    width, height = frame["width"].to_numpy(float), frame["height"].to_numpy(float)
    short, long = np.minimum(width, height), np.maximum(width, height)
    tiny, stretched, flat = short < MIN_SIDE, long > MAX_ASPECT * short, self_similarity(slice_features) < MIN_STRUCTURE
    reasons = np.full(len(frame), "", dtype=object)
    for i in np.flatnonzero(tiny | stretched | flat):
        problems = [text for text, found in (("tiny", tiny[i]), (f"aspect {long[i] / short[i]:.0f}:1", stretched[i]),
                                             ("no structure (blank or noise)", flat[i])) if found]
        reasons[i] = f"{width[i]:.0f} x {height[i]:.0f} px: " + ", ".join(problems)
    return reasons


def named_files(names: list[str], limit: int = SHOWN_FILES) -> str:
    """``a, b, c`` for a warning, the first ``limit`` and ``and N more`` after them."""
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def neighbour_evidence(slice_features: np.ndarray, labels: np.ndarray) -> NeighbourEvidence:
    """Measure the neighbouring-slice and different-brain similarity levels of a set of originals.

    Slices of different classes are certainly different brains, so their highest correlation bounds
    what different brains reach; each slice's closest same-class slice is, in a stack of consecutive
    slices, its neighbour. The threshold lies halfway between the two. A level with nothing to measure
    it (no class with two slices, or a single class) is NaN: no gap, and nothing is linked.
    """
    best_same = np.full(len(labels), -np.inf, np.float32)
    best_other = np.full(len(labels), -np.inf, np.float32)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        scores = slice_features[rows] @ slice_features.T
        scores[np.arange(len(rows)), rows] = -np.inf  # not itself
        same = labels == label
        best_same[rows] = scores[:, same].max(axis=1) if same.sum() > 1 else -np.inf
        best_other[rows] = scores[:, ~same].max(axis=1) if (~same).any() else -np.inf
    finite = best_same[np.isfinite(best_same)]
    neighbour = float(np.percentile(finite, NEIGHBOUR_QUANTILE)) if len(finite) else float("nan")
    different = float(best_other.max()) if np.isfinite(best_other).any() else float("nan")
    return NeighbourEvidence(neighbour, different, (neighbour + different) / 2)


def from_similarity(frame: pd.DataFrame, slice_features: np.ndarray, evidence: NeighbourEvidence,
                    linkable: np.ndarray) -> np.ndarray:
    """Subject ids for the originals of ``frame`` (others get ""): linked slices of one class, as components.

    Args:
        frame: the images, with ``kind`` and ``class_name``.
        slice_features: :func:`alzmri.leakage.similarity.slice_feature` of every row.
        evidence: the levels whose threshold links two slices.
        linkable: per row, whether it may be linked at all (a row that may not is a subject of its own).

    Returns:
        The subject id of every row.
    """
    subject = np.full(len(frame), "", dtype=object)
    is_original = frame["kind"].to_numpy() == "original"
    for class_name in CLASS_NAMES:
        rows = np.flatnonzero(is_original & (frame["class_name"].to_numpy() == class_name))
        if len(rows) == 0:
            continue
        link = linkable[rows]
        linked = csr_matrix((slice_features[rows] @ slice_features[rows].T >= evidence.threshold)
                            & link[:, None] & link[None, :])
        _, component = connected_components(linked, directed=False)
        # number the subjects in order of their first file, so the ids do not depend on the graph library
        first = pd.Series(np.arange(len(rows))).groupby(component).min().sort_values()
        number = {c: i for i, c in enumerate(first.index)}
        subject[rows] = [synthetic.subject_id(class_name, number[c]) for c in component]
    return subject


def _parse_source_names(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """Subject and slice position of every original by the source set's naming, or None where it does not apply."""
    subject = np.full(len(frame), "", dtype=object)
    position = np.full(len(frame), -1)
    originals = frame[frame["kind"] == "original"]
    parents = {s.rpartition("/")[0] for s in originals["subset"]}
    for parent in parents:
        prefix = f"{parent}/" if parent else ""
        for class_name in CLASS_NAMES:
            train = originals[(originals["subset"] == f"{prefix}train") & (originals["class_name"] == class_name)]
            test = originals[(originals["subset"] == f"{prefix}test") & (originals["class_name"] == class_name)]
            found = _class_from_names(train, test, class_name)
            if found is None:
                return None
            for rows, (subjects, positions) in found:
                where = frame.index.get_indexer(rows)
                subject[where], position[where] = subjects, positions
    if (subject[frame["kind"].to_numpy() == "original"] == "").any():
        return None
    return subject, position


def _class_from_names(train: pd.DataFrame, test: pd.DataFrame, class_name: str):
    """One class's ``[(rows, (subjects, positions))]`` for its train and test folders, or None."""
    if train.empty or test.empty:
        return None
    tests = [TEST_NAME.match(Path(r).name) for r in test["relpath"]]
    trains = [TRAIN_NAME.match(Path(r).name) for r in train["relpath"]]
    if not all(tests) or not all(trains) or len({m.group(1) for m in trains}) != 1:
        return None
    numbers = [int(m.group(2) or 1) for m in tests]
    n_subjects = len(set(numbers))
    index = np.array([int(m.group(2)) for m in trains])
    if set(numbers) != set(range(1, n_subjects + 1)) or sorted(index) != list(range(len(index))):
        return None
    train_of_test = {k: j for j, k in enumerate(synthetic.source_test_numbers(n_subjects))}
    test_subject = np.array([train_of_test[k] for k in numbers])
    test_position = np.array([int(m.group(1)) - 1 for m in tests])
    train_subject, train_position = _train_order(index, n_subjects, set(zip(test_subject, test_position)))
    if train_subject is None:
        return None
    pairs = list(zip(train_subject, train_position)) + list(zip(test_subject, test_position))
    slices = pd.Series([p for _, p in pairs]).groupby([s for s, _ in pairs]).agg(["size", "min", "max", "nunique"])
    if len(set(pairs)) != len(pairs) or (slices["min"] != 0).any() or \
            ((slices["max"] + 1 != slices["size"]) | (slices["nunique"] != slices["size"])).any():
        return None  # each subject must be one unbroken stack of slices, each position once
    ids = [synthetic.subject_id(class_name, j) for j in range(n_subjects)]
    return [(train.index, ([ids[j] for j in train_subject], train_position)),
            (test.index, ([ids[j] for j in test_subject], test_position))]


def _train_order(index: np.ndarray, n_subjects: int, in_test: set) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Subject and position of train image ``<stem><i>``: slice-major, i mod N at i div N.

    The last, partial group of positions goes, in train order, to the subjects whose slice at that
    position is not in the test folder.
    """
    full = len(index) // n_subjects
    subject, position = index % n_subjects, index // n_subjects
    partial = index >= full * n_subjects
    takers = [j for j in range(n_subjects) if (j, full) not in in_test]
    if partial.sum() > len(takers):
        return None, None
    subject[partial] = np.array(takers)[index[partial] - full * n_subjects]
    return subject, position


def names_agree(frame: pd.DataFrame, subject: np.ndarray, position: np.ndarray, slice_features: np.ndarray,
                evidence: NeighbourEvidence) -> float:
    """Share of name-derived neighbouring slices (same subject, positions p and p + 1) that the pixels link."""
    rows = {(s, p): i for i, (s, p) in enumerate(zip(subject, position)) if s}
    pairs = np.array([(i, rows[(s, p + 1)]) for (s, p), i in rows.items() if (s, p + 1) in rows])
    if len(pairs) == 0:
        return 0.0
    scores = (slice_features[pairs[:, 0]] * slice_features[pairs[:, 1]]).sum(axis=1)
    return float((scores >= evidence.threshold).mean())


def _manifest_subjects(root: Path, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """Subject and slice position of every image from a synthetic manifest, or None without one."""
    manifest = synthetic.read_manifest(root)
    if manifest is None or "subject" not in manifest:
        return None
    by_path = manifest.set_index("path")
    subject = frame["relpath"].map(by_path["subject"]).fillna("").to_numpy(object)
    position = frame["relpath"].map(by_path["slice_pos"]).fillna(-1).astype(int).to_numpy()
    return subject, position


def recover_subjects(root: Path, frame: pd.DataFrame, slice_features: np.ndarray,
                     method: str = "auto") -> SubjectRecovery:
    """A subject id for every image of ``frame`` (rows match ``slice_features``).

    Args:
        root: the dataset folder (a synthetic manifest there is ground truth).
        frame: indexed images with ``relpath``, ``subset``, ``class_name``, ``kind``, ``width``, ``height``,
            ``original`` (the relpath of a copy's original, "" where unknown) and ``duplicate_of`` (of all but the
            first of pixel-identical images, the first's relpath; else "").
        slice_features: :func:`alzmri.leakage.similarity.slice_feature` of every row.
        method: ``auto`` (manifest, else names, else similarity), or one of them by name; ``similarity``
            ignores manifests and names (to measure how well it recovers a known truth).

    Returns:
        The subjects, the method that found them and the neighbour evidence.
    """
    if method not in SUBJECT_METHODS:
        raise SettingsError(f"subject method must be one of {list(SUBJECT_METHODS)}, got {method!r}")
    linkable, notes = _evidence_rows(root, frame, slice_features)
    measured = linkable & (frame["duplicate_of"].to_numpy() == "")
    evidence = neighbour_evidence(slice_features[measured], frame["label"].to_numpy()[measured])
    found, chosen = None, "similarity"
    if method in ("auto", "manifest"):
        found, chosen = _manifest_subjects(root, frame), "manifest"
    if found is None and method in ("auto", "names"):
        found, chosen = _parse_source_names(frame), "names"
        if found is not None:
            agree = names_agree(frame, *found, slice_features, evidence)
            if agree < NAMES_AGREE:
                notes.append(f"The file names follow the source set's pattern, but only {agree:.0%} of the slices "
                             "they call neighbours look alike: names ignored, subjects found by similarity.")
                found = None
            else:
                notes.append(f"{agree:.1%} of the neighbouring slices named by the files are also neighbours by "
                             "the pixels.")
    if found is None and method in ("manifest", "names"):
        raise DatasetError(f"No subjects by {method} for {root}: "
                         + ("no synthetic manifest there" if method == "manifest" else
                            "its file names do not follow the source set's train/test naming"))
    if found is None:
        chosen = "similarity"
        found = from_similarity(frame, slice_features, evidence, linkable), np.full(len(frame), -1)
        if not evidence.clear:
            warnings.warn(f"Subjects of {root} found by similarity without a clear gap between neighbouring "
                          f"slices ({evidence.neighbour:.3f}) and different brains ({evidence.different:.3f}); "
                          "treat the subject split as approximate", SubjectWarning, stacklevel=2)
    subject, position = _copies_follow_originals(frame, *found)
    return SubjectRecovery(subject, position, chosen, evidence, notes)


def _evidence_rows(root: Path, frame: pd.DataFrame, slice_features: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Which rows are originals that look like brain slices, and a note on the exact duplicates left out.

    Degenerate originals are named in a :class:`SubjectWarning`: they would set the similarity levels.
    """
    is_original = frame["kind"].to_numpy() == "original"
    reasons = degenerate_images(frame, slice_features)
    odd = np.flatnonzero(is_original & (reasons != ""))
    if len(odd):
        named = named_files([f"{frame['relpath'].iat[i]} ({reasons[i]})" for i in odd])
        warnings.warn(f"{len(odd)} image(s) of {root} cannot be brain slices: {named}. They are kept out of the "
                      "similarity levels and never linked to another slice by similarity", SubjectWarning,
                      stacklevel=3)
    copies = int((is_original & (frame["duplicate_of"].to_numpy() != "")).sum())
    notes = [f"{copies} original(s) identical to an earlier file: left out of the similarity levels."] if copies else []
    return is_original & (reasons == ""), notes


def _copies_follow_originals(frame: pd.DataFrame, subject: np.ndarray,
                             position: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Give each augmented copy the subject and slice position of its original ("" / -1 when unmatched)."""
    subject, position = subject.copy(), position.copy()
    source = original_rows(frame)
    copies = (source >= 0) & (subject == "")  # a manifest already names every copy's subject
    subject[copies] = subject[source[copies]]
    position[copies] = position[source[copies]]
    return subject, position


def adjusted_rand(truth: np.ndarray, found: np.ndarray) -> float:
    """Adjusted Rand index of two labellings (1 = the same partition, about 0 = chance)."""
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(truth, found))
