"""Commands about data: ``synth`` (the synthetic set), ``audit`` (copies, subjects, leaks), ``compare``
(one model on every split protocol, true vs shuffled labels) and ``cv`` (every subject tested once)."""

from __future__ import annotations

import argparse
from pathlib import Path

from alzmri.cli.options import add_model_options, add_profile, check_output_file, overrides, train_config
from alzmri.config import SUBJECT_METHODS, SYNTH_SEED, get_config
from alzmri.errors import SettingsError
from alzmri.files import ensure_writable

SYNTH_OPTIONS = ("n_per_class", "size", "copies", "slices", "balance")
DATA_HELP = "'demo', 'kaggle', 'hf', a folder-per-class directory or parquet files"
MODEL_HELP = ("probe: 1-nearest-neighbour, thumbnail: logistic regression on thumbnails, atrophy: logistic regression "
              "on atrophy measurements per subject (under a minute each); cnn: the classifier with the preset (the model "
              "options below apply to it alone)")


def synth(args: argparse.Namespace) -> int:
    """Generate the synthetic demo dataset (sizes from the preset unless given, checked by the config)."""
    from alzmri.data import synthetic
    from alzmri.data.datasets import index_dataset
    from alzmri.reporting.reports import print_synthetic

    config = get_config(None, **{f"synth_{name}": value for name, value in vars(args).items()
                                 if name in SYNTH_OPTIONS and value is not None},
                        seed=args.seed if args.seed is not None else SYNTH_SEED)
    grid = Path(args.grid).with_suffix(".png") if args.grid else None
    if grid:
        ensure_writable(grid.parent, "--grid's folder")  # before the work, not after it
    root = synthetic.generate_from_config(args.out, config, layout=args.layout, overwrite=args.force)
    index = index_dataset(root, progress=False) if grid else None
    originals = None if index is None else index.frame[index.frame["kind"] == "original"]
    print_synthetic(root, synthetic.read_manifest(root), config.synth_slices, grid, originals)
    return 0


def add_synth(sub) -> None:
    """The ``synth`` command's options."""
    p = sub.add_parser("synth", help="generate the synthetic demo dataset (Kaggle V2 layout)")
    p.add_argument("--out", required=True, help="folder to write (created atomically)")
    defaults = get_config(None)  # the defaults shown are the preset's, which the command uses
    p.add_argument("--n-per-class", type=int, help=f"mean originals per class (default {defaults.synth_n_per_class})")
    p.add_argument("--size", type=int, help=f"image side in pixels (default {defaults.synth_size})")
    p.add_argument("--seed", type=int, help=f"everything is drawn from it (default {SYNTH_SEED})")
    p.add_argument("--layout", choices=["v2", "v1", "source"], default="v2",
                   help="v2: data/val originals + data/train copies; v1; source: the source set's own "
                        "slice-level train/test folders and file names")
    p.add_argument("--slices", type=int, help=f"consecutive slices per subject (default {defaults.synth_slices})")
    p.add_argument("--balance", choices=["original", "equal"],
                   help="the real set's class imbalance (default) or equal classes")
    p.add_argument("--copies", type=float,
                   help=f"augmented images per class / mean originals per class (default {defaults.synth_copies:g})")
    p.add_argument("--grid", help="also save a grid of sample images to this PNG")
    p.add_argument("--force", action="store_true", help="replace an existing folder")
    p.set_defaults(func=synth)


def audit(args: argparse.Namespace) -> int:
    """Index a dataset, find its copies and subjects, and audit every split protocol it allows."""
    from alzmri.leakage.audit import audit_dataset, audit_given_split
    from alzmri.reporting.reports import print_audit, print_split_audit

    config = get_config(args.profile, **overrides(args, "seed", "duplicate_threshold", "subjects"))
    check_output_file(args.save_csv, "--save-csv")
    check_output_file(args.json, "--json")
    if args.split_file or args.library_split:
        if args.save_csv:
            raise SettingsError("--save-csv lists the protocols' splits; with --split-file or --split use --json, "
                                "which lists the split's files")
        print_split_audit(audit_given_split(args.data, config, args.split_file, args.library_split), args.json)
        return 0
    if args.json:
        raise SettingsError("--json writes the audit of a split made elsewhere: give --split-file or --split")
    print_audit(audit_dataset(args.data, config), args.show, args.save_csv)
    return 0


def add_given_split(p: argparse.ArgumentParser) -> None:
    """--split-file and --split: a split made elsewhere (shared by ``audit`` and ``compare``)."""
    from alzmri.leakage.library_splits import SPEC_HELP

    given = p.add_mutually_exclusive_group()
    given.add_argument("--split-file", dest="split_file", action="append", metavar="FILE",
                       help="a split made elsewhere: a CSV with path (or file) and split columns, or NAME=FILE text "
                            "lists of paths, the option once per split (train=a.txt, test=b.txt)")
    given.add_argument("--split", dest="library_split", metavar="SPEC",
                       help=f"the split a library draws on the data, reproduced file for file: {SPEC_HELP}")


def add_audit(sub) -> None:
    """The ``audit`` command's options."""
    p = sub.add_parser("audit", help="class counts, skipped files, copies, subjects and the leakage audit")
    p.add_argument("data", help=DATA_HELP)
    add_profile(p)
    p.add_argument("--seed", type=int)
    p.add_argument("--duplicate-threshold", dest="duplicate_threshold", type=float)
    p.add_argument("--subjects", choices=list(SUBJECT_METHODS),
                   help="how to find each slice's subject (default auto: manifest, else names, else similarity)")
    p.add_argument("--save-csv", dest="save_csv", help="write one row per image (subject, split per protocol)")
    p.add_argument("--show", type=int, default=10, help="how many skipped/converted files to list")
    add_given_split(p)
    p.add_argument("--json", help="with --split-file or --split: write the audit, each split's files and the counts "
                                  "per pair to this file")
    p.set_defaults(func=audit)


def compare(args: argparse.Namespace) -> int:
    """Score one model on every split protocol with true and with subject-shuffled labels."""
    config = train_config(args).replace(data=args.data, shuffle_labels=False)
    check_output_file(args.json, "--json")
    if args.figures:
        ensure_writable(args.figures, "--figures")
    report_comparison(config, args.protocols, args.model, args.figures, args.json, args.split_file, args.library_split)
    return 0


def report_comparison(config, protocols: list[str] | None, model: str, figures: str | None,
                      json_path: str | None, split_file: list[str] | None = None, split: str | None = None) -> None:
    """``alzmri compare``: prepare the data, score ``model`` on every protocol with true and with shuffled labels,
    and print the comparison with its lesson (its figure into ``figures``, by default a folder named after the data).

    Args:
        config: the preset and model budget, with the data.
        protocols: which protocols (default: every one the data allows; ``subject`` beside a split made elsewhere).
        model: one of :data:`alzmri.evaluation.compare.MODELS`.
        figures: the figure's folder.
        json_path: also write the comparison as JSON there.
        split_file: a split made elsewhere, as a file list (:func:`alzmri.leakage.audit.given_split`), scored first.
        split: or as a library's split (``keras:0.2:123``).
    """
    from alzmri.evaluation.compare import compare_protocols, comparison_json, describe_model
    from alzmri.leakage.audit import given_split
    from alzmri.reporting.plots import data_caption
    from alzmri.reporting.reports import print_comparison, save_json
    from alzmri.safe_text import one_line

    data = _prepared(config)
    given = [given_split(data, config, split_file, split)] if split_file or split else []
    for listed in given:
        held = "test" if (listed.split == "test").any() else "val"
        print(f"Split {one_line(listed.name)}: {listed.description}; its {held} split is the one scored")
        for note in listed.notes:
            print(f"  note: {note}")
    described = describe_model(model, config)
    print(f"Model: {model} ({described}); each split scored with true and with subject-shuffled labels "
          "(same split, same budget)")
    table = compare_protocols(data, config, protocols, model=model, given=given)
    print_comparison(table, model, f"{data_caption(data.synthetic, data.root, data.fingerprint)} · {described}",
                     [_figures_folder(figures, "compare", data)])
    if json_path:
        save_json(json_path, comparison_json(table, model))
    _closing_notes(data)


def _prepared(config):
    """The data ``config`` names, prepared (copies, subjects, splits), and said in one line."""
    from alzmri.leakage.prepared import prepare_data
    from alzmri.safe_text import one_line

    data = prepare_data(config)
    print(f"Data {one_line(data.root)}: {data.subjects.describe(data.frame)}")
    return data


def _figures_folder(figures: str | None, command: str, data) -> Path:
    """``--figures``, or by default beside nothing else: ``figures/<command>-<data>-<fingerprint>/``, a folder
    named after the data, never over another data's figures."""
    return Path(figures or Path("figures") / f"{command}-{Path(data.root).name}-{data.fingerprint[:8]}")


def _closing_notes(data) -> None:
    """What the numbers of ``compare`` and ``cv`` are not: patients' (on synthetic data), a diagnosis (always)."""
    from alzmri.models.provenance import DISCLAIMER

    if data.synthetic:
        print("On SYNTHETIC demo data: the numbers describe the method, not patients.")
    print(DISCLAIMER)


def add_compare(sub) -> None:
    """The ``compare`` command's options."""
    from alzmri.evaluation.compare import MODELS
    from alzmri.leakage.protocols import PROTOCOLS

    p = sub.add_parser("compare", help="the leakage lesson: one model on every split protocol, true vs "
                                       "subject-shuffled labels")
    p.add_argument("data", help=DATA_HELP)
    p.add_argument("--protocols", nargs="+", choices=list(PROTOCOLS),
                   help="default: every one the data allows (subject alone beside --split-file or --split)")
    add_given_split(p)
    p.add_argument("--model", choices=list(MODELS), default="probe",
                   help=f"{MODEL_HELP} (two trainings per protocol, finished runs reused)")
    add_model_options(p)
    p.add_argument("--json", help="also write {protocol: {...}} to this file")
    p.add_argument("--figures", help="folder for compare_<model>.png (default: figures/compare-<data>-<fingerprint>/)")
    p.set_defaults(func=compare)


def cv(args: argparse.Namespace) -> int:
    """Cross-validate one model over subjects: every subject tested once, scored per slice and per subject."""
    given = {key: value for key, value in (("cv_folds", args.folds), ("cv_repeats", args.repeats)) if value is not None}
    config = train_config(args).replace(data=args.data, shuffle_labels=False, **overrides(args, "subjects"), **given)
    check_output_file(args.json, "--json")
    if args.figures:
        ensure_writable(args.figures, "--figures")
    report_cv(config, args.model, args.figures, args.json, args.against)
    return 0


def report_cv(config, model: str, figures: str | None, json_path: str | None, against: str | None = None) -> None:
    """``alzmri cv``: prepare the data, cross-validate ``model`` over subjects, print the per-fold table and both
    levels, save the figure (by default under ``figures/cv-<data>-<fingerprint>/``) and the JSON.

    Args:
        config: the preset and model budget, with the data and the number of folds (``cv_folds``).
        model: one of :data:`alzmri.evaluation.compare.MODELS`.
        figures: the figure's folder.
        json_path: also write the summary as JSON there.
        against: a reference model scored on the same folds (the paired differences).
    """
    from alzmri.evaluation.cv import cross_validate
    from alzmri.reporting import plots
    from alzmri.reporting.reports import save_json
    from alzmri.reporting.summaries import format_cv

    data = _prepared(config)
    result = cross_validate(data, config, model, against=against)
    summary = result.summary
    print(f"Model: {model} ({summary['model_description']}), {summary['folds']} folds over subjects"
          + (f", drawn {summary['repeats']} times" if summary["repeats"] > 1 else ""))
    print(format_cv(summary))
    fig = plots.stamped_cross_validation(result, data)
    written = plots.save_figure_to(fig, [_figures_folder(figures, "cv", data)], f"cv_{model}.png")
    print(f"figure: {', '.join(map(str, written))}")
    if json_path:
        save_json(json_path, summary)
    _closing_notes(data)


def add_cv(sub) -> None:
    """The ``cv`` command's options."""
    from alzmri.evaluation.compare import MODELS

    p = sub.add_parser("cv", help="k-fold cross-validation over subjects: every subject tested once, scored per "
                                  "slice and per subject")
    p.add_argument("data", help=DATA_HELP)
    p.add_argument("--folds", type=int, help=f"folds over subjects (default {get_config(None).cv_folds})")
    p.add_argument("--model", choices=list(MODELS), default="probe",
                   help=f"{MODEL_HELP} (one training per fold: a run each, finished runs reused)")
    p.add_argument("--repeats", type=int, help=f"draw the folds this many times with different seeds and pool the "
                                               f"tests (default {get_config(None).cv_repeats})")
    p.add_argument("--against", choices=list(MODELS), help="a reference model scored on the same folds: the paired "
                                                           "difference (bootstrap over subjects, DeLong's test)")
    p.add_argument("--subjects", choices=list(SUBJECT_METHODS),
                   help="how to find each slice's subject (default auto: manifest, else names, else similarity)")
    add_model_options(p)
    p.add_argument("--json", help="also write the summary to this file")
    p.add_argument("--figures", help="folder for cv_<model>.png (default: figures/cv-<data>-<fingerprint>/)")
    p.set_defaults(func=cv)
