"""Evaluating a saved run: predictions on a held-out split, metrics with subject-level intervals, leaks.
Predictions on image files, per slice or per subject, are :mod:`alzmri.evaluation.predict`'s.

Every headline number comes with a 95 % bootstrap interval that resamples subjects (copy groups where
no subject is known), not slices: see :mod:`alzmri.metrics`. A split is scored per slice and per subject
(each subject's slices combined into one answer, :mod:`alzmri.evaluation.subjects`), for the four classes and
for any dementia against none. On a leaky protocol the test images whose subject or copy is in train are also
scored apart from the clean ones.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from PIL import Image

from alzmri.models.cards import write_model_card
from alzmri.config import CLASS_NAMES
from alzmri.errors import DatasetError
from alzmri.files import ensure_writable
from alzmri.leakage.copies import leaks
from alzmri.metrics import balanced_accuracy, compute_metrics, three_class_metrics
from alzmri.models.person import slice_answers
from alzmri.models.runs import (METRICS_FILE, is_stacked_run, load_run, load_run_splits, run_config, run_lock,
                                write_metrics)
from alzmri.evaluation.subjects import Reference, any_dementia_view, subject_level, subject_votes, voting_weights
from alzmri.safe_text import one_line
from alzmri.voting import PERSON


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


def batch_images(frame: pd.DataFrame, image_size: int, stacks: pd.DataFrame | None = None) -> np.ndarray:
    """``frame``'s images as the model sees them: float32 (n, size, size, 3), raw 0-255.

    Args:
        frame: the slices.
        image_size: the model's input size.
        stacks: for a run trained on 2.5-D input, the split ``frame``'s rows were drawn from: each slice's channels
            are then the slice below, the slice and the slice above among its subject's slices there, as training
            and :func:`alzmri.models.classifier.predict_frame` read it. None: one grey slice three times.
    """
    from alzmri.data.pipeline import make_tf_dataset, with_neighbours

    rows = frame if stacks is None else with_neighbours(stacks).loc[frame.index]
    return np.concatenate([x.numpy() for x, _ in make_tf_dataset(rows, image_size, 64, cache=False)])


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
                 cascade_maps: list[np.ndarray] | None = None, cascade_sample: pd.DataFrame | None = None,
                 cascade_images: np.ndarray | None = None):
        self.run, self.frame, self.proba, self.metrics, self.key = run, frame, proba, metrics, key
        self.cascade_maps, self.cascade_sample, self.cascade_images = cascade_maps, cascade_sample, cascade_images
        self.figures: list[Path] = []

    def model_images(self, rows: pd.DataFrame) -> np.ndarray:
        """``rows`` (of the scored split) as the run's model took them (:func:`batch_images`; with their neighbours
        in the split for a run trained on 2.5-D input)."""
        return batch_images(rows, self.run.image_size, stacks_of(self.run, self.frame))

    @property
    def labels(self) -> np.ndarray:
        return self.frame["label"].to_numpy()


@dataclass
class GradcamExamples:
    """Grad-CAM maps of a few test slices for the gallery figure (:func:`alzmri.reporting.plots.gradcam_examples`).

    Attributes:
        frame: the slices' rows (``path``, ``class_name``), a class after another, one slice per subject.
        maps: their maps at the model's square size, one per row.
        classes: the class each map explains (the predicted one).
        synthetic: whether the slices are the synthetic demo set's.
    """

    frame: pd.DataFrame
    maps: np.ndarray
    classes: np.ndarray
    synthetic: bool


def one_slice_per_subject(frame: pd.DataFrame) -> pd.DataFrame:
    """The middle slice of each subject (rows without a subject kept as they are), in ``frame``'s order.

    Neighbouring slices of one brain look nearly alike, so a gallery of them shows one example four times.
    """
    known = frame["subject"].astype(str) != ""
    middle = frame[known].groupby("subject", sort=False, group_keys=False).apply(lambda g: g.iloc[[len(g) // 2]])
    return pd.concat([middle, frame[~known]])


def explain_examples(evaluation: Evaluation, per_class: int = 2) -> GradcamExamples | None:
    """Grad-CAM maps of ``per_class`` test slices of each class, each from a different subject, explaining the
    predicted class on the layer the faithfulness scores used.

    Args:
        evaluation: a run evaluated on a split (its model is called once, on the chosen slices).
        per_class: slices of each class (fewer where the split has fewer subjects of it).

    Returns:
        The slices, their maps and explained classes, for the gallery figure; None for a model of the person
        (Grad-CAM explains slice models).
    """
    from alzmri.explain.gradcam import gradcam

    if evaluation.run.is_person:
        return None
    frame = one_slice_per_subject(evaluation.frame)
    picks = pd.concat([frame[frame["class_name"] == c].head(per_class) for c in CLASS_NAMES])
    images = evaluation.model_images(picks)
    layer = evaluation.metrics.get("faithfulness", {}).get("layer")
    maps, chosen = gradcam(evaluation.run.model, images, layer_name=layer)
    return GradcamExamples(picks, maps, chosen, bool(evaluation.metrics.get("synthetic")))


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


def stacks_of(run, frame: pd.DataFrame) -> pd.DataFrame | None:
    """Where :func:`batch_images` finds the neighbours of ``frame``'s slices for ``run``: ``frame`` itself (the scored
    split) for a run trained on 2.5-D input, None for one that takes single slices."""
    return frame if is_stacked_run(run.metadata) else None


def _explain(run, sample: pd.DataFrame, split: pd.DataFrame, root: Path, metrics: dict, layer_name: str | None,
             n_boot: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Score Grad-CAM on ``sample`` (rows of the scored ``split``) into ``metrics`` (faithfulness; plausibility where
    masks exist).

    Returns:
        The randomisation cascade's maps of the first few images, for the figure, and ``sample``'s images as the
        model took them.
    """
    from alzmri.explain.faithfulness import explanation_report
    from alzmri.leakage.prepared import independent_units

    units, unit = independent_units(sample)
    images = batch_images(sample, run.image_size, stacks_of(run, split))
    metrics["faithfulness"], plausibility, cascade_maps = explanation_report(
        run.model, images, units, unit, layer_name, evidence_masks(root, sample, run.image_size),
        sample["label"].to_numpy(), n_boot, seed)
    if plausibility is not None:
        metrics["plausibility"] = plausibility
    return cascade_maps, images


def evaluate_run(run_dir: str | Path, split: str = "test", data=None, n_boot: int | None = None,
                 explain_images: int | None = None, layer_name: str | None = None,
                 progress: bool = True, draw: Callable[[Evaluation, GradcamExamples | None], list[Path]] | None = None,
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
        draw: called with the evaluation and its gallery's Grad-CAM maps (:func:`explain_examples`) before the run
            is unlocked, returning the paths of the figures it drew (``alzmri evaluate`` and the demo pass
            :func:`alzmri.reporting.plots.save_evaluation_figures`); None: no figures, and no gallery maps.
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
            evaluation.figures = draw(evaluation, explain_examples(evaluation))
    return evaluation


def _run_folder(path: Path) -> Path:
    """The run folder of a path to a run (its folder, or its model file)."""
    return path.parent if path.is_file() else path


def _evaluate_locked(run_dir: Path, split: str, data, n_boot: int | None, explain_images: int | None,
                     layer_name: str | None, progress: bool, voting: dict) -> Evaluation:
    """:func:`evaluate_run`'s work, with the run locked: load, score, explain, save the metrics and the card
    (``voting``: the voting settings given, None where the run's own apply)."""
    from alzmri.explain.gradcam import check_layer
    from alzmri.leakage.prepared import independent_units

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
    proba = slice_answers(run.model, frame, config, progress)
    n_boot = n_boot if n_boot is not None else config.n_boot
    units, unit = independent_units(frame)
    metrics = compute_metrics(frame["label"].to_numpy(), proba, units, unit, n_boot, config.seed)
    _add_class_subjects(metrics, frame)
    metrics.update(_score_people(run, data, split, proba, config, n_boot, units, unit, progress))
    metrics.update(split=split, split_protocol=data.protocol, labels=run.metadata.get("labels", "true"),
                   synthetic=data.synthetic, leakage=leak_breakdown(data, split, proba.argmax(axis=1)),
                   data={"path": str(data.root), "fingerprint": data.fingerprint, "protocol": data.protocol})
    sample = frame.sample(min(explain_images or config.explain_images, len(frame)), random_state=config.seed)
    cascade_maps, images = [], None  # Grad-CAM explains slice models, not a model of the person
    if not run.is_person:
        cascade_maps, images = _explain(run, sample, frame, data.root, metrics, layer_name or config.gradcam_layer,
                                        n_boot, config.seed)
    key = metrics_key(run, data, split)
    write_metrics(run.path, key, metrics)
    _rewrite_card(run.path)
    shown = sample.head(len(cascade_maps[0])) if cascade_maps else None
    return Evaluation(run, frame, proba, metrics, key, cascade_maps, shown,
                      None if shown is None else images[:len(shown)].copy())


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
    return Reference(val, slice_answers(run.model, val, config, progress), "val")


def _score_people(run, data, split: str, proba: np.ndarray, config, n_boot: int, units: np.ndarray, unit: str,
                  progress: bool) -> dict:
    """metrics.json's ``subject_level``, ``any_dementia`` and ``three_class`` (Mild and Moderate merged) blocks of the
    scored split (:mod:`.subjects`)."""
    frame = data.part(split)
    reference = held_out_reference(run, data, split, proba, config, progress)
    weights = voting_weights(config, reference)
    votes = subject_votes(frame, proba, weights)
    people = subject_level(votes, len(frame), config, weights, reference, n_boot)
    if run.is_person:  # each slice carries its subject's one answer: the vote only gathers it
        people["voting"] = PERSON
    return {"subject_level": people,
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
