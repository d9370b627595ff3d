"""The demo's story as one function: generate, find subjects, audit, baseline, train, evaluate, explain, the lesson.

``python -m alzmri demo`` calls :func:`run_demo`, and so can a notebook, a test or ``benchmarks/demo.py``
(which writes the summary it returns to ``docs/results/demo.json``, the file the docs quote).
"""

from __future__ import annotations

import datetime
import json
import textwrap
from pathlib import Path

import pandas as pd

from alzmri import __version__
from alzmri.config import Config, describe_backbone
from alzmri.timing import StageTimer, machine
from alzmri.safe_text import one_line

STEPS = 6
#: One plain sentence a step says before its numbers, for a reader who has not met the terms yet
#: (docs/teaching.md has a glossary).
PLAIN = {
    1: "A brain is a stack of slices, and the file names do not say which slices are one brain (one subject). "
       "Neighbouring slices of one brain look almost alike, far more than slices of two brains do, so alzmri "
       "links slices by how alike they are and reports the two levels of likeness and the gap between them.",
    2: "A split leaks when a test image has a copy (copy_in_train) or other slices of its brain (subject_in_train) "
       "in the training split. max_similarity and at_neighbour_level compare pixels directly, without trusting "
       "the recovered subjects, so they catch a split whose grouping went wrong.",
    3: "A simple yardstick first. Balanced accuracy is the mean of the four per-class recalls (0.25 is chance), so "
       "the common class cannot carry the score.",
    4: "Transfer learning, or on a CPU a small network from scratch: notebook 02 writes it out in Keras.",
    5: "Scores on test brains the model never saw. Each comes with a 95 % interval from resampling those brains; "
       "quadratic_kappa counts how far off a wrong severity is (1 perfect, 0 chance), ROC-AUC how well the "
       "probabilities rank (0.5 chance), the calibration error how far 'p' is from how often it is right.",
    6: "Every brain gets a random class (shuffled labels). Labels that mean nothing cannot be learnt, only "
       "memorised: a protocol that scores above chance on them measures memory. Chance is what these predictions "
       "would score by luck; it is above 0.25 when a test split holds fewer than four classes.",
}
#: The demo's test balanced accuracy over several seeds (benchmarks/demo_seeds.py), where a source checkout has it.
SEEDS_RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results" / "demo_seeds.json"


def _step(number: int, text: str) -> None:
    """Announce one step of the story, and say in plain words what its numbers mean."""
    print(f"\n[{number}/{STEPS}] {text}")
    print(textwrap.fill(PLAIN[number], 100))


def seed_range_line(score: float, profile: str, results: Path = SEEDS_RESULTS) -> str | None:
    """Where this run's test balanced accuracy falls in the range the same preset scored over several seeds.

    Another CPU, or another seed, trains another model (float rounding differs, and a test split of a dozen
    brains magnifies it), so one run's number is one draw from a range.

    Args:
        score: this run's test balanced accuracy.
        profile: the preset it ran (the range is the ``demo`` preset's).
        results: the file ``benchmarks/demo_seeds.py`` wrote.

    Returns:
        One line, or None where no range was measured for this preset (an installed copy has no docs/).
    """
    try:
        record = json.loads(results.read_text())
        spread, seeds, machine, date = (record["balanced_accuracy"], record["seeds"], record["machine"],
                                        record["date"])
        low, high, median = spread["min"], spread["max"], spread["median"]
    except (OSError, ValueError, KeyError, TypeError):  # no such file (an installed copy), or a damaged one
        return None
    if record.get("profile") != profile:
        return None
    place = "below" if score < low else "above" if score > high else "within"
    return (f"This run's {score:.3f} lies {place} the range the {profile} preset scored over {len(seeds)} seeds on "
            f"{machine} ({date}): {low:.3f} to {high:.3f}, median {median:.3f}. Another seed or CPU trains another "
            "model.")


def _training_summary(run, config: Config) -> dict:
    """Epochs run and kept, and the kept epoch's validation score, from a loaded run's history and metadata."""
    history = pd.read_csv(run.path / "history.csv")
    best = int(history["val_loss"].idxmin()) + 1 if "val_loss" in history and len(history) else None
    return {"epochs_run": int(len(history)), "epochs_planned": config.head_epochs + config.finetune_epochs,
            "best_epoch": best,
            "val_balanced_accuracy": run.metadata.get("metrics", {}).get("val", {}).get("balanced_accuracy")}


def next_steps(run_dir: Path) -> list[str]:
    """What to try after the demo, as commands."""
    return [f"python -m alzmri predict {run_dir} SLICE.jpg      # classify your own slices (with an input check)",
            f"python -m alzmri gradcam {run_dir} SLICE.jpg --out overlays/",
            "python -m alzmri demo --compare-splits            # the lesson with the CNN too (3 more trainings)",
            "jupyter lab notebooks/                             # the same story, step by step"]


def run_demo(config: Config, run_name: str | None = None, strategy: str = "auto", replace: bool = False,
             compare_splits: bool = False) -> dict:
    """Run the whole demo and print its story, ending with the headline, where the files are and what next.

    Args:
        config: the preset and overrides (``data`` is normally ``"demo"``, the synthetic set).
        run_name: the run's folder name (default: from the settings); a finished run of it is reused.
        strategy: the ``tf.distribute`` strategy for training.
        replace: train a finished run of that name again.
        compare_splits: also run the leakage lesson with the CNN (three more trainings).

    Returns:
        A summary of what was measured (the layout of ``docs/results/demo.json``): machine, date, settings,
        seconds per stage, the data and its split sizes, training, the baseline, the run's test metrics and
        the lesson's table.
    """
    timer = StageTimer()
    data, baseline = _data_audit_and_baseline(config, timer)
    run_dir, evaluation = _train_and_evaluate(config, data, timer, run_name, strategy, replace)
    lesson = _leakage_lesson(config, data, run_dir, timer, compare_splits)
    _print_closing(config, data, run_dir, evaluation, baseline, timer)
    return {
        "machine": machine(), "date": datetime.date.today().isoformat(), "command": "python -m alzmri demo",
        "alzmri_version": __version__, "config": config.to_dict(),
        "stages_total_seconds": round(sum(timer.seconds.values()), 1),
        "stages": {name: round(seconds, 1) for name, seconds in timer.seconds.items()},
        "run": run_dir.name,
        "data": _data_summary(data),
        "training": _training_summary(evaluation.run, config),
        "baseline": {"thumbnail_balanced_accuracy": baseline},
        "test": evaluation.metrics,
        "lesson": lesson,
    }


def _data_audit_and_baseline(config: Config, timer: StageTimer) -> tuple:
    """Steps 1 to 3: the data with its copies and subjects, the leakage audit of every protocol, the thumbnail
    baseline. Returns the prepared data and the baseline's test balanced accuracy."""
    from alzmri.evaluation.baselines import thumbnail_baseline
    from alzmri.leakage.audit import audit
    from alzmri.leakage.prepared import prepare_data

    _step(1, f"data: {config.data} ({config.profile} preset)")
    with timer.stage("1 data, copies and subjects"):
        data = prepare_data(config)
    print(f"Subjects: {data.subjects.describe(data.frame)}")
    with timer.stage("2 leakage audit"):
        table, _ = audit(data, config)
    _step(2, "leakage audit of every split protocol (test/val images with a copy or their subject in train):")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    with timer.stage("3 thumbnail baseline"):
        baseline = thumbnail_baseline(data.frame)
    _step(3, f"thumbnail baseline (logistic regression, 32x32), {config.split} split: test balanced accuracy "
             f"{baseline:.3f}")
    return data, baseline


def _train_and_evaluate(config: Config, data, timer: StageTimer, run_name: str | None, strategy: str,
                        replace: bool) -> tuple:
    """Steps 4 and 5: train (or reuse) the run, then score it on its test split with its figures. Returns the
    run's folder and its evaluation."""
    from alzmri.models.training import get_or_train
    from alzmri.evaluation.evaluate import evaluate_run
    from alzmri.reporting.plots import save_evaluation_figures
    from alzmri.reporting.reports import print_evaluation

    _step(4, f"training {describe_backbone(config.backbone, config.backbone_end)} at {config.image_size} px on the "
             f"{config.split} split")
    with timer.stage("4 training"):
        run_dir = get_or_train(config, run_name=run_name, data=data, strategy=strategy, replace=replace)
    _step(5, "evaluating on the held-out test split")
    with timer.stage("5 evaluation, Grad-CAM, figures"):
        evaluation = evaluate_run(run_dir, data=data, draw=save_evaluation_figures)  # drawn while the run is locked
    print_evaluation(evaluation)
    return run_dir, evaluation


def _leakage_lesson(config: Config, data, run_dir: Path, timer: StageTimer, compare_splits: bool) -> dict:
    """Step 6: the probe on every protocol, true vs subject-shuffled labels (and the CNN on two protocols with
    ``compare_splits``). Returns the probe's table as ``docs/results/demo.json`` holds it."""
    from alzmri.evaluation.baselines import PROBE
    from alzmri.evaluation.compare import compare_protocols, comparison_json
    from alzmri.reporting.plots import data_caption
    from alzmri.reporting.reports import print_comparison

    _step(6, f"the leakage lesson: a {PROBE}, true vs subject-shuffled labels, on every protocol")
    caption = f"run {run_dir.name} · {data_caption(data.synthetic, data.root, data.fingerprint)}"
    with timer.stage("6 leakage lesson (probe)"):
        lesson = compare_protocols(data, config, model="probe")
        print_comparison(lesson, "probe", caption, [run_dir / "figures"])
    if compare_splits:
        protocols = list(dict.fromkeys([config.split, "naive"]))
        print(f"\nThe same lesson with the CNN ({config.profile} preset): {protocols}, true and shuffled labels")
        with timer.stage("7 leakage lesson (CNN)"):
            print_comparison(compare_protocols(data, config, protocols, model="cnn"), "cnn", caption,
                             [run_dir / "figures"])
    return comparison_json(lesson, "probe")


def _print_closing(config: Config, data, run_dir: Path, evaluation, baseline: float, timer: StageTimer) -> None:
    """The demo's end: seconds per stage, the headline against the baseline, where the files are, what next."""
    from alzmri.models.provenance import DISCLAIMER
    from alzmri.reporting.reports import against_baseline

    print("\n" + timer.report())
    print("\n" + "=" * 100)
    print(against_baseline(evaluation.metrics, baseline))
    where = seed_range_line(evaluation.metrics["balanced_accuracy"], config.profile)
    if where:
        print(where)
    if data.synthetic:
        print("On SYNTHETIC demo data: the numbers describe the method, not patients.")
    print(f"Run: {one_line(run_dir)}  (model card: {run_dir / 'MODEL_CARD.md'}; metrics: {run_dir / 'metrics.json'})")
    print(f"Figures: {', '.join(sorted({str(p.parent) for p in evaluation.figures}))}")
    print("Next:\n  " + "\n  ".join(next_steps(run_dir)))
    print(DISCLAIMER)


def _data_summary(data) -> dict:
    """Images, originals, copies and subjects of the demo's data, and its split sizes."""
    frame = data.frame
    return {"images": int(len(frame)), "originals": int((frame["kind"] == "original").sum()),
            "copies": int((frame["kind"] == "augmented").sum()),
            "subjects": int(frame.loc[frame["subject"] != "", "subject"].nunique()),
            "split_sizes": data.sizes()}
