"""Predictions on image files, per slice and per subject, with what they are.

Each answer names the run and the data it learnt from (:mod:`alzmri.models.provenance`), carries the input check of
every slice (:mod:`alzmri.models.input_check`), and has one shape, the same for ``alzmri predict --json`` and the
server's ``POST /predict`` (:func:`slice_rows`, :func:`subject_rows`). A subject's answer is the soft vote of its
slices (:mod:`alzmri.voting`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from typing_extensions import NotRequired, TypedDict  # pydantic (the server's OpenAPI page) reads these on 3.10+

from alzmri.config import CLASS_NAMES
from alzmri.errors import SettingsError
from alzmri.evaluation.subjects import (SUBJECT_SOURCES, folder_notes, folder_subjects, similarity_subjects,
                                       training_evidence)
from alzmri.metrics import p_any_dementia
from alzmri.data.pipeline import read_readable_images
from alzmri.models.classifier import as_model_batch
from alzmri.models.input_check import COMPONENTS, InputScores, load_input_check, summary, with_features
from alzmri.models.person import answer_images
from alzmri.models.provenance import DISCLAIMER, describe_run
from alzmri.models.runs import is_person_run, is_stacked_run
from alzmri.voting import vote

#: How a subject's answer is made from its slices, said in every per-subject answer.
VOTING = "soft (the mean of its slices' probabilities)"
#: The same for a model of the person, which answers once from the subject's stack.
PERSON_VOTING = ("none: the model of the person answers once from the subject's stack of slices (in natural file-name "
                 "order)")


class SliceRow(TypedDict):
    """One slice's answer, the same in ``alzmri predict --json`` and ``POST /predict``."""

    file: str  # the file as given, or the upload's name (never used as a path)
    subject: NotRequired[str]  # with ``--per-subject``: the brain it was counted with
    predicted: str
    probabilities: dict[str, float]  # class name: probability
    p_any_dementia: float  # 1 - P(NonDemented)
    in_distribution: bool | None  # like the run's training data (None: the run stores no input check)
    input_score: float | None


class SubjectRow(TypedDict):
    """One subject's answer (its slices combined by soft voting), the same in the CLI's JSON and the API."""

    subject: str
    predicted: str
    probabilities: dict[str, float]
    p_any_dementia: float
    slices: int
    flagged: int | None  # its slices unlike the training data (None: no input check)


def _number(value) -> float | None:
    """A JSON number: None for a missing or undefined value."""
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else round(float(value), 6)


def _probabilities(row: dict) -> dict[str, float]:
    return {c: round(float(row[c]), 6) for c in CLASS_NAMES}


def slice_rows(table: pd.DataFrame) -> list[SliceRow]:
    """:class:`PredictionReport`'s table as answers (:class:`SliceRow`), one per slice; a column a command added
    (``gradcam``'s ``overlay``) follows as it is."""
    known = {"file", "subject", "prediction", *CLASS_NAMES, "in_distribution", "input_score"}
    dementia = p_any_dementia(table[list(CLASS_NAMES)].to_numpy(float))
    rows = []
    for row, p_dementia in zip(table.to_dict("records"), dementia):
        subject = {"subject": str(row["subject"])} if "subject" in row else {}
        rows.append({"file": str(row["file"]), **subject, "predicted": row["prediction"],
                     "probabilities": _probabilities(row), "p_any_dementia": _number(p_dementia),
                     "in_distribution": None if row["in_distribution"] is None else bool(row["in_distribution"]),
                     "input_score": _number(row["input_score"]), **{k: v for k, v in row.items() if k not in known}})
    return rows


def subject_rows(subjects: pd.DataFrame) -> list[SubjectRow]:
    """:func:`subject_table`'s table as answers (:class:`SubjectRow`), one per subject."""
    return [{"subject": str(row["subject"]), "predicted": row["prediction"], "probabilities": _probabilities(row),
             "p_any_dementia": round(float(row["p_any_dementia"]), 6), "slices": int(row["slices"]),
             "flagged": None if pd.isna(row["flagged"]) else int(row["flagged"])}
            for row in subjects.to_dict("records")]


def refuse_stack_runs(run) -> None:
    """Refuse single images for a run that takes more than one slice at a time: one trained on 2.5-D input (a slice
    and its neighbours) would answer for inputs unlike any it learnt from, and a model of the person answers once
    per subject, from its stack.

    Raises:
        SettingsError: the run was trained with ``neighbour_slices``, or is a model of the person, naming it and
            what to use instead.
    """
    if is_person_run(run.metadata):
        raise SettingsError(f"{run.path.name} is a model of the person: it answers once per subject from a stack of "
                            f"slices, never for a single slice; use `alzmri predict {run.path.name} --per-subject "
                            "FOLDER` (a sub-folder a subject) or `alzmri evaluate`")
    if is_stacked_run(run.metadata):
        raise SettingsError(f"{run.path.name} was trained on 2.5-D input (neighbour_slices: a slice and its two "
                            "neighbours); single images cannot be predicted with it: use evaluate or cv")


def predict_images(run, images) -> np.ndarray:
    """Class probabilities for an array of images (checked: shape, size, type; grey → RGB)."""
    refuse_stack_runs(run)
    return run.model.predict(as_model_batch(images, run.image_size), verbose=0, batch_size=32)


def predict_checked(run, images) -> tuple[np.ndarray, InputScores | None]:
    """Class probabilities and the input check of an array of images, in one pass through the model.

    Args:
        run: the loaded run (:func:`alzmri.models.runs.load_run`).
        images: images as :func:`alzmri.models.classifier.as_model_batch` takes them.

    Returns:
        ``(proba, scores)``: probabilities (n, n_classes), and each image's input check
        (:class:`alzmri.models.input_check.InputScores`), None for a run that stores no check.
    """
    refuse_stack_runs(run)
    batch = as_model_batch(images, run.image_size)
    check = load_input_check(run.path)
    if not len(batch):
        empty = np.zeros(0)
        return np.zeros((0, len(CLASS_NAMES))), None if check is None else \
            InputScores(empty, dict.fromkeys(COMPONENTS, empty), check.threshold)
    if check is None:
        return run.model.predict(batch, verbose=0, batch_size=32), None
    proba, features = with_features(run.model).predict(batch, verbose=0, batch_size=32)
    return proba, check.score(features, batch)


class PredictionReport:
    """Predictions on files with what they are: the run and its data (:mod:`alzmri.models.provenance`), the warnings,
    and the input check of each slice (:mod:`alzmri.models.input_check`).

    Attributes:
        table: one row per readable file: ``file``, ``prediction``, one column per class, ``in_distribution``
            and ``input_score`` (None where the run stores no check).
        problems: ``(path, message)`` per file that could not be read.
        scores: the input check of the table's rows, or None.
        provenance: the run's :class:`alzmri.models.provenance.Provenance`.
    """

    def __init__(self, table: pd.DataFrame, problems: list[tuple[Path, str]], scores, provenance):
        self.table, self.problems, self.scores, self.provenance = table, problems, scores, provenance

    @property
    def input_summary(self) -> str:
        """The input check in one line (:func:`alzmri.models.input_check.summary`)."""
        return summary(self.scores)

    @property
    def input_warns(self) -> bool:
        """Whether the input check has something to warn about: slices unlike the training data, or no check."""
        return len(self.table) > 0 and (self.scores is None or not self.scores.in_distribution.all())

    @property
    def warnings(self) -> list[str]:
        """One line each: the run's warnings (synthetic data, ...), then the input check's if it warns."""
        return self.provenance.warnings + ([self.input_summary] if self.input_warns else [])

    def as_dict(self) -> dict:
        """The JSON answer: the run, its data and test score, warnings, the input check, the predictions."""
        check = None if self.scores is None else {
            "threshold": round(float(self.scores.threshold), 4), "images": int(len(self.scores.score)),
            "flagged": int((~self.scores.in_distribution).sum())}
        return {**self.provenance.as_dict(), "warnings": self.warnings,
                "input_check": {"stored": check is not None, **(check or {}), "summary": self.input_summary},
                "predictions": slice_rows(self.table),
                "unreadable": [{"file": str(p), "error": m} for p, m in self.problems], "note": DISCLAIMER}

    def footer(self) -> list[str]:
        """The closing lines: the warnings (one line each), the input check, the disclaimer."""
        quiet = [self.input_summary] if len(self.table) and not self.input_warns else []
        return [f"WARNING {w}" for w in self.warnings] + quiet + [DISCLAIMER]

    def as_text(self) -> str:
        """The answer for a terminal: the run in one line, the table, the warnings one line each, the disclaimer."""
        table = self.table if self.scores is not None else self.table.drop(columns=["in_distribution", "input_score"])
        return "\n".join([self.provenance.text, table.to_string(index=False, float_format=lambda v: f"{v:.3f}"),
                          *self.footer()])


def report_images(run, images: np.ndarray, files: list[Path], problems: list[tuple[Path, str]] | None = None
                  ) -> PredictionReport:
    """Predict and check images already read (``files``: where each came from) and say what the answers are."""
    proba, scores = predict_checked(run, images)
    return report_predictions(run, proba, scores, files, problems)


def report_predictions(run, proba: np.ndarray, scores: InputScores | None, files: list[Path | str],
                       problems: list[tuple[Path, str]] | None = None, provenance=None) -> PredictionReport:
    """Say what predictions already made are (the server batches the model over requests and reports each apart).

    Args:
        run: the loaded run that made them.
        proba: class probabilities (n, n_classes), row i of ``files[i]``.
        scores: their input check, or None for a run that stores none.
        files: where (or from which upload) each row came.
        problems: ``(path, message)`` per file that could not be read.
        provenance: the run's provenance when already read (a server reads it once, at start); else read now.

    Returns:
        The :class:`PredictionReport`.
    """
    table = pd.DataFrame(proba, columns=list(CLASS_NAMES))
    table.insert(0, "prediction", [CLASS_NAMES[i] for i in proba.argmax(axis=1)])
    table.insert(0, "file", [str(p) for p in files])
    table["in_distribution"] = [None] * len(table) if scores is None else scores.in_distribution.tolist()
    table["input_score"] = [None] * len(table) if scores is None else np.round(scores.score, 4).tolist()
    return PredictionReport(table, list(problems or []), scores, provenance or describe_run(run.path, run.metadata))


def predict_report(run, paths: list[Path]) -> PredictionReport:
    """Predict image files (each read, checked and resized like training) and say what the answers are.

    Returns:
        The :class:`PredictionReport`; a file that cannot be read is listed in its ``problems`` and skipped.
    """
    images, read, problems = read_readable_images(paths, run.image_size)
    return report_images(run, images, read, problems)


class SubjectReport(PredictionReport):
    """A :class:`PredictionReport` whose slices are also combined into one answer per subject (soft voting: the mean
    of its slices' probabilities; slice positions are unknown for arbitrary files, so no position weights). For a
    model of the person every slice already carries its subject's one answer, which the vote gives back.

    Attributes:
        subjects: one row per subject: ``subject``, ``prediction``, one column per class, ``p_any_dementia``
            (1 - P(NonDemented)), ``slices`` and ``flagged`` (its slices unlike the training data; None without
            an input check).
        found: how the subjects were found, one line.
    """

    def __init__(self, report: PredictionReport, subjects: pd.DataFrame, found: str, voting: str = VOTING):
        super().__init__(report.table, report.problems, report.scores, report.provenance)
        self.subjects, self.found, self.voting = subjects, found, voting

    def as_dict(self) -> dict:
        """:meth:`PredictionReport.as_dict` (each prediction with its ``subject``) plus ``subjects``, one per person."""
        return {**super().as_dict(), "voting": self.voting, "subjects_from": self.found,
                "subjects": subject_rows(self.subjects)}

    def as_text(self) -> str:
        """The run in one line, how the subjects were found, one row per subject, the warnings and the disclaimer."""
        table = self.subjects if self.scores is not None else self.subjects.drop(columns=["flagged"])
        how = "the mean of its slices' probabilities" if self.voting == VOTING else "the model of the person"
        return "\n".join([self.provenance.text, f"One answer per subject ({how}); {self.found}:",
                          table.to_string(index=False, float_format=lambda v: f"{v:.3f}"), *self.footer()])


def subject_table(table: pd.DataFrame, subjects: np.ndarray, scores: InputScores | None) -> pd.DataFrame:
    """One row per subject from per-slice predictions (:class:`SubjectReport`'s ``subjects``), by soft voting.

    Args:
        table: the per-slice predictions, one column per class.
        subjects: each row's subject.
        scores: the rows' input check, or None.
    """
    votes = vote(table[list(CLASS_NAMES)].to_numpy(float), subjects)
    combined = pd.DataFrame(votes.proba, columns=list(CLASS_NAMES))
    combined.insert(0, "prediction", [CLASS_NAMES[i] for i in votes.predicted])
    combined.insert(0, "subject", votes.units)
    combined["p_any_dementia"] = p_any_dementia(votes.proba)
    combined["slices"] = votes.slices
    flagged = None if scores is None else pd.Series(~scores.in_distribution).groupby(subjects).sum()
    combined["flagged"] = None if flagged is None else flagged.reindex(votes.units).to_numpy()
    return combined


def predict_subjects_report(run, inputs: list[str], paths: list[Path], subjects: str = "folders",
                            progress: bool = False) -> SubjectReport:
    """Predict image files and combine them into one answer per subject (a model of the person answers each subject
    once, from its slices in file-name order; it stores no input check).

    Args:
        run: the loaded run.
        inputs: the files and folders as given (whose sub-folders are the subjects).
        paths: the image files found in them (:func:`alzmri.data.pipeline.collect_image_files`).
        subjects: ``folders``: each sub-folder given holds one brain (:func:`.subjects.folder_subjects`);
            ``similarity``: brains recovered from the images, as the audit does (:func:`.subjects.similarity_subjects`,
            at the level measured on the run's training data).
        progress: show progress bars while the run's training data is read (``similarity``).

    Returns:
        The :class:`SubjectReport`; unreadable files are in its ``problems``, as with :func:`predict_report`.

    Raises:
        SettingsError: ``subjects`` is neither of :data:`SUBJECT_SOURCES`.
        DatasetError: (``similarity``) the run's training data cannot be read.
    """
    if subjects not in SUBJECT_SOURCES:
        raise SettingsError(f"subjects must be one of {list(SUBJECT_SOURCES)}, got {subjects!r}")
    person = is_person_run(run.metadata)
    if not person:
        refuse_stack_runs(run)  # before the files and the run's training data are read
    seen: set[Path] = set()
    unique = [p for p in paths if not (p.resolve() in seen or seen.add(p.resolve()))]  # a file given twice counts once
    images, files, problems = read_readable_images(unique, run.image_size)
    repeated = len(paths) - len(unique)
    twice = [f"{repeated} file(s) given more than once, counted once"] if repeated else []
    ids, found = _find_subjects(run, inputs, files, subjects, twice, progress)
    if person:  # one answer per subject from its stack, which each of its slices is given
        proba = answer_images(run.model, images, ids, [str(f) for f in files], run.metadata["config"]["person_slices"])
        report = report_predictions(run, proba, None, files, problems)
    else:
        report = report_images(run, images, files, problems)
    report.table.insert(1, "subject", ids)
    return SubjectReport(report, subject_table(report.table, ids, report.scores), found,
                         PERSON_VOTING if person else VOTING)


def _find_subjects(run, inputs: list[str], files: list[Path], subjects: str, notes: list[str],
                   progress: bool) -> tuple[np.ndarray, str]:
    """Each readable file's subject (by folders or by similarity, :func:`predict_subjects_report`) and how they were
    found, in one line (with ``notes``)."""
    if subjects == "folders":
        found = "; ".join(["one subject per folder (each sub-folder given is one brain)", *notes,
                           *folder_notes(inputs, files)])
        return folder_subjects(inputs, files), found
    evidence = training_evidence(run, progress)
    ids = similarity_subjects(files, evidence) if files else np.zeros(0, dtype=str)
    found = (f"subjects recovered by image similarity: slices linked at correlation >= {evidence.threshold:.3f}, "
             f"halfway between neighbouring slices of one brain ({evidence.neighbour:.3f}) and different brains "
             f"({evidence.different:.3f}) in the run's training data")
    found += "" if evidence.clear else "; that data shows NO clear gap between them, so the subjects are unreliable"
    return ids, "; ".join([found, *notes])


def predict_files(run, paths: list[Path]) -> tuple[pd.DataFrame, list[tuple[Path, str]]]:
    """Class, per-class probabilities and the input check for image files (read, checked, resized like training).

    Returns:
        ``(table, problems)``: one row per file that could be read (see :class:`PredictionReport`), and
        ``(path, message)`` per file that could not (it is skipped, not fatal). :func:`predict_report` also
        says which run answered and what its answers are worth.
    """
    report = predict_report(run, paths)
    return report.table, report.problems
