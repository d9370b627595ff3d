"""One answer per person, in evaluation and in prediction: which slices are one person, and what is chosen on what.

A brain is a stack of slices; :mod:`alzmri.voting` combines a subject's slice probabilities into one answer
(soft voting, or ClinicaDL's position-weighted voting: Wen et al., Medical Image Analysis 2020). This module
decides the rest:

* **which slices are one person**: in a scored split, the recovered subjects (a slice with none is its own
  unit, and the block says so); among files given to ``predict``, the sub-folders given (one folder a brain,
  :func:`folder_subjects`) or brains recovered by image similarity (:func:`similarity_subjects`);
* **what is chosen on which data**: ClinicaDL's slice-position weights and the any-dementia cut-offs come from
  the validation split (:class:`Reference`), never from the split scored, unless there is no other, and then
  the block says so.

The any-dementia view (NonDemented against the three others: CDR 0 against CDR >= 0.5) is the task the
literature reports, and the one the real set's two Moderate brains do not make meaningless.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from alzmri.config import CLASS_NAMES, Config, default_cache_dir
from alzmri.errors import DatasetError, DatasetUnavailableError
from alzmri.leakage.subjects import NeighbourEvidence, degenerate_images, from_similarity, neighbour_evidence
from alzmri.metrics import any_dementia_metrics, any_dementia_threshold, compute_metrics
from alzmri.voting import SubjectVotes, position_weights, slice_units, slice_weights, units_note, vote

RECOVERED_PREFIX = "brain-"  # ids of the brains similarity finds among predicted files
SUBJECT_SOURCES = ("folders", "similarity")  # where ``predict --per-subject`` finds who each slice belongs to


@dataclass
class Reference:
    """Held-out predictions that set what has to be chosen (position weights, the any-dementia cut-offs).

    Attributes:
        frame: the slices (``label``, ``subject``, ``relpath``, ``slice_pos``).
        proba: their predicted probabilities, (n, n_classes).
        source: the split they are: ``val``, or the scored split itself when there is no validation split.
    """

    frame: pd.DataFrame
    proba: np.ndarray
    source: str

    @property
    def labels(self) -> np.ndarray:
        return self.frame["label"].to_numpy()

    @property
    def note(self) -> str | None:
        """One line when the choices were made on the scored split itself (so its numbers are optimistic)."""
        if self.source == "val":
            return None
        return f"chosen on the {self.source} split itself (no separate validation split): optimistic"


def subject_votes(frame: pd.DataFrame, proba: np.ndarray, weights: dict[int, float] | None = None) -> SubjectVotes:
    """One row per subject of ``frame`` (a slice with no subject is its own unit), its slices' probabilities combined.

    Args:
        frame: the slices, with ``subject``, ``relpath``, ``label`` and (for weighted voting) ``slice_pos``.
        proba: their probabilities, (n, n_classes).
        weights: ClinicaDL's position weights (:func:`voting_weights`); None: soft voting.

    Returns:
        The :class:`alzmri.voting.SubjectVotes`, labelled.
    """
    units = slice_units(frame["subject"].to_numpy(dtype=str), frame["relpath"].to_numpy(dtype=str))
    per_slice = None if weights is None else slice_weights(frame["slice_pos"].to_numpy(), weights)
    return vote(proba, units, per_slice, frame["label"].to_numpy())


def voting_weights(config: Config, reference: Reference) -> dict[int, float] | None:
    """The slice-position weights of ``config.voting == "weighted"``, measured on the reference's slices.

    Returns:
        ``{position: weight}``; None for soft voting, or where the reference knows no slice position (weighted
        voting cannot apply, and :func:`subject_level` says so).
    """
    if config.voting != "weighted":
        return None
    return position_weights(reference.labels, reference.proba, reference.frame["slice_pos"].to_numpy(),
                            config.voting_threshold) or None


def subject_level(votes: SubjectVotes, slices: int, config: Config, weights: dict[int, float] | None,
                  reference: Reference, n_boot: int) -> dict:
    """The metrics of the subjects' combined answers, as metrics.json's ``subject_level`` block.

    Args:
        votes: the scored split's subjects (:func:`subject_votes`).
        slices: how many slices they were combined from.
        config: the run's settings (``voting``, ``seed``).
        weights: the position weights used, or None (soft voting).
        reference: where the weights came from.
        n_boot: bootstrap resamples (of subjects).

    Returns:
        :func:`alzmri.metrics.compute_metrics` of one row per subject (``per_class`` supports count subjects),
        with ``images`` (the slices behind them), ``subjects``, ``voting`` (the method used), a ``note`` when
        some slices had no subject, and for weighted voting ``position_weights`` with ``weights_from`` (or a
        ``voting_note`` where no slice position was known and soft voting stood in).
    """
    block = compute_metrics(votes.labels, votes.proba, votes.units, "subject", n_boot, config.seed)
    dropped_all = weights is not None and not any(w > 0 for w in weights.values())
    block.update(images=int(slices), subjects=int(len(votes.units)),
                 voting="soft" if weights is None or dropped_all else "weighted")
    note = units_note(votes.units)
    if note:
        block["note"] = note
    if dropped_all:
        block["voting_note"] = (f"weighted voting dropped every slice position (none reached the voting threshold "
                                f"{config.voting_threshold:g} on the {reference.source} split): soft voting instead")
    if weights is not None:
        block["position_weights"] = {str(p): round(w, 4) for p, w in sorted(weights.items())}
        block["weights_from"] = reference.source
    elif config.voting == "weighted":
        block["voting_note"] = f"weighted voting needs slice positions, and the {reference.source} split knows none: " \
                               "soft voting instead"
    return block


def any_dementia_view(labels: np.ndarray, proba: np.ndarray, units: np.ndarray, unit: str, votes: SubjectVotes,
                      reference: Reference, weights: dict[int, float] | None, n_boot: int, seed: int) -> dict:
    """NonDemented against the three others, per slice and per subject, at cut-offs chosen on the reference.

    Args:
        labels: the scored slices' class ids.
        proba: their probabilities.
        units: their independent units (subjects), resampled by the slice-level intervals.
        unit: that unit's name.
        votes: the scored subjects.
        reference: the held-out slices the cut-offs are chosen on (per slice, and per subject after voting them
            the same way).
        weights: the position weights of the voting, or None.
        n_boot: bootstrap resamples.
        seed: the bootstrap's seed.

    Returns:
        ``{"slice_level": ..., "subject_level": ..., "threshold_from": ...}`` (and a ``note`` when the cut-offs
        were chosen on the scored split), each level :func:`alzmri.metrics.any_dementia_metrics`, the subject
        level with its ``subjects`` count.
    """
    held = subject_votes(reference.frame, reference.proba, weights)
    slice_cut = any_dementia_threshold(reference.labels, reference.proba)
    subject_cut = any_dementia_threshold(held.labels, held.proba)
    view = {"slice_level": any_dementia_metrics(labels, proba, slice_cut, units, unit, n_boot, seed),
            "subject_level": {**any_dementia_metrics(votes.labels, votes.proba, subject_cut, votes.units, "subject",
                                                     n_boot, seed), "subjects": int(len(votes.units))},
            "threshold_from": reference.source}
    if reference.note:
        view["note"] = f"cut-offs {reference.note}"
    return view


def folder_subjects(inputs: list[str], files: list[Path]) -> np.ndarray:
    """Each file's subject when one folder holds one brain.

    Args:
        inputs: the files and folders as given.
        files: the image files found in them.

    Returns:
        Per file: the sub-folder of a given folder it lies in (at the first level below it), the given folder
        itself for images directly in it, and for a file given by name the folder it lies in.
    """
    folders = [Path(p).expanduser() for p in inputs if Path(p).expanduser().is_dir()]

    def subject(path: Path) -> str:
        for folder in folders:
            if path.is_relative_to(folder):
                inner = path.relative_to(folder).parts
                return str(folder / inner[0]) if len(inner) > 1 else str(folder)
        return str(path.parent)

    return np.array([subject(Path(f)) for f in files], dtype=str)


def folder_notes(inputs: list[str], files: list[Path]) -> list[str]:
    """What :func:`folder_subjects` did that a reader would not guess: sub-folders without images (no brain), and
    brains whose images lie in several folders below their sub-folder (``siteA/Non-008/`` and ``siteA/Mild-008/``
    given as ``siteA``'s parent are one brain, ``siteA``)."""
    folders = [Path(p).expanduser() for p in inputs if Path(p).expanduser().is_dir()]
    holding = {Path(f).parent for f in files}
    notes = []
    for folder in folders:
        empty = sorted(d.name for d in folder.iterdir()
                       if d.is_dir() and not any(h == d or h.is_relative_to(d) for h in holding))
        if empty:
            notes.append(f"sub-folders of {folder} without images, so no brain: {', '.join(empty)}")
    for subject, group in pd.Series([str(h) for h in holding]).groupby(
            folder_subjects(inputs, [h / "x" for h in holding])):
        if len(group) > 1:
            notes.append(f"{subject} holds images in {len(group)} folders below it, taken as one brain (give "
                         f"{subject} itself to take each of its sub-folders as a brain)")
    return notes


def training_evidence(run, progress: bool = False) -> NeighbourEvidence:
    """How alike neighbouring slices of one brain are, and different brains at most, in the run's training data.

    Files given to ``predict`` carry no classes, so they cannot measure where different brains stop (the audit
    measures it between classes, which are certainly different brains): the run's own data sets the level, its
    features read from the cache its training filled.

    Raises:
        DatasetError: the run's data cannot be found or read (one line, with what to do instead).
    """
    from alzmri.data.datasets import index_dataset, resolve_data
    from alzmri.leakage.similarity import cached_features
    from alzmri.models.runs import run_config

    config = run_config(run.metadata, run.path)
    try:
        index = index_dataset(resolve_data(config.data, config=config, progress=progress), progress=progress)
    except (DatasetError, DatasetUnavailableError) as err:
        raise DatasetError(f"Subjects by similarity take their linking level from the run's training data, which "
                           f"cannot be read ({err}): put each brain's slices in a folder of its own instead") from None
    frame = index.frame
    features = cached_features(frame["path"].tolist(), default_cache_dir(), index.fingerprint, progress).slice
    rows = (frame["kind"].to_numpy() == "original") & (degenerate_images(frame, features) == "")
    return neighbour_evidence(features[rows], frame["label"].to_numpy()[rows])


def similarity_subjects(files: list[Path], evidence: NeighbourEvidence) -> np.ndarray:
    """Brains among unlabelled slice files: slices linked when as alike as neighbouring slices of one brain.

    The audit's recovery (:func:`alzmri.leakage.subjects.from_similarity`) over all the files as one pool (their
    classes are unknown), at ``evidence``'s threshold; a file that cannot be a brain slice is a brain of its own.

    Returns:
        ``brain-001``, ``brain-002``, ... per file, numbered in the order of their first file.
    """
    from PIL import Image

    from alzmri.leakage.similarity import compute_features

    features = compute_features([str(f) for f in files], progress=False).slice
    sizes = []
    for path in files:
        with Image.open(path) as image:
            sizes.append(image.size)
    frame = pd.DataFrame(sizes, columns=["width", "height"]).assign(kind="original", class_name=CLASS_NAMES[0])
    found = from_similarity(frame, features, evidence, degenerate_images(frame, features) == "")
    return np.array([f"{RECOVERED_PREFIX}{k + 1:03d}" for k in pd.factorize(found)[0]], dtype=str)
