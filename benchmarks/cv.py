"""Five-fold cross-validation over subjects on the REAL source set: one answer per person, every person tested once.

For one model (`probe`, `thumbnail`, `atrophy` or `cnn`, see `alzmri.evaluation.compare.MODELS`), the subjects of
the real slices are split into --folds stratified folds; each is tested once by a model that learnt from the other
folds (`alzmri.evaluation.cv.cross_validate`). The pooled out-of-fold predictions are scored per slice and per
subject (soft voting), four classes and any dementia against none, with 95 % intervals resampling subjects.
The `cnn` folds are `demo`-preset runs (one per fold, resumable, reused when finished); --epochs cuts their
fine-tuning epochs, and the results file records the settings they were trained with.

--against REF scores REF on the same folds and adds the paired differences (model minus REF: a paired bootstrap
over subjects for balanced accuracy, DeLong's test for the any-dementia AUC); --repeats R draws the folds R times and
pools them; --neighbour-slices feeds the CNN 2.5-D input. Each combination is a variant, named by --variant (default:
the model, with `-2_5d` and `-x<R>` where they apply), and every variant keeps its own results file: the leaderboard
in docs/results.md quotes them all.

Runs and caches go to $ALZMRI_RUNS and $ALZMRI_CACHE, by default into the temp folder, never into the repository.
The data is only read.

Usage: python benchmarks/cv.py --data DIR --model MODEL [--against REF] [--repeats R] [--neighbour-slices]
       [--variant NAME] [--folds 5] [--epochs N] [--patience N] [--out docs/results] [--figures docs/figures/real]

Writes docs/results/real_cv_<variant>.json and docs/figures/real/cv_<variant>.png, and redraws
docs/figures/real/cv_models.png from every real_cv_*.json of the same data.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
from pathlib import Path

from results import ROOT, add_out_option, publish_figure, writable_folder, write_results

FIGURES = ROOT / "docs" / "figures" / "real"


def parse_args() -> argparse.Namespace:
    from alzmri.evaluation.compare import MODELS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="the real source set (a folder-per-class directory)")
    parser.add_argument("--model", required=True, choices=list(MODELS))
    parser.add_argument("--against", choices=list(MODELS), help="a reference scored on the same folds (paired)")
    parser.add_argument("--repeats", type=int, default=1, help="draws of the folds, pooled (default 1)")
    parser.add_argument("--neighbour-slices", action="store_true", help="cnn only: 2.5-D input")
    parser.add_argument("--variant", help="the results file's name: real_cv_<variant>.json (default from the options)")
    parser.add_argument("--folds", type=int, default=5, help="folds over subjects (default 5)")
    parser.add_argument("--epochs", type=int, help="cnn only: fine-tuning epochs (default: the demo preset's)")
    parser.add_argument("--patience", type=int, help="cnn and person: epochs without a better validation loss before "
                                                     "training stops (default: the demo preset's)")
    parser.add_argument("--figures", type=writable_folder, default=str(FIGURES),
                        help="folder for the figure (default docs/figures/real/)")
    add_out_option(parser)
    return parser.parse_args()


def use_scratch() -> Path:
    """The scratch folder of the real-data runs: runs and caches go to $ALZMRI_RUNS and $ALZMRI_CACHE, by default
    under it (in the temp folder), never into the repository. Call it before a config is made (they are read then)."""
    scratch = Path(tempfile.gettempdir()) / "alzmri-real"
    os.environ.setdefault("ALZMRI_RUNS", str(scratch / "runs"))
    os.environ.setdefault("ALZMRI_CACHE", str(scratch / "cache"))
    return scratch


def main() -> None:
    args = parse_args()
    scratch = use_scratch()

    from alzmri.config import get_config
    from alzmri.evaluation.compare import TRAINED
    from alzmri.evaluation.cv import cross_validate
    from alzmri.leakage.prepared import prepare_data

    config = get_config("demo", data=str(args.data), cv_folds=args.folds, neighbour_slices=args.neighbour_slices)
    if args.epochs is not None:
        config = config.replace(finetune_epochs=args.epochs)
    if args.patience is not None:
        config = config.replace(patience=args.patience)
    variant = args.variant or variant_name(args)
    if not re.fullmatch(r"[A-Za-z0-9_-]+", variant):  # the docs quote real_cv_<variant> by this name
        raise SystemExit(f"--variant {variant!r}: use letters, digits, '_' and '-' only")
    data = prepare_data(config, progress=False)
    if data.synthetic:
        raise SystemExit(f"{args.data} is the synthetic demo set: this script measures real slices")
    cv = cross_validate(data, config, args.model, args.folds, progress=args.model in TRAINED, repeats=args.repeats,
                        against=args.against)
    publish(cv, data, config, variant, args.out, args.figures, scratch)


def publish(cv, data, config, variant: str, out: Path, figures: Path, scratch: Path, extra: dict | None = None) -> Path:
    """Print a cross-validation, draw its figure into ``figures``, write ``real_cv_<variant>.json`` into ``out`` (with
    the settings a trained model was trained with, and ``extra``) and redraw the figure of every variant.

    Args:
        cv: what :func:`alzmri.evaluation.cv.cross_validate` returned.
        data: the prepared data it ran on.
        config: its settings.
        variant: the results file's name, ``real_cv_<variant>.json``.
        out: the results folder.
        figures: the figures folder.
        scratch: where figures are drawn before they are copied into the docs.
        extra: more values for the results file.

    Returns:
        The results file.
    """
    from alzmri.evaluation.compare import TRAINED
    from alzmri.reporting.summaries import format_cv
    from alzmri.reporting import plots

    model, folds = cv.summary["model"], cv.summary["folds"]
    print(format_cv(cv.summary))
    title = (f"{set_name(data)} ({data.root.name}: {len(data.frame):,} slices of {cv.summary['subjects_tested']} "
             f"subjects), {variant}: {folds}-fold cross-validation over subjects")
    drawn = plots.save_figure(plots.stamped_cross_validation(cv, data, title), scratch / f"cv_{variant}.png")
    publish_figure(drawn, figures / f"cv_{variant}.png")
    print(f"cross-validated in {cv.summary['seconds']:.0f} s")
    settings = {key: getattr(config, key) for key in TRAINED_SETTINGS} if model in TRAINED else None
    path = write_results(f"real_cv_{variant}", {**cv.summary, "variant": variant, "cnn_settings": settings,
                                                **(extra or {})}, out)
    models_figure(data, out, figures, folds, scratch)
    return path


#: The settings a trained model's results file records.
TRAINED_SETTINGS = ("profile", "backbone", "backbone_end", "image_size", "finetune_epochs", "finetune_learning_rate",
                    "augment", "patience", "neighbour_slices", "person_slices", "person_pooling", "person_epochs",
                    "seed")


def variant_name(args: argparse.Namespace) -> str:
    """The default variant name: the model, ``-2_5d`` with --neighbour-slices, ``-x<R>`` with --repeats R > 1."""
    return (f"{args.model}{'-2_5d' if args.neighbour_slices else ''}"
            f"{f'-x{args.repeats}' if args.repeats > 1 else ''}")


def set_name(data) -> str:
    """How a figure's title names the data: the real source set, or the synthetic set (benchmarks/operating_point.py
    --smoke) labelled as such."""
    return "SYNTHETIC set" if data.synthetic else "REAL source set"


def models_figure(data, out: Path, figures: Path, folds: int, scratch: Path) -> None:
    """Every variant measured so far (the ``real_cv_*.json`` files in ``out``), side by side, into ``figures``."""
    from alzmri.reporting import plots

    found = {path.stem.removeprefix("real_cv_"): json.loads(path.read_text())
             for path in sorted(out.glob("real_cv_*.json"))}
    found = {m: s for m, s in found.items() if s["data"]["fingerprint"] == data.fingerprint}
    title = (f"{set_name(data)} ({data.root.name}): {folds}-fold cross-validation over subjects, pooled "
             "out-of-fold, 95 % intervals over subjects")
    caption = f"{plots.data_caption(data.synthetic, data.root, data.fingerprint)} · not a diagnosis"
    drawn = plots.save_figure(plots.cv_models(found, title, caption), scratch / "cv_models.png")
    publish_figure(drawn, figures / "cv_models.png")


if __name__ == "__main__":
    main()
