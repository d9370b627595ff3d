"""Model cards: every run says what it is for, what it was trained and tested on, how it scored, and what
it must not be used for, written from its own metadata and metrics so it cannot drift from the truth.

The layout follows the Hugging Face model card (YAML front matter with ``license``, ``tags``,
``datasets``, ``metrics`` and ``model-index``, then fixed sections). ``train`` writes the card when it
saves a run; ``evaluate`` rewrites it with the test results.
"""

from __future__ import annotations

from pathlib import Path

from alzmri.config import CLASS_NAMES
from alzmri.files import write_text_atomically
from alzmri.metrics import HEADLINE as METRICS
from alzmri.metrics import correlation_text
from alzmri.models.classifier import describe_backbone
from alzmri.models.provenance import LEAKY_PROTOCOLS
from alzmri.models.runs import CARD_FILE, data_name, peek_metadata, read_metrics, shuffled_sibling
from alzmri.safe_text import inline_code, one_line

FEW_SUBJECTS = 2  # a class resting on this many test brains or fewer is flagged
HEADLINE = ("balanced_accuracy", *(m for m in METRICS if m != "balanced_accuracy"))  # the honest number first


def _scored(test) -> dict | None:
    """A test-split entry of metrics.json as ``evaluate`` writes it, or None (missing or hand-edited)."""
    needed = {"images", "ci95", "ci_resampled", "per_class", *HEADLINE}
    return test if isinstance(test, dict) and needed <= set(test) else None


def _dataset_name(meta: dict) -> str:
    """The data a run used, as a model card names datasets (:func:`alzmri.models.provenance.data_name`, on one line)."""
    return one_line(data_name(meta))


def _front_matter(meta: dict, test: dict | None, name: str) -> str:
    """The YAML block at the top of the card (model-index results only where the test split was scored)."""
    import yaml

    dataset = {"name": "alzmri synthetic demo set" if meta.get("synthetic") else _dataset_name(meta),
               "type": "synthetic" if meta.get("synthetic") else one_line(meta.get("data", "?")),
               "split": f"test ({one_line(meta.get('split', '?'))} protocol)"}
    results = [] if not test else [{
        "task": {"type": "image-classification", "name": "Alzheimer's MRI slice classification (4 classes)"},
        "dataset": dataset,
        "metrics": [{"type": key, "value": round(float(test[key]), 4),
                     "name": f"{key} (95 % CI {test['ci95'][key][0]:.3f}-{test['ci95'][key][1]:.3f} over "
                             f"{test['ci_resampled']['count']} test {test['ci_resampled']['unit']}s)"}
                    for key in HEADLINE if test.get(key) is not None and key in test.get("ci95", {})],
    }]
    header = {
        "license": "mit",
        "library_name": "keras",
        "tags": ["image-classification", "keras", "alzheimers-mri", "transfer-learning", "grad-cam",
                 "not-for-clinical-use"] + (["synthetic-data"] if meta.get("synthetic") else []),
        "datasets": [_dataset_name(meta)],
        "metrics": list(HEADLINE),
        "model-index": [{"name": one_line(name), "results": results}],
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

def _results(test: dict | None, shuffled: dict | None) -> list[str]:
    """The Results section: headline numbers with intervals, per class, faithfulness, shuffled labels."""
    if not test:
        return ["Not scored on the test split yet: run `python -m alzmri evaluate RUN`, which rewrites this card."]
    unit = test["ci_resampled"]
    lines = [f"Test split: {test['images']} images of {unit['count']} {unit['unit']}s; 95 % intervals from "
             f"{unit['resamples']} bootstrap resamples of the {unit['unit']}s (each one's slices together).", "",
             "| metric | value | 95 % interval |", "|---|---|---|"]
    lines += [f"| {key} | {test[key]:.3f} | {test['ci95'][key][0]:.3f}-{test['ci95'][key][1]:.3f} |"
              for key in HEADLINE if test.get(key) is not None and key in test.get("ci95", {})]
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
    config = meta.get("config", {})
    sizes = meta.get("split_sizes", {})
    subjects = meta.get("subjects") or {}
    backbone = describe_backbone(meta.get("backbone", "?"), config.get("backbone_end"))
    lines = [_front_matter(meta, test, run_dir.name), f"# Model card: {inline_code(run_dir.name)}", ""]
    first = _warnings(meta, test)
    lines += first + [""] if first else []
    lines += [
        "> **Not a medical device.** A teaching and research model; its outputs are not diagnoses.", "",
        "## Model details", "",
        f"- Backbone: {inline_code(backbone)}, weights: {inline_code(meta.get('weights', '?'))}, with a new head (global average pooling, "
        f"dropout {config.get('dropout', '?')}, softmax over {len(CLASS_NAMES)} classes: "
        f"{', '.join(CLASS_NAMES)}).",
        f"- Preset {inline_code(meta.get('profile', '?'))}, input {one_line(meta.get('image_size', '?'))} px square "
        f"({one_line(meta.get('input', ''))}, mode {inline_code(meta.get('preprocessing', '?'))}).",
        f"- Trained in {one_line(meta.get('train_seconds', '?'))} s, seed {one_line(meta.get('seed', '?'))}, created "
        f"{inline_code(meta.get('created', 'unknown'))}; libraries: "
        + ", ".join(inline_code(f"{k} {v}") for k, v in meta.get("libraries", {}).items()) + ".", "",
        "## Intended uses", "",
        "Teaching and research: how transfer learning, honest (subject-level) evaluation and Grad-CAM behave on "
        "Alzheimer's MRI slices; a baseline to compare methods against under the same protocol.", "",
        "## Out-of-scope uses", "",
        "- Any diagnosis, screening or clinical decision about a person.",
        "- Other diseases, other scanners, sequences or slice positions than those seen in training.",
        "- Comparing its numbers with runs on another split protocol or other data: they are not comparable.", "",
        "## Training data", "",
        f"- Data: {inline_code(meta.get('data', '?'))} (fingerprint {inline_code(meta.get('data_fingerprint', '?'))})"
        + ("; SYNTHETIC (alzmri's generated demo set)." if meta.get("synthetic") else "."),
        f"- Subjects: {one_line(subjects.get('count', '?'))}, found from {inline_code(subjects.get('method', '?'))}"
        + (" (ground truth)." if subjects.get("ground_truth") else " (recovered, not given)."),
        f"- Labels: {inline_code(meta.get('labels', 'true'))}.",
        "- Per split: " + "; ".join(f"{split} {s['images']} images of {s['subjects']} subjects"
                                    for split, s in sizes.items())
        + f" (which file went where: {inline_code(meta.get('split_file', 'splits.csv'))}).",
        "",
        "## Evaluation data and protocol", "",
        f"- Split protocol: {inline_code(meta.get('split', '?'))}"
        + (" (no brain in two splits; copies follow their original)." if meta.get("split") == "subject" else
           " (LEAKY: slices of test brains are in train)." if meta.get("split") in LEAKY_PROTOCOLS else "."),
    ]
    if test:
        leaked, clean = test.get("leakage", {}).get("leaked", {}), test.get("leakage", {}).get("clean", {})
        lines.append(f"- Audit of the test split: {leaked.get('images', '?')} test images whose subject or copy is "
                     f"in train ({leaked.get('subjects', '?')} subjects), {clean.get('images', '?')} clean.")
    lines += ["", "## Results", ""] + _results(test, shuffled) + [
        "", "## Bias, risks and limitations", "", *_limitations(bool(meta.get("synthetic"))), "",
        "## How to use", "", "```python",
        "from pathlib import Path", "",
        "from alzmri.models.runs import load_run",
        "from alzmri.evaluation.evaluate import predict_files",
        "", f"run = load_run({str(run_dir)!r})",
        "table, unreadable = predict_files(run, [Path('slice.jpg')])  # resized and checked like training",
        "```", "", "Or: `python -m alzmri predict RUN slice.jpg`, `python -m alzmri gradcam RUN slice.jpg`.", ""]
    return "\n".join(lines)


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


