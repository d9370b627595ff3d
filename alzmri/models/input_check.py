"""The input check: does a slice look like the slices a run learnt from?

A classifier answers for any image, also for one unlike everything it was trained on, and then its answer
means nothing. So ``train`` stores in every run a reference of what it saw (up to 2,000 training slices,
drawn with the run's seed), and ``predict`` scores each new slice against it, in three ways:

- **features**: the model's pooled backbone features (the ``head_pool`` output the head reads),
  L2-normalised; the distance is the cosine distance. This is what the model itself sees.
- **pixels**: a 32x32 grey thumbnail of the slice as the model takes it; the distance is the
  root-mean-square grey-level difference (0-255). It sees the layout: shape, size, brightness.
- **texture**: a 16-bin histogram of the gradient magnitude over the brain (pixels brighter than 10),
  square-rooted (Hellinger); it sees how sharp and detailed the tissue is.

For each, a slice's distance is the mean over its ``k`` (5) nearest reference slices, divided by the
component's scale: the ``quantile`` (0.99) of the distances of the run's validation slices. A slice's
**score** is the largest of the three ratios; the **threshold** is the same quantile of the validation
slices' scores times a ``margin`` (1.2). Validation slices, not training slices, set it: they are brains
the model never trained on, as new slices are, while a training slice (or its augmented copy) is in the
reference and looks nearer than any new slice. The margin keeps a small validation set (a few brains)
from setting the threshold too tight (the smoke preset's 16 validation slices of 4 brains: without it, 3 of
its 16 test slices were flagged; with it, none).

Why three, measured with the demo run (ResNet50V2 cut at conv3, from scratch, 64 px, synthetic data;
threshold 1.22) against the 6,400 real slices of the Kaggle source set: a backbone trained from scratch on
synthetic slices does not learn features that tell real slices from synthetic ones (on the features alone
the real slices sit at a median 0.29 of the validation scale, *nearer* the training slices than the run's
own validation slices, and 9.5 % would be flagged); the thumbnail flags 86 % of them, the texture 99.6 %
(median 3.7 times the validation scale). Together they flag 6,393 of the 6,400 real slices (the rest are
top slices with little brain), none of the run's 156 test slices, 6 of its 2,023 training slices and 10 of
1,008 slices of new synthetic brains (another seed), and every inverted, noise, checkerboard, brightened or
blank slice in the tests. The features stay because a backbone with ImageNet weights should see what
pixels cannot (not measured here: no ImageNet weights offline).

It is cheap (8-12 s at the end of the demo's 3-5 min training, on 2 shared cores) and it does not change
training (the demo's history and validation numbers are byte-identical with and without it): it runs on the
finished model in inference mode and draws its sample from a generator of its own, never the global random
state.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from alzmri.data.pipeline import make_tf_dataset, model_frame
from alzmri.models.runs import CHECK_FILE

#: In a run folder: the reference of the input check (what the training slices look like, and the scales).
THUMBNAIL = 32
TEXTURE_BINS, TEXTURE_MAX, BRAIN_LEVEL = 16, 128.0, 10
#: Each component and the metric its nearest neighbours are found with.
COMPONENTS = {"features": "cosine", "pixels": "euclidean", "texture": "euclidean"}
NO_CHECK = ("no input check stored in this run (trained before alzmri had one, or a model of the person, which "
            "checks no single slice): nothing says whether these slices look like its training data")


@dataclass
class InputScores:
    """The input check of a batch of slices.

    Attributes:
        score: each slice's score (the largest of its component ratios).
        components: each component's distance per slice (before dividing by its scale).
        threshold: the run's threshold; a slice above it is flagged.
    """

    score: np.ndarray
    components: dict[str, np.ndarray]
    threshold: float

    @property
    def in_distribution(self) -> np.ndarray:
        """Whether each slice looks like the run's training data (score at most the threshold)."""
        return self.score <= self.threshold


@dataclass
class InputCheck:
    """A run's reference for the input check (see the module docstring).

    Attributes:
        reference: per component, the training slices' descriptions (features float16, pixels uint8, texture
            float16), one row per slice.
        scales: each component's ``quantile`` of the validation slices' distances.
        threshold: the ``quantile`` of the validation slices' scores, times ``margin``.
        k: nearest reference slices averaged per distance.
        quantile: the validation quantile behind the scales and the threshold.
        margin: the factor on the threshold.
        val_images: validation slices the threshold was set on.
        val_flagged: how many of them are above it.
    """

    reference: dict[str, np.ndarray]
    scales: dict[str, float] = field(default_factory=lambda: dict.fromkeys(COMPONENTS, 1.0))
    threshold: float = np.inf
    k: int = 5
    quantile: float = 0.99
    margin: float = 1.2
    val_images: int = 0
    val_flagged: int = 0
    _prepared: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def _nearest(self, name: str, queries: np.ndarray, chunk: int = 1024) -> np.ndarray:
        """Mean distance of each query row to its ``k`` nearest reference rows of component ``name``.

        A matrix product and a partial sort rather than scikit-learn's ``NearestNeighbors``: for the few slices a
        server scores at a time, its search spent about 30 ms a call starting its parallel workers, ten times the
        search itself. The reference (and its squared norms) is prepared once per check.
        """
        queries = np.asarray(queries, np.float32)
        if not len(queries):
            return np.zeros(0)
        if name not in self._prepared:
            reference = np.asarray(self.reference[name], np.float32)
            if COMPONENTS[name] == "cosine":
                reference = normalise(reference)
            self._prepared[name] = (reference, (reference ** 2).sum(axis=1))
        reference, squared = self._prepared[name]
        k = min(self.k, len(reference))
        means = []
        for start in range(0, len(queries), chunk):
            part = queries[start:start + chunk]
            if COMPONENTS[name] == "cosine":
                distances = 1.0 - normalise(part) @ reference.T
            else:
                distances = np.sqrt(np.maximum((part ** 2).sum(axis=1)[:, None] + squared[None, :]
                                               - 2.0 * part @ reference.T, 0.0))
            means.append(np.maximum(np.partition(distances, k - 1, axis=1)[:, :k], 0).mean(axis=1))
        return np.concatenate(means)

    def score(self, features: np.ndarray, images: np.ndarray) -> InputScores:
        """Score slices given their pooled features (n, d) and the images as the model takes them (n, s, s, 3)."""
        return self.score_described(describe(features, images))

    def score_described(self, described: dict[str, np.ndarray]) -> InputScores:
        """Score slices given their descriptions (:func:`describe`)."""
        components = {name: self._nearest(name, described[name]) for name in COMPONENTS}
        components["pixels"] = components["pixels"] / THUMBNAIL  # Euclidean over 32x32 values: RMS grey levels
        ratios = np.stack([components[name] / self.scales[name] for name in COMPONENTS])
        return InputScores(ratios.max(axis=0), components, self.threshold)

    def settings(self) -> dict:
        """What the run's metadata records about the check (all but the reference itself)."""
        return {"file": CHECK_FILE, "threshold": round(self.threshold, 6), "k": self.k, "quantile": self.quantile,
                "margin": self.margin, "scales": {k: round(v, 6) for k, v in self.scales.items()},
                "reference_images": int(len(self.reference["features"])), "val_images": self.val_images,
                "val_flagged": self.val_flagged,
                "score": "the largest over features (cosine distance of the pooled backbone features), pixels (RMS "
                         "grey-level difference of 32x32 thumbnails) and texture (distance of square-rooted "
                         "gradient-magnitude histograms) of: the mean distance to the k nearest training slices, "
                         "divided by that distance's validation quantile"}

    def save(self, path: str | Path) -> Path:
        """Write the check to ``path`` (a compressed ``.npz``)."""
        path = Path(path)
        with open(path, "wb") as handle:  # np.savez would add ".npz" to a name without it
            np.savez_compressed(handle, **{f"reference_{n}": self.reference[n] for n in COMPONENTS},
                                scales=np.array([self.scales[n] for n in COMPONENTS]),
                                settings=np.array([self.threshold, self.k, self.quantile, self.margin, self.val_images,
                                                   self.val_flagged], dtype=np.float64))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "InputCheck":
        """Read a check written by :meth:`save`."""
        with np.load(path) as stored:
            threshold, k, quantile, margin, val_images, val_flagged = stored["settings"].tolist()
            return cls({n: stored[f"reference_{n}"] for n in COMPONENTS},
                       dict(zip(COMPONENTS, stored["scales"].tolist())), threshold, int(k), quantile, margin,
                       int(val_images), int(val_flagged))


def normalise(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); all-zero rows stay zero."""
    features = np.asarray(features, dtype=np.float32)
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


def _grey(images: np.ndarray) -> np.ndarray:
    """The slice itself in images as the model takes them: float32 (n, s, s). Its middle channel: the same grey as
    the others for a single slice, the slice between its neighbours for 2.5-D input."""
    return np.asarray(images, dtype=np.float32)[..., 1]


def thumbnails(images: np.ndarray) -> np.ndarray:
    """32x32 grey thumbnails (uint8, flattened to 1,024 values) of images as the model takes them."""
    import tensorflow as tf

    grey = _grey(images)[..., None]
    small = tf.image.resize(grey, (THUMBNAIL, THUMBNAIL), method="area").numpy()
    return np.clip(np.round(small), 0, 255).astype(np.uint8).reshape(len(grey), -1)


def textures(images: np.ndarray) -> np.ndarray:
    """Square roots of each image's normalised 16-bin histogram of gradient magnitudes over the brain.

    The brain is the pixels brighter than 10 grey levels; magnitudes of 128 or more share the last bin.
    An image without brain gets a flat histogram (it lies far from every slice).
    """
    grey = _grey(images)
    dy, dx = np.gradient(grey, axis=(1, 2))
    bins = np.minimum(np.hypot(dx, dy) / (TEXTURE_MAX / TEXTURE_BINS), TEXTURE_BINS - 1).astype(np.int64)
    brain = grey > BRAIN_LEVEL
    rows = np.broadcast_to(np.arange(len(grey))[:, None, None], grey.shape)
    counts = np.bincount((rows * TEXTURE_BINS + bins)[brain], minlength=len(grey) * TEXTURE_BINS)
    counts = counts.reshape(len(grey), TEXTURE_BINS).astype(np.float32)
    counts[counts.sum(axis=1) == 0] = 1.0
    return np.sqrt(counts / counts.sum(axis=1, keepdims=True))


def describe(features: np.ndarray, images: np.ndarray) -> dict[str, np.ndarray]:
    """What the check compares of each slice: normalised features, thumbnail, texture histogram."""
    return {"features": normalise(features), "pixels": thumbnails(images), "texture": textures(images)}


def describe_frame(model, frame: pd.DataFrame, image_size: int, batch_size: int = 64) -> dict[str, np.ndarray]:
    """:func:`describe` of ``frame``'s slices, read as training reads them (with their neighbours as the channels where
    ``frame`` names them: :func:`alzmri.data.pipeline.model_frame`), batch by batch (bounded memory)."""
    from alzmri.models.classifier import compiled_forward, feature_extractor

    extract = compiled_forward(feature_extractor(model))
    parts = []
    for images, _ in make_tf_dataset(frame, image_size, batch_size, cache=False):
        parts.append(describe(extract(images).numpy(), images.numpy()))
    return {name: np.concatenate([p[name] for p in parts]) for name in COMPONENTS}


def fit_input_check(model, train: pd.DataFrame, val: pd.DataFrame, image_size: int, seed: int,
                    max_reference: int = 2000, k: int = 5, quantile: float = 0.99,
                    margin: float = 1.2, neighbours: bool = False) -> InputCheck | None:
    """Build a run's input check from its training and validation slices.

    Args:
        model: the trained classifier.
        train: the training split; up to ``max_reference`` of its slices, drawn with ``seed``, are the reference.
        val: the validation split; it sets the scales and the threshold.
        image_size: the model's input size.
        seed: seeds the draw (a generator of its own: the global random state is left alone).
        max_reference: most training slices kept.
        k: nearest reference slices averaged per distance.
        quantile: the validation quantile behind the scales and the threshold.
        margin: the factor on the threshold (above 1: fewer slices flagged).
        neighbours: the model takes 2.5-D input (``Config.neighbour_slices``): each slice is read with the slices
            below and above it in its split as its channels, as training read it (found before the reference is
            drawn, so a drawn slice keeps its neighbours).

    Returns:
        The check, or None without training or validation slices to build it from.
    """
    if train.empty or val.empty:
        return None
    train, val = model_frame(train, neighbours), model_frame(val, neighbours)
    chosen = np.sort(np.random.default_rng(seed).choice(len(train), min(max_reference, len(train)), replace=False))
    reference = describe_frame(model, train.iloc[chosen], image_size)
    check = InputCheck({"features": reference["features"].astype(np.float16), "pixels": reference["pixels"],
                        "texture": reference["texture"].astype(np.float16)}, k=k, quantile=quantile, margin=margin)
    distances = check.score_described(describe_frame(model, val, image_size)).components
    check.scales = {name: max(float(np.quantile(distances[name], quantile)), 1e-6) for name in COMPONENTS}
    scores = np.max([distances[name] / check.scales[name] for name in COMPONENTS], axis=0)
    check.threshold = float(np.quantile(scores, quantile) * margin)
    check.val_images, check.val_flagged = int(len(val)), int((scores > check.threshold).sum())
    return check


def load_input_check(run_dir: str | Path) -> InputCheck | None:
    """The input check stored in a run folder, or None where the run stores none (no validation slices).

    Kept in memory once read (until the file changes), so a server answering many requests reads it once.
    """
    path = Path(run_dir) / CHECK_FILE
    if not path.exists():
        return None
    try:
        stat = path.stat()
        return _load_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:  # a torn file is a BadZipFile
        from alzmri.errors import RunError

        raise RunError(f"{path} is not an input check (corrupt or hand-edited? {type(err).__name__}: {err}); "
                       "delete it to predict without the check") from err


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int, size: int) -> InputCheck:
    """:meth:`InputCheck.load`, remembered per file version (``mtime_ns`` and ``size`` only key the cache)."""
    return InputCheck.load(path)


@lru_cache(maxsize=4)
def with_features(model):
    """A model giving ``[probabilities, pooled features]`` in one pass (it shares ``model``'s layers); one per model,
    so its traced ``predict`` is reused by later calls."""
    import keras

    return keras.Model(model.input, [model.output, model.get_layer("head_pool").output], name="with_features")


def summary(scores: InputScores | None) -> str:
    """One line: how many slices look unlike the run's training data, or that the run stores no check."""
    if scores is None:
        return f"Input check: {NO_CHECK}."
    n, flagged = len(scores.score), int((~scores.in_distribution).sum())
    slices = f"slice{'' if n == 1 else 's'}"
    rule = f"score above the threshold {scores.threshold:.2f} set on its validation slices"
    if flagged:
        verb, them = ("looks", "it") if flagged == 1 else ("look", "them")
        return f"{flagged} of {n} {slices} {verb} unlike this run's training data ({rule}): its answers for {them} " \
               "mean nothing."
    if n == 1:
        return f"The slice does not look unlike this run's training data (input check: no {rule})."
    return f"None of the {n} {slices} looks unlike this run's training data (input check: no {rule})."
