"""Classical models a deep model must beat, and the probe that shows what a split leaks.

Each one is fitted on the ``train`` rows of a split and returns four-class probabilities for the rows asked
(:func:`baseline_probabilities`), so ``compare`` and ``cv`` score them exactly as they score the CNN.

* ``probe``: 1-nearest-neighbour (:func:`nearest_neighbour_probe`; its probabilities are one-hot). It can only
  memorise, so whatever it scores above chance on a split comes from test slices that look like training
  slices: exactly what leaks. It takes seconds, which makes it the model of ``alzmri compare``, on the 32 x 32
  pose-normalised thumbnails that also find augmented copies (:func:`alzmri.leakage.similarity.copy_descriptor`):
  the Kaggle V2 copies are flipped, rotated and zoomed, and plain thumbnails miss them (measured on the synthetic
  V2 set: the naive split's shuffled-label score 0.28 with plain thumbnails, 0.88 in the canonical pose).
* ``thumbnail``: logistic regression on 32 x 32 grey thumbnails, one slice a row. If it already does well,
  the data (or the split) is too easy to teach anything.
* ``atrophy``: a handful of measurements a radiologist would name (:func:`slice_measurements`), averaged over
  each subject's slices, and a regularised logistic regression with one row per subject. It asks whether a CNN
  learns anything beyond the atrophy that ventricle and sulcus size already tell.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Callable

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage

from alzmri.config import CLASS_NAMES
from alzmri.errors import DatasetError
from alzmri.leakage.prepared import PreparedData
from alzmri.voting import slice_units

THUMBNAIL_SIZE = 32
MEASURE_SIZE = 128  # every slice is measured at this size: shares of areas do not change with resizing
BACKGROUND = 0.1  # background: darker than this share of the slice's 99th percentile (and than 8 grey levels)
BRIGHT_LEVEL = 95  # the percentile of the brain's intensities taken as its bright-tissue (white matter) level
CSF = 0.35  # CSF-like: darker than this share of the bright-tissue level
WHITE_MATTER = 0.8  # white-matter-like: brighter than this share of it
CENTRAL_BOX = 0.4  # the central box, as a share of the brain's bounding box on each side: the lateral ventricles
MEASUREMENTS = ("brain_area", "csf_share", "ventricle_share", "mean_intensity", "bright_share")
ATROPHY_C = 1.0  # inverse L2 strength of the atrophy regression (scikit-learn's default, chosen before measuring)
PROBE = "1-nearest-neighbour on 32x32 pose-normalised thumbnails"
DESCRIPTIONS = {
    "probe": PROBE,
    "thumbnail": f"logistic regression on {THUMBNAIL_SIZE}x{THUMBNAIL_SIZE} thumbnails, one slice a row",
    "atrophy": "logistic regression on atrophy measurements (brain area, CSF, ventricles, intensity, white matter) "
               "averaged per subject over its original slices; each slice answered with its subject's answer, so "
               "its per-slice scores use the subject's other slices",
}


def read_grey(path: str, size: int) -> np.ndarray:
    """An image file as a grey ``size x size`` uint8 array (JPEGs decoded reduced where they are large)."""
    with Image.open(path) as im:
        im.draft("L", (size, size))
        return np.asarray(im.convert("L").resize((size, size), Image.Resampling.BILINEAR))


def map_images(function: Callable[[str], np.ndarray], paths: tuple[str, ...]) -> np.ndarray:
    """``function`` over image files on 4 threads (Pillow decodes without holding the GIL), stacked."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return np.stack(list(pool.map(function, paths)))


@lru_cache(maxsize=4)
def _thumbnail_rows(paths: tuple[str, ...], size: int) -> np.ndarray:
    """uint8 thumbnails of ``paths``, one flattened row each; kept in memory, since ``compare`` and ``cv`` ask
    for the same dataset's images once per protocol or fold (keyed by the paths: files rewritten in place are
    not seen)."""
    return map_images(lambda path: read_grey(path, size), paths).reshape(len(paths), -1)


def thumbnails(frame: pd.DataFrame, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """Grey ``size x size`` thumbnails of ``frame``'s images, flattened to rows in [0, 1]."""
    return _thumbnail_rows(tuple(frame["path"]), size).astype(np.float32) / 255.0


def slice_measurements(grey: np.ndarray) -> np.ndarray:
    """The atrophy measurements of one grey slice, in the order of :data:`MEASUREMENTS`.

    Atrophy is loss of tissue: the brain shrinks, and the CSF spaces (sulci, ventricles) widen into the room
    it leaves. So the slice is measured as a radiologist would look at it:

    * ``brain_area``: the brain's share of the image (pixels above the background, holes filled so that the
      ventricles count as inside);
    * ``csf_share``: the share of the brain that is CSF-dark (widened sulci and ventricles);
    * ``ventricle_share``: the share of a central box of the brain's bounding box that is CSF-dark: the lateral
      ventricles, which widen with atrophy at the middle levels;
    * ``mean_intensity``: the brain's mean intensity, relative to its bright-tissue level (more CSF, darker);
    * ``bright_share``: the share of the brain that is white-matter-bright.

    Every threshold is relative to the slice's own intensities (the background to its 99th percentile, CSF and
    white matter to the brain's 95th percentile), never a grey level tuned to one dataset: users bring resized,
    re-encoded and brightened copies. Areas are shares, so the image size does not matter either.

    Args:
        grey: a 2-D grey image (any size; :data:`MEASURE_SIZE` px when read by :func:`atrophy_measurements`).

    Returns:
        The measurements as a float array; all 0 for a blank slice.
    """
    image = np.asarray(grey, dtype=np.float32)
    brain = ndimage.binary_fill_holes(image > max(8.0, BACKGROUND * float(np.percentile(image, 99))))
    if brain.sum() < 16:
        return np.zeros(len(MEASUREMENTS))
    tissue = image[brain]
    bright = max(float(np.percentile(tissue, BRIGHT_LEVEL)), 1.0)
    csf = brain & (image < CSF * bright)
    rows, cols = np.flatnonzero(brain.any(axis=1)), np.flatnonzero(brain.any(axis=0))
    box = tuple(slice(int(lo + (hi - lo) * (1 - CENTRAL_BOX) / 2), int(hi - (hi - lo) * (1 - CENTRAL_BOX) / 2) + 1)
                for lo, hi in ((rows[0], rows[-1]), (cols[0], cols[-1])))
    return np.array([brain.mean(), csf.sum() / brain.sum(), csf[box].mean(), tissue.mean() / bright,
                     (tissue > WHITE_MATTER * bright).mean()])


@lru_cache(maxsize=4)
def _measurement_rows(paths: tuple[str, ...]) -> np.ndarray:
    """:func:`slice_measurements` of every file, kept in memory like :func:`_thumbnail_rows`."""
    return map_images(lambda path: slice_measurements(read_grey(path, MEASURE_SIZE)), paths)


def atrophy_measurements(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`slice_measurements` of ``frame``'s images, one row each (``frame``'s index), :data:`MEASUREMENTS`."""
    return pd.DataFrame(_measurement_rows(tuple(frame["path"])), index=frame.index, columns=list(MEASUREMENTS))


def per_unit(frame: pd.DataFrame, measured: pd.DataFrame) -> pd.DataFrame:
    """``measured`` (the atrophy measurements of ``frame``'s slices) averaged over each subject's slices, with their
    spread (a slice of no known subject is a unit of its own), plus the unit's ``label`` (its most common class)."""
    units = slice_units(frame["subject"], frame["relpath"])
    grouped = measured.groupby(units)
    table = grouped.mean().join(grouped.std(ddof=0), rsuffix="_spread")
    return table.assign(label=frame["label"].groupby(units).agg(lambda s: s.mode().iloc[0]))


def _four_classes(model, x: np.ndarray) -> np.ndarray:
    """``model``'s probabilities with one column per class of :data:`CLASS_NAMES` (0 for classes absent in training)."""
    proba = np.zeros((len(x), len(CLASS_NAMES)))
    proba[:, model.classes_] = model.predict_proba(x)
    return proba


def _check_parts(frame: pd.DataFrame, train: np.ndarray, held: np.ndarray, what: str) -> None:
    """Refuse a fit without two classes to learn, or nothing to predict."""
    classes = frame.loc[train, "label"].nunique()
    if classes < 2 or not held.any():
        raise DatasetError(f"The {what} needs train images of at least 2 classes and images to predict; got "
                           f"{classes} class(es) and {int(held.sum())} image(s)")


def thumbnail_probabilities(frame: pd.DataFrame, train: np.ndarray, held: np.ndarray,
                            size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """Probabilities for the ``held`` rows of a logistic regression on thumbnails fitted on the ``train`` rows.

    Args:
        frame: the images, with ``path`` and ``label`` (thumbnails are read once for all of them).
        train: boolean mask of the rows to learn from.
        held: boolean mask of the rows to predict.
        size: thumbnail side in px.

    Returns:
        (held.sum(), 4) probabilities.

    Raises:
        DatasetError: ``train`` holds fewer than 2 classes, or ``held`` is empty.
    """
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    _check_parts(frame, train, held, "thumbnail baseline")
    pixels = thumbnails(frame, size)
    with threadpool_limits(limits=1, user_api="blas"):  # measured: 4x faster than 2 BLAS threads on the demo set
        model = LogisticRegression(max_iter=2000).fit(pixels[train], frame.loc[train, "label"])
    return _four_classes(model, pixels[held])


def atrophy_probabilities(frame: pd.DataFrame, train: np.ndarray, held: np.ndarray) -> np.ndarray:
    """Probabilities for the ``held`` rows of the atrophy model fitted on the ``train`` rows: one row per subject
    (:func:`per_unit`), standardised, an L2-regularised logistic regression with balanced class weights; each
    slice gets its subject's probabilities.

    It learns from the original slices of ``train`` where there are any (``kind``): an augmented copy is zoomed,
    rotated and brightened, so its areas are not the brain's (measured on the demo set, 5 folds: 4-class balanced
    accuracy 0.29 with the copies, 0.78 without).

    Args:
        frame: the images, with ``path``, ``label``, ``kind``, ``subject`` and ``relpath`` (measured once for all).
        train: boolean mask of the rows to learn from.
        held: boolean mask of the rows to predict (averaged by their own subjects).

    Returns:
        (held.sum(), 4) probabilities.

    Raises:
        DatasetError: ``train`` holds fewer than 2 classes, or ``held`` is empty.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    originals = train & (frame["kind"] == "original").to_numpy()
    train = originals if frame.loc[originals, "label"].nunique() >= 2 else train
    _check_parts(frame, train, held, "atrophy baseline")
    measured = atrophy_measurements(frame)
    subjects = per_unit(frame[train], measured[train])
    model = make_pipeline(StandardScaler(), LogisticRegression(C=ATROPHY_C, class_weight="balanced", max_iter=1000))
    model.fit(subjects.drop(columns="label").to_numpy(), subjects["label"].to_numpy())
    asked = per_unit(frame[held], measured[held])
    proba = pd.DataFrame(_four_classes(model, asked.drop(columns="label").to_numpy()), index=asked.index)
    return proba.loc[slice_units(frame.loc[held, "subject"], frame.loc[held, "relpath"])].to_numpy()


def nearest_neighbour_probe(features: np.ndarray, labels: np.ndarray, train: np.ndarray,
                            held: np.ndarray) -> np.ndarray:
    """Predict each ``held`` row's class as that of its most similar ``train`` row.

    Args:
        features: standardised rows (e.g. copy descriptors); the Euclidean nearest is the most correlated.
        labels: class id per row.
        train: boolean mask of the rows to learn from.
        held: boolean mask of the rows to predict.

    Returns:
        The predicted class ids of the ``held`` rows, in row order.

    Raises:
        DatasetError: no rows to learn from or to predict.
    """
    from sklearn.neighbors import KNeighborsClassifier

    if not train.any() or not held.any():
        raise DatasetError(f"The probe needs images to learn from and to predict; got {int(train.sum())} and "
                           f"{int(held.sum())}")
    return KNeighborsClassifier(n_neighbors=1).fit(features[train], labels[train]).predict(features[held])


def baseline_probabilities(model: str, data: PreparedData, held: np.ndarray) -> np.ndarray:
    """Four-class probabilities for the ``held`` rows of ``data.frame`` from ``model`` fitted on its train split.

    Args:
        model: ``probe`` (one-hot), ``thumbnail`` or ``atrophy`` (:data:`DESCRIPTIONS`).
        data: split data; ``probe`` uses its copy descriptors.
        held: boolean mask of the rows to predict.

    Returns:
        (held.sum(), 4) probabilities, in row order.
    """
    frame = data.frame
    train = frame["split"].to_numpy() == "train"
    if model == "probe":
        predicted = nearest_neighbour_probe(data.features.copy, frame["label"].to_numpy(), train, held)
        return np.eye(len(CLASS_NAMES))[predicted]
    fit = {"thumbnail": thumbnail_probabilities, "atrophy": atrophy_probabilities}[model]
    return fit(frame, train, held)


def thumbnail_baseline(split_frame: pd.DataFrame, size: int = THUMBNAIL_SIZE, eval_split: str = "test") -> float:
    """Balanced accuracy of :func:`thumbnail_probabilities`, trained on train, scored on ``eval_split``.

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
    from alzmri.metrics import balanced_accuracy

    split = split_frame["split"].to_numpy()
    proba = thumbnail_probabilities(split_frame, split == "train", split == eval_split, size)
    return balanced_accuracy(split_frame.loc[split == eval_split, "label"].to_numpy(), proba.argmax(axis=1))
