"""The real-slice numbers the docs quote, measured on the REAL source set (6,400 slices of 200 subjects).

(a) the leakage lesson: the 1-NN probe on every split protocol, true vs subject-shuffled labels
    (about 35 s on 2 cores) → docs/results/real_compare_probe.json, docs/figures/real/compare_probe.png
(b) with --cnn: a `demo`-preset run trained on the real slices with the subject split (about 6 min of
    training on 2 cores), evaluated: metrics with subject-level intervals, Grad-CAM deletion/insertion
    against random and centre maps, the randomisation cascade → docs/results/real_gradcam.json and
    docs/figures/real/{gradcam,deletion_insertion,randomisation}_real.png

Runs and caches go to $ALZMRI_RUNS and $ALZMRI_CACHE, by default into the temp folder, never into the
repository; a finished run of the same settings and data is reused. The data is only read.

Usage: python benchmarks/real_slices.py --data DIR [--cnn] [--out docs/results] [--figures docs/figures/real]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from results import ROOT, add_out_option, publish_figure, writable_folder, write_results

FIGURES = ROOT / "docs" / "figures" / "real"
CNN_FIGURES = ("gradcam", "deletion_insertion", "randomisation")


def probe_lesson(data, config, args, prepare_seconds: float) -> None:
    """(a) The 1-NN probe on every protocol, true vs subject-shuffled labels: results file and figure.

    ``prepare_seconds``: how long indexing and annotating the data took (features cached from a second run on).
    """
    from alzmri.reporting import plots
    from alzmri.evaluation.baselines import PROBE
    from alzmri.evaluation.compare import compare_protocols, comparison_json
    from alzmri.reporting.summaries import format_comparison, lesson

    start = time.perf_counter()
    table = compare_protocols(data, config, model="probe", progress=False)
    seconds = time.perf_counter() - start
    print(f"(a) the leakage lesson, {PROBE}, true vs subject-shuffled labels ({seconds:.0f} s):")
    print(format_comparison(table))
    print(lesson(table))
    title = (f"REAL source set ({data.root.name}: {len(data.frame):,} slices of {_subjects(data)} subjects), "
             "1-NN probe: true vs subject-shuffled labels")
    print(f"figure: {plots.save_figure(plots.protocol_comparison(table, title), args.figures / 'compare_probe.png')}")
    write_results("real_compare_probe", {**_about(data), "model": PROBE,
                                         "seconds": {"prepare_data": round(prepare_seconds, 1),
                                                     "compare": round(seconds, 1)},
                                         **comparison_json(table, "probe")}, args.out)


def cnn_gradcam(data, config, args) -> None:
    """(b) Train (or reuse) a demo-preset run on the real slices, evaluate it and explain it."""
    from alzmri.reporting import plots
    from alzmri.evaluation.evaluate import evaluate_run, explain_examples
    from alzmri.reporting.reports import print_evaluation
    from alzmri.models.training import get_or_train

    print(f"\n(b) a {config.profile}-preset run on the REAL slices, {config.split} split (runs in {config.runs_dir})")
    run_dir = get_or_train(config, data=data)
    evaluation = evaluate_run(run_dir, data=data, progress=False)
    print_evaluation(evaluation)
    plots.save_evaluation_figures(evaluation, explain_examples(evaluation))
    for name in CNN_FIGURES:
        publish_figure(run_dir / "figures" / f"{name}.png", args.figures / f"{name}_real.png")
    metadata = json.loads((run_dir / "metadata.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())[evaluation.key]
    write_results("real_gradcam", {**_about(data), "run": run_dir.name, "trained": metadata["created"],
                                   "train_seconds": metadata["train_seconds"], "config": metadata["config"],
                                   "metrics_key": evaluation.key, "test": metrics}, args.out)


def _subjects(data) -> int:
    return int(data.frame.loc[data.frame["subject"] != "", "subject"].nunique())


def _about(data) -> dict:
    """What the numbers were measured on."""
    return {"data": str(data.root), "fingerprint": data.fingerprint, "synthetic": data.synthetic,
            "slices": len(data.frame), "subjects": _subjects(data)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="the real source set (a folder-per-class directory)")
    parser.add_argument("--cnn", action="store_true", help="also train, evaluate and explain a demo-preset run")
    parser.add_argument("--figures", type=writable_folder, default=str(FIGURES),
                        help="folder for the figures (default docs/figures/real/)")
    add_out_option(parser)
    args = parser.parse_args()
    scratch = Path(tempfile.gettempdir()) / "alzmri-real"
    os.environ.setdefault("ALZMRI_RUNS", str(scratch / "runs"))  # read when a config is made, so set before
    os.environ.setdefault("ALZMRI_CACHE", str(scratch / "cache"))

    from alzmri.config import get_config
    from alzmri.leakage.prepared import prepare_data

    config = get_config("demo", data=str(args.data), split="subject")
    start = time.perf_counter()
    data = prepare_data(config, progress=False)
    prepare_seconds = time.perf_counter() - start
    if data.synthetic:
        raise SystemExit(f"{args.data} is the synthetic demo set: this script measures real slices")
    print(f"Data {data.root}: {data.subjects.describe(data.frame)}")
    probe_lesson(data, config, args, prepare_seconds)
    if args.cnn:
        cnn_gradcam(data, config, args)


if __name__ == "__main__":
    main()
