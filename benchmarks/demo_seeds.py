"""The demo's test score over several seeds: what a user can expect, as a range, rather than one run's number.

Usage: python benchmarks/demo_seeds.py [--profile demo] [--seeds 0 1 2 3 42] [--out docs/results]

Each seed draws its own synthetic set and trains the preset on it from scratch, as ``python -m alzmri demo --seed S``
does, then scores the test brains per slice and per brain. Another CPU trains another model from the same seed
(float rounding differs, and a test split of about a dozen brains magnifies it), so the docs and the demo's closing
line quote this range, its median and its spread, naming the machine. Writes ``docs/results/demo_seeds.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from results import add_out_option, write_results


def score_seed(profile: str, seed: int) -> dict:
    """Train the preset with ``seed`` (its own synthetic set) and score its test split; seconds included."""
    from alzmri.config import get_config
    from alzmri.evaluation.evaluate import evaluate_run
    from alzmri.leakage.prepared import prepare_data
    from alzmri.models.training import get_or_train

    start = time.perf_counter()
    config = get_config(profile, seed=seed)
    data = prepare_data(config, progress=False)
    run_dir = get_or_train(config, data=data, progress=False)
    metrics = evaluate_run(run_dir, data=data, explain_images=1, progress=False).metrics
    return {"seed": seed, "balanced_accuracy": round(metrics["balanced_accuracy"], 4),
            "subject_balanced_accuracy": round(metrics["subject_level"]["balanced_accuracy"], 4),
            "test_subjects": metrics["subject_level"]["subjects"], "seconds": round(time.perf_counter() - start, 1)}


def spread(values: list[float]) -> dict:
    """Median, min, max and the spread (max - min) of one score over the seeds."""
    return {"median": round(statistics.median(values), 4), "min": min(values), "max": max(values),
            "spread": round(max(values) - min(values), 4)}


def main() -> None:
    """Train and score the preset once per seed, and write the range to docs/results/demo_seeds.json."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="demo", help="preset (default demo)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 42],
                        help="seeds to train (default 0 1 2 3 42; 42 is the demo's own)")
    add_out_option(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="alzmri-seeds-") as scratch:
        os.environ["ALZMRI_CACHE"] = str(Path(scratch) / "cache")  # read each time a config is made
        os.environ["ALZMRI_RUNS"] = str(Path(scratch) / "runs")
        from alzmri.tfenv import quiet_tensorflow

        quiet_tensorflow()
        rows = []
        for seed in args.seeds:
            rows.append(score_seed(args.profile, seed))
            print(rows[-1], flush=True)
    write_results("demo_seeds" if args.profile == "demo" else f"demo_seeds_{args.profile}", {
        "profile": args.profile, "seeds": rows,
        "balanced_accuracy": spread([r["balanced_accuracy"] for r in rows]),
        "subject_balanced_accuracy": spread([r["subject_balanced_accuracy"] for r in rows]),
    }, args.out)


if __name__ == "__main__":
    main()
