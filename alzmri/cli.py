"""Command line: ``python -m alzmri <command>``. Each command is a thin call into the package."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import pandas as pd

from . import __version__
from .config import PRESETS, default_cache_dir, get_config

DISCLAIMER = "alzmri is a teaching and research tool, not a medical device: its output is not a diagnosis."


def _synth(args: argparse.Namespace) -> int:
    """Generate the synthetic demo dataset."""
    from . import plots, synthetic
    from .data import index_dataset

    root = synthetic.generate_dataset(args.out, n_per_class=args.n_per_class, size=args.size, seed=args.seed,
                                      layout=args.layout, balance=args.balance, copies=args.copies,
                                      overwrite=args.force)
    manifest = synthetic.read_manifest(root)
    print(f"SYNTHETIC demo dataset in {root} ({len(manifest)} images; manifest.csv, masks in _masks/)")
    print(manifest.groupby(["subset", "class_name"]).size().unstack(fill_value=0).to_string())
    if args.grid:
        index = index_dataset(root, progress=False)
        originals = index.frame[index.frame["kind"] == "original"]
        fig = plots.sample_grid(originals, title="SYNTHETIC demo slices (alzmri.synthetic), one row per class")
        print(f"grid: {plots.save_figure(fig, args.grid)}")
    return 0


def _audit(args: argparse.Namespace) -> int:
    """Index a dataset, report its classes and bad files, and audit the grouped and naive splits."""
    from . import leakage
    from .data import audit_splits, descriptors, index_dataset, resolve_data

    config = get_config(args.profile, **_overrides(args, "seed", "duplicate_threshold"))
    root = resolve_data(args.data, config=config)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        index = index_dataset(root)
    print(f"\nDataset {root}  (fingerprint {index.fingerprint}, {len(index.frame)} usable images)")
    print("\nImages per subset and class:")
    print(index.class_counts().to_string())
    print(f"\nSkipped files: {len(index.skipped)}   converted files: {len(index.converted)}")
    for _, row in index.skipped.head(args.show).iterrows():
        print(f"  skipped {row['path']}: {row['reason']}")
    for _, row in index.converted.head(args.show).iterrows():
        print(f"  converted {row['path']} (mode {row['mode']})")
    for w in caught:
        if "split has no images" in str(w.message):
            print(f"  note: {w.message}")
    table = audit_splits(index, config)
    print(f"\nLeakage audit (near-duplicate = descriptor correlation >= {config.duplicate_threshold}):")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    quality = leakage.mapping_quality(index.frame, descriptors(index, progress=False), config.duplicate_threshold)
    if quality:
        print(f"\nKnown augmented→original mapping (synthetic manifest) recovered with "
              f"precision {quality[0]:.3f}, recall {quality[1]:.3f}")
    naive = table[table["split"] == "naive"]["leaked_fraction"].max()
    print(f"\nThe naive random split puts a near-copy of up to {naive:.0%} of its test images in train; "
          "the grouped split (the default) is the honest one.")
    return 0


def _train_config(args: argparse.Namespace):
    """The preset named by --profile with the training options that were given."""
    overrides = _overrides(args, "data", "backbone", "image_size", "seed", "split", "batch_size",
                           "head_epochs", "finetune_epochs", "finetune_blocks")
    if args.epochs is not None:
        overrides["finetune_epochs"] = args.epochs
    if args.weights is not None:
        overrides["weights"] = None if args.weights.lower() == "none" else args.weights
    return get_config(args.profile, **overrides)


def _summary(run_dir: Path, metadata: dict, baseline: float | None = None) -> str:
    """The closing table of a training run."""
    rows = [(split, m["images"], m["accuracy"], m["balanced_accuracy"], m["macro_f1"])
            for split, m in metadata["metrics"].items()]
    table = pd.DataFrame(rows, columns=["split", "images", "accuracy", "balanced_acc", "macro_f1"])
    lines = [f"\nRun saved to {run_dir}", f"backbone {metadata['backbone']} ({metadata['weights']}), "
             f"{metadata['image_size']}px, split {metadata['split']}, {metadata['train_seconds']:.0f} s",
             table.to_string(index=False, float_format=lambda v: f"{v:.3f}")]
    if baseline is not None:
        lines.append(f"thumbnail logistic-regression baseline (test balanced accuracy): {baseline:.3f}")
    if metadata.get("synthetic"):
        lines.append("Trained and tested on SYNTHETIC demo data: these numbers describe the method, not patients.")
    lines.append(DISCLAIMER)
    return "\n".join(lines)


def _train(args: argparse.Namespace) -> int:
    """Train a run with the chosen preset and options."""
    from .model import load_run
    from .train import train

    config = _train_config(args)
    run_dir = train(config, run_name=args.run_name, strategy=args.strategy)
    print(_summary(run_dir, load_run(run_dir).metadata))
    return 0


def _demo(args: argparse.Namespace) -> int:
    """The whole story on synthetic data: generate, audit, train, evaluate, report."""
    from .evaluate import thumbnail_baseline
    from .leakage import audit
    from .data import descriptors, index_dataset, resolve_data
    from .model import load_run
    from .train import prepare_data, train

    config = _train_config(args)
    print(f"[1/4] data: {config.data} ({config.profile} preset)")
    data = prepare_data(config)
    index = index_dataset(data.root, progress=False)
    table = audit(data.frame, descriptors(index, progress=False), config.duplicate_threshold)
    print(f"[2/4] leakage audit of the {config.split} split:\n{table.to_string(index=False)}")
    baseline = thumbnail_baseline(data.frame)
    print(f"[3/4] thumbnail baseline (logistic regression, 32x32): test balanced accuracy {baseline:.3f}")
    print(f"[4/4] training {config.backbone} at {config.image_size}px")
    run_dir = train(config, run_name=args.run_name, data=data, strategy=args.strategy)
    print(_summary(run_dir, load_run(run_dir).metadata, baseline))
    return 0


def _add_training_options(p: argparse.ArgumentParser, default_profile: str | None = None) -> None:
    """Options shared by ``train`` and ``demo``."""
    p.add_argument("--profile", choices=sorted(PRESETS), default=default_profile,
                   help="preset (default: $ALZMRI_PROFILE or demo)")
    p.add_argument("--data", help="'demo', 'kaggle', 'hf' or a path (default: the preset's)")
    p.add_argument("--weights", help="'imagenet', 'none' or a path to a local weights file")
    p.add_argument("--backbone", help="any supported keras.applications name, e.g. ResNet152V2")
    p.add_argument("--epochs", type=int, help="fine-tuning (stage 2) epochs")
    p.add_argument("--head-epochs", dest="head_epochs", type=int, help="stage 1 (head only) epochs")
    p.add_argument("--finetune-blocks", dest="finetune_blocks", type=int, help="top blocks to unfreeze (-1: all)")
    p.add_argument("--image-size", dest="image_size", type=int)
    p.add_argument("--batch-size", dest="batch_size", type=int)
    p.add_argument("--split", choices=["grouped", "naive"])
    p.add_argument("--seed", type=int)
    p.add_argument("--run-name", dest="run_name", help="folder name under saved_models/ (same name resumes)")
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
    p.add_argument("--n-per-class", type=int, default=250, help="mean originals per class (default 250)")
    p.add_argument("--size", type=int, default=128, help="image side in pixels (default 128)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--layout", choices=["v2", "v1"], default="v2")
    p.add_argument("--balance", choices=["original", "equal"], default="original",
                   help="the real set's class imbalance (default) or equal classes")
    p.add_argument("--copies", type=float, default=2.0, help="augmented images per class / mean originals per class")
    p.add_argument("--grid", help="also save a grid of sample images to this PNG")
    p.add_argument("--force", action="store_true", help="replace an existing folder")
    p.set_defaults(func=_synth)

    p = sub.add_parser("audit", help="class counts, skipped files and the train/test leakage audit")
    p.add_argument("data", help="'demo', 'kaggle', 'hf', a folder-per-class directory or parquet files")
    p.add_argument("--profile", choices=sorted(PRESETS), help="preset (default: $ALZMRI_PROFILE or demo)")
    p.add_argument("--seed", type=int)
    p.add_argument("--duplicate-threshold", dest="duplicate_threshold", type=float)
    p.add_argument("--show", type=int, default=10, help="how many skipped/converted files to list")
    p.set_defaults(func=_audit)

    p = sub.add_parser("train", help="train a run (two stages) and save it under saved_models/")
    _add_training_options(p)
    p.set_defaults(func=_train)

    p = sub.add_parser("demo", help="generate the synthetic data, audit, train and evaluate the demo preset")
    _add_training_options(p)
    p.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; known errors print one clear line and exit with status 2."""
    from .data import DatasetError, DatasetUnavailableError
    from .model import RunError, WeightsError

    args = build_parser().parse_args(argv)
    pd.set_option("display.width", 160)
    try:
        return args.func(args)
    except (DatasetError, DatasetUnavailableError, RunError, WeightsError, FileExistsError, FileNotFoundError,
            ValueError) as err:
        print(f"alzmri {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
