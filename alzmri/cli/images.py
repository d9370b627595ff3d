"""Commands about image files: ``predict`` (class and probabilities) and ``gradcam`` (overlays: the maps computed
here, a batch at a time, and drawn by :mod:`alzmri.reporting.plots`)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from alzmri.config import CLASS_NAMES
from alzmri.evaluation.subjects import SUBJECT_SOURCES
from alzmri.files import ensure_writable


def predict(args: argparse.Namespace) -> int:
    """Predict the class of image files (and with ``--per-subject`` of each subject), saying which run answers, what
    it learnt from and whether each slice looks like its training data; unreadable files are listed and make the
    exit status 1."""
    from alzmri.data.pipeline import collect_image_files
    from alzmri.evaluation.predict import predict_report, predict_subjects_report
    from alzmri.models.runs import load_run
    from alzmri.reporting.reports import print_predictions

    files = collect_image_files(args.images)  # a bad input is named before the model is loaded
    run = load_run(args.run)
    report = (predict_subjects_report(run, args.images, files, args.subjects) if args.per_subject
              else predict_report(run, files))
    print_predictions(report, as_json=args.json)
    return 1 if report.problems else 0


def add_predict(sub) -> None:
    """The ``predict`` command's options."""
    p = sub.add_parser("predict", help="class and probabilities for images (not a diagnosis)")
    p.add_argument("run")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--json", action="store_true",
                   help="print JSON: the run, its data and test score, warnings, each prediction with in_distribution "
                        "(and with --per-subject, each subject's answer)")
    p.add_argument("--per-subject", dest="per_subject", action="store_true",
                   help="one answer per subject: the mean of its slices' probabilities, or a model of the person's "
                        "one answer from the subject's slices (not a diagnosis); the text shows the subjects, --json "
                        "each slice and each subject")
    p.add_argument("--subjects", choices=SUBJECT_SOURCES, default="folders",
                   help="with --per-subject, who each slice belongs to: folders (default: each sub-folder of a folder "
                        "given is one brain, images directly in it are that folder's) or similarity (brains "
                        "recovered from the images, as the audit does; reads the run's training data once)")
    p.set_defaults(func=predict)


def gradcam(args: argparse.Namespace) -> int:
    """Write Grad-CAM overlays for image files; their titles and the output name the run, its data and the slices
    that look unlike its training data."""
    from alzmri.data.pipeline import collect_image_files, read_readable_images
    from alzmri.evaluation.predict import refuse_stack_runs, report_images
    from alzmri.explain.gradcam import check_layer
    from alzmri.models.runs import load_run
    from alzmri.reporting.reports import print_overlays, print_unreadable

    inputs = collect_image_files(args.images)  # a bad input and an unwritable --out are named before the model loads
    out = ensure_writable(args.out, "--out")
    run = load_run(args.run)
    refuse_stack_runs(run)  # a model of the person or a 2.5-D run is refused before its --layer is looked for
    check_layer(run.model, args.layer)  # a wrong --layer is found before the work
    images, files, problems = read_readable_images(inputs, run.image_size)
    print_unreadable(problems)
    if not files:
        return 1
    report = report_images(run, images, files, problems)
    unlike = [False] * len(files) if report.scores is None else (~report.scores.in_distribution).tolist()
    written = write_overlays(run, images, files, unlike, out,
                             report.provenance.figure_title("Grad-CAM (red: evidence for the predicted class)"),
                             args.layer, args.plus_plus)
    print_overlays(report, written, unlike, as_json=args.json)
    return 1 if problems else 0


def write_overlays(run, images: np.ndarray, files: list[Path], unlike: list[bool], out: Path, title: str,
                   layer_name: str | None = None, plus_plus: bool = False) -> list[str]:
    """Explain each image (:func:`alzmri.explain.gradcam.gradcam_batches`), draw its Grad-CAM overlay at its file's
    own shape and save it into ``out``, a batch at a time.

    Args:
        run: the loaded run.
        images: the images as the model takes them, row i read from ``files[i]``.
        files: where each image came from (its overlay is named after it:
            :func:`alzmri.reporting.plots.overlay_names`).
        unlike: per image, whether the input check found it unlike the run's training data (said in its label).
        out: the folder for the PNGs.
        title: the figure title (the run and its data).
        layer_name: the feature map to explain (default: found automatically).
        plus_plus: Grad-CAM++ weights.

    Returns:
        The written paths, in the order of ``files``.
    """
    from alzmri.data.pipeline import decode_slice
    from alzmri.explain.gradcam import gradcam_batches
    from alzmri.reporting import plots

    names, written = plots.overlay_names(files), []
    for start, maps, chosen in gradcam_batches(run.model, images, layer_name=layer_name, plus_plus=plus_plus):
        for i, heat, cls in zip(range(start, start + len(maps)), maps, chosen):
            label = f"{files[i].name}\n→ {CLASS_NAMES[cls]}" + ("\nUNLIKE its training data" if unlike[i] else "")
            fig = plots.gradcam_gallery([decode_slice(files[i], str(files[i]))], heat[None], [label], title=title)
            written.append(str(plots.save_figure(fig, out / names[i])))
    return written


def add_gradcam(sub) -> None:
    """The ``gradcam`` command's options."""
    p = sub.add_parser("gradcam", help="write Grad-CAM overlays for images")
    p.add_argument("run")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--out", required=True, help="folder for the overlay PNGs")
    p.add_argument("--layer", help="feature-map layer (default: found automatically)")
    p.add_argument("--plus-plus", dest="plus_plus", action="store_true", help="Grad-CAM++ weights")
    p.add_argument("--json", action="store_true", help="print JSON (the run, its data, warnings, each overlay)")
    p.set_defaults(func=gradcam)
