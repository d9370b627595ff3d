"""What the server says: the batched forward pass with the input check, each route's answer, the Grad-CAM PNG.

Everything here reuses what ``alzmri predict`` and ``alzmri gradcam`` use (the report of
:func:`alzmri.evaluation.predict.report_predictions`, the provenance and warnings, the input check, soft voting,
the Grad-CAM figure), so an answer over HTTP says the same as the command line about the same slices.
"""

from __future__ import annotations

import io
import math
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from typing_extensions import NotRequired, TypedDict

from alzmri.config import CLASS_NAMES, describe_backbone
from alzmri.evaluation.predict import (VOTING, SliceRow, SubjectRow, refuse_stack_runs, report_predictions, slice_rows,
                                      subject_rows, subject_table)
from alzmri.metrics import HEADLINE
from alzmri.models.input_check import COMPONENTS, InputCheck, InputScores, load_input_check, with_features
from alzmri.models.provenance import DISCLAIMER, Provenance, describe_run

_FIGURES = threading.Lock()  # matplotlib's pyplot is not thread-safe: one figure at a time
#: The subject name of a request's slices taken together.
REQUEST_SUBJECT = "this request"


class PredictAnswer(TypedDict):
    """``POST /predict``'s answer (the OpenAPI page documents it): the rows ``alzmri predict --json`` gives too."""

    run: str
    predictions: list[SliceRow]
    voting: NotRequired[str]  # with ``subject``
    subject: NotRequired[SubjectRow]  # two or more slices, unless ``per_slice_only``
    warnings: list[str]
    input_check: str
    note: str


@dataclass(frozen=True)
class Served:
    """Everything a server answers with, read from the run folder once, at start: the model and its metadata, the
    input check, the provenance every answer carries and ``GET /model``'s answer (the card and test numbers).

    A server so answers with one run from start to stop: a run folder moved away, or retrained with ``--replace``,
    meanwhile changes nothing it says until it is restarted.
    """

    run: object
    check: InputCheck | None
    provenance: Provenance
    model: dict
    loaded: str


def load_served(run_dir: str | Path) -> Served:
    """Read a run for serving, all of it at once (:class:`Served`).

    Raises:
        RunError: the run is missing or broken, or its input check is unreadable (each one line).
    """
    from alzmri.models.runs import load_run

    run = load_run(run_dir)
    refuse_stack_runs(run)  # a server is sent single slices
    check, provenance = load_input_check(run.path), describe_run(run.path, run.metadata)
    loaded = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return Served(run, check, provenance, model_answer(run, provenance, loaded), loaded)


def batch_forward(served: Served):
    """The server's forward pass: slices (n, size, size, 3) to row-aligned ``proba``, and the input check's
    ``score`` and components (``check:<name>``) where the run stores a check.

    One compiled call (:func:`alzmri.models.classifier.compiled_forward`, traced once) gives both the
    probabilities and the pooled features the check needs, so checking costs no second pass.
    """
    import keras

    from alzmri.models.classifier import compiled_forward

    both = with_features(served.run.model)
    merged = compiled_forward(keras.Model(both.inputs, keras.layers.Concatenate(name="proba_and_features")(both.outputs),
                                          name="served"))
    check, n_classes = served.check, len(CLASS_NAMES)

    def forward(images: np.ndarray) -> dict[str, np.ndarray]:
        out = merged(np.asarray(images, np.float32)).numpy()
        rows = {"proba": out[:, :n_classes]}
        if check is not None:
            scores = check.score(out[:, n_classes:], images)
            rows["score"] = scores.score
            rows.update({f"check:{name}": scores.components[name] for name in COMPONENTS})
        return rows

    return forward


def input_scores(served: Served, rows: dict[str, np.ndarray]) -> InputScores | None:
    """A request's input check from its rows of :func:`batch_forward`; None for a run that stores no check."""
    if served.check is None or "score" not in rows:
        return None
    return InputScores(rows["score"], {name: rows[f"check:{name}"] for name in COMPONENTS}, served.check.threshold)


def prediction_answer(served: Served, names: list[str], rows: dict[str, np.ndarray],
                      per_slice_only: bool = False) -> dict:
    """``POST /predict``'s answer for one request's slices.

    Args:
        served: the run as served.
        names: each slice's upload name (echoed, never used as a path).
        rows: the request's rows of :func:`batch_forward`.
        per_slice_only: do not combine the slices into one subject's answer.

    Returns:
        :class:`PredictAnswer`: per-slice rows and the one subject row in the shapes ``alzmri predict --json``
        gives too (:class:`alzmri.evaluation.predict.SliceRow`, :class:`~alzmri.evaluation.predict.SubjectRow`).
    """
    report = report_predictions(served.run, rows["proba"], input_scores(served, rows), names,
                                provenance=served.provenance)
    answer = {"run": served.provenance.run, "predictions": slice_rows(report.table)}
    if len(names) >= 2 and not per_slice_only:
        request = np.full(len(names), REQUEST_SUBJECT)
        answer.update(voting=VOTING, subject=subject_rows(subject_table(report.table, request, report.scores))[0])
    return finite({**answer, "warnings": report.warnings, "input_check": report.input_summary, "note": DISCLAIMER})


def headline(block) -> dict | None:
    """The headline metrics of a metrics.json block with their 95 % intervals and what they resampled."""
    if not isinstance(block, dict):
        return None
    intervals = block.get("ci95") if isinstance(block.get("ci95"), dict) else {}
    shown = {name: {"value": block[name], "ci95": intervals.get(name)} for name in HEADLINE if name in block}
    return {**shown, "images": block.get("images"), "resampled": block.get("ci_resampled")}


def finite(value):
    """``value`` with every NaN or infinity (a kappa or AUC undefined on one class) as None: JSON has no NaN."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


def test_metrics(run, provenance: Provenance) -> dict:
    """The run's test numbers: slice level, subject level and any-dementia where its evaluation wrote them (an
    undefined number is null)."""
    from alzmri.models.runs import read_metrics

    test = read_metrics(run.path).get("test")
    if not isinstance(test, dict):
        return {"evaluated": False, "note": provenance.test_text}
    any_dementia = test.get("any_dementia")
    return finite({"evaluated": True, "slice": headline(test), "subject": headline(test.get("subject_level")),
                   "any_dementia": any_dementia if isinstance(any_dementia, dict) else None})


def card_text(run_dir: Path) -> str:
    """The run's model card as a reader sees it (the saved card, else one made from its files now)."""
    from alzmri.models.cards import card_body, model_card
    from alzmri.models.runs import CARD_FILE

    return card_body(run_dir) if (run_dir / CARD_FILE).exists() else model_card(run_dir)


def model_answer(run, provenance: Provenance, loaded: str) -> dict:
    """``GET /model``'s answer: what the run is, what it learnt from, how it scored, its card, and when the server
    read it (it answers with that run until restarted)."""
    meta = run.metadata
    data = {key: provenance.data[key] for key in ("name", "synthetic", "fingerprint")}
    return {"run": run.path.name, "classes": list(CLASS_NAMES), "image_size": run.image_size,
            "backbone": describe_backbone(str(meta.get("backbone", "?")), (meta.get("config") or {}).get("backbone_end")),
            "weights": meta.get("weights"), "training_data": data, "protocol": meta.get("split"),
            "labels": meta.get("labels", "true"), "test": test_metrics(run, provenance), "summary": provenance.text,
            "warnings": provenance.warnings, "model_card": card_text(run.path),
            "loaded": f"{loaded}: read once when the server started; it answers with this run until restarted",
            "note": DISCLAIMER}


def explained_class(name: str | None) -> int | None:
    """The class id ``?class=`` asks Grad-CAM to explain (any spelling of a class name), None for the predicted one.

    Raises:
        UploadError: not a class name (400), listing the classes.
    """
    from alzmri.data.datasets import canonical_class
    from alzmri.errors import UploadError

    if name is None:
        return None
    canonical = canonical_class(name)
    if canonical is None:
        raise UploadError(f"class {name!r} is not one of {', '.join(CLASS_NAMES)}", 400)
    return CLASS_NAMES.index(canonical)


def gradcam_png(served: Served, name: str, slice_rgb: np.ndarray, maps: np.ndarray, explained: int,
                unlike: bool | None) -> bytes:
    """The Grad-CAM figure of one slice as PNG bytes: the slice at its own shape beside its overlay, a colour bar,
    a caption saying when the input check finds the slice unlike the run's training data (as ``alzmri gradcam``'s
    does), and a title naming the run, its data and that it is not a diagnosis."""
    import matplotlib.pyplot as plt

    from alzmri.reporting.plots import gradcam_gallery

    title = served.provenance.figure_title(f"Grad-CAM (red: evidence for {CLASS_NAMES[explained]}); not a diagnosis")
    label = f"{name}\nevidence for {CLASS_NAMES[explained]}" + ("\nUNLIKE its training data" if unlike else "")
    buffer = io.BytesIO()
    with _FIGURES:
        fig = gradcam_gallery([slice_rgb], maps[:1], [label], title=title, across=True)
        fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
    return buffer.getvalue()
