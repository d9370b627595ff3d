"""How alike two slices are: the image features that find augmented copies and neighbouring slices.

Two questions need two features, computed in one read of every file and cached per dataset:

* **Copy descriptors** answer "is this an augmented copy of that slice?". Copies are flipped, rotated,
  zoomed and brightened, so each image is mapped to a canonical pose (centred on the brain, its long
  axis upright, scaled to a fixed size), high-pass filtered (the outline of a brain is shared by all,
  the fold pattern is not) and standardised; the four flips of that pose cover the remaining ambiguity.
* **Slice features** answer "could these be neighbouring slices of one brain?". The real slices are
  registered to one atlas, so a plain grey thumbnail, standardised, does it: on the real source set
  neighbouring slices of one brain correlate at 0.987 or more at 64 x 64 px and different brains at
  0.972 at most (``benchmarks/subjects.py``).

Correlation becomes a dot product of standardised rows; large sets are compared in blocks.
"""

from __future__ import annotations

import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from alzmri.files import atomic_path
from alzmri.progress import show_bars

DESCRIPTOR_SIZE = 32
SLICE_FEATURE_SIZE = 64
HIGH_PASS_SIGMA = 1.5  # removes the brain's overall shape, which every slice shares
BLOCK = 2048  # rows compared at once; bounds memory on large sets
READ_LIMIT = 512  # long side, in px, at which images are read for features (real slices are about 200)
FEATURES_VERSION = 2  # bump when a feature changes, so cached features are recomputed


@dataclass
class Features:
    """Both features of every image of a dataset, row i for image i."""

    copy: np.ndarray  # (n, DESCRIPTOR_SIZE**2), standardised, in canonical pose
    slice: np.ndarray  # (n, SLICE_FEATURE_SIZE**2), standardised, as the image lies


def canonical_view(image: np.ndarray, size: int = DESCRIPTOR_SIZE) -> np.ndarray:
    """Resample a grey slice into a pose-normalised ``size x size`` view (centre, axis, scale)."""
    image = image.astype(np.float32)
    foreground = image > max(8.0, 0.15 * float(image.max()))
    if foreground.sum() < 16:
        return np.zeros((size, size), np.float32)
    ys, xs = np.nonzero(foreground)
    centre = np.array([ys.mean(), xs.mean()])
    cov = np.cov(np.stack([ys, xs]))
    eigvals, eigvecs = np.linalg.eigh(cov)  # ascending: eigvecs[:, 1] is the long axis
    spread = 2.2 * np.sqrt(np.maximum(eigvals, 1e-6))
    grid = np.linspace(-1, 1, size)
    long_coord, short_coord = np.meshgrid(grid, grid, indexing="ij")
    coords = (centre[:, None, None]
              + eigvecs[:, 1, None, None] * long_coord * spread[1]
              + eigvecs[:, 0, None, None] * short_coord * spread[0])
    smooth = ndimage.gaussian_filter(image, sigma=max(0.5, 0.5 * spread.min() / size))
    return ndimage.map_coordinates(smooth, coords, order=1, mode="constant").astype(np.float32)


def standardise(rows: np.ndarray) -> np.ndarray:
    """Flatten and scale each row to zero mean, unit length (correlation becomes a dot product)."""
    flat = rows.reshape(len(rows), -1).astype(np.float32)
    flat = flat - flat.mean(axis=1, keepdims=True)
    return flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-8)


def copy_descriptor(image: np.ndarray) -> np.ndarray:
    """The standardised fine detail (sulci, ventricles) of an image's canonical view, (DESCRIPTOR_SIZE**2,)."""
    view = canonical_view(image)
    return standardise((view - ndimage.gaussian_filter(view, HIGH_PASS_SIGMA))[None])[0]


def slice_feature(image: np.ndarray) -> np.ndarray:
    """A standardised grey ``SLICE_FEATURE_SIZE``-px thumbnail of a slice, as it lies (SLICE_FEATURE_SIZE**2,)."""
    thumb = Image.fromarray(image).resize((SLICE_FEATURE_SIZE, SLICE_FEATURE_SIZE), Image.Resampling.BILINEAR)
    return standardise(np.asarray(thumb, np.float32)[None])[0]


def _read_grey(path: str) -> np.ndarray:
    """Read an image file as a grey uint8 array, decoded at most ``READ_LIMIT`` px on its long side.

    Both features are 64 px or less, so a huge image (a 10,000 px scan) is decoded reduced (JPEG) or
    shrunk at once, rather than filtered at full size.
    """
    with Image.open(path) as im:
        im.draft("L", (READ_LIMIT, READ_LIMIT))
        grey = im.convert("L")
        if max(grey.size) > READ_LIMIT:
            grey.thumbnail((READ_LIMIT, READ_LIMIT), Image.Resampling.BILINEAR)
        return np.asarray(grey)


def compute_features(paths: list[str], workers: int = 2, progress: bool = True) -> Features:
    """Both features of many image files, each file read once."""
    from tqdm.auto import tqdm

    def one(path: str) -> tuple[np.ndarray, np.ndarray]:
        grey = _read_grey(path)
        return copy_descriptor(grey), slice_feature(grey)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        rows = list(tqdm(pool.map(one, paths), total=len(paths), desc="image features", unit="img",
                         disable=not show_bars(progress)))
    if not rows:
        return Features(np.zeros((0, DESCRIPTOR_SIZE**2), np.float32), np.zeros((0, SLICE_FEATURE_SIZE**2), np.float32))
    return Features(np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows]))


def features_cache_path(cache_dir: Path, fingerprint: str) -> Path:
    """Where the features of a dataset with this fingerprint are kept between runs."""
    return Path(cache_dir) / "features" / f"{fingerprint}-v{FEATURES_VERSION}.npz"


def cached_features(paths: list[str], cache_dir: Path, fingerprint: str, progress: bool = True) -> Features:
    """Features for ``paths``, computed once per dataset fingerprint and then read from disk."""
    path = features_cache_path(cache_dir, fingerprint)
    if path.exists():
        try:
            with np.load(path) as stored:
                features = Features(stored["copy"], stored["slice"])
            expected = [(len(paths), DESCRIPTOR_SIZE**2), (len(paths), SLICE_FEATURE_SIZE**2)]
            if [features.copy.shape, features.slice.shape] == expected:
                return features
            problem = "holds features of another shape"
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
            problem = f"is damaged ({type(err).__name__})"
        warnings.warn(f"The features cache {path} {problem}: computing the features again", UserWarning,
                      stacklevel=2)
    features = compute_features(paths, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, copy=features.copy, slice=features.slice)
    return features


def flip_variants(desc: np.ndarray) -> np.ndarray:
    """The four flips of each canonical view, shape (n, 4, D): the axis sign and mirror ambiguity."""
    views = desc.reshape(-1, DESCRIPTOR_SIZE, DESCRIPTOR_SIZE)
    stacked = np.stack([views, views[:, ::-1], views[:, :, ::-1], views[:, ::-1, ::-1]], axis=1)
    return stacked.reshape(len(desc), 4, -1)


def similarity_blocks(query: np.ndarray, reference: np.ndarray, flips: bool = True):
    """Yield (row offset, block of correlations) of query rows against reference rows.

    With ``flips`` the reference rows are copy descriptors and each score is the best of their four flips.
    """
    if not flips:
        for start in range(0, len(query), BLOCK):
            yield start, query[start:start + BLOCK] @ reference.T
        return
    ref = flip_variants(reference).reshape(-1, reference.shape[1])
    for start in range(0, len(query), BLOCK):
        scores = query[start:start + BLOCK] @ ref.T
        yield start, scores.reshape(len(scores), len(reference), 4).max(axis=2)


def best_match(query: np.ndarray, reference: np.ndarray, flips: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """For each query row, the index of its most similar reference row and that similarity."""
    index = np.full(len(query), -1, int)
    score = np.full(len(query), -np.inf, np.float32)
    if len(reference) == 0:
        return index, score
    for start, block in similarity_blocks(query, reference, flips):
        index[start:start + len(block)] = block.argmax(axis=1)
        score[start:start + len(block)] = block.max(axis=1)
    return index, score
