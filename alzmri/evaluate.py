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
