"""Command line: ``python -m alzmri <command>``. Each command is a thin call into the package."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import pandas as pd

from alzmri import __version__
from alzmri.config import PRESETS, SUBJECT_METHODS, get_config
from alzmri.errors import AlzmriError
from alzmri.tfenv import quiet_tensorflow
from alzmri.files import NotWritableError, ensure_writable, is_disk_full
from alzmri.models.classifier import describe_backbone
from alzmri.models.provenance import DISCLAIMER
from alzmri.reporting.reports import print_evaluation, training_summary
from alzmri.evaluation.compare import MODELS, PROBE, compare_protocols
from alzmri.leakage.splits import PROTOCOLS
from alzmri.safe_text import one_line



def _synth(args: argparse.Namespace) -> int:
    """Generate the synthetic demo dataset (sizes from the preset unless given, checked by the config)."""
    from alzmri.reporting import plots
    from alzmri.data import synthetic
    from alzmri.data.datasets import index_dataset

    config = get_config(None, **{f"synth_{name}": value for name, value in vars(args).items()
                                 if name in ("n_per_class", "size", "copies", "slices", "balance") and value is not None},
                        **({"seed": args.seed} if args.seed is not None else {}))
    grid = Path(args.grid).with_suffix(".png") if args.grid else None
    if grid:
        ensure_writable(grid.parent, "--grid's folder")  # before the work, not after it
    root = synthetic.generate_dataset(args.out, n_per_class=config.synth_n_per_class, size=config.synth_size,
                                      seed=config.seed if args.seed is not None else 0, layout=args.layout,
                                      balance=config.synth_balance, copies=config.synth_copies,
                                      slices=config.synth_slices, overwrite=args.force)
    manifest = synthetic.read_manifest(root)
    print(f"SYNTHETIC demo dataset in {one_line(root)} ({len(manifest)} images of {manifest['subject'].nunique()} subjects x "
          f"{config.synth_slices} slices; manifest.csv, masks in _masks/)")
    print(manifest.groupby(["subset", "class_name"]).size().unstack(fill_value=0).to_string())
    if grid:
        index = index_dataset(root, progress=False)
        originals = index.frame[index.frame["kind"] == "original"]
        fig = plots.sample_grid(originals, title="SYNTHETIC demo slices (alzmri.data.synthetic), one row per class")
        print(f"grid: {plots.save_figure(fig, grid)}")
    return 0


def _check_output_file(path: str | None, option: str) -> None:
    """An output file's folder must be writable and the file not a folder, checked before the work starts."""
    if path:
        ensure_writable(Path(path).parent, f"the folder of {option}")
        if Path(path).is_dir():
            raise NotWritableError(f"{path} ({option}) is a folder, not a file")


def _print_index(index, caught: list, show: int) -> None:
    """Class counts, the files that were skipped or converted while indexing, and ``caught`` warnings."""
    print(f"\nDataset {one_line(index.root)}  (fingerprint {index.fingerprint}, {len(index.frame)} usable images)")
    print("\nImages per subset and class:")
    print(index.class_counts().to_string())
    print(f"\nSkipped files: {len(index.skipped)}   converted files: {len(index.converted)}")
    for _, row in index.skipped.head(show).iterrows():
        print(f"  skipped {row['path']}: {row['reason']}")
    for _, row in index.converted.head(show).iterrows():
        print(f"  converted {row['path']} (mode {row['mode']})")
    for w in caught:
        print(f"  note: {w.message}")


def _audit(args: argparse.Namespace) -> int:
    """Index a dataset, find its copies and subjects, and audit every split protocol it allows."""
    from alzmri.leakage import copies as leakage
    from alzmri.data.datasets import index_dataset, resolve_data
    from alzmri.leakage.splits import PreparedData, annotate, audit

    config = get_config(args.profile, **_overrides(args, "seed", "duplicate_threshold", "subjects"))
    _check_output_file(args.save_csv, "--save-csv")
    root = resolve_data(args.data, config=config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skipped and converted files are listed below
        index = index_dataset(root)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame, features, recovery = annotate(index, config)
    _print_index(index, caught, args.show)
    data = PreparedData(index, frame, config.split, features, recovery)
    copies = frame[frame["kind"] == "augmented"]
    print(f"\nOriginals: {int((frame['kind'] == 'original').sum())}   augmented copies: {len(copies)}, "
          f"{int((copies['original'] != '').sum())} matched to their original")
    quality = leakage.mapping_quality(index.frame, features.copy, config.duplicate_threshold)
    if quality:
        print(f"Known copy→original mapping (synthetic manifest) recovered with precision {quality[0]:.3f}, "
              f"recall {quality[1]:.3f}")
    print(f"\nSubjects: {recovery.describe(frame)}")
    print(recovery.per_class(frame).to_string())
    if recovery.is_truth:
        print(_similarity_check(index, frame, features, config))
    table, per_image = audit(data, config)
    print(f"\nLeakage audit: evaluation images with a copy / their subject in train; max_similarity and "
          f"at_neighbour_level (slice correlation >= {recovery.evidence.threshold:.3f}) use neither:")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.save_csv:
        per_image.to_csv(args.save_csv, index=False)
        print(f"\nOne row per image: {args.save_csv}")
    leaky = table[(table["pair"] == "train→test") & (table["subject_in_train"] > 0)]
    for row in leaky.to_dict("records"):  # records keep integer counts integer (iterrows makes them floats)
        print(f"The {row['protocol']} split puts {row['subjects_in_train']} of its {row['subjects']} test subjects "
              f"in train ({row['subject_in_train']} of {row['images']} test images).")
    print(f"Only a split with no test subject in train estimates performance on unseen people: "
          f"the default '{config.split}' split is built that way.")
    return 0


def _similarity_check(index, frame: pd.DataFrame, features, config) -> str:
    """How well the similarity method alone recovers the known subjects (ARI), shown beside the truth."""
    from alzmri.leakage.subjects import adjusted_rand, recover_subjects

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        guess = recover_subjects(index.root, frame, features.slice, "similarity")
    originals = frame["kind"].to_numpy() == "original"
    ari = adjusted_rand(frame["subject"].to_numpy()[originals], guess.subject[originals])
    found = len(set(guess.subject[originals]))
    return f"Without the ground truth, similarity alone finds {found} subjects: adjusted Rand index {ari:.3f}."


def _train_config(args: argparse.Namespace):
    """The preset named by --profile with the training options that were given."""
    overrides = _overrides(args, "data", "backbone", "image_size", "seed", "split", "batch_size",
                           "head_epochs", "finetune_epochs", "finetune_blocks", "tensorboard", "shuffle_labels")
    if args.epochs is not None:
        overrides["finetune_epochs"] = args.epochs
    for name in ("weights", "backbone_end"):  # 'none' on the command line is None in the config
        value = getattr(args, name)
        if value is not None:
            overrides[name] = None if value.lower() == "none" else value
    return get_config(args.profile, **overrides)


def _train(args: argparse.Namespace) -> int:
    """Train a run with the chosen preset and options."""
    import json

    from alzmri.models.training import train

    run_dir = train(_train_config(args), run_name=args.run_name, strategy=args.strategy, replace=args.replace)
    print(training_summary(run_dir, json.loads((run_dir / "metadata.json").read_text())))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    """Evaluate a saved run and write its figures (drawn while the run is locked, so they are of the run scored)."""
    from alzmri.config import Config
    from alzmri.reporting.plots import evaluate_with_figures
    from alzmri.models.classifier import load_run
    from alzmri.leakage.splits import prepare_data

    if args.figures:
        ensure_writable(args.figures, "--figures")
    data = None
    if args.data:
        config = Config.from_dict(load_run(args.run).metadata["config"]).replace(data=args.data)
        data = prepare_data(config)
    evaluation = evaluate_with_figures(args.run, [Path(args.figures)] if args.figures else [], split=args.split,
                                       data=data, layer_name=args.layer)
    print_evaluation(evaluation)
    print(f"metrics: {evaluation.run.path / 'metrics.json'} (under {evaluation.key!r})")
    print(f"figures: {sorted({str(p.parent) for p in evaluation.figures})}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    """Predict the class of image files, saying which run answers, what it learnt from and whether each slice looks
    like its training data; unreadable files are listed and make the exit status 1."""
    import json

    from alzmri.evaluation.evaluate import predict_report
    from alzmri.data.pipeline import collect_image_files
    from alzmri.models.classifier import load_run

    files = collect_image_files(args.images)  # a bad input is named before the model is loaded
    report = predict_report(load_run(args.run), files)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(report.as_text())
    _print_unreadable(report.problems)
    return 1 if report.problems else 0


def _print_unreadable(problems: list[tuple[Path, str]]) -> None:
    """Say which input files were skipped and why (to stderr)."""
    if problems:
        print(f"{len(problems)} file(s) could not be read and were skipped:", file=sys.stderr)
        for _, message in problems:
            print(f"  {message}", file=sys.stderr)


def overlay_names(files: list[Path], suffix: str = "_gradcam.png") -> list[str]:
    """One output name per input file, never shared: its stem, or where stems collide its path from the inputs'
    common folder (``a/slice.jpg`` → ``a_slice_jpg_gradcam.png``), numbered if the same file comes twice."""
    resolved = [p.resolve() for p in files]
    common = Path(os.path.commonpath([str(p.parent) for p in resolved]))
    stems = [p.stem for p in files]
    names = [p.stem if stems.count(p.stem) == 1 else "_".join(r.relative_to(common).parts).replace(".", "_")
             for p, r in zip(files, resolved)]
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return [name + suffix for name in unique]


def _runs(args: argparse.Namespace) -> int:
    """List the finished runs; only runs on the same data and protocol have comparable numbers."""
    import json

    from alzmri.models.cards import runs_table
    from alzmri.config import default_runs_dir

    folder = Path(args.dir or default_runs_dir())
    table, skipped = runs_table(folder)
    if args.json:
        print(json.dumps({"runs_dir": str(folder), "runs": json.loads(table.to_json(orient="records")),
                          "skipped": [{"folder": name, "reason": why} for name, why in skipped]}, indent=2))
        return 0
    for name, why in skipped:
        print(f"note: skipped {folder / name}: {why}", file=sys.stderr)
    if table.empty:
        print(f"No finished runs in {folder} (train one: python -m alzmri demo)")
        return 0
    print(f"Finished runs in {folder} (balanced accuracy on each run's own test split, 95 % interval over "
          "subjects; compare only rows with the same data and protocol):")
    print(table.astype(object).where(table.notna(), "-").to_string(
        index=False, formatters={c: lambda v: v if isinstance(v, str) else f"{v:.3f}"
                                 for c in ("balanced_accuracy", "ci_low", "ci_high")}))
    return 0


def _gradcam(args: argparse.Namespace) -> int:
    """Write Grad-CAM overlays for image files; their titles and the output name the run, its data and the slices
    that look unlike its training data."""
    import json

    from alzmri.reporting import plots
    from alzmri.config import CLASS_NAMES
    from alzmri.evaluation.evaluate import report_images
    from alzmri.explain.gradcam import check_layer, gradcam_batches
    from alzmri.data.pipeline import collect_image_files, decode_image_file, read_readable_images
    from alzmri.models.classifier import load_run

    inputs = collect_image_files(args.images)  # a bad input and an unwritable --out are named before the model loads
    out = ensure_writable(args.out, "--out")
    run = load_run(args.run)
    check_layer(run.model, args.layer)  # a wrong --layer is found before the work
    images, files, problems = read_readable_images(inputs, run.image_size)
    _print_unreadable(problems)
    if not files:
        return 1
    report = report_images(run, images, files, problems)
    title = report.provenance.figure_title("Grad-CAM (red: evidence for the predicted class)")
    unlike = [False] * len(files) if report.scores is None else (~report.scores.in_distribution).tolist()
    names, written = overlay_names(files), []
    for start, maps, chosen in gradcam_batches(run.model, images, layer_name=args.layer, plus_plus=args.plus_plus):
        for i, heat, cls in zip(range(start, start + len(maps)), maps, chosen):  # drawn at the file's own shape
            label = f"{files[i].name}\n→ {CLASS_NAMES[cls]}" + ("\nUNLIKE its training data" if unlike[i] else "")
            fig = plots.gradcam_gallery([decode_image_file(files[i])], heat[None], [label], title=title)
            written.append(str(plots.save_figure(fig, out / names[i])))
    report.table.insert(1, "overlay", written)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(report.provenance.text)
        print("\n".join(p + ("  (unlike its training data)" if odd else "") for p, odd in zip(written, unlike)))
        print("\n".join(report.footer()))
    return 1 if problems else 0


def _demo(args: argparse.Namespace) -> int:
    """The whole story on synthetic data (:func:`alzmri.demo.run_demo`)."""
    from alzmri.demo import run_demo

    run_demo(_train_config(args), run_name=args.run_name, strategy=args.strategy, replace=args.replace,
             compare_splits=args.compare_splits)
    return 0


def _compare(args: argparse.Namespace) -> int:
    """Score one model on every split protocol with true and with subject-shuffled labels."""
    from alzmri.reporting.plots import data_caption
    from alzmri.reporting.reports import print_comparison
    from alzmri.leakage.splits import prepare_data

    config = _train_config(args).replace(data=args.data, shuffle_labels=False)
    _check_output_file(args.json, "--json")
    if args.figures:
        ensure_writable(args.figures, "--figures")
    data = prepare_data(config)
    print(f"Data {one_line(data.root)}: {data.subjects.describe(data.frame)}")
    model = PROBE if args.model == "probe" else \
        f"{describe_backbone(config.backbone, config.backbone_end)}, {config.profile} preset"
    print(f"Model: {args.model} ({model}); each protocol scored with true and with subject-shuffled labels "
          "(same split, same budget)")
    table = compare_protocols(data, config, args.protocols, model=args.model)
    # by default beside nothing else: a folder named after the data, never over another data's figures
    folder = Path(args.figures or Path("figures") / f"compare-{Path(data.root).name}-{data.fingerprint[:8]}")
    print_comparison(table, args.model, f"{data_caption(data.synthetic, data.root, data.fingerprint)} · {model}",
                     [folder], args.json)
    if data.synthetic:
        print("On SYNTHETIC demo data: the numbers describe the method, not patients.")
    print(DISCLAIMER)
    return 0


def _add_model_options(p: argparse.ArgumentParser) -> None:
    """The preset and the model's budget: shared by ``train``, ``demo`` and ``compare``."""
    p.add_argument("--profile", choices=sorted(PRESETS),
                   help="preset (default: $ALZMRI_PROFILE or demo)")
    p.add_argument("--weights", help="'imagenet', 'none' or a path to a local weights file")
    p.add_argument("--backbone", help="any supported keras.applications name, e.g. ResNet152V2")
    p.add_argument("--backbone-end", dest="backbone_end",
                   help="keep the backbone up to the end of this stage, e.g. conv3 ('none': all of it)")
    p.add_argument("--epochs", type=int, help="fine-tuning (stage 2) epochs")
    p.add_argument("--head-epochs", dest="head_epochs", type=int, help="stage 1 (head only) epochs")
    p.add_argument("--finetune-blocks", dest="finetune_blocks", type=int, help="top blocks to unfreeze (-1: all)")
    p.add_argument("--image-size", dest="image_size", type=int)
    p.add_argument("--batch-size", dest="batch_size", type=int)
    p.add_argument("--seed", type=int)


def _add_training_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``train`` and ``demo``."""
    _add_model_options(p)
    p.add_argument("--data", help="'demo', 'kaggle', 'hf' or a path (default: the preset's)")
    p.add_argument("--split", choices=list(PROTOCOLS),
                   help="subject (default: no brain in two splits), image, official or naive")
    p.add_argument("--shuffle-labels", dest="shuffle_labels", action="store_true", default=None,
                   help="give every subject a random class: a model that still beats chance memorises subjects")
    p.add_argument("--run-name", dest="run_name", help="folder name under saved_models/ (same name resumes)")
    p.add_argument("--replace", action="store_true",
                   help="train a finished run of this name again (it is kept until the new one is saved)")
    p.add_argument("--tensorboard", action="store_true", default=None,
                   help="also log to saved_models/tensorboard/<run-name>/ (view with `tensorboard --logdir`)")
    p.add_argument("--strategy", choices=["auto", "none", "mirrored"], default="auto",
                   help="tf.distribute strategy (auto: TPU or several GPUs when present)")


def _overrides(args: argparse.Namespace, *names: str) -> dict:
    """Config overrides for the CLI options that were given."""
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(prog="alzmri", description=f"Alzheimer's MRI transfer learning. {DISCLAIMER}")
    parser.add_argument("--version", action="version", version=f"alzmri {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="generate the synthetic demo dataset (Kaggle V2 layout)")
    p.add_argument("--out", required=True, help="folder to write (created atomically)")
    synth = get_config(None)  # the defaults shown are the preset's, which the command uses
    p.add_argument("--n-per-class", type=int, help=f"mean originals per class (default {synth.synth_n_per_class})")
    p.add_argument("--size", type=int, help=f"image side in pixels (default {synth.synth_size})")
    p.add_argument("--seed", type=int, help="everything is drawn from it (default 0)")
    p.add_argument("--layout", choices=["v2", "v1", "source"], default="v2",
                   help="v2: data/val originals + data/train copies; v1; source: the source set's own "
                        "slice-level train/test folders and file names")
    p.add_argument("--slices", type=int, help=f"consecutive slices per subject (default {synth.synth_slices})")
    p.add_argument("--balance", choices=["original", "equal"],
                   help="the real set's class imbalance (default) or equal classes")
    p.add_argument("--copies", type=float,
                   help=f"augmented images per class / mean originals per class (default {synth.synth_copies:g})")
    p.add_argument("--grid", help="also save a grid of sample images to this PNG")
    p.add_argument("--force", action="store_true", help="replace an existing folder")
    p.set_defaults(func=_synth)

    p = sub.add_parser("audit", help="class counts, skipped files, copies, subjects and the leakage audit")
    p.add_argument("data", help="'demo', 'kaggle', 'hf', a folder-per-class directory or parquet files")
    p.add_argument("--profile", choices=sorted(PRESETS), help="preset (default: $ALZMRI_PROFILE or demo)")
    p.add_argument("--seed", type=int)
    p.add_argument("--duplicate-threshold", dest="duplicate_threshold", type=float)
    p.add_argument("--subjects", choices=list(SUBJECT_METHODS),
                   help="how to find each slice's subject (default auto: manifest, else names, else similarity)")
    p.add_argument("--save-csv", dest="save_csv", help="write one row per image (subject, split per protocol)")
    p.add_argument("--show", type=int, default=10, help="how many skipped/converted files to list")
    p.set_defaults(func=_audit)

    p = sub.add_parser("train", help="train a run (two stages) and save it under saved_models/")
    _add_training_options(p)
    p.set_defaults(func=_train)

    p = sub.add_parser("demo", help="generate the synthetic data, audit, train, evaluate and explain the demo preset")
    _add_training_options(p)
    p.add_argument("--compare-splits", dest="compare_splits", action="store_true",
                   help="also run the lesson with the CNN: subject and naive splits, true and shuffled labels "
                        "(three more trainings)")
    p.set_defaults(func=_demo)

    p = sub.add_parser("compare", help="the leakage lesson: one model on every split protocol, true vs "
                                       "subject-shuffled labels")
    p.add_argument("data", help="'demo', 'kaggle', 'hf', a folder-per-class directory or parquet files")
    p.add_argument("--protocols", nargs="+", choices=list(PROTOCOLS), help="default: every one the data allows")
    p.add_argument("--model", choices=list(MODELS), default="probe",
                   help=f"probe: {PROBE} (seconds); cnn: the classifier with the "
                        "preset (two trainings per protocol, finished runs reused)")
    _add_model_options(p)
    p.add_argument("--json", help="also write {protocol: {...}} to this file")
    p.add_argument("--figures", help="folder for compare_<model>.png (default: figures/compare-<data>-<fingerprint>/)")
    p.set_defaults(func=_compare)

    p = sub.add_parser("runs", help="a table of the saved runs: what each is, its protocol and test score")
    p.add_argument("--dir", help="runs folder (default: $ALZMRI_RUNS or saved_models)")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(func=_runs)

    p = sub.add_parser("evaluate", help="metrics with 95 %% intervals, figures and Grad-CAM faithfulness of a run")
    p.add_argument("run", help="a run folder under saved_models/")
    p.add_argument("--data", help="evaluate on other data ('demo', 'kaggle', 'hf' or a path)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--figures", help="also write the figures to this folder")
    p.add_argument("--layer", help="feature map Grad-CAM explains (default: the last block output with >= 7x7 cells)")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("predict", help="class and probabilities for images (not a diagnosis)")
    p.add_argument("run")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--json", action="store_true",
                   help="print JSON: the run, its data and test score, warnings, each prediction with in_distribution")
    p.set_defaults(func=_predict)

    p = sub.add_parser("gradcam", help="write Grad-CAM overlays for images")
    p.add_argument("run")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--out", required=True, help="folder for the overlay PNGs")
    p.add_argument("--layer", help="feature-map layer (default: found automatically)")
    p.add_argument("--plus-plus", dest="plus_plus", action="store_true", help="Grad-CAM++ weights")
    p.add_argument("--json", action="store_true", help="print JSON (the run, its data, warnings, each overlay)")
    p.set_defaults(func=_gradcam)
    return parser


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """alzmri's own warnings (notes about the data, the cache, a card) as one line; others as Python shows them."""
    if filename.startswith(str(Path(__file__).parent)):
        return f"alzmri: note: {message}\n"
    return _python_formatwarning(message, category, filename, lineno, line)


_python_formatwarning = warnings.formatwarning


def main(argv: list[str] | None = None) -> int:
    """Run one command; alzmri's own errors (bad data, settings, runs) print one clear line and exit with status 2."""
    args = build_parser().parse_args(argv)
    pd.set_option("display.width", 160)
    quiet_tensorflow()  # before any module loads TensorFlow: no CUDA noise on a CPU machine
    warnings.formatwarning = _one_line_warning
    try:
        return args.func(args)
    except AlzmriError as err:  # the project's own errors; anything else is a bug and keeps its traceback
        print(f"alzmri {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        if not is_disk_full(err):
            raise
        print(f"alzmri {args.command}: error: the disk is full ({err}). Free some space and run the same command "
              "again: an unfinished run resumes, and finished runs were not touched", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
