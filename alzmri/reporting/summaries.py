"""Results in words: the printable tables and verdicts of the protocol comparison, cross-validation and
Grad-CAM's checks (faithfulness, randomisation, plausibility).

They read the results :mod:`alzmri.evaluation` and :mod:`alzmri.explain` computed (a comparison table, a
cross-validation summary, an evaluation's ``faithfulness`` and ``plausibility``) and compute nothing themselves;
:mod:`alzmri.reporting.reports` prints them.
"""

from __future__ import annotations

import pandas as pd

from alzmri.metrics import correlation_text
from alzmri.voting import PERSON, describe_voting


def with_ci(value: float, ci: list[float]) -> str:
    """A value and its 95 % interval, as the printed tables show them."""
    return f"{value:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def format_comparison(table: pd.DataFrame) -> str:
    """The comparison as a printable table, intervals in brackets."""
    shown = pd.DataFrame({
        "protocol": table["protocol"],
        "test images": table["test_images"],
        "test subjects in train": [f"{a} of {b}" for a, b in
                                   zip(table["test_subjects_in_train"], table["test_subjects"])],
        "balanced acc [95% CI]": [with_ci(v, c) for v, c in zip(table["balanced_accuracy"], table["ci"])],
        "shuffled labels [95% CI]": [with_ci(v, c) for v, c in zip(table["balanced_accuracy_shuffled"],
                                                                   table["ci_shuffled"])],
        "chance": [a if a == b else f"{a} / {b}" for a, b in
                   zip(table["chance"].map("{:.2f}".format), table["chance_shuffled"].map("{:.2f}".format))],
        "any-dementia AUC [95% CI]": [with_ci(v, c) for v, c in zip(table["auc_any_dementia"],
                                                                    table["ci_auc_any_dementia"])],
    })
    return shown.to_string(index=False)


def memorises(row: pd.Series) -> bool:
    """True when the shuffled-label score's interval lies wholly above chance: the split rewards memory."""
    return row["ci_shuffled"][0] > row["chance_shuffled"]


def protocol_verdict(row: pd.Series) -> str:
    """What one protocol's pair of scores says, given whether its test subjects are in train."""
    leaky = row["test_subjects_in_train"] > 0 or row["test_images_leaked"] > 0
    if memorises(row):
        return ("scores above chance on labels that mean nothing: it recognises the subjects it trained on, so its "
                "true-label score measures memory" if leaky else
                "scores above chance on shuffled labels with no test subject in train: something else identifies "
                "the subjects (check how they were found)")
    if leaky:
        return ("this model did not memorise enough to beat chance on shuffled labels, but the split leaks: a "
                "stronger model would, so its true-label score is still no estimate for unseen subjects")
    if row["balanced_accuracy_shuffled"] > row["chance_shuffled"] + 0.1:  # above chance, but its interval reaches it
        return ("cannot tell on this few subjects whether it memorises: above chance on shuffled labels, but with an "
                "interval that reaches chance; no test subject in train")
    return "at chance on shuffled labels and no test subject in train: its true-label score is an honest estimate"


def lesson(table: pd.DataFrame) -> str:
    """What the comparison shows, protocol by protocol, in words."""
    lines = [f"* {row['protocol']}: {row['test_subjects_in_train']} of {row['test_subjects']} test subjects in train; "
             f"shuffled {row['balanced_accuracy_shuffled']:.2f} [{row['ci_shuffled'][0]:.2f}, "
             f"{row['ci_shuffled'][1]:.2f}] vs chance {row['chance_shuffled']:.2f}: {protocol_verdict(row)}."
             for _, row in table.iterrows()]
    lines.append(f"Intervals resample test {table.iloc[0]['unit']}s ({', '.join(map(str, table['units']))} per "
                 "protocol), not slices.")
    return "\n".join(lines)


def format_against(against: dict, model: str) -> list[str]:
    """The paired lines: model minus reference per slice and per subject, with intervals and DeLong's p."""
    lines = []
    for level in ("slice", "subject"):
        d = against[f"{level}_level"]
        lines.append(f"{model} minus {against['model']} per {level:7s}: balanced accuracy "
                     f"{d['balanced_accuracy_difference']:+.3f} [{d['ci'][0]:+.2f}, {d['ci'][1]:+.2f}] (paired "
                     f"bootstrap); any-dementia AUC {d['auc_any_dementia_difference']:+.3f} [{d['ci_auc'][0]:+.2f}, "
                     f"{d['ci_auc'][1]:+.2f}], DeLong p = {d['delong_p']:.3g}")
    return lines


def format_cv(summary: dict) -> str:
    """The per-fold table and both pooled levels (four classes, three classes and any dementia, with intervals),
    and the paired difference against a reference where there is one, printable."""
    table = pd.DataFrame(summary["per_fold"]).rename(columns={
        "test_subjects": "test subjects", "test_images": "test images", "val_subjects": "val subjects",
        "balanced_accuracy_slice": "bal. acc per slice", "balanced_accuracy_subject": "bal. acc per subject",
        "threshold_slice": "any-dementia cut (slice)", "threshold_subject": "(subject)"})
    lines = [table.to_string(index=False, float_format=lambda v: f"{v:.3f}"), ""]
    for level in ("slice", "subject"):
        m, three = summary[f"{level}_level"], summary["three_class"][f"{level}_level"]
        a = m["any_dementia"]
        lines.append(f"per {level:7s} ({m['images'] if level == 'slice' else m['subjects']} {level}s): "
                     f"4-class balanced accuracy {with_ci(m['balanced_accuracy'], m['ci'])}, "
                     f"3-class {with_ci(three['balanced_accuracy'], three['ci'])}, "
                     f"kappa {with_ci(m['quadratic_kappa'], m['ci95']['quadratic_kappa'])}; any dementia: AUC "
                     f"{with_ci(m['auc_any_dementia'], m['ci_auc_any_dementia'])}, sensitivity "
                     f"{with_ci(a['sensitivity'], a['ci95']['sensitivity'])}, specificity "
                     f"{with_ci(a['specificity'], a['ci95']['specificity'])}")
    if "against" in summary:
        lines += format_against(summary["against"], summary["model"])
    voted = describe_voting(PERSON if summary["model"] == "person" else "soft")
    tested = "once" if summary["repeats"] == 1 else f"{summary['repeats']} times (fold seeds {summary['seed']}, ...)"
    lines.append(f"{summary['subjects_tested']} subjects and {summary['images_tested']} slices, each tested {tested} "
                 f"over {summary['folds']} folds; intervals resample subjects; per subject: {voted}; 3-class: "
                 f"Mild and Moderate merged; any-dementia threshold from {summary['any_dementia_threshold_from']}. A "
                 "fold's balanced accuracy averages the classes it tests (a fold without a rare class averages fewer), "
                 "so the pooled one can lie below every fold's.")
    return "\n".join(lines)


def faithfulness_table(report: dict) -> pd.DataFrame:
    """Deletion and insertion AUC of each map with their intervals, as a printable table."""
    rows = [(name, report["deletion_auc"][name], *report["deletion_auc_ci"][name], report["insertion_auc"][name],
             *report["insertion_auc_ci"][name]) for name in report["deletion_auc"]]
    return pd.DataFrame(rows, columns=["map", "deletion_auc", "del_ci_low", "del_ci_high", "insertion_auc",
                                       "ins_ci_low", "ins_ci_high"])


def faithfulness_verdict(report: dict) -> str:
    """Whether Grad-CAM beat each map that knows nothing of the model, read off the intervals."""
    lines = []
    for other in (name for name in report["deletion_auc"] if name != "gradcam"):
        for kind, better, word in (("deletion", "lower", "fall"), ("insertion", "higher", "rise")):
            cam, base = report[f"{kind}_auc"]["gradcam"], report[f"{kind}_auc"][other]
            cam_ci, base_ci = report[f"{kind}_auc_ci"]["gradcam"], report[f"{kind}_auc_ci"][other]
            wins = cam < base if better == "lower" else cam > base
            clear = cam_ci[1] < base_ci[0] if better == "lower" else cam_ci[0] > base_ci[1]
            lines.append(f"{kind}: Grad-CAM {cam:.3f} vs {other} {base:.3f}: the probability "
                         + (f"{word}s faster with Grad-CAM" + (", intervals apart" if clear else ", intervals overlap")
                            if wins else f"does NOT {word} faster with Grad-CAM"))
    return "\n".join(lines)


def randomisation_verdict(cascade: list[dict], threshold: float = 0.5) -> str:
    """Whether the maps decorrelate as the model's weights are destroyed."""
    last = cascade[-1]
    if last["rank_correlation"] is None:
        return f"with {last['randomised']} re-drawn the maps are flat: nothing of the trained maps is left"
    if last["rank_correlation"] < threshold:
        return (f"the maps decorrelate as weights are re-initialised (rank correlation "
                f"{correlation_text(cascade[0]['rank_correlation'])} with the head re-drawn, "
                f"{last['rank_correlation']:.2f} with "
                f"{last['randomised']}): they depend on what the model learnt")
    return (f"the maps stay alike when the weights are destroyed (rank correlation {last['rank_correlation']:.2f} "
            f"with {last['randomised']}): they explain the image more than the model")


def plausibility_verdict(plausibility: dict) -> list[str]:
    """Whether Grad-CAM puts more of its energy inside the synthetic evidence masks than each baseline map does.

    Args:
        plausibility: the ``plausibility`` entry of an evaluation's metrics.

    Returns:
        One line per baseline (``random``, ``centre``).
    """
    ours = plausibility["gradcam"]["energy_in_mask"]
    return [f"energy in mask: Grad-CAM {'beats' if ours > plausibility[b]['energy_in_mask'] else 'does NOT beat'} "
            f"the {b} baseline" for b in ("random", "centre")]
