"""Five-fold cross-validation over subjects on the REAL source set: one answer per person, every person tested once.

For one model (`probe`, `thumbnail`, `atrophy` or `cnn`, see `alzmri.evaluation.compare.MODELS`), the subjects of
the real slices are split into --folds stratified folds; each is tested once by a model that learnt from the other
folds (`alzmri.evaluation.cv.cross_validate`). The pooled out-of-fold predictions are scored per slice and per
subject (soft voting), four classes and any dementia against none, with 95 % intervals resampling subjects.
The `cnn` folds are `demo`-preset runs (one per fold, resumable, reused when finished); --epochs cuts their
fine-tuning epochs, and the results file records the settings they were trained with.

Runs and caches go to $ALZMRI_RUNS and $ALZMRI_CACHE, by default into the temp folder, never into the repository.
The data is only read.

Usage: python benchmarks/cv.py --data DIR --model MODEL [--folds 5] [--epochs N] [--out docs/results]
       [--figures docs/figures/real]

Writes docs/results/real_cv_<model>.json and docs/figures/real/cv_<model>.png.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from results import ROOT, add_out_option, publish_figure, writable_folder, write_results

FIGURES = ROOT / "docs" / "figures" / "real"


def parse_args() -> argparse.Namespace:
    from alzmri.evaluation.compare import MODELS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="the real source set (a folder-per-class directory)")
    parser.add_argument("--model", required=True, choices=list(MODELS))
    parser.add_argument("--folds", type=int, default=5, help="folds over subjects (default 5)")
    parser.add_argument("--epochs", type=int, help="cnn only: fine-tuning epochs (default: the demo preset's)")
    parser.add_argument("--figures", type=writable_folder, default=str(FIGURES),
                        help="folder for the figure (default docs/figures/real/)")
    add_out_option(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    scratch = Path(tempfile.gettempdir()) / "alzmri-real"
    os.environ.setdefault("ALZMRI_RUNS", str(scratch / "runs"))  # read when a config is made, so set before
    os.environ.setdefault("ALZMRI_CACHE", str(scratch / "cache"))

    from alzmri.config import get_config
    from alzmri.evaluation.cv import cross_validate, format_cv
    from alzmri.leakage.splits import prepare_data
    from alzmri.reporting import plots

    config = get_config("demo", data=str(args.data), cv_folds=args.folds)
    if args.epochs is not None:
        config = config.replace(finetune_epochs=args.epochs)
    data = prepare_data(config, progress=False)
    if data.synthetic:
        raise SystemExit(f"{args.data} is the synthetic demo set: this script measures real slices")
    cv = cross_validate(data, config, args.model, args.folds, progress=args.model == "cnn")
    print(format_cv(cv.summary))
    title = (f"REAL source set ({data.root.name}: {len(data.frame):,} slices of {cv.summary['subjects_tested']} "
             f"subjects), {args.model}: {args.folds}-fold cross-validation over subjects")
    drawn = plots.save_figure(plots.stamped_cross_validation(cv, data, title), scratch / f"cv_{args.model}.png")
    publish_figure(drawn, args.figures / f"cv_{args.model}.png")
    print(f"cross-validated in {cv.summary['seconds']:.0f} s")
    settings = ({"profile": config.profile, "backbone": config.backbone, "backbone_end": config.backbone_end,
                 "image_size": config.image_size, "finetune_epochs": config.finetune_epochs}
                if args.model == "cnn" else None)
    write_results(f"real_cv_{args.model}", {**cv.summary, "cnn_settings": settings},
                  args.out)
    models_figure(data, args, scratch)


def models_figure(data, args, scratch: Path) -> None:
    """Every model measured so far (the ``real_cv_<model>.json`` files in --out), side by side, into the docs."""
    from alzmri.evaluation.compare import MODELS
    from alzmri.reporting import plots

    found = {m: json.loads((args.out / f"real_cv_{m}.json").read_text()) for m in MODELS
             if (args.out / f"real_cv_{m}.json").exists()}
    found = {m: s for m, s in found.items() if s["data"]["fingerprint"] == data.fingerprint}
    title = (f"REAL source set ({data.root.name}): {args.folds}-fold cross-validation over subjects, pooled "
             "out-of-fold, 95 % intervals over subjects")
    caption = f"{plots.data_caption(data.synthetic, data.root, data.fingerprint)} · not a diagnosis"
    drawn = plots.save_figure(plots.cv_models(found, title, caption), scratch / "cv_models.png")
    publish_figure(drawn, args.figures / "cv_models.png")


if __name__ == "__main__":
    main()
