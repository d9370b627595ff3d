"""What the command line prints: a training run's summary, an evaluation, Grad-CAM's faithfulness.

Kept apart from :mod:`alzmri.cli` (which parses arguments and runs commands) so that notebooks and scripts
can print the same reports.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from alzmri.models.classifier import describe_backbone
from alzmri.models.provenance import DISCLAIMER
from alzmri.safe_text import one_line



def training_summary(run_dir: Path, metadata: dict) -> str:
    """The closing table of a training run: validation only (the test split is for ``evaluate``)."""
    rows = [(split, m["images"], m["accuracy"], m["balanced_accuracy"], m["macro_f1"])
            for split, m in metadata["metrics"].items()]
    table = pd.DataFrame(rows, columns=["split", "images", "accuracy", "balanced_acc", "macro_f1"])
    backbone = describe_backbone(metadata["backbone"], metadata["config"].get("backbone_end"))
    lines = [f"\nRun saved to {run_dir}", f"backbone {backbone} ({metadata['weights']}), "
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
    """Headline metrics with 95 % intervals, per-class recall and Grad-CAM faithfulness."""
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
    if "faithfulness" in m:
        _print_faithfulness(m["faithfulness"])
    if "plausibility" in m:
        _print_plausibility(m["plausibility"])
    print(DISCLAIMER)


def _print_faithfulness(f: dict) -> None:
    """Deletion/insertion AUCs against the baselines, their verdict, and the randomisation cascade."""
    from alzmri.explain.faithfulness import faithfulness_table, randomisation_verdict, verdict

    print(f"Grad-CAM faithfulness on {f['images']} test images (layer {f['layer']}, explaining {f['explains']}; "
          f"pixels removed to {f['removed_to']}, {f['steps']} steps; intervals over {f['intervals']['count']} "
          f"{f['intervals']['unit']}s):")
    print(faithfulness_table(f).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(verdict(f))
    print("model randomisation (maps of a model with re-drawn weights vs the trained model's):")
    print(pd.DataFrame(f["randomisation"]).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(randomisation_verdict(f["randomisation"]))


def _print_plausibility(p: dict) -> None:
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


def print_comparison(table: pd.DataFrame, model: str, caption: str, folders: list[Path],
                     json_path: str | None = None) -> list[Path]:
    """Print a protocol comparison with its lesson; save its figure, stamped with ``caption``, into ``folders``.

    Args:
        table: :func:`alzmri.evaluation.compare.compare_protocols`'s result.
        model: ``probe`` or ``cnn``, in the figure's name and the JSON.
        caption: what was compared on what data (a run and/or the data's name), under the figure.
        folders: where ``compare_<model>.png`` goes.
        json_path: also write :func:`alzmri.evaluation.compare.comparison_json` there.

    Returns:
        The figure's paths.
    """
    import json

    from alzmri.reporting import plots
    from alzmri.evaluation.compare import comparison_json, format_comparison, lesson

    print(format_comparison(table))
    print(lesson(table))
    fig = plots.stamp(plots.protocol_comparison(table, f"{model}: true vs subject-shuffled labels"), caption)
    written = plots.save_figure_to(fig, folders, f"compare_{model}.png")
    print(f"figure: {', '.join(map(str, written))}")
    if json_path:
        Path(json_path).write_text(json.dumps(comparison_json(table, model), indent=2) + "\n")
        print(f"json: {json_path}")
    return written
