"""Evaluating a saved run: predictions on a held-out split, metrics with subject-level intervals, leaks;
and predictions on image files, per slice or per subject.

Every headline number comes with a 95 % bootstrap interval that resamples subjects (copy groups where
no subject is known), not slices: see :mod:`alzmri.metrics`. A split is scored per slice and per subject
(each subject's slices combined into one answer, :mod:`alzmri.evaluation.subjects`), for the four classes and
for any dementia against none. On a leaky protocol the test images whose subject or copy is in train are also
scored apart from the clean ones.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from PIL import Image

from alzmri.models.cards import write_model_card
from alzmri.config import CLASS_NAMES
from alzmri.errors import DatasetError, SettingsError
from alzmri.files import ensure_writable
from alzmri.models.input_check import COMPONENTS, InputScores
from alzmri.leakage.copies import leaks
from alzmri.metrics import balanced_accuracy, compute_metrics, p_any_dementia, three_class_metrics
from alzmri.models.classifier import predict_frame
from alzmri.models.provenance import DISCLAIMER, describe_run
from alzmri.models.runs import (METRICS_FILE, load_run, load_run_splits, run_config, run_lock,
                                write_metrics)
from alzmri.evaluation.subjects import (SUBJECT_SOURCES, Reference, any_dementia_view, folder_notes, folder_subjects,
                                       similarity_subjects, subject_level, subject_votes, training_evidence,
                                       voting_weights)
from alzmri.safe_text import one_line
from alzmri.voting import vote


def leak_breakdown(data, split: str, predicted: np.ndarray) -> dict:
    """Accuracy on the ``split`` images whose subject or copy is in train ("leaked") and on the rest ("clean").

    Args:
        data: the prepared data the predictions were made on (all splits, for what is in train).
        split: the evaluated split.
        predicted: predicted class ids of that split's images, in order.

    Returns:
        ``{"leaked": {...}, "clean": {...}}``, each with ``images``, ``subjects``, ``accuracy`` and
        ``balanced_accuracy`` (None where a part is empty); the two parts' images add up to the split's.
    """
    held = (data.frame["split"] == split).to_numpy()
    leaked = leaks(data.frame, split).leaked
    labels = data.frame["label"].to_numpy()[held]
    subjects = data.frame["subject"].to_numpy(dtype=str)[held]
    parts = {}
    for name, members in (("leaked", leaked), ("clean", ~leaked)):
        empty = not members.any()
        parts[name] = {"images": int(members.sum()), "subjects": len(set(subjects[members]) - {""}),
                       "accuracy": None if empty else float((predicted[members] == labels[members]).mean()),
                       "balanced_accuracy": None if empty else balanced_accuracy(labels[members], predicted[members])}
    return parts


def batch_images(frame: pd.DataFrame, image_size: int) -> np.ndarray:
    """``frame``'s images as the model sees them: float32 (n, size, size, 3), raw 0-255."""
    from alzmri.data.pipeline import make_tf_dataset

    return np.concatenate([x.numpy() for x, _ in make_tf_dataset(frame, image_size, 64, cache=False)])


def evidence_masks(root: Path, frame: pd.DataFrame, image_size: int) -> np.ndarray | None:
    """The synthetic evidence masks of ``frame``'s images at the model's size, or None for real data."""
    from alzmri.data import synthetic

    if synthetic.read_manifest(root) is None:
        return None
    masks = [Image.fromarray(synthetic.load_mask(root, rel).astype(np.uint8) * 255)
             .resize((image_size, image_size), Image.Resampling.NEAREST) for rel in frame["relpath"]]
    return np.stack([np.asarray(m) > 127 for m in masks])


class Evaluation:
    """A run evaluated on one split: the predictions, the metrics (saved under ``key``), what the figures need
    (``cascade_maps``: Grad-CAM maps of a few images as the model is re-initialised step by step, of the rows
    ``cascade_sample`` whose model-size images are ``cascade_images``), and the ``figures`` drawn of it while
    the run was locked (:func:`evaluate_run`'s ``draw``)."""

    def __init__(self, run, frame: pd.DataFrame, proba: np.ndarray, metrics: dict, key: str,
                 cascade_maps: list[np.ndarray] | None = None, cascade_sample: pd.DataFrame | None = None):
        self.run, self.frame, self.proba, self.metrics, self.key = run, frame, proba, metrics, key
        self.cascade_maps, self.cascade_sample = cascade_maps, cascade_sample
        self.figures: list[Path] = []

    @property
    def cascade_images(self) -> np.ndarray | None:
        """The images the randomisation cascade explained, as the model took them."""
        if self.cascade_sample is None:
            return None
        return batch_images(self.cascade_sample, self.run.image_size)

    @property
    def labels(self) -> np.ndarray:
        return self.frame["label"].to_numpy()


def metrics_key(run, data, split: str) -> str:
    """Where in metrics.json an evaluation goes: ``split`` on the run's own data and protocol, else a key
    naming the data (``test@<folder>-<protocol>-<fingerprint>``), so scoring other data never overwrites the
    run's own result."""
    if data.fingerprint == run.metadata.get("data_fingerprint") and data.protocol == run.metadata.get("split"):
        return split
    return f"{split}@{Path(data.root).name}-{data.protocol}-{data.fingerprint[:8]}"


def _add_class_subjects(metrics: dict, frame: pd.DataFrame) -> None:
    """How many brains each class's numbers rest on (0 where subjects are unknown), into ``per_class``."""
    known = frame[frame["subject"].astype(str) != ""]
    for name in CLASS_NAMES:
        metrics["per_class"][name]["subjects"] = int(known.loc[known["class_name"] == name, "subject"].nunique())


def _explain(run, sample: pd.DataFrame, root: Path, metrics: dict, layer_name: str | None, n_boot: int,
             seed: int) -> list[np.ndarray]:
    """Score Grad-CAM on ``sample`` into ``metrics`` (faithfulness; plausibility where masks exist).

    Returns:
        The randomisation cascade's maps of the first few images, for the figure.
    """
    from alzmri.explain.faithfulness import explanation_report
    from alzmri.leakage.splits import independent_units

    units, unit = independent_units(sample)
    metrics["faithfulness"], plausibility, cascade_maps = explanation_report(
        run.model, batch_images(sample, run.image_size), units, unit, layer_name,
        evidence_masks(root, sample, run.image_size), sample["label"].to_numpy(), n_boot, seed)
    if plausibility is not None:
        metrics["plausibility"] = plausibility
    return cascade_maps


def evaluate_run(run_dir: str | Path, split: str = "test", data=None, n_boot: int | None = None,
                 explain_images: int | None = None, layer_name: str | None = None,
                 progress: bool = True, draw: Callable[[Evaluation], list[Path]] | None = None,
                 voting: str | None = None, voting_threshold: float | None = None) -> Evaluation:
    """Evaluate a saved run on ``split`` of its own data and split protocol; write metrics.json (and figures).

    The run is locked throughout (:func:`alzmri.models.runs.run_lock`): evaluations of one run take turns, and a run
    being trained is refused at once, so the model scored, its metrics and its figures all belong to one run.

    Args:
        run_dir: the run folder.
        split: which split to score.
        data: prepared data to score instead of the run's own (its ``splits.csv``, checked against its metadata).
        n_boot: bootstrap resamples (default: the run's ``n_boot`` setting).
        explain_images: test images whose Grad-CAM maps are scored (default: the run's ``explain_images``):
            deletion/insertion and the randomisation check (``faithfulness``), and on synthetic data the
            evidence masks (``plausibility``).
        layer_name: the feature map Grad-CAM explains (default: the run's ``gradcam_layer``, else
            :func:`alzmri.explain.gradcam.find_target_layer`).
        progress: show progress bars.
        draw: called with the evaluation before the run is unlocked, returning the paths of the figures it drew
            (:func:`alzmri.reporting.plots.evaluate_with_figures` passes the evaluation's figures); None: none.
        voting: how subjects' slices are combined, ``soft`` or ``weighted`` (default: the run's ``voting``).
        voting_threshold: weighted voting's cut for slice positions (default: the run's ``voting_threshold``).

    Returns:
        The evaluation (predictions, metrics, the figures' paths); the metrics are also merged into
        ``metrics.json``, under ``split`` for the run's own data and protocol and under :func:`metrics_key`'s
        name for other data. Beside the slice-level numbers they hold ``subject_level`` (one answer per subject,
        by the run's ``voting``) and ``any_dementia`` (per slice and per subject, cut-offs chosen on the
        validation split, which costs one more pass of the model over it).

    Raises:
        RunError: the run is missing, broken, or being trained right now.
        SplitsFileError: its ``splits.csv`` is gone, unreadable, or not what its metadata recorded.
    """
    with run_lock(_run_folder(Path(run_dir)), evaluation=True):
        evaluation = _evaluate_locked(Path(run_dir), split, data, n_boot, explain_images, layer_name, progress,
                                      {"voting": voting, "voting_threshold": voting_threshold})
        if draw is not None:
            evaluation.figures = draw(evaluation)
    return evaluation


def _run_folder(path: Path) -> Path:
    """The run folder of a path to a run (its folder, or its model file)."""
    return path.parent if path.is_file() else path


def _evaluate_locked(run_dir: Path, split: str, data, n_boot: int | None, explain_images: int | None,
                     layer_name: str | None, progress: bool, voting: dict) -> Evaluation:
    """:func:`evaluate_run`'s work, with the run locked: load, score, explain, save the metrics and the card
    (``voting``: the voting settings given, None where the run's own apply)."""
    from alzmri.explain.gradcam import check_layer
    from alzmri.leakage.splits import independent_units

    run = load_run(run_dir)
    ensure_writable(run.path, f"the run folder, where {METRICS_FILE} and figures go")
    check_layer(run.model, layer_name)  # a wrong --layer is found before the work, not after it
    config = run_config(run.metadata, run.path)
    config = config.replace(**{name: value for name, value in voting.items() if value is not None})
    own = data is None
    data = load_run_splits(run.path, config, progress) if own else data  # the run's own split, as trained
    if own and data.fingerprint != run.metadata.get("data_fingerprint"):  # its data changed on disk since
        warnings.warn(f"The data in {one_line(data.root)} differs from what {one_line(run.path.name)} was trained on "
                      "(fingerprint mismatch): the split may not be the run's own", UserWarning, stacklevel=3)
    frame = data.part(split)
    if frame.empty:
        raise DatasetError(f"The {split} split of {one_line(data.root)} has no images")
    proba = predict_frame(run.model, frame, run.image_size, config.batch_size, progress, config.neighbour_slices)
    n_boot = n_boot if n_boot is not None else config.n_boot
    units, unit = independent_units(frame)
    metrics = compute_metrics(frame["label"].to_numpy(), proba, units, unit, n_boot, config.seed)
    _add_class_subjects(metrics, frame)
    metrics.update(_score_people(run, data, split, proba, config, n_boot, units, unit, progress))
    metrics.update(split=split, split_protocol=data.protocol, labels=run.metadata.get("labels", "true"),
                   synthetic=data.synthetic, leakage=leak_breakdown(data, split, proba.argmax(axis=1)),
                   data={"path": str(data.root), "fingerprint": data.fingerprint, "protocol": data.protocol})
    sample = frame.sample(min(explain_images or config.explain_images, len(frame)), random_state=config.seed)
    cascade_maps = _explain(run, sample, data.root, metrics, layer_name or config.gradcam_layer, n_boot, config.seed)
    key = metrics_key(run, data, split)
    write_metrics(run.path, key, metrics)
    _rewrite_card(run.path)
    shown = sample.head(len(cascade_maps[0])) if cascade_maps else None
    return Evaluation(run, frame, proba, metrics, key, cascade_maps, shown)


def held_out_reference(run, data, split: str, proba: np.ndarray, config, progress: bool = False) -> Reference:
    """The validation slices and their predictions (one more pass of the model), which set what needs choosing
    (position weights, the any-dementia threshold); the scored split itself when it is ``val`` or none exists.

    Args:
        run: the loaded run.
        data: the prepared data being scored.
        split: the scored split, whose predictions are ``proba``.
        proba: the scored split's probabilities.
        config: the run's settings (``batch_size``).
        progress: show a progress bar.
    """
    val = data.part("val")
    if split == "val" or val.empty:
        return Reference(data.part(split), proba, split)
    return Reference(val, predict_frame(run.model, val, run.image_size, config.batch_size, progress,
                                        config.neighbour_slices), "val")


def _score_people(run, data, split: str, proba: np.ndarray, config, n_boot: int, units: np.ndarray, unit: str,
                  progress: bool) -> dict:
    """metrics.json's ``subject_level``, ``any_dementia`` and ``three_class`` (Mild and Moderate merged) blocks of the
    scored split (:mod:`.subjects`)."""
    frame = data.part(split)
    reference = held_out_reference(run, data, split, proba, config, progress)
    weights = voting_weights(config, reference)
    votes = subject_votes(frame, proba, weights)
    return {"subject_level": subject_level(votes, len(frame), config, weights, reference, n_boot),
            "any_dementia": any_dementia_view(frame["label"].to_numpy(), proba, units, unit, votes, reference, weights,
                                              n_boot, config.seed),
            "three_class": {"slice_level": three_class_metrics(frame["label"].to_numpy(), proba, units, n_boot,
                                                               config.seed),
                            "subject_level": three_class_metrics(votes.labels, votes.proba, None, n_boot, config.seed)}}


def _rewrite_card(run_dir: Path) -> None:
    """Rewrite the run's model card; a card that cannot be written is a warning, never the metrics' or figures' loss."""
    try:
        write_model_card(run_dir)
    except OSError as err:
        warnings.warn(f"The model card in {run_dir} could not be rewritten ({err.strerror or err}); the metrics "
                      "are saved", UserWarning, stacklevel=4)


def refuse_stack_runs(run) -> None:
    """Refuse single images for a run trained on 2.5-D input (a slice and its neighbours): it would answer for
    inputs unlike any it learnt from.

    Raises:
        SettingsError: the run was trained with ``neighbour_slices``, naming it.
    """
    if run.metadata.get("config", {}).get("neighbour_slices"):
        raise SettingsError(f"{run.path.name} was trained on 2.5-D input (neighbour_slices: a slice and its two "
                            "neighbours); single images cannot be predicted with it: use evaluate or cv")


def predict_images(run, images) -> np.ndarray:
    """Class probabilities for an array of images (checked: shape, size, type; grey → RGB)."""
    from alzmri.models.classifier import as_model_batch

    refuse_stack_runs(run)
    return run.model.predict(as_model_batch(images, run.image_size), verbose=0, batch_size=32)


def predict_checked(run, images) -> tuple[np.ndarray, InputScores | None]:
    """Class probabilities and the input check of an array of images, in one pass through the model.

    Args:
        run: the loaded run (:func:`alzmri.models.classifier.load_run`).
        images: images as :func:`alzmri.models.classifier.as_model_batch` takes them.

    Returns:
        ``(proba, scores)``: probabilities (n, n_classes), and each image's input check
        (:class:`alzmri.models.input_check.InputScores`), None for a run that stores no check.
    """
    from alzmri.models.input_check import load_input_check, with_features
    from alzmri.models.classifier import as_model_batch

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
        from alzmri.models.input_check import summary

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
                "predictions": json.loads(self.table.to_json(orient="records")),
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
    from alzmri.data.pipeline import read_readable_images

    images, read, problems = read_readable_images(paths, run.image_size)
    return report_images(run, images, read, problems)


class SubjectReport(PredictionReport):
    """A :class:`PredictionReport` whose slices are also combined into one answer per subject (soft voting: the mean
    of its slices' probabilities; slice positions are unknown for arbitrary files, so no position weights).

    Attributes:
        subjects: one row per subject: ``subject``, ``prediction``, one column per class, ``p_any_dementia``
            (1 - P(NonDemented)), ``slices`` and ``flagged`` (its slices unlike the training data; None without
            an input check).
        found: how the subjects were found, one line.
    """

    def __init__(self, report: PredictionReport, subjects: pd.DataFrame, found: str):
        super().__init__(report.table, report.problems, report.scores, report.provenance)
        self.subjects, self.found = subjects, found

    def as_dict(self) -> dict:
        """:meth:`PredictionReport.as_dict` (each prediction with its ``subject``) plus ``subjects``, one per person."""
        rows = [{"subject": row["subject"], "predicted": row["prediction"],
                 "probabilities": {c: round(float(row[c]), 6) for c in CLASS_NAMES},
                 "p_any_dementia": round(float(row["p_any_dementia"]), 6), "slices": int(row["slices"]),
                 "flagged": None if pd.isna(row["flagged"]) else int(row["flagged"])}
                for row in self.subjects.to_dict("records")]
        return {**super().as_dict(), "voting": "soft", "subjects_from": self.found, "subjects": rows}

    def as_text(self) -> str:
        """The run in one line, how the subjects were found, one row per subject, the warnings and the disclaimer."""
        table = self.subjects if self.scores is not None else self.subjects.drop(columns=["flagged"])
        return "\n".join([self.provenance.text, f"One answer per subject (the mean of its slices' probabilities); "
                                                f"{self.found}:",
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
    """Predict image files and combine them into one answer per subject.

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
    seen: set[Path] = set()
    unique = [p for p in paths if not (p.resolve() in seen or seen.add(p.resolve()))]  # a file given twice counts once
    report = predict_report(run, unique)
    files = [Path(f) for f in report.table["file"]]
    repeated = len(paths) - len(unique)
    twice = [f"{repeated} file(s) given more than once, counted once"] if repeated else []
    if subjects == "folders":
        notes = twice + folder_notes(inputs, files)
        ids = folder_subjects(inputs, files)
        found = "; ".join(["one subject per folder (each sub-folder given is one brain)", *notes])
    else:
        evidence = training_evidence(run, progress)
        ids = similarity_subjects(files, evidence) if files else np.zeros(0, dtype=str)
        found = (f"subjects recovered by image similarity: slices linked at correlation >= {evidence.threshold:.3f}, "
                 f"halfway between neighbouring slices of one brain ({evidence.neighbour:.3f}) and different brains "
                 f"({evidence.different:.3f}) in the run's training data")
        found += "" if evidence.clear else "; that data shows NO clear gap between them, so the subjects are unreliable"
        found = "; ".join([found, *twice])
    report.table.insert(1, "subject", ids)
    return SubjectReport(report, subject_table(report.table, ids, report.scores), found)


def predict_files(run, paths: list[Path]) -> tuple[pd.DataFrame, list[tuple[Path, str]]]:
    """Class, per-class probabilities and the input check for image files (read, checked, resized like training).

    Returns:
        ``(table, problems)``: one row per file that could be read (see :class:`PredictionReport`), and
        ``(path, message)`` per file that could not (it is skipped, not fatal). :func:`predict_report` also
        says which run answered and what its answers are worth.
    """
    report = predict_report(run, paths)
    return report.table, report.problems
