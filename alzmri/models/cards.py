"""Model cards: every run says what it is for, what it was trained and tested on, how it scored, and what
it must not be used for, written from its own metadata and metrics so it cannot drift from the truth.

The layout follows the Hugging Face model card (YAML front matter with ``license``, ``tags``,
``datasets``, ``metrics``, ``model-index`` (one result per slice and one per subject, for the four classes and
for any dementia) and ``co2_eq_emissions`` where the training's energy was measured, then fixed sections).
``train`` writes the card when it saves a run; ``evaluate`` rewrites it with the test results.
"""

from __future__ import annotations

import math
from pathlib import Path

from alzmri.config import CLASS_NAMES
from alzmri.files import write_text_atomically
from alzmri.metrics import ANY_DEMENTIA
from alzmri.metrics import HEADLINE as METRICS
from alzmri.metrics import correlation_text
from alzmri.models.provenance import LEAKY_PROTOCOLS
from alzmri.models.runs import (CARD_FILE, data_name, describe_network, is_person_run, peek_metadata, read_metrics,
                                shuffled_sibling)
from alzmri.safe_text import inline_code, one_line
from alzmri.voting import describe_voting

FEW_SUBJECTS = 2  # a class resting on this many test brains or fewer is flagged
HEADLINE = ("balanced_accuracy", *(m for m in METRICS if m != "balanced_accuracy"))  # the honest number first
LEVELS = {"slice_level": "per slice", "subject_level": "per subject"}  # the any-dementia view's two levels


def _scored(test) -> dict | None:
    """A test-split entry of metrics.json as ``evaluate`` writes it, or None (missing or hand-edited)."""
    needed = {"images", "ci95", "ci_resampled", "per_class", *HEADLINE}
    return test if isinstance(test, dict) and needed <= set(test) else None


def _dataset_name(meta: dict) -> str:
    """The data a run used, as a model card names datasets (:func:`alzmri.models.provenance.data_name`, on one line)."""
    return one_line(data_name(meta))


def _shown(block: dict, keys) -> list[str]:
    """The ``keys`` of a metrics block that hold a finite number with an interval (nan: a side was absent)."""
    return [key for key in keys if isinstance(block.get(key), (int, float)) and math.isfinite(block[key])
            and key in block.get("ci95", {})]


def _result(task: str, dataset: dict, block: dict, keys) -> dict:
    """One Hugging Face ``model-index`` result: ``block``'s ``keys``, each named with its interval and unit."""
    unit = block["ci_resampled"]
    return {"task": {"type": "image-classification", "name": task}, "dataset": dict(dataset),  # no YAML aliases
            "metrics": [{"type": key, "value": round(float(block[key]), 4),
                         "name": f"{key} (95 % CI {block['ci95'][key][0]:.3f}-{block['ci95'][key][1]:.3f} over "
                                 f"{unit['count']} test {unit['unit']}s)"} for key in _shown(block, keys)]}


def _any_dementia(test: dict) -> dict | None:
    """The test entry's ``any_dementia`` view when it holds both levels, else None (older or hand-edited)."""
    view = test.get("any_dementia")
    needed = {"ci95", "ci_resampled", "threshold", "positives", "negatives", *ANY_DEMENTIA}
    if isinstance(view, dict) and all(isinstance(view.get(level), dict) and needed <= set(view[level])
                                      for level in LEVELS):
        return view
    return None


def _results_index(test: dict | None, dataset: dict) -> list[dict]:
    """The model-index results: four classes per slice and per subject, any dementia per slice and per subject."""
    if not test:
        return []
    results = [_result("Alzheimer's MRI slice classification (4 classes)", dataset, test, HEADLINE)]
    people = _scored(test.get("subject_level"))
    if people:
        results.append(_result(f"Alzheimer's MRI subject classification (4 classes, "
                               f"{one_line(describe_voting(people['voting']))})", dataset, people, HEADLINE))
    view = _any_dementia(test)
    for level, what in LEVELS.items() if view else ():
        results.append(_result(f"Any dementia vs NonDemented, {what} (cut-off chosen on the "
                               f"{one_line(view.get('threshold_from', '?'))} split)", dataset, view[level],
                               ANY_DEMENTIA))
    return results


def _emissions(meta: dict) -> dict | None:
    """The run's measured training energy (the ``emissions`` its metadata records), or None where it was not measured."""
    found = meta.get("emissions")
    if isinstance(found, dict) and isinstance(found.get("co2_eq_emissions_g"), (int, float)):
        return found
    return None


def _co2_block(meta: dict, emissions: dict) -> dict:
    """The Hugging Face ``co2_eq_emissions`` front matter of a measured training."""
    country = one_line(emissions.get("country", "?"))
    block = {"emissions": float(f"{float(emissions['co2_eq_emissions_g']):.4g}"),  # grams, 4 significant digits
             "source": f"CodeCarbon (offline, country {country})",
             "training_type": "pre-training" if str(meta.get("weights", "")).startswith("none") else "fine-tuning",
             "geographical_location": country}
    if emissions.get("hardware") and emissions["hardware"] != "unknown":
        block["hardware_used"] = one_line(emissions["hardware"])
    return block


def _front_matter(meta: dict, test: dict | None, name: str) -> str:
    """The YAML block at the top of the card (model-index results only where the test split was scored;
    ``co2_eq_emissions`` only where the training's energy was measured)."""
    import yaml

    dataset = {"name": "alzmri synthetic demo set" if meta.get("synthetic") else _dataset_name(meta),
               "type": "synthetic" if meta.get("synthetic") else one_line(meta.get("data", "?")),
               "split": f"test ({one_line(meta.get('split', '?'))} protocol)"}
    results = _results_index(test, dataset)
    emissions = _emissions(meta)
    header = {
        "license": "mit",
        "library_name": "keras",
        "tags": ["image-classification", "keras", "alzheimers-mri",
                 *(["model-of-the-person"] if is_person_run(meta) else ["transfer-learning", "grad-cam"]),
                 "not-for-clinical-use"] + (["synthetic-data"] if meta.get("synthetic") else []),
        "datasets": [_dataset_name(meta)],
        "metrics": list(HEADLINE),
        "model-index": [{"name": one_line(name), "results": results}],
        **({"co2_eq_emissions": _co2_block(meta, emissions)} if emissions else {}),
    }
    return "---\n" + yaml.safe_dump(header, sort_keys=False, allow_unicode=True) + "---\n"


def _warnings(meta: dict, test: dict | None) -> list[str]:
    """Lines that must be read first: a leaky protocol, shuffled labels, synthetic data."""
    lines = []
    leaked = (test or {}).get("leakage", {}).get("leaked", {})
    if meta.get("split") in LEAKY_PROTOCOLS or leaked.get("images"):
        lines.append(f"> **Warning: leaky protocol ({inline_code(meta.get('split'))}).** Test slices share brains (or augmented "
                     f"copies) with the training slices"
                     + (f": {leaked['subjects']} test subjects, {leaked['images']} test images" if leaked else "")
                     + ". Its numbers measure memorisation of those brains, not performance on unseen people.")
    if meta.get("labels", "true") != "true":
        lines.append("> **Shuffled-label control.** Trained on labels shuffled by subject: anything above chance "
                     "is memorisation. This is a check, not a classifier.")
    if meta.get("synthetic"):
        lines.append("> **Synthetic data.** Trained and tested on alzmri's generated demo slices: the numbers "
                     "describe the method, not patients.")
    return lines



def _limitations(synthetic: bool) -> list[str]:
    """The card's bias and limitation bullets: about the generator for a synthetic run, the real set otherwise."""
    data = ([
        "- Trained on SYNTHETIC slices drawn by `alzmri.data.synthetic`: their atrophy is programmed, their subjects, "
        "scanner and noise are invented. The model has learnt the generator, not brains; its answers on real scans "
        "mean nothing.",
        "- The class proportions and the slices per subject imitate the real source set; the difficulty does not.",
    ] if synthetic else [
        "- One dataset, one scanner population (the Kaggle source set, itself derived from OASIS-style scans); "
        "labels are per slice, from a curated dataset, not clinical diagnoses.",
        "- Classes are imbalanced and the Moderate class comes from 2 subjects in the real source set: "
        "its numbers say little.",
    ])
    return data + [
        "- Slice-level splits of this data inflate accuracy by about 30 points (Yagis et al., Sci Rep 2021): "
        "only the `subject` protocol estimates performance on unseen people.",
        "- Grad-CAM maps are coarse (the feature map's resolution) and show what separates the predicted class, "
        "not everything the model uses.",
    ]


def _metric_rows(block: dict, keys) -> list[str]:
    """Markdown rows ``| metric | value | low-high |`` of a metrics block."""
    return [f"| {key} | {block[key]:.3f} | {block['ci95'][key][0]:.3f}-{block['ci95'][key][1]:.3f} |"
            for key in _shown(block, keys)]


def _interval(block: dict, key: str) -> str:
    """``value | low-high`` of one metric for a table cell pair; ``- | -`` where it is undefined."""
    value, (low, high) = block[key], block["ci95"][key]
    return f"{value:.3f} | {low:.3f}-{high:.3f}" if math.isfinite(value) else "- | -"


def _people(test: dict) -> list[str]:
    """The Results lines per subject (four classes) and for any dementia against none, at both levels."""
    lines = []
    people = _scored(test.get("subject_level"))
    if people:
        lines += ["", f"**Per subject** (each test subject's slices combined into one answer by "
                      f"{one_line(people.get('voting', '?'))} voting; {people.get('subjects', '?')} subjects, "
                      f"{people['images']} slices; intervals resample the subjects):", "",
                  "| metric | value | 95 % interval |", "|---|---|---|", *_metric_rows(people, HEADLINE)]
        for key in ("note", "voting_note"):
            lines += ["", f"{one_line(people[key])}."] if people.get(key) else []
    view = _any_dementia(test)
    if view:
        per_slice, per_subject = view["slice_level"], view["subject_level"]
        lines += ["", f"**Any dementia** (Mild, Moderate or VeryMild against NonDemented, from P(any dementia) = "
                      f"1 - P(NonDemented); cut-offs chosen on the {one_line(view.get('threshold_from', '?'))} split: "
                      f"{per_slice['threshold']:.3f} per slice, {per_subject['threshold']:.3f} per subject; "
                      f"{per_subject['positives']} demented and {per_subject['negatives']} non-demented test "
                      "subjects):", "",
                  "| metric | per slice | 95 % interval | per subject | 95 % interval |", "|---|---|---|---|---|"]
        lines += [f"| {key} | {_interval(per_slice, key)} | {_interval(per_subject, key)} |" for key in ANY_DEMENTIA]
        lines += ["", f"{one_line(view['note'])}."] if view.get("note") else []
    return lines + _three_class(test.get("three_class"))


def _three_class(view: dict | None) -> list[str]:
    """The Results line of the three-class view (Mild and Moderate merged), where the test entry holds it."""
    if not isinstance(view, dict) or not all(isinstance(view.get(f"{k}_level"), dict) for k in ("slice", "subject")):
        return []
    cells = [f"{b['balanced_accuracy']:.3f} ({b['ci'][0]:.3f}-{b['ci'][1]:.3f})"
             for b in (view["slice_level"], view["subject_level"])]
    return ["", f"**Three classes** (MildDemented and ModerateDemented merged): balanced accuracy {cells[0]} per "
                f"slice, {cells[1]} per subject (95 % intervals)."]


def _energy(meta: dict) -> list[str]:
    """The Environmental impact section: the training's measured energy and CO2 estimate, or why there is none."""
    emissions = _emissions(meta)
    if emissions:
        hardware = emissions.get("hardware")
        return [f"Training used {float(emissions.get('energy_kwh', float('nan'))):.3g} kWh, about "
                f"{float(emissions['co2_eq_emissions_g']):.3g} g CO2-equivalent, in "
                f"{float(emissions.get('duration_s', float('nan'))):.0f} s"
                + (f" on {inline_code(hardware)}" if hardware and hardware != "unknown" else "")
                + f" (estimated by {inline_code(emissions.get('tracker', 'CodeCarbon'))} with the grid of "
                  f"{inline_code(emissions.get('country', '?'))}; an estimate from the hardware's power, not a meter).",
                "", "Evaluation and prediction are not included."
                + (f" Measured: {one_line(emissions['note'])} (the run was interrupted and resumed)."
                   if emissions.get("note") else "")]
    found = meta.get("emissions")
    why = found.get("error") if isinstance(found, dict) else None
    return [f"Not measured: {one_line(why)}." if why else "Not measured (the run predates energy tracking)."]


def _results(test: dict | None, shuffled: dict | None) -> list[str]:
    """The Results section: headline numbers with intervals, per class, faithfulness, shuffled labels."""
    if not test:
        return ["Not scored on the test split yet: run `python -m alzmri evaluate RUN`, which rewrites this card."]
    unit = test["ci_resampled"]
    lines = [f"Test split: {test['images']} images of {unit['count']} {unit['unit']}s; 95 % intervals from "
             f"{unit['resamples']} bootstrap resamples of the {unit['unit']}s (each one's slices together).", "",
             "| metric | value | 95 % interval |", "|---|---|---|"]
    lines += _metric_rows(test, HEADLINE)
    lines += ["", "| class | precision | recall | test images | test subjects |", "|---|---|---|---|---|"]
    few = []
    for name in CLASS_NAMES:
        row = test["per_class"][name]
        subjects = row.get("subjects")
        if subjects is not None and 0 < subjects <= FEW_SUBJECTS:
            few.append(f"{name} ({subjects})")
        lines.append(f"| {name} | {row['precision']:.3f} | {row['recall']:.3f} | {int(row['support'])} | "
                     f"{subjects if subjects is not None else '?'} |")
    if few:
        lines += ["", f"**Few brains:** the numbers of {', '.join(few)} rest on one or two test subjects each: "
                      "they say little about the class."]
    if test.get("absent_classes"):
        lines += ["", f"No test images of {', '.join(test['absent_classes'])}: their recall is undefined."]
    lines += _people(test)
    faith = test.get("faithfulness")
    if faith and "deletion_auc" in faith:  # runs evaluated before deletion/insertion existed have none
        lines += ["", f"Grad-CAM faithfulness ({faith['images']} test images, layer {inline_code(faith['layer'])}): deletion AUC "
                      + ", ".join(f"{k} {v:.3f}" for k, v in faith["deletion_auc"].items())
                      + " (lower is more faithful); insertion AUC "
                      + ", ".join(f"{k} {v:.3f}" for k, v in faith["insertion_auc"].items())
                      + " (higher is more faithful); rank correlation with the trained maps after re-drawing "
                      + ", ".join(f"{s['randomised']}: {correlation_text(s['rank_correlation'])}"
                                  for s in faith["randomisation"])
                      + "."]
    if shuffled:
        lines += ["", f"Shuffled-label control (same settings, labels shuffled by subject): test balanced accuracy "
                      f"{shuffled['balanced_accuracy']:.3f} ({shuffled['ci95']['balanced_accuracy'][0]:.3f}-"
                      f"{shuffled['ci95']['balanced_accuracy'][1]:.3f}); near chance means nothing was memorised."]
    return lines


def model_card(run_dir: str | Path) -> str:
    """The model card of a run, as Markdown, from its metadata and metrics and those of its shuffled-label sibling.

    Args:
        run_dir: the run folder.

    Returns:
        The card's Markdown.
    """
    run_dir = Path(run_dir)
    meta = peek_metadata(run_dir)
    test = _scored(read_metrics(run_dir).get("test"))
    sibling = shuffled_sibling(run_dir, meta)
    shuffled = _scored(read_metrics(sibling).get("test")) if sibling is not None else None
    lines = [_front_matter(meta, test, run_dir.name), f"# Model card: {inline_code(run_dir.name)}", ""]
    first = _warnings(meta, test)
    lines += first + [""] if first else []
    lines += ["> **Not a medical device.** A teaching and research model; its outputs are not diagnoses.", ""]
    lines += _model_details(meta) + _uses(meta) + _training_data(meta) + _evaluation_protocol(meta, test)
    lines += ["", "## Results", ""] + _results(test, shuffled) + [
        "", "## Bias, risks and limitations", "", *_limitations(bool(meta.get("synthetic"))), "",
        "## Environmental impact", "", *_energy(meta), "", "## How to use", "", *_how_to_use(run_dir, meta)]
    return "\n".join(lines)


def _model_details(meta: dict) -> list[str]:
    """The Model details section: the network (backbone and head, or the model of the person), preset and input,
    training time, seed and libraries."""
    config = meta.get("config", {})
    return [
        "## Model details", "",
        _network_line(meta, config),
        f"- Preset {inline_code(meta.get('profile', '?'))}, input {one_line(meta.get('image_size', '?'))} px square "
        f"({one_line(meta.get('input', ''))}, mode {inline_code(meta.get('preprocessing', '?'))}).",
        f"- Trained in {one_line(meta.get('train_seconds', '?'))} s, seed {one_line(meta.get('seed', '?'))}, created "
        f"{inline_code(meta.get('created', 'unknown'))}; libraries: "
        + ", ".join(inline_code(f"{k} {v}") for k, v in meta.get("libraries", {}).items()) + ".", ""]


def _uses(meta: dict) -> list[str]:
    """The Intended uses and Out-of-scope uses sections (what is taught differs for a model of the person)."""
    taught = ("a model of the whole person (one answer from a subject's stack of slices) and honest (subject-level) "
              "evaluation behave" if is_person_run(meta) else
              "transfer learning, honest (subject-level) evaluation and Grad-CAM behave")
    return [
        "## Intended uses", "",
        f"Teaching and research: how {taught} on Alzheimer's MRI slices; a baseline to compare methods against under "
        "the same protocol.", "",
        "## Out-of-scope uses", "",
        "- Any diagnosis, screening or clinical decision about a person.",
        "- Other diseases, other scanners, sequences or slice positions than those seen in training.",
        "- Comparing its numbers with runs on another split protocol or other data: they are not comparable.", ""]


def _training_data(meta: dict) -> list[str]:
    """The Training data section: the data and its fingerprint, its subjects, labels and split sizes."""
    sizes = meta.get("split_sizes", {})
    subjects = meta.get("subjects") or {}
    return [
        "## Training data", "",
        f"- Data: {inline_code(meta.get('data', '?'))} (fingerprint {inline_code(meta.get('data_fingerprint', '?'))})"
        + ("; SYNTHETIC (alzmri's generated demo set)." if meta.get("synthetic") else "."),
        f"- Subjects: {one_line(subjects.get('count', '?'))}, found from {inline_code(subjects.get('method', '?'))}"
        + (" (ground truth)." if subjects.get("ground_truth") else " (recovered, not given)."),
        f"- Labels: {inline_code(meta.get('labels', 'true'))}.",
        "- Per split: " + "; ".join(f"{split} {s['images']} images of {s['subjects']} subjects"
                                    for split, s in sizes.items())
        + f" (which file went where: {inline_code(meta.get('split_file', 'splits.csv'))}).",
        ""]


def _evaluation_protocol(meta: dict, test: dict | None) -> list[str]:
    """The Evaluation data and protocol section: the split protocol (leaky or not) and the test split's audit."""
    lines = [
        "## Evaluation data and protocol", "",
        f"- Split protocol: {inline_code(meta.get('split', '?'))}"
        + (" (no brain in two splits; copies follow their original)." if meta.get("split") == "subject" else
           " (LEAKY: slices of test brains are in train)." if meta.get("split") in LEAKY_PROTOCOLS else "."),
    ]
    if test:
        leaked, clean = test.get("leakage", {}).get("leaked", {}), test.get("leakage", {}).get("clean", {})
        lines.append(f"- Audit of the test split: {leaked.get('images', '?')} test images whose subject or copy is "
                     f"in train ({leaked.get('subjects', '?')} subjects), {clean.get('images', '?')} clean.")
    return lines


def _network_line(meta: dict, config: dict) -> str:
    """The Model details line about the network: the backbone and its new head, or the model of the person."""
    classes = f"softmax over {len(CLASS_NAMES)} classes: {', '.join(CLASS_NAMES)}"
    if is_person_run(meta):
        return (f"- Network: {inline_code(describe_network(meta))}, trained from scratch on whole subjects (dropout "
                f"{config.get('dropout', '?')}, {classes}): one answer per subject, which each of its slices is "
                "given when scored per slice.")
    return (f"- Backbone: {inline_code(describe_network(meta))}, weights: {inline_code(meta.get('weights', '?'))}, with "
            f"a new head (global average pooling, dropout {config.get('dropout', '?')}, {classes}).")


def _how_to_use(run_dir: Path, meta: dict) -> list[str]:
    """The How to use section: a slice classifier per slice file; a model of the person once per subject, from a
    folder of its slices (it answers no single slice)."""
    if is_person_run(meta):
        call = ("from alzmri.evaluation.predict import predict_subjects_report",
                "report = predict_subjects_report(run, ['brains'], sorted(Path('brains').rglob('*.jpg')))  "
                "# a sub-folder a subject")
        also = ("Or: `python -m alzmri predict RUN --per-subject FOLDER` (a sub-folder a subject). It answers no "
                "single slice: `predict` without `--per-subject`, `serve` and `gradcam` refuse it.")
    else:
        call = ("from alzmri.evaluation.predict import predict_files",
                "table, unreadable = predict_files(run, [Path('slice.jpg')])  # resized and checked like training")
        also = "Or: `python -m alzmri predict RUN slice.jpg`, `python -m alzmri gradcam RUN slice.jpg`."
    return ["```python", "from pathlib import Path", "", "from alzmri.models.runs import load_run", call[0], "",
            f"run = load_run({str(run_dir)!r})", call[1], "```", "", also, ""]


def card_body(run_dir: str | Path) -> str:
    """A run's saved model card without its YAML front matter: the Markdown a reader sees.

    Args:
        run_dir: the run folder.

    Returns:
        The card's text after the closing ``---`` of its front matter.
    """
    return (Path(run_dir) / CARD_FILE).read_text().split("---\n", 2)[2]


def write_model_card(run_dir: str | Path) -> Path:
    """Write (or rewrite) the run's model card (``MODEL_CARD.md``) in its folder, atomically; returns its path."""
    return write_text_atomically(Path(run_dir) / CARD_FILE, model_card(run_dir))


