"""Evaluating a saved run: predictions on a held-out split, metrics with subject-level intervals, leaks.

Every headline number comes with a 95 % bootstrap interval that resamples subjects (copy groups where
no subject is known), not slices: see :mod:`alzmri.metrics`. On a leaky protocol the test images whose
subject or copy is in train are also scored apart from the clean ones.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from .cards import write_model_card
from .config import CLASS_NAMES
from .datasets import DatasetError
from .files import ensure_writable, write_text_atomically
from .leakage import leak_flags
from .metrics import balanced_accuracy, compute_metrics, headline_metrics


def predict_frame(model, frame: pd.DataFrame, image_size: int, batch_size: int = 32,
                  progress: bool = False) -> np.ndarray:
    """Class probabilities for ``frame``'s images, shape (n, n_classes)."""
    from .pipeline import images_only, make_tf_dataset

    ds = make_tf_dataset(frame, image_size, batch_size, cache=False)
    return model.predict(ds.map(images_only), verbose=1 if progress else 0)


def validation_metrics(model, data, config) -> dict:
    """The headline metrics (no intervals) on the validation split: the summary of a training run.

    Test-split numbers are left to :func:`evaluate_run` on purpose: printed after every training, they
    invite tuning the settings on the test split.
    """
    part = data.part("val")
    if part.empty:
        return {}
    proba = predict_frame(model, part, config.image_size, config.batch_size)
    return {"val": {"images": int(len(part)), **headline_metrics(part["label"].to_numpy(), proba)}}


def leak_breakdown(data, split: str, predicted: np.ndarray) -> dict:
    """Accuracy on the ``split`` images whose subject or copy is in train ("leaked") and on the rest ("clean").

    Args:
        data: the prepared data the predictions were made on (all splits, for what is in train).
        split: the evaluated split.
        predicted: predicted class ids of that split's images, in order.

    Returns:
        ``{"leaked": {...}, "clean": {...}}``, each with ``images``, ``subjects``, ``accuracy`` and
        ``balanced_accuracy`` (None where a part is empty); the two parts' images add up to the split's.
    """
    flags = leak_flags(data.frame)
    held = (data.frame["split"] == split).to_numpy()
    leaked = (flags["copy_in_train"] | flags["subject_in_train"]).to_numpy()[held]
    labels = data.frame["label"].to_numpy()[held]
    subjects = data.frame["subject"].to_numpy(dtype=str)[held]
    parts = {}
    for name, members in (("leaked", leaked), ("clean", ~leaked)):
        empty = not members.any()
        parts[name] = {"images": int(members.sum()), "subjects": len(set(subjects[members]) - {""}),
                       "accuracy": None if empty else float((predicted[members] == labels[members]).mean()),
                       "balanced_accuracy": None if empty else balanced_accuracy(labels[members], predicted[members])}
    return parts


def write_metrics(run_dir: Path, key: str, metrics: dict) -> Path:
    """Merge ``metrics`` under ``key`` into the run's metrics.json (atomically).

    An unreadable metrics.json is kept beside it as ``metrics.json.unreadable`` (with a warning), never
    overwritten: nothing is lost.
    """
    path = Path(run_dir) / "metrics.json"
    existing = {}
    if path.exists():
        try:
            existing = json.loads(path.read_text())
        except (OSError, ValueError):
            existing = None
        if not isinstance(existing, dict):
            kept = path.with_name("metrics.json.unreadable")
            path.replace(kept)
            warnings.warn(f"{path} was not a metrics file (corrupt or hand-edited?): kept as {kept.name}, "
                          "a new one is written", UserWarning, stacklevel=2)
            existing = {}
    existing[key] = metrics
    return write_text_atomically(path, json.dumps(existing, indent=2) + "\n")


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
    """A run evaluated on one split: the predictions, the metrics (saved under ``key``), what the figures need
    (``cascade_maps``: Grad-CAM maps of a few images as the model is re-initialised step by step)."""

    def __init__(self, run, frame: pd.DataFrame, proba: np.ndarray, metrics: dict, key: str,
                 cascade_maps: list[np.ndarray] | None = None):
        self.run, self.frame, self.proba, self.metrics, self.key = run, frame, proba, metrics, key
        self.cascade_maps = cascade_maps

    @property
    def labels(self) -> np.ndarray:
        return self.frame["label"].to_numpy()


def metrics_key(run, data, split: str) -> str:
    """Where in metrics.json an evaluation goes: ``split`` on the run's own data and protocol, else a key
    naming the data (``test@<folder>-<protocol>-<fingerprint>``), so scoring other data never overwrites the
    run's own result."""
    if data.fingerprint == run.metadata.get("data_fingerprint") and data.protocol == run.metadata.get("split"):
        return split
    return f"{split}@{Path(data.root).name}-{data.protocol}-{data.fingerprint[:8]}"


def _add_class_subjects(metrics: dict, frame: pd.DataFrame) -> None:
    """How many brains each class's numbers rest on (0 where subjects are unknown), into ``per_class``."""
    known = frame[frame["subject"].astype(str) != ""]
    for name in CLASS_NAMES:
        metrics["per_class"][name]["subjects"] = int(known.loc[known["class_name"] == name, "subject"].nunique())


def _explain(run, sample: pd.DataFrame, root: Path, metrics: dict, layer_name: str | None, n_boot: int,
             seed: int) -> list[np.ndarray]:
    """Score Grad-CAM on ``sample`` into ``metrics`` (faithfulness; plausibility where masks exist).

    Returns:
        The randomisation cascade's maps of the first few images, for the figure.
    """
    from .faithfulness import explanation_report
    from .splits import independent_units

    units, unit = independent_units(sample)
    metrics["faithfulness"], plausibility, cascade_maps = explanation_report(
        run.model, batch_images(sample, run.image_size), units, unit, layer_name,
        evidence_masks(root, sample, run.image_size), sample["label"].to_numpy(), n_boot, seed)
    if plausibility is not None:
        metrics["plausibility"] = plausibility
    return cascade_maps


def evaluate_run(run_dir: str | Path, split: str = "test", data=None, n_boot: int | None = None,
                 explain_images: int | None = None, layer_name: str | None = None,
                 progress: bool = True) -> Evaluation:
    """Evaluate a saved run on ``split`` of its own data and split protocol; write metrics.json.

    Args:
        run_dir: the run folder.
        split: which split to score.
        data: prepared data to score instead of the run's own (its ``splits.csv``).
        n_boot: bootstrap resamples (default: the run's ``n_boot`` setting).
        explain_images: test images whose Grad-CAM maps are scored (default: the run's ``explain_images``):
            deletion/insertion and the randomisation check (``faithfulness``), and on synthetic data the
            evidence masks (``plausibility``).
        layer_name: the feature map Grad-CAM explains (default: the run's ``gradcam_layer``, else
            :func:`alzmri.gradcam.find_target_layer`).
        progress: show progress bars.

    Returns:
        The evaluation (predictions, metrics); the metrics are also merged into ``metrics.json``, under
        ``split`` for the run's own data and protocol and under :func:`metrics_key`'s name for other data.
    """
    from .config import Config
    from .gradcam import check_layer
    from .model import load_run
    from .splits import SPLITS_FILE, independent_units, load_splits, prepare_data

    run = load_run(run_dir)
    ensure_writable(run.path, "the run folder, where metrics.json and figures/ go")
    check_layer(run.model, layer_name)  # a wrong --layer is found before the work, not after it
    config = Config.from_dict(run.metadata["config"])
    own = data is None
    if own:  # the run's own split, as trained; older runs without one recompute it
        data = load_splits(run.path, config, progress) if (run.path / SPLITS_FILE).exists() else \
            prepare_data(config, progress=progress)
    if own and data.fingerprint != run.metadata.get("data_fingerprint"):  # its data changed on disk since
        warnings.warn(f"The data in {data.root} differs from what {run.path.name} was trained on "
                      "(fingerprint mismatch): the split may not be the run's own", UserWarning, stacklevel=2)
    frame = data.part(split)
    if frame.empty:
        raise DatasetError(f"The {split} split of {data.root} has no images")
    proba = predict_frame(run.model, frame, run.image_size, config.batch_size, progress=progress)
    n_boot = n_boot if n_boot is not None else config.n_boot
    units, unit = independent_units(frame)
    metrics = compute_metrics(frame["label"].to_numpy(), proba, units, unit, n_boot, config.seed)
    _add_class_subjects(metrics, frame)
    metrics.update(split=split, split_protocol=data.protocol, labels=run.metadata.get("labels", "true"),
                   synthetic=data.synthetic, leakage=leak_breakdown(data, split, proba.argmax(axis=1)),
                   data={"path": str(data.root), "fingerprint": data.fingerprint, "protocol": data.protocol})
    sample = frame.sample(min(explain_images or config.explain_images, len(frame)), random_state=config.seed)
    cascade_maps = _explain(run, sample, data.root, metrics, layer_name or config.gradcam_layer, n_boot, config.seed)
    key = metrics_key(run, data, split)
    write_metrics(run.path, key, metrics)
    write_model_card(run.path)
    return Evaluation(run, frame, proba, metrics, key, cascade_maps)


def predict_images(run, images) -> np.ndarray:
    """Class probabilities for an array of images (checked: shape, size, type; grey → RGB)."""
    from .model import as_model_batch

    return run.model.predict(as_model_batch(images, run.image_size), verbose=0, batch_size=32)


def predict_files(run, paths: list[Path]) -> tuple[pd.DataFrame, list[tuple[Path, str]]]:
    """Class and per-class probabilities for image files (each read, checked and resized like training).

    Returns:
        ``(table, problems)``: one row per file that could be read, and ``(path, message)`` per file
        that could not (it is skipped, not fatal).
    """
    from .pipeline import read_readable_images

    images, read, problems = read_readable_images(paths, run.image_size)
    proba = predict_images(run, images) if len(read) else np.zeros((0, len(CLASS_NAMES)))
    table = pd.DataFrame(proba, columns=list(CLASS_NAMES))
    table.insert(0, "prediction", [CLASS_NAMES[i] for i in proba.argmax(axis=1)])
    table.insert(0, "file", [str(p) for p in read])
    return table, problems
