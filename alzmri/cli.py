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
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; known errors print one clear line and exit with status 2."""
    from .data import DatasetError, DatasetUnavailableError

    args = build_parser().parse_args(argv)
    pd.set_option("display.width", 160)
    try:
        return args.func(args)
    except (DatasetError, DatasetUnavailableError, FileExistsError, FileNotFoundError, ValueError) as err:
        print(f"alzmri {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
