"""Evaluation: honest metrics on a held-out split, with intervals, and the baselines a model must beat.

Every headline number comes with a 95 % bootstrap interval (test images resampled with replacement):
on a few hundred test slices, a difference of a few points is often noise.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from .config import CLASS_NAMES, SEVERITY_RANK

HEADLINE = ("accuracy", "balanced_accuracy", "macro_f1", "quadratic_kappa", "roc_auc_ovr")


def thumbnails(frame: pd.DataFrame, size: int = 32) -> np.ndarray:
    """Grey ``size x size`` thumbnails of ``frame``'s images, flattened to rows in [0, 1]."""
    def one(path: str) -> np.ndarray:
        with Image.open(path) as im:
            return np.asarray(im.convert("L").resize((size, size), Image.Resampling.BILINEAR), np.float32)

    return np.stack([one(p) for p in frame["path"]]).reshape(len(frame), -1) / 255.0


def thumbnail_baseline(split_frame: pd.DataFrame, size: int = 32, eval_split: str = "test") -> float:
    """Balanced accuracy of a logistic regression on thumbnails, trained on train, scored on ``eval_split``.

    If this simple pixel model already does well, the data is too easy to teach anything: a deep
    model has to beat it clearly.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score

    train = split_frame[split_frame["split"] == "train"]
    test = split_frame[split_frame["split"] == eval_split]
    model = LogisticRegression(max_iter=2000).fit(thumbnails(train, size), train["label"])
    return float(balanced_accuracy_score(test["label"], model.predict(thumbnails(test, size))))


def predict_frame(model, frame: pd.DataFrame, image_size: int, batch_size: int = 32,
                  progress: bool = False) -> np.ndarray:
    """Class probabilities for ``frame``'s images, shape (n, n_classes)."""
    from .pipeline import images_only, make_tf_dataset

    ds = make_tf_dataset(frame, image_size, batch_size, cache=False)
    return model.predict(ds.map(images_only), verbose=1 if progress else 0)


def quick_metrics(model, data, config) -> dict:
    """The headline metrics (no intervals) on the val and test splits: the run's summary."""
    metrics = {}
    for split in ("val", "test"):
        part = data.part(split)
        if len(part):
            proba = predict_frame(model, part, config.image_size, config.batch_size)
            metrics[split] = {"images": int(len(part)), **headline_metrics(part["label"].to_numpy(), proba)}
    return metrics


def expected_calibration_error(labels: np.ndarray, proba: np.ndarray, bins: int = 15) -> float:
    """ECE: the gap between confidence and accuracy, averaged over equal-width confidence bins."""
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == labels
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    gap = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            gap += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(gap)


def quadratic_kappa(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Cohen's kappa with quadratic weights over the clinical severity order (Non < VeryMild < Mild < Moderate)."""
    from sklearn.metrics import cohen_kappa_score

    rank = np.array([SEVERITY_RANK[c] for c in CLASS_NAMES])
    return float(cohen_kappa_score(rank[labels], rank[predicted], weights="quadratic", labels=list(range(4))))


def roc_auc_ovr(labels: np.ndarray, proba: np.ndarray) -> float:
    """Macro one-vs-rest ROC-AUC over the classes present in ``labels`` (nan with fewer than two)."""
    from sklearn.metrics import roc_auc_score

    present = np.unique(labels)
    if len(present) < 2:
        return float("nan")
    aucs = [roc_auc_score(labels == c, proba[:, c]) for c in present]
    return float(np.mean(aucs))


def headline_metrics(labels: np.ndarray, proba: np.ndarray) -> dict:
    """The headline numbers for one set of predictions."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

    predicted = proba.argmax(axis=1)
    present = sorted(set(labels) | set(predicted))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a resample may miss a class; the metric is still defined
        return {
            "accuracy": float(accuracy_score(labels, predicted)),
            "balanced_accuracy": float(balanced_accuracy_score(labels, predicted)),
            "macro_f1": float(f1_score(labels, predicted, average="macro", labels=present, zero_division=0)),
            "quadratic_kappa": quadratic_kappa(labels, predicted),
            "roc_auc_ovr": roc_auc_ovr(labels, proba),
        }


def bootstrap_intervals(labels: np.ndarray, proba: np.ndarray, n_boot: int = 1000, seed: int = 0,
                        level: float = 0.95) -> dict:
    """Percentile bootstrap intervals of the headline metrics: {metric: [low, high]}."""
    rng = np.random.default_rng(seed)
    samples = {name: [] for name in HEADLINE}
    for _ in range(n_boot):
        pick = rng.integers(0, len(labels), len(labels))
        for name, value in headline_metrics(labels[pick], proba[pick]).items():
            samples[name].append(value)
    tail = (1 - level) / 2 * 100
    return {name: [float(np.nanpercentile(v, tail)), float(np.nanpercentile(v, 100 - tail))]
            for name, v in samples.items()}


def compute_metrics(labels: np.ndarray, proba: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict:
    """All metrics of one split: headline numbers with 95 % intervals, per class, confusion, calibration."""
    from sklearn.metrics import classification_report, confusion_matrix

    labels = np.asarray(labels)
    predicted = proba.argmax(axis=1)
    counts = confusion_matrix(labels, predicted, labels=list(range(len(CLASS_NAMES))))
    with np.errstate(invalid="ignore", divide="ignore"):
        normalised = np.nan_to_num(counts / counts.sum(axis=1, keepdims=True))
    report = classification_report(labels, predicted, labels=list(range(len(CLASS_NAMES))),
                                   target_names=list(CLASS_NAMES), output_dict=True, zero_division=0)
    return {
        "images": int(len(labels)),
        **headline_metrics(labels, proba),
        "ci95": bootstrap_intervals(labels, proba, n_boot, seed),
        "expected_calibration_error": expected_calibration_error(labels, proba),
        "per_class": {c: {k: float(report[c][k]) for k in ("precision", "recall", "f1-score", "support")}
                      for c in CLASS_NAMES},
        "absent_classes": [c for i, c in enumerate(CLASS_NAMES) if not (labels == i).any()],
        "confusion_matrix": counts.tolist(),
        "confusion_matrix_normalised": normalised.round(4).tolist(),
    }


def metrics_table(metrics: dict) -> pd.DataFrame:
    """Headline metrics with their 95 % intervals, as a printable table."""
    return pd.DataFrame([(name, metrics[name], *metrics["ci95"][name]) for name in HEADLINE],
                        columns=["metric", "value", "ci95_low", "ci95_high"])


def write_metrics(run_dir: Path, key: str, metrics: dict) -> Path:
    """Merge ``metrics`` under ``key`` into the run's metrics.json (atomically)."""
    path = Path(run_dir) / "metrics.json"
    existing = json.loads(path.read_text()) if path.exists() else {}
    existing[key] = metrics
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(existing, indent=2) + "\n")
    tmp.replace(path)
    return path


def batch_images(frame: pd.DataFrame, image_size: int) -> np.ndarray:
    """``frame``'s images as the model sees them: float32 (n, size, size, 3), raw 0-255."""
    from .pipeline import make_tf_dataset

    return np.concatenate([x.numpy() for x, _ in make_tf_dataset(frame, image_size, 64, cache=False)])


def evidence_masks(root: Path, frame: pd.DataFrame, image_size: int) -> np.ndarray | None:
    """The synthetic evidence masks of ``frame``'s images at the model's size, or None for real data."""
    from . import synthetic

    if synthetic.read_manifest(root) is None:
        return None
    masks = [Image.fromarray(synthetic.load_mask(root, rel).astype(np.uint8) * 255)
             .resize((image_size, image_size), Image.Resampling.NEAREST) for rel in frame["relpath"]]
    return np.stack([np.asarray(m) > 127 for m in masks])


class Evaluation:
    """A run evaluated on one split: the predictions, the metrics, and what the figures need."""

    def __init__(self, run, frame: pd.DataFrame, proba: np.ndarray, metrics: dict):
        self.run, self.frame, self.proba, self.metrics = run, frame, proba, metrics

    @property
    def labels(self) -> np.ndarray:
        return self.frame["label"].to_numpy()


def evaluate_run(run_dir: str | Path, split: str = "test", data=None, n_boot: int | None = None,
                 faithfulness_images: int = 64, progress: bool = True) -> Evaluation:
    """Evaluate a saved run on ``split`` of its own data and split protocol; write metrics.json.

    Args:
        run_dir: the run folder.
        split: which split to score.
        data: prepared data to score instead of the run's own (its ``splits.csv``).
        n_boot: bootstrap resamples (default: 200 for the smoke preset, else 1000).
        faithfulness_images: test images scored against the synthetic evidence masks.
        progress: show progress bars.

    Returns:
        The evaluation (predictions, metrics); the metrics are also merged into ``metrics.json``.
    """
    from .config import Config
    from .gradcam import faithfulness_report
    from .model import load_run
    from .splits import SPLITS_FILE, load_splits, prepare_data

    run = load_run(run_dir)
    config = Config.from_dict(run.metadata["config"])
    if data is None:  # the run's own split, as trained; older runs without one recompute it
        data = load_splits(run.path, config, progress) if (run.path / SPLITS_FILE).exists() else \
            prepare_data(config, progress=progress)
    if data.fingerprint != run.metadata.get("data_fingerprint"):
        warnings.warn(f"The data in {data.root} differs from what {run.path.name} was trained on "
                      "(fingerprint mismatch): the split may not be the run's own", UserWarning, stacklevel=2)
    frame = data.part(split)
    if frame.empty:
        raise ValueError(f"The {split} split of {data.root} has no images")
    proba = predict_frame(run.model, frame, run.image_size, config.batch_size, progress=progress)
    n_boot = n_boot if n_boot is not None else (200 if config.profile == "smoke" else 1000)
    metrics = compute_metrics(frame["label"].to_numpy(), proba, n_boot, config.seed)
    metrics.update(split=split, split_protocol=config.split, synthetic=config.data == "demo")
    sample = frame.sample(min(faithfulness_images, len(frame)), random_state=config.seed)
    masks = evidence_masks(data.root, sample, run.image_size)
    if masks is not None:
        metrics["faithfulness"] = faithfulness_report(run.model, batch_images(sample, run.image_size), masks,
                                                      sample["label"].to_numpy(), seed=config.seed)
    write_metrics(run.path, split, metrics)
    return Evaluation(run, frame, proba, metrics)


def predict_images(run, images) -> np.ndarray:
    """Class probabilities for an array of images (checked: shape, size, type; grey → RGB)."""
    from .model import as_model_batch

    return run.model.predict(as_model_batch(images, run.image_size), verbose=0, batch_size=32)


def predict_files(run, paths: list[Path]) -> pd.DataFrame:
    """Class and per-class probabilities for image files (each read, checked and resized like training)."""
    from .pipeline import read_images_for_model

    proba = predict_images(run, read_images_for_model(paths, run.image_size))
    table = pd.DataFrame(proba, columns=list(CLASS_NAMES))
    table.insert(0, "prediction", [CLASS_NAMES[i] for i in proba.argmax(axis=1)])
    table.insert(0, "file", [str(p) for p in paths])
    return table
