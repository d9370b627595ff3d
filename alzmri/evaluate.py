"""Evaluation: honest metrics on a held-out split, and the baselines a model has to beat."""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image


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
    from .data import make_tf_dataset

    ds = make_tf_dataset(frame, image_size, batch_size, cache=False)
    return model.predict(ds.map(lambda x, y: x), verbose=1 if progress else 0)


def quick_metrics(model, data, config) -> dict:
    """Accuracy, balanced accuracy and macro-F1 on the val and test splits (the run's summary)."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

    metrics = {}
    for split in ("val", "test"):
        part = data.part(split)
        if len(part) == 0:
            continue
        predicted = predict_frame(model, part, config.image_size, config.batch_size).argmax(axis=1)
        truth = part["label"].to_numpy()
        metrics[split] = {
            "images": int(len(part)),
            "accuracy": float(accuracy_score(truth, predicted)),
            "balanced_accuracy": float(balanced_accuracy_score(truth, predicted)),
            "macro_f1": float(f1_score(truth, predicted, average="macro")),
        }
    return metrics
