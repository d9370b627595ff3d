"""What the command line prints: a training run's summary, an evaluation, Grad-CAM's faithfulness.

Kept apart from :mod:`alzmri.cli` (which parses arguments and runs commands) so that notebooks and scripts
can print the same reports.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from alzmri.files import write_text_atomically
from alzmri.models.runs import describe_network, is_person_run
from alzmri.models.provenance import DISCLAIMER
from alzmri.reporting.summaries import (faithfulness_table, faithfulness_verdict, format_comparison, lesson,
                                        randomisation_verdict)
from alzmri.safe_text import one_line
from alzmri.voting import describe_voting



def training_summary(run_dir: Path, metadata: dict) -> str:
    """The closing table of a training run: validation only (the test split is for ``evaluate``)."""
    rows = [(split, m["images"], m["accuracy"], m["balanced_accuracy"], m["macro_f1"])
            for split, m in metadata["metrics"].items()]
    table = pd.DataFrame(rows, columns=["split", "images", "accuracy", "balanced_acc", "macro_f1"])
    backbone = describe_network(metadata)
    lines = [f"\nRun saved to {run_dir}", f"{'network' if is_person_run(metadata) else 'backbone'} {backbone} "
             f"({metadata['weights']}), "
             f"{metadata['image_size']}px, split {metadata['split']}, {metadata['train_seconds']:.0f} s",
             table.to_string(index=False, float_format=lambda v: f"{v:.3f}"),
             f"Validation only: the test split is scored once, by `python -m alzmri evaluate {run_dir}`."]
    if metadata.get("synthetic"):
        lines.append("Trained and tested on SYNTHETIC demo data: these numbers describe the method, not patients.")
    if metadata.get("labels", "true") != "true":
        lines.append("Trained on labels SHUFFLED by subject: above chance, it has memorised subjects (alzmri compare).")
    lines.append(DISCLAIMER)
    return "\n".join(lines)


def print_evaluation(evaluation) -> None:
    """Headline metrics with 95 % intervals per slice and per subject, per-class recall, any dementia against none
    and Grad-CAM faithfulness."""
    from alzmri.metrics import metrics_table

    m = evaluation.metrics
    tag = ", SYNTHETIC data" if m.get("synthetic") else ""
    tag += ", labels SHUFFLED by subject: a memorisation check, not a classifier" if m["labels"] != "true" else ""
    print(f"\n{one_line(evaluation.run.path.name)} on the {m['split']} split ({m['split_protocol']} protocol, "
          f"{m['images']} images{tag}):")
    print(metrics_table(m).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    units = m["ci_resampled"]
    print(f"intervals: {units['resamples']} bootstrap resamples of the {units['count']} test {units['unit']}s "
          "(each unit's slices together)")
    print(f"expected calibration error {m['expected_calibration_error']:.3f}")
    _print_leak_breakdown(m["leakage"])
    per_class = pd.DataFrame(m["per_class"]).T
    per_class = per_class[[c for c in ("precision", "recall", "support", "subjects") if c in per_class]]
    print(per_class.to_string(formatters={"precision": "{:.3f}".format, "recall": "{:.3f}".format,
                                          "support": "{:.0f}".format, "subjects": "{:.0f}".format}))
    if m["absent_classes"]:
        print(f"note: no test images of {m['absent_classes']}: their recall is undefined (shown as 0)")
    if "subject_level" in m:
        _print_people(m["subject_level"], m["any_dementia"])
        _print_three_class(m.get("three_class"))
    if "faithfulness" in m:
        _print_faithfulness(m["faithfulness"])
    if "plausibility" in m:
        print_plausibility(m["plausibility"])
    print(DISCLAIMER)


def any_dementia_table(view: dict) -> pd.DataFrame:
    """The any-dementia view (metrics.json's ``any_dementia``) as a table: each metric per slice and per subject,
    with its 95 % interval."""
    from alzmri.metrics import ANY_DEMENTIA

    return pd.DataFrame([(level.removesuffix("_level"), name, view[level][name], *view[level]["ci95"][name])
                         for level in ("slice_level", "subject_level") for name in ANY_DEMENTIA],
                        columns=["level", "metric", "value", "ci95_low", "ci95_high"])


def _print_three_class(view: dict | None) -> None:
    """The three-class view (Mild and Moderate merged) per slice and per subject, where the metrics hold it."""
    if view:
        print("3 classes (Mild and Moderate merged), balanced accuracy: " + ", ".join(
            f"per {level} {view[f'{level}_level']['balanced_accuracy']:.3f} [{view[f'{level}_level']['ci'][0]:.2f}, "
            f"{view[f'{level}_level']['ci'][1]:.2f}]" for level in ("slice", "subject")))


def _print_people(subjects: dict, view: dict) -> None:
    """The split scored per subject (four classes), and any dementia against none per slice and per subject."""
    from alzmri.metrics import metrics_table

    print(f"per subject: {subjects['subjects']} subjects ({subjects['images']} slices), each answered by "
          f"{describe_voting(subjects['voting'])}; intervals resample the subjects:")
    print(metrics_table(subjects).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    level = view["subject_level"]
    print(f"any dementia (Mild, Moderate or VeryMild) vs NonDemented, P = 1 - P(NonDemented), cut-offs chosen on the "
          f"{view['threshold_from']} split (per slice {view['slice_level']['threshold']:.3f}, per subject "
          f"{level['threshold']:.3f}); {level['positives']} demented and {level['negatives']} non-demented subjects:")
    print(any_dementia_table(view).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for note in (subjects.get("note"), subjects.get("voting_note"), view.get("note")):
        if note:
            print(f"note: {note}")


def _print_faithfulness(f: dict) -> None:
    """Deletion/insertion AUCs against the baselines, their verdict, and the randomisation cascade."""
    print(f"Grad-CAM faithfulness on {f['images']} test images (layer {f['layer']}, explaining {f['explains']}; "
          f"pixels removed to {f['removed_to']}, {f['steps']} steps; intervals over {f['intervals']['count']} "
          f"{f['intervals']['unit']}s):")
    print(faithfulness_table(f).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(faithfulness_verdict(f))
    print("model randomisation (maps of a model with re-drawn weights vs the trained model's):")
    print(pd.DataFrame(f["randomisation"]).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(randomisation_verdict(f["randomisation"]))


def print_plausibility(p: dict) -> None:
    """Where the maps land against the synthetic evidence masks: a plausibility check, not faithfulness."""
    rows = [(k, p[k]["pointing_game"], p[k]["energy_in_mask"]) for k in ("gradcam", "random", "centre")]
    print(f"plausibility on {p['gradcam']['images']} images (synthetic evidence masks: does the map land where the "
          "generator drew the evidence? secondary to the faithfulness above):")
    print(pd.DataFrame(rows, columns=["map", "pointing_game", "energy_in_mask"])
          .to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if "by_class" in p:
        print("by true class (pointing game / energy in mask):")
        cells = {c: {k: f"{v[k]['pointing_game']:.2f} / {v[k]['energy_in_mask']:.2f}" for k in v}
                 for c, v in p["by_class"].items()}
        print(pd.DataFrame(cells).to_string())


def _print_leak_breakdown(parts: dict) -> None:
    """Accuracy on test images whose subject or copy is in train vs the rest, when there are any such."""
    if not parts["leaked"]["images"]:
        return
    print("test images whose subject or copy is also in train (leaked) vs the rest (clean):")
    rows = [(name, p["images"], p["subjects"], p["accuracy"], p["balanced_accuracy"]) for name, p in parts.items()]
    print(pd.DataFrame(rows, columns=["part", "images", "subjects", "accuracy", "balanced_accuracy"])
          .to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep="-"))


def against_baseline(metrics: dict, baseline: float) -> str:
    """The model's test balanced accuracy (with its subject-level interval) beside the thumbnail baseline's."""
    low, high = metrics["ci95"]["balanced_accuracy"]
    gain = metrics["balanced_accuracy"] - baseline
    verdict = ("clearly better: the baseline lies below the whole interval" if low > baseline else
               "not clearly better: the baseline lies inside the interval" if high >= baseline else "worse")
    return (f"Model vs thumbnail baseline, test balanced accuracy: {metrics['balanced_accuracy']:.3f} "
            f"[{low:.3f}, {high:.3f}] vs {baseline:.3f} ({gain:+.3f}), {verdict}")


def print_comparison(table: pd.DataFrame, model: str, caption: str, folders: list[Path]) -> list[Path]:
    """Print a protocol comparison with its lesson; save its figure, stamped with ``caption``, into ``folders``.

    Args:
        table: :func:`alzmri.evaluation.compare.compare_protocols`'s result.
        model: one of :data:`alzmri.evaluation.compare.MODELS`, in the figure's name.
        caption: what was compared on what data (a run and/or the data's name), under the figure.
        folders: where ``compare_<model>.png`` goes.

    Returns:
        The figure's paths.
    """
    from alzmri.reporting import plots

    print(format_comparison(table))
    print(lesson(table))
    fig = plots.stamp(plots.protocol_comparison(table, f"{model}: true vs subject-shuffled labels"), caption)
    written = plots.save_figure_to(fig, folders, f"compare_{model}.png")
    print(f"figure: {', '.join(map(str, written))}")
    return written


def print_synthetic(root: Path, manifest: pd.DataFrame, slices: int, grid: Path | None = None,
                    originals: pd.DataFrame | None = None) -> None:
    """What ``alzmri synth`` wrote: images, subjects and slices, counts per subset and class; a sample grid if asked.

    Args:
        root: the generated dataset.
        manifest: its manifest (:func:`alzmri.data.synthetic.read_manifest`).
        slices: consecutive slices per subject it was made with.
        grid: also save a grid of sample ``originals`` to this PNG.
        originals: the dataset's original slices, indexed (:func:`alzmri.data.datasets.index_dataset`), for the grid.
    """
    from alzmri.reporting import plots

    print(f"SYNTHETIC demo dataset in {one_line(root)} ({len(manifest)} images of {manifest['subject'].nunique()} "
          f"subjects x {slices} slices; manifest.csv, masks in _masks/)")
    print(manifest.groupby(["subset", "class_name"]).size().unstack(fill_value=0).to_string())
    if grid:
        fig = plots.sample_grid(originals, title="SYNTHETIC demo slices (alzmri.data.synthetic), one row per class")
        print(f"grid: {plots.save_figure(fig, grid)}")


def print_index(index, notes: list[str], show: int) -> None:
    """Class counts, the files that were skipped or converted while indexing (up to ``show`` each), and ``notes``."""
    print(f"\nDataset {one_line(index.root)}  (fingerprint {index.fingerprint}, {len(index.frame)} usable images)")
    print("\nImages per subset and class:")
    print(index.class_counts().to_string())
    print(f"\nSkipped files: {len(index.skipped)}   converted files: {len(index.converted)}")
    for _, row in index.skipped.head(show).iterrows():
        print(f"  skipped {row['path']}: {row['reason']}")
    for _, row in index.converted.head(show).iterrows():
        print(f"  converted {row['path']} (mode {row['mode']})")
    for note in notes:
        print(f"  note: {note}")


def print_audit(report, show: int = 10, save_csv: str | None = None) -> None:
    """Print ``alzmri audit``'s report (:class:`alzmri.leakage.audit.AuditReport`).

    Args:
        report: the audit.
        show: how many skipped and converted files to list.
        save_csv: also write one row per image (subject, split per protocol) to this file.
    """
    frame, recovery = report.data.frame, report.data.subjects
    print_index(report.index, report.notes, show)
    copies = frame[frame["kind"] == "augmented"]
    print(f"\nOriginals: {int((frame['kind'] == 'original').sum())}   augmented copies: {len(copies)}, "
          f"{int((copies['original'] != '').sum())} matched to their original")
    if report.mapping_quality:
        precision, recall = report.mapping_quality
        print(f"Known copy→original mapping (synthetic manifest) recovered with precision {precision:.3f}, "
              f"recall {recall:.3f}")
    print(f"\nSubjects: {recovery.describe(frame)}")
    print(recovery.per_class(frame).to_string())
    if report.similarity is not None:
        print(f"Without the ground truth, similarity alone finds {report.similarity.found} subjects: adjusted Rand "
              f"index {report.similarity.ari:.3f}.")
    print(f"\nLeakage audit: evaluation images with a copy / their subject in train; max_similarity and "
          f"at_neighbour_level (slice correlation >= {recovery.evidence.threshold:.3f}) use neither:")
    print(report.table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if save_csv:
        report.per_image.to_csv(save_csv, index=False)
        print(f"\nOne row per image: {save_csv}")
    for sentence in leak_sentences(report.table):
        print(sentence)
    print(f"Only a split with no test subject in train estimates performance on unseen people: "
          f"the default '{report.data.protocol}' split is built that way.")


def print_split_audit(report, json_path: str | None = None) -> None:
    """Print ``alzmri audit --split-file`` / ``--split``'s report (:class:`alzmri.leakage.audit.SplitAudit`).

    Args:
        report: the audit of a split made elsewhere.
        json_path: also write :func:`alzmri.leakage.audit.split_audit_json` there.
    """
    from alzmri.leakage.audit import split_audit_json

    data, listed = report.data, report.listed
    print(f"Dataset {one_line(data.root)}  (fingerprint {data.fingerprint}, {len(data.frame)} usable images"
          f"{', SYNTHETIC demo data' if data.synthetic else ''})")
    print(f"Subjects: {data.subjects.describe(data.frame)}")
    for note in report.notes:
        print(f"  note: {note}")
    matched = ", ".join(f"{n} by {how}" for how, n in listed.matched.items() if n)
    print(f"\nSplit {one_line(listed.name)}: {listed.description}; {listed.rows} row(s), matched {matched or 'none'}")
    for note in listed.notes:
        print(f"  note: {note}")
    sizes = data.sizes()
    print("  " + ", ".join(f"{s} {v['images']} images of {v['subjects']} subjects" for s, v in sizes.items()))
    shown = report.table.drop(columns=["verdict"]).rename(columns={"leaked_share": "share_leaked"})
    print("\nHeld-out images with a copy / their subject in train, either (images_leaked), and the check that uses "
          "neither (max_similarity, at_neighbour_level):")
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for row in report.table.to_dict("records"):
        print(f"Verdict, {row['pair']}: {row['verdict']}.")
    if json_path:
        save_json(json_path, split_audit_json(report))


def save_json(path: str | Path, value: dict) -> None:
    """Write ``value`` as indented JSON to ``path`` (atomically) and say where (a command's ``--json``).

    Args:
        path: the file.
        value: plain numbers, strings, lists and dicts.
    """
    write_text_atomically(path, json.dumps(value, indent=2) + "\n")
    print(f"json: {path}")


def leak_sentences(table: pd.DataFrame) -> list[str]:
    """One sentence per protocol whose test split has subjects in train: how many test subjects and images are.

    Args:
        table: the audit table (:func:`alzmri.leakage.audit.audit`).

    Returns:
        The sentences, in the table's order.
    """
    leaky = table[(table["pair"] == "train→test") & (table["subject_in_train"] > 0)]
    return [f"The {row['protocol']} split puts {row['subjects_in_train']} of its {row['subjects']} test subjects "
            f"in train ({row['subject_in_train']} of {row['images']} test images)."
            for row in leaky.to_dict("records")]  # records keep integer counts integer (iterrows makes them floats)


def print_runs(folder: Path, table: pd.DataFrame, skipped: list[tuple[str, str]], as_json: bool = False) -> None:
    """Print the finished runs (:func:`alzmri.models.runs.runs_table`), as a table or as JSON.

    Args:
        folder: the runs folder.
        table: one row per run.
        skipped: ``(folder name, reason)`` of each folder that could not be listed (to stderr, or in the JSON).
        as_json: print JSON for scripts.
    """
    import sys

    if as_json:
        print(json.dumps({"runs_dir": str(folder), "runs": json.loads(table.to_json(orient="records")),
                          "skipped": [{"folder": name, "reason": why} for name, why in skipped]}, indent=2))
        return
    for name, why in skipped:
        print(f"note: skipped {folder / name}: {why}", file=sys.stderr)
    if table.empty:
        print(f"No finished runs in {folder} (train one: python -m alzmri demo)")
        return
    print(f"Finished runs in {folder} (balanced accuracy on each run's own test split, 95 % interval over "
          "subjects; compare only rows with the same data and protocol):")
    print(table.astype(object).where(table.notna(), "-").to_string(
        index=False, formatters={c: lambda v: v if isinstance(v, str) else f"{v:.3f}"
                                 for c in ("balanced_accuracy", "ci_low", "ci_high")}))


def print_unreadable(problems: list[tuple[Path, str]]) -> None:
    """Say which input files were skipped and why (to stderr)."""
    import sys

    if problems:
        print(f"{len(problems)} file(s) could not be read and were skipped:", file=sys.stderr)
        for _, message in problems:
            print(f"  {message}", file=sys.stderr)


def print_predictions(report, as_json: bool = False) -> None:
    """Print a :class:`alzmri.evaluation.predict.PredictionReport` (as text or JSON) and its unreadable files."""
    print(json.dumps(report.as_dict(), indent=2) if as_json else report.as_text())
    print_unreadable(report.problems)


def print_overlays(report, written: list[str], unlike: list[bool], as_json: bool = False) -> None:
    """Print what ``alzmri gradcam`` wrote: the overlays, which slices look unlike the run's training data, the
    warnings and the disclaimer (or all of it as JSON)."""
    report.table.insert(1, "overlay", written)
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
        return
    print(report.provenance.text)
    print("\n".join(p + ("  (unlike its training data)" if odd else "") for p, odd in zip(written, unlike)))
    print("\n".join(report.footer()))
