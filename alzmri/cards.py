"""Model cards: every run says what it is for, what it was trained and tested on, how it scored, and what
it must not be used for, written from its own metadata and metrics so it cannot drift from the truth.

The layout follows the Hugging Face model card (YAML front matter with ``license``, ``tags``,
``datasets``, ``metrics`` and ``model-index``, then fixed sections). ``train`` writes the card when it
saves a run; ``evaluate`` rewrites it with the test results.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .config import CLASS_NAMES, HF_REPO, KAGGLE_HANDLE
from .faithfulness import correlation_text
from .files import write_text_atomically
from .metrics import HEADLINE as METRICS
from .model import describe_backbone

CARD_FILE = "MODEL_CARD.md"
LEAKY_PROTOCOLS = ("image", "official", "naive")
FEW_SUBJECTS = 2  # a class resting on this many test brains or fewer is flagged
HEADLINE = ("balanced_accuracy", *(m for m in METRICS if m != "balanced_accuracy"))  # the honest number first


def _read_json(path: Path) -> dict:
    """A JSON file as a dict; missing or unreadable: empty (a card is still written from what there is)."""
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _scored(test) -> dict | None:
    """A test-split entry of metrics.json as ``evaluate`` writes it, or None (missing, older or hand-edited)."""
    needed = {"images", "ci95", "ci_resampled", "per_class", *HEADLINE}
    return test if isinstance(test, dict) and needed <= set(test) else None


def _dataset_name(meta: dict) -> str:
    """The data a run used, as a model card names datasets."""
    spec = meta.get("config", {}).get("data", meta.get("data", "?"))
    if meta.get("synthetic"):
        return "synthetic (alzmri.synthetic)"
    return {"kaggle": KAGGLE_HANDLE, "hf": HF_REPO}.get(spec, Path(str(spec)).name)


def _front_matter(meta: dict, test: dict | None, name: str) -> str:
    """The YAML block at the top of the card (model-index results only where the test split was scored)."""
    import yaml

    dataset = {"name": "alzmri synthetic demo set" if meta.get("synthetic") else Path(meta.get("data", "?")).name,
               "type": "synthetic" if meta.get("synthetic") else meta.get("data", "?"),
               "split": f"test ({meta.get('split', '?')} protocol)"}
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
        "model-index": [{"name": name, "results": results}],
    }
    return "---\n" + yaml.safe_dump(header, sort_keys=False, allow_unicode=True) + "---\n"


def _warnings(meta: dict, test: dict | None) -> list[str]:
    """Lines that must be read first: a leaky protocol, shuffled labels, synthetic data."""
    lines = []
    leaked = (test or {}).get("leakage", {}).get("leaked", {})
    if meta.get("split") in LEAKY_PROTOCOLS or leaked.get("images"):
        lines.append(f"> **Warning: leaky protocol ({meta.get('split')}).** Test slices share brains (or augmented "
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
        lines += ["", f"Grad-CAM faithfulness ({faith['images']} test images, layer `{faith['layer']}`): deletion AUC "
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
    """The model card of a run, as Markdown, from its ``metadata.json``, ``metrics.json`` and ``splits.csv``."""
    run_dir = Path(run_dir)
    meta = _read_json(run_dir / "metadata.json")
    test = _scored(_read_json(run_dir / "metrics.json").get("test"))
    shuffled_dir = run_dir.parent / run_dir.name.replace(f"-{meta.get('split')}-", f"-{meta.get('split')}-shuffled-")
    shuffled = _scored(_read_json(shuffled_dir / "metrics.json").get("test")) if shuffled_dir != run_dir else None
    config = meta.get("config", {})
    sizes = meta.get("split_sizes", {})
    subjects = meta.get("subjects") or {}
    backbone = describe_backbone(meta.get("backbone", "?"), config.get("backbone_end"))
    lines = [_front_matter(meta, test, run_dir.name), f"# Model card: {run_dir.name}", ""]
    first = _warnings(meta, test)
    lines += first + [""] if first else []
    lines += [
        "> **Not a medical device.** A teaching and research model; its outputs are not diagnoses.", "",
        "## Model details", "",
        f"- Backbone: {backbone}, weights: {meta.get('weights', '?')}, with a new head (global average pooling, "
        f"dropout {config.get('dropout', '?')}, softmax over {len(CLASS_NAMES)} classes: "
        f"{', '.join(CLASS_NAMES)}).",
        f"- Preset `{meta.get('profile', '?')}`, input {meta.get('image_size', '?')} px square "
        f"({meta.get('input', '')}, mode `{meta.get('preprocessing', '?')}`).",
        f"- Trained in {meta.get('train_seconds', '?')} s, seed {meta.get('seed', '?')}, created "
        f"{meta.get('created', 'unknown')}; libraries: "
        + ", ".join(f"{k} {v}" for k, v in meta.get("libraries", {}).items()) + ".", "",
        "## Intended uses", "",
        "Teaching and research: how transfer learning, honest (subject-level) evaluation and Grad-CAM behave on "
        "Alzheimer's MRI slices; a baseline to compare methods against under the same protocol.", "",
        "## Out-of-scope uses", "",
        "- Any diagnosis, screening or clinical decision about a person.",
        "- Other diseases, other scanners, sequences or slice positions than those seen in training.",
        "- Comparing its numbers with runs on another split protocol or other data: they are not comparable.", "",
        "## Training data", "",
        f"- Data: `{meta.get('data', '?')}` (fingerprint `{meta.get('data_fingerprint', '?')}`)"
        + ("; SYNTHETIC (alzmri's generated demo set)." if meta.get("synthetic") else "."),
        f"- Subjects: {subjects.get('count', '?')}, found from {subjects.get('method', '?')}"
        + (" (ground truth)." if subjects.get("ground_truth") else " (recovered, not given)."),
        f"- Labels: {meta.get('labels', 'true')}.",
        "- Per split: " + "; ".join(f"{split} {s['images']} images of {s['subjects']} subjects"
                                    for split, s in sizes.items())
        + f" (which file went where: `{meta.get('split_file', 'splits.csv')}`).",
        "",
        "## Evaluation data and protocol", "",
        f"- Split protocol: `{meta.get('split', '?')}`"
        + (" (no brain in two splits; copies follow their original)." if meta.get("split") == "subject" else
           " (LEAKY: slices of test brains are in train)." if meta.get("split") in LEAKY_PROTOCOLS else "."),
    ]
    if test:
        leaked, clean = test.get("leakage", {}).get("leaked", {}), test.get("leakage", {}).get("clean", {})
        lines.append(f"- Audit of the test split: {leaked.get('images', '?')} test images whose subject or copy is "
                     f"in train ({leaked.get('subjects', '?')} subjects), {clean.get('images', '?')} clean.")
    lines += ["", "## Results", ""] + _results(test, shuffled) + [
        "", "## Bias, risks and limitations", "",
        "- One dataset, one scanner population (the Kaggle source set, itself derived from OASIS-style scans); "
        "labels are per slice, from a curated dataset, not clinical diagnoses.",
        "- Classes are imbalanced and the Moderate class comes from 2 subjects in the real source set: "
        "its numbers say little.",
        "- Slice-level splits of this data inflate accuracy by about 30 points (Yagis et al., Sci Rep 2021): "
        "only the `subject` protocol estimates performance on unseen people.",
        "- Grad-CAM maps are coarse (the feature map's resolution) and show what separates the predicted class, "
        "not everything the model uses.", "",
        "## How to use", "", "```python",
        "from pathlib import Path", "",
        "from alzmri.model import load_run",
        "from alzmri.evaluate import predict_files",
        "", f"run = load_run({str(run_dir)!r})",
        "table, unreadable = predict_files(run, [Path('slice.jpg')])  # resized and checked like training",
        "```", "", "Or: `python -m alzmri predict RUN slice.jpg`, `python -m alzmri gradcam RUN slice.jpg`.", ""]
    return "\n".join(lines)


def write_model_card(run_dir: str | Path) -> Path:
    """Write (or rewrite) ``MODEL_CARD.md`` in the run folder, atomically."""
    return write_text_atomically(Path(run_dir) / CARD_FILE, model_card(run_dir))


RUNS_COLUMNS = ["run", "preset", "backbone", "image_size", "data", "protocol", "labels", "test_subjects",
                "balanced_accuracy", "ci_low", "ci_high", "created"]


def runs_table(runs_dir: str | Path) -> pd.DataFrame:
    """One row per finished run in ``runs_dir``: what it is and how it scored on its own test split.

    Unfinished (``.<name>.partial``), locked, hidden and non-run folders are left out; a run whose test split
    was not scored yet has empty scores. Runs on different data or protocols are not comparable: the
    ``data`` and ``protocol`` columns say which are.
    """
    rows = []
    folders = sorted(p for p in Path(runs_dir).iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if Path(runs_dir).is_dir() else []
    for folder in folders:
        meta = _read_json(folder / "metadata.json")
        if not meta:
            continue
        test = _read_json(folder / "metrics.json").get("test") or {}
        low, high = test.get("ci95", {}).get("balanced_accuracy", [None, None])
        rows.append([folder.name, meta.get("profile"),
                     describe_backbone(meta.get("backbone", "?"), meta.get("config", {}).get("backbone_end")),
                     meta.get("image_size"), _dataset_name(meta), meta.get("split"), meta.get("labels", "true"),
                     test.get("ci_resampled", {}).get("count"), test.get("balanced_accuracy"), low, high,
                     meta.get("created")])
    return pd.DataFrame(rows, columns=RUNS_COLUMNS)
