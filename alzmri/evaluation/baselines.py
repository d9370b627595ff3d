"""Pixel models a deep model must beat, and the probe that shows what a split leaks.

* ``thumbnail_baseline``: logistic regression on 32 x 32 thumbnails. If it already does well, the
  data (or the split) is too easy to teach anything.
* ``nearest_neighbour_probe``: 1-nearest-neighbour. It can only memorise, so whatever it scores above
  chance on a split comes from test slices that look like training slices: exactly what leaks. It takes
  seconds, which makes it the model of ``alzmri compare``, on the 32 x 32 pose-normalised thumbnails that
  also find augmented copies (:func:`alzmri.leakage.similarity.copy_descriptor`): the Kaggle V2 copies are
  flipped, rotated and zoomed, and plain thumbnails miss them (measured on the synthetic V2 set: the naive
  split's shuffled-label score 0.28 with plain thumbnails, 0.88 in the canonical pose).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from PIL import Image

from alzmri.errors import DatasetError


def thumbnails(frame: pd.DataFrame, size: int = 32) -> np.ndarray:
    """Grey ``size x size`` thumbnails of ``frame``'s images, flattened to rows in [0, 1]."""
    def one(path: str) -> np.ndarray:
        with Image.open(path) as im:
            return np.asarray(im.convert("L").resize((size, size), Image.Resampling.BILINEAR), np.float32)

    with ThreadPoolExecutor(max_workers=4) as pool:  # Pillow decodes without holding the GIL
        images = list(pool.map(one, frame["path"]))
    return np.stack(images).reshape(len(frame), -1) / 255.0


def thumbnail_baseline(split_frame: pd.DataFrame, size: int = 32, eval_split: str = "test") -> float:
    """Balanced accuracy of a logistic regression on thumbnails, trained on train, scored on ``eval_split``.

    If this simple pixel model already does well, the data is too easy to teach anything: a deep
    model has to beat it clearly.

    Args:
        split_frame: the images with ``path``, ``label`` and ``split``.
        size: thumbnail side in px.
        eval_split: the split scored.

    Returns:
        The balanced accuracy on ``eval_split``.

    Raises:
        DatasetError: train holds fewer than 2 classes, or ``eval_split`` is empty.
    """
    from sklearn.linear_model import LogisticRegression

    from alzmri.metrics import balanced_accuracy

    train = split_frame[split_frame["split"] == "train"]
    test = split_frame[split_frame["split"] == eval_split]
    if train["label"].nunique() < 2 or test.empty:
        raise DatasetError(f"The thumbnail baseline needs train images of at least 2 classes and {eval_split} "
                           f"images; got {train['label'].nunique()} class(es) and {len(test)} image(s)")
    model = LogisticRegression(max_iter=2000).fit(thumbnails(train, size), train["label"])
    return balanced_accuracy(test["label"].to_numpy(), model.predict(thumbnails(test, size)))


def nearest_neighbour_probe(features: np.ndarray, labels: np.ndarray, split: np.ndarray,
                            eval_split: str = "test") -> np.ndarray:
    """Predict each ``eval_split`` image's class as that of its most similar training image.

    Args:
        features: standardised rows (e.g. copy descriptors); the Euclidean nearest is the most correlated.
        labels: class id per row.
        split: split name per row.
        eval_split: the rows to predict.

    Returns:
        The predicted class ids of the ``eval_split`` rows, in row order.
    """
    from sklearn.neighbors import KNeighborsClassifier

    train, held = split == "train", split == eval_split
    if not train.any() or not held.any():
        raise DatasetError(f"The probe needs train and {eval_split} images; "
                           f"got {int(train.sum())} and {int(held.sum())}")
    return KNeighborsClassifier(n_neighbors=1).fit(features[train], labels[train]).predict(features[held])
