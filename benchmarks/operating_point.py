"""The CNN's operating point on 2 cores: variants chosen on validation brains inside the training folds, then the
chosen one cross-validated (#32 item 6).

Variants of the `demo` preset, one change each (:func:`variants`): the preset itself (64 px, up to 8 epochs, early
stopping after 3 without a better validation loss, no augmentation); twice the image size (128 px); twice the epochs
with twice the patience (with the preset's patience the network stops after about 4 epochs, so more epochs alone
change nothing); the package's on-the-fly augmentation (`augment`: flips, small rotations, zooms and shifts, a
little brightness; :func:`alzmri.data.pipeline.augmentation_layers`); and an ensemble of three runs (seeds 42, 43,
44 on the same split) whose probabilities are averaged.

1. Search. Outer fold --fold of the same subject folds `cv` uses (`alzmri.evaluation.cv.fold_config`): its test
   brains are never read; its validation brains (the run's own validation split, drawn by class from the other
   folds) score each variant trained on its training brains, per subject (soft voting): 4-class balanced accuracy,
   any-dementia AUC (with its interval over the validation brains), and seconds (CPU and wall-clock).
2. Choice, by the rule fixed before any real run (:data:`RULE`): the highest per-subject any-dementia AUC on the
   validation brains; within :data:`TIE` of it, the cheapest; a variant whose estimated cross-validation does not fit
   the CPU budget left (--budget, less the search's CPU seconds) is reported but not chosen.
3. The chosen variant through the full --folds cross-validation against `atrophy` (the search's fold is reused as
   fold --fold), so its test numbers are honest.

Seconds are those of a step plus the recorded training seconds of every run it reused instead of training (a rerun
reuses finished runs): CPU seconds of this process (every thread; the rule and the budget count these, since the
2-core machine is shared and a job may be paused for another's timing, which wall-clock would count) and wall-clock
seconds (what the leaderboard's seconds are). Caches go to $ALZMRI_CACHE and runs beside $ALZMRI_RUNS (by default
the temp folder, as benchmarks/cv.py), a folder for each variant (`<runs>-operating-point/<variant>`), since a
run's name does not hold every setting. If the preset itself is chosen and benchmarks/cv.py already
cross-validated it with the same settings (`real_cv_cnn.json`), that file is its cross-validation.

Usage: python benchmarks/operating_point.py --data DIR [--fold 1] [--folds 5] [--budget 9000] [--out docs/results]
       python benchmarks/operating_point.py --smoke        # the smoke preset on a small synthetic set (minutes)

Writes docs/results/real_operating_point.json (every variant, the rule, the choice) and the chosen variant's
real_cv_cnn-<variant>.json with its figures (as benchmarks/cv.py); --smoke writes into a temporary folder unless
--out.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from cv import FIGURES, TRAINED_SETTINGS, publish, use_scratch
from results import RESULTS, writable_folder, write_results

TIE = 0.01
BUDGET = 9000.0  # CPU seconds: 75 minutes of the machine's two cores
CPU_FILE = "cpu_seconds.json"  # beside a variant's runs: the CPU seconds of each run's training, as measured here
RULE = (f"the highest per-subject any-dementia AUC on the validation brains of the search fold; variants within {TIE} "
        "of it count as tied and the cheapest of them (CPU seconds on the search fold) is chosen; a variant whose "
        "estimated cross-validation (its CPU seconds per run on the search fold for every run of the other folds not "
        "yet trained) does not fit the CPU budget left after the search is reported but not chosen (if none fits, "
        "the cheapest is)")
NOT_TRIED = ("combinations of the changes (e.g. 128 px with augmentation): one change at a time fits the budget, "
             "combinations do not")


@dataclass(frozen=True)
class Variant:
    """One operating point: a name, what it changes from the preset, and how many runs (seeds) it averages."""

    name: str
    description: str
    changes: dict = field(default_factory=dict)
    members: int = 1


def variants(base) -> list[Variant]:
    """The variants of ``base`` (a preset's config), the preset itself first; one change each."""
    size, epochs, patience = base.image_size, base.finetune_epochs, base.patience
    return [
        Variant(base.profile, f"the {base.profile} preset: {size} px, up to {epochs} epochs, patience {patience}, "
                              f"{'with' if base.augment else 'no'} augmentation"),
        Variant(f"{2 * size}px", f"{2 * size} px images", {"image_size": 2 * size}),
        Variant(f"epochs{2 * epochs}-patience{2 * patience}",
                f"up to {2 * epochs} epochs, early stopping after {2 * patience} without a better validation loss",
                {"finetune_epochs": 2 * epochs, "patience": 2 * patience}),
        Variant("augment", "on-the-fly augmentation of the training slices (flips, rotations up to 0.03 of a turn, "
                           "zooms up to 8 %, shifts up to 5 %, brightness up to 10 %)", {"augment": True}),
        Variant("3seeds", f"three runs (seeds {base.seed}, {base.seed + 1}, {base.seed + 2}) on the same split, "
                          "probabilities averaged", members=3),
    ]


def variant_config(base, variant: Variant):
    """The variant's settings, its runs in a folder of its own (a run's name does not hold every setting); an
    ensemble shares the preset's folder, its first member being the preset's run."""
    folder = variant.name if variant.changes else base.profile
    return base.replace(**variant.changes, runs_dir=f"{base.runs_dir}-operating-point/{folder}")


def measured_cv(base, data, folds: int, out: Path) -> Path | None:
    """The preset's cross-validation as benchmarks/cv.py measured it (``real_cv_cnn.json`` in ``out``: the same data,
    folds, settings and reference), or None."""
    path = out / "real_cv_cnn.json"
    if not path.exists():
        return None
    summary = json.loads(path.read_text())
    same = (summary["data"]["fingerprint"] == data.fingerprint and summary["folds"] == folds
            and summary.get("repeats") == 1 and summary.get("against", {}).get("model") == "atrophy"
            and summary.get("cnn_settings") == {key: getattr(base, key) for key in TRAINED_SETTINGS})
    return path if same else None


def member_run(config, run_name: str, member: int):
    """Member ``member`` of an ensemble's fold run: its settings (seed ``seed + member``, the same split) and its run's
    name (member 0 is the plain run)."""
    return config.replace(seed=config.seed + member), run_name if member == 0 else f"{run_name}-member{member}"


def averaged_runs(members: int, ledger: list[dict]) -> Callable:
    """A fold's probabilities averaged over ``members`` runs trained on the same split (:func:`member_run`), each run
    written into ``ledger``: whether it was reused, and its seconds (:func:`cost`). The signature of
    :func:`alzmri.evaluation.compare.held_out_probabilities`, so it answers the folds of
    :func:`alzmri.evaluation.cv.cross_validate`."""
    from alzmri.evaluation.compare import held_out_probabilities
    from alzmri.models.runs import is_finished, peek_metadata, run_folder

    def probabilities(model, data, config, parts, run_name, progress):
        answers = []
        for member in range(members):
            cfg, name = member_run(config, run_name, member)
            folder = run_folder(cfg, name)
            reused = is_finished(folder)
            cpu, wall = time.process_time(), time.perf_counter()
            answers.append(held_out_probabilities(model, data, cfg, parts, name, progress))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            ledger.append({"run": folder.name, "reused": reused, "wall_seconds": round(wall, 1),
                           "cpu_seconds": round(cpu, 1), "train_seconds": peek_metadata(folder).get("train_seconds"),
                           "train_cpu_seconds": training_cpu(folder, None if reused else cpu)})
        return {part: np.mean([answer[part] for answer in answers], axis=0) for part in parts}

    return probabilities


def training_cpu(run_dir: Path, seconds: float | None) -> float | None:
    """The CPU seconds the training of ``run_dir`` took, as this script measured them: recorded beside the runs
    (:data:`CPU_FILE`) when ``seconds`` are given, else read from there (None if another program trained it)."""
    from alzmri.files import write_text_atomically

    path = run_dir.parent / CPU_FILE
    recorded = json.loads(path.read_text()) if path.exists() else {}
    if seconds is not None:
        recorded[run_dir.name] = round(seconds, 1)
        write_text_atomically(path, json.dumps(recorded, indent=2) + "\n")
    return recorded.get(run_dir.name)


def cost(ledger: list[dict]) -> dict:
    """What a step cost: ``seconds`` (wall-clock) and ``cpu_seconds`` (this process's CPU, every thread), each of
    the step itself plus the recorded training of every run it reused instead of training (``reused_training``)."""
    reused = [run for run in ledger if run["reused"]]
    before = {"seconds": sum(r["train_seconds"] or 0 for r in reused),
              "cpu_seconds": sum(r["train_cpu_seconds"] or 0 for r in reused)}
    own = {"seconds": sum(r["wall_seconds"] for r in ledger), "cpu_seconds": sum(r["cpu_seconds"] for r in ledger)}
    return {**{key: round(own[key] + before[key], 1) for key in own},
            "reused_training": {key: round(value, 1) for key, value in before.items()}}


def estimated_cv_seconds(base, variant: Variant, seconds: float, fold: int, folds: int) -> float:
    """What the variant's cross-validation would still cost: ``seconds`` (the search's) per run for every run of the
    other folds not finished yet (the search's fold is reused; predicting with a finished run is not counted)."""
    from alzmri.evaluation.cv import fold_config, fold_run_name
    from alzmri.models.runs import is_finished, run_folder

    todo = 0
    for k in (k for k in range(1, folds + 1) if k != fold):
        config = fold_config(variant_config(base, variant), k, folds)
        todo += sum(not is_finished(run_folder(*member_run(config, fold_run_name(config), member)))
                    for member in range(variant.members))
    return todo * seconds / variant.members


def validation_scores(val, proba: np.ndarray, n_boot: int, seed: int) -> dict:
    """A variant's scores on the validation brains: per subject (soft voting) and per slice, 4-class balanced
    accuracy and the any-dementia AUC (per subject with its 95 % interval over the validation brains)."""
    from alzmri.evaluation.compare import any_dementia_auc
    from alzmri.metrics import any_dementia_metrics, balanced_accuracy
    from alzmri.voting import slice_units, vote

    labels = val["label"].to_numpy()
    votes = vote(proba, slice_units(val["subject"], val["relpath"]), labels=labels)
    subject = any_dementia_metrics(votes.labels, votes.proba, 0.5, votes.units, "subject", n_boot, seed)
    return {"subject_level": {"subjects": int(len(votes.units)),
                              "balanced_accuracy": balanced_accuracy(votes.labels, votes.predicted),
                              "auc_any_dementia": subject["auc"], "ci_auc_any_dementia": subject["ci95"]["auc"]},
            "slice_level": {"images": int(len(val)), "balanced_accuracy": balanced_accuracy(labels, proba.argmax(1)),
                            "auc_any_dementia": any_dementia_auc(labels, proba)}}


def search_split(data, config):
    """The split of ``data`` for a fold's settings (:func:`alzmri.evaluation.cv.fold_config`), exactly as
    cross-validation draws it."""
    from alzmri.data.datasets import DataWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # a fold without a rare class is expected
        return data.with_protocol("subject", config)


def try_variant(data, base, variant: Variant, fold: int, folds: int) -> dict:
    """Train ``variant`` on the search fold's training brains and score it on its validation brains only."""
    from alzmri.evaluation.cv import fold_config, fold_run_name

    config = fold_config(variant_config(base, variant), fold, folds)
    split = search_split(data, config)
    print(f"operating point: {variant.name} ({variant.description}) on fold {fold} of {folds}", flush=True)
    ledger = []
    proba = averaged_runs(variant.members, ledger)("cnn", split, config, ("val",), fold_run_name(config), True)["val"]
    scores, spent = validation_scores(split.part("val"), proba, base.n_boot, base.seed), cost(ledger)
    print(f"operating point: {variant.name}: per subject balanced accuracy "
          f"{scores['subject_level']['balanced_accuracy']:.3f}, any-dementia AUC "
          f"{scores['subject_level']['auc_any_dementia']:.3f}, {spent['cpu_seconds']:.0f} CPU s, "
          f"{spent['seconds']:.0f} s", flush=True)
    estimate = estimated_cv_seconds(base, variant, spent["cpu_seconds"], fold, folds)
    return {"name": variant.name, "description": variant.description, "changes": variant.changes,
            "members": variant.members, "validation": scores, **spent, "runs": ledger,
            "val_subjects": sorted(split.part("val")["subject"].unique()),
            "estimated_cv_cpu_seconds": round(estimate, 1)}


def choose(rows: list[dict], budget_left: float) -> tuple[str, str]:
    """The chosen variant's name by :data:`RULE`, and why, in words."""
    fits = [r for r in rows if r["estimated_cv_cpu_seconds"] <= budget_left]
    if not fits:
        cheapest = min(rows, key=lambda r: r["cpu_seconds"])
        return cheapest["name"], f"no variant's cross-validation fits the {budget_left:.0f} CPU s left: the cheapest"
    auc = {r["name"]: r["validation"]["subject_level"]["auc_any_dementia"] for r in fits}
    best = max(auc.values())
    tied = [r for r in fits if auc[r["name"]] >= best - TIE]
    chosen = min(tied, key=lambda r: r["cpu_seconds"])
    left_out = ", ".join(r["name"] for r in rows if r not in fits)
    because = (f"highest validation AUC {best:.3f}; tied within {TIE}: {', '.join(r['name'] for r in tied)}; the "
               f"cheapest of them: {chosen['name']}")
    return chosen["name"], because + (f"; not fitting the {budget_left:.0f} CPU s left: {left_out}" if left_out else "")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="the real source set (a folder-per-class directory)")
    source.add_argument("--smoke", action="store_true", help="the smoke preset on a small synthetic set (minutes)")
    parser.add_argument("--fold", type=int, default=1, help="the outer fold whose training brains the search uses")
    parser.add_argument("--folds", type=int, help="folds over subjects (default 5; 2 with --smoke)")
    parser.add_argument("--budget", type=float, default=BUDGET,
                        help=f"CPU seconds for the search and the chosen variant's cross-validation (default "
                             f"{BUDGET:g}: 75 minutes of two cores)")
    parser.add_argument("--out", type=writable_folder, help="folder for the results files (default docs/results/; "
                                                           "a temporary folder with --smoke)")
    parser.add_argument("--figures", type=writable_folder, help="folder for the figures (default docs/figures/real/; "
                                                               "beside --out with --smoke)")
    args = parser.parse_args()
    args.folds = args.folds or (2 if args.smoke else 5)
    if not 1 <= args.fold <= args.folds:
        parser.error(f"--fold must be from 1 to --folds ({args.folds}), got {args.fold}")
    return args


def smoke_setup(args: argparse.Namespace) -> tuple[Path, Path]:
    """--smoke: a temporary folder for the runs, caches, results and figures, and a small synthetic set in it;
    returns both."""
    from alzmri.data.synthetic import generate_dataset

    folder = Path(tempfile.mkdtemp(prefix="alzmri-operating-point-"))
    os.environ["ALZMRI_RUNS"], os.environ["ALZMRI_CACHE"] = str(folder / "runs"), str(folder / "cache")
    args.out = args.out or writable_folder(str(folder / "results"))
    args.figures = args.figures or writable_folder(str(folder / "figures"))
    return generate_dataset(folder / "data", n_per_class=30, size=64, seed=3, balance="equal", copies=2.0,
                            slices=8, progress=False), folder


def search(data, base, args: argparse.Namespace) -> dict:
    """Step 1 and 2: every variant tried on the search fold's validation brains, and the choice by :data:`RULE`."""
    from alzmri.evaluation.cv import fold_config

    start = time.perf_counter()
    rows = [try_variant(data, base, variant, args.fold, args.folds) for variant in variants(base)]
    spent = sum(row["cpu_seconds"] for row in rows)
    if len({tuple(row.pop("val_subjects")) for row in rows}) != 1:
        raise SystemExit("the variants were scored on different validation brains: the search is void")
    chosen, because = choose(rows, args.budget - spent)
    split = search_split(data, fold_config(base, args.fold, args.folds))
    return {"fold": args.fold, "folds": args.folds, "preset": base.profile, "seed": base.seed,
            "search": {"train_subjects": int(split.part("train")["subject"].nunique()),
                       "val_subjects": int(split.part("val")["subject"].nunique()),
                       "val_images": int(len(split.part("val"))),
                       "test": f"fold {args.fold}'s test brains: never read by the search",
                       "cpu_seconds": round(spent, 1), "seconds": round(sum(row["seconds"] for row in rows), 1),
                       "wall_seconds": round(time.perf_counter() - start, 1)},
            "rule": RULE, "tie": TIE, "budget_cpu_seconds": args.budget,
            "budget_left_cpu_seconds": round(args.budget - spent, 1),
            "variants": rows, "chosen": chosen, "chosen_because": because, "not_tried": NOT_TRIED,
            "seconds_are": ("a step's own plus the recorded training seconds of every run it reused: cpu_seconds of "
                            "this process (every thread), seconds wall-clock, on this machine with other work beside "
                            "it")}


def cross_validate_chosen(data, base, record: dict, record_name: str, args: argparse.Namespace, scratch: Path) -> Path:
    """Step 3: the chosen variant through the whole cross-validation against ``atrophy``; its results file."""
    from alzmri.evaluation.cv import cross_validate

    variant = next(v for v in variants(base) if v.name == record["chosen"])
    config = variant_config(base, variant)
    ledger, cpu = [], time.process_time()
    cv = cross_validate(data, config, "cnn", args.folds, against="atrophy", probabilities=averaged_runs(
        variant.members, ledger))
    cpu, measured, reused = time.process_time() - cpu, cv.summary["seconds"], cost(ledger)["reused_training"]
    cv.summary["seconds"] = round(measured + reused["seconds"], 1)
    cv.summary["cpu_seconds"] = round(cpu + reused["cpu_seconds"], 1)  # the reference and the scoring included
    name = "cnn" if variant.name == base.profile else f"cnn-{variant.name}"
    chosen_by = f"benchmarks/operating_point.py ({record_name}.json): {record['chosen_because']}"
    extra = {"operating_point": {"variant": variant.name, "description": variant.description,
                                 "members": variant.members, "chosen_by": chosen_by, "wall_seconds": measured,
                                 "reused_training": reused, "runs": ledger}}
    return publish(cv, data, config, name, args.out, args.figures, scratch, extra)


def main() -> None:
    args = parse_args()
    root, scratch = smoke_setup(args) if args.smoke else (args.data, use_scratch())
    args.out = args.out or writable_folder(str(RESULTS))
    args.figures = args.figures or writable_folder(str(FIGURES))

    from alzmri.config import get_config
    from alzmri.leakage.prepared import prepare_data

    base = get_config("smoke" if args.smoke else "demo", data=str(root), cv_folds=args.folds)
    if args.smoke:  # no augmentation, as the demo preset; no energy estimate, seconds a run
        base = base.replace(augment=False, track_emissions=False)
    data = prepare_data(base, progress=False)
    if data.synthetic != args.smoke:
        raise SystemExit(f"{root}: --data measures real slices (use --smoke for the synthetic set)")
    record = search(data, base, args)
    name = "real_operating_point" if not args.smoke else "smoke_operating_point"
    write_results(name, {**record, "cv": "running"}, args.out)
    measured = measured_cv(base, data, args.folds, args.out) if record["chosen"] == base.profile else None
    cv_file = measured or cross_validate_chosen(data, base, record, name, args, scratch)
    write_results(name, {**record, "cv": cv_file.name}, args.out)


if __name__ == "__main__":
    main()
