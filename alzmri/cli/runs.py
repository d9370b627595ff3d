"""Commands about runs: ``train``, ``demo`` (the whole story), ``evaluate`` and ``runs`` (the list)."""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from alzmri.cli.options import add_training_options, overrides, train_config
from alzmri.config import RUN_MODELS, VOTING_METHODS, default_runs_dir
from alzmri.files import ensure_writable


def train(args: argparse.Namespace) -> int:
    """Train a run with the chosen preset and options, and print what was saved."""
    from alzmri.models.runs import read_metadata
    from alzmri.models.training import train as train_run
    from alzmri.reporting.reports import training_summary

    config = train_config(args).replace(**overrides(args, "model"))
    run_dir = train_run(config, run_name=args.run_name, strategy=args.strategy, replace=args.replace)
    print(training_summary(run_dir, read_metadata(run_dir)))
    return 0


def add_train(sub) -> None:
    """The ``train`` command's options."""
    p = sub.add_parser("train", help="train a run (two stages) and save it under saved_models/")
    add_training_options(p)
    p.add_argument("--model", choices=list(RUN_MODELS),
                   help="cnn (default: the slice classifier, one answer per slice) or person (the model of the person: "
                        "a shared slice CNN over a subject's stack, one answer per subject; evaluate and predict "
                        "--per-subject use it)")
    p.set_defaults(func=train)


def demo(args: argparse.Namespace) -> int:
    """The whole story on synthetic data (:func:`alzmri.demo.run_demo`)."""
    from alzmri.demo import run_demo

    run_demo(train_config(args), run_name=args.run_name, strategy=args.strategy, replace=args.replace,
             compare_splits=args.compare_splits)
    return 0


def add_demo(sub) -> None:
    """The ``demo`` command's options."""
    p = sub.add_parser("demo", help="generate the synthetic data, audit, train, evaluate and explain the demo preset")
    add_training_options(p)
    p.add_argument("--compare-splits", dest="compare_splits", action="store_true",
                   help="also run the lesson with the CNN: subject and naive splits, true and shuffled labels "
                        "(three more trainings)")
    p.set_defaults(func=demo)


def evaluate(args: argparse.Namespace) -> int:
    """Evaluate a run on its own test split (or other data), draw its figures while the run is locked and print the
    metrics."""
    from alzmri.evaluation.evaluate import evaluate_run
    from alzmri.leakage.prepared import prepare_data
    from alzmri.models.runs import METRICS_FILE, load_run, run_config
    from alzmri.reporting.plots import save_evaluation_figures
    from alzmri.reporting.reports import print_evaluation

    if args.figures:
        ensure_writable(args.figures, "--figures")
    data = None
    if args.data:
        run = load_run(args.run)
        data = prepare_data(run_config(run.metadata, run.path).replace(data=args.data))
    draw = functools.partial(save_evaluation_figures, extra_folders=[Path(args.figures)] if args.figures else [])
    evaluation = evaluate_run(args.run, split=args.split, data=data, layer_name=args.layer, voting=args.voting,
                              voting_threshold=args.voting_threshold, draw=draw)
    print_evaluation(evaluation)
    print(f"metrics: {evaluation.run.path / METRICS_FILE} (under {evaluation.key!r})")
    print(f"figures: {sorted({str(p.parent) for p in evaluation.figures})}")
    return 0


def add_evaluate(sub) -> None:
    """The ``evaluate`` command's options."""
    p = sub.add_parser("evaluate", help="metrics with 95 %% intervals, figures and Grad-CAM faithfulness of a run")
    p.add_argument("run", help="a run folder under saved_models/")
    p.add_argument("--data", help="evaluate on other data ('demo', 'kaggle', 'hf' or a path)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--figures", help="also write the figures to this folder")
    p.add_argument("--layer", help="feature map Grad-CAM explains (default: the last block output with >= 7x7 cells)")
    p.add_argument("--voting", choices=list(VOTING_METHODS),
                   help="one answer per subject: soft (the mean of its slices' probabilities; the default) or weighted "
                        "(slice positions weighted by their validation balanced accuracy)")
    p.add_argument("--voting-threshold", dest="voting_threshold", type=float,
                   help="weighted voting drops slice positions whose validation balanced accuracy is below this "
                        "(default 0.25, chance for four classes)")
    p.set_defaults(func=evaluate)


def runs(args: argparse.Namespace) -> int:
    """List the finished runs; only runs on the same data and protocol have comparable numbers."""
    from alzmri.models.runs import runs_table
    from alzmri.reporting.reports import print_runs

    folder = Path(args.dir or default_runs_dir())
    print_runs(folder, *runs_table(folder), as_json=args.json)
    return 0


def add_runs(sub) -> None:
    """The ``runs`` command's options."""
    p = sub.add_parser("runs", help="a table of the saved runs: what each is, its protocol and test score")
    p.add_argument("--dir", help="runs folder (default: $ALZMRI_RUNS or saved_models)")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(func=runs)
