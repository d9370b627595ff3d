"""Near-duplicate grouping and the train/test leakage audit.

The augmented images of the Kaggle set are flips, small rotations, zooms and brightness changes of
the originals. Each image is mapped to a canonical pose (centred on the brain, its long axis upright,
scaled to a fixed size), high-pass filtered (the outline of a brain is shared by all; the fold pattern
is not) and standardised, so a copy and its original have nearly the same small descriptor; the four
flips of that pose cover the remaining ambiguity. Two images whose descriptors correlate above a
threshold are near-duplicates, and an audit counts, for each evaluation split, how many of its images
have one in train.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

DESCRIPTOR_SIZE = 32
HIGH_PASS_SIGMA = 1.5  # removes the brain's overall shape, which every slice shares
BLOCK = 2048  # rows compared at once; bounds memory on large sets


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


def _standardise(views: np.ndarray) -> np.ndarray:
    """Flatten views and scale each to zero mean, unit length (correlation becomes a dot product)."""
    flat = views.reshape(len(views), -1)
    flat = flat - flat.mean(axis=1, keepdims=True)
    return flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-8)


def image_descriptor(image: np.ndarray) -> np.ndarray:
    """The standardised fine detail (sulci, ventricles) of an image's canonical view, (DESCRIPTOR_SIZE**2,)."""
    view = canonical_view(image)
    return _standardise((view - ndimage.gaussian_filter(view, HIGH_PASS_SIGMA))[None])[0]


def _read_grey(path: str) -> np.ndarray:
    """Read an image file as a grey uint8 array."""
    with Image.open(path) as im:
        return np.asarray(im.convert("L"))


def compute_descriptors(paths: list[str], workers: int = 2, progress: bool = True) -> np.ndarray:
    """Descriptors of many image files, shape (n, DESCRIPTOR_SIZE**2), float32."""
    from tqdm.auto import tqdm

    def one(path: str) -> np.ndarray:
        return image_descriptor(_read_grey(path))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        rows = list(tqdm(pool.map(one, paths), total=len(paths), desc="near-duplicate descriptors",
                         unit="img", disable=not progress))
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, DESCRIPTOR_SIZE**2), np.float32)


def flip_variants(desc: np.ndarray) -> np.ndarray:
    """The four flips of each canonical view, shape (n, 4, D): the axis sign and mirror ambiguity."""
    views = desc.reshape(-1, DESCRIPTOR_SIZE, DESCRIPTOR_SIZE)
    stacked = np.stack([views, views[:, ::-1], views[:, :, ::-1], views[:, ::-1, ::-1]], axis=1)
    return stacked.reshape(len(desc), 4, -1)


def _similarity_blocks(query: np.ndarray, reference: np.ndarray):
    """Yield (row offset, block of max-over-flips correlations) of query rows against reference rows."""
    ref = flip_variants(reference).reshape(-1, reference.shape[1])
    for start in range(0, len(query), BLOCK):
        scores = query[start:start + BLOCK] @ ref.T
        yield start, scores.reshape(len(scores), len(reference), 4).max(axis=2)


def best_match(query: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query descriptor, the index of its most similar reference and that similarity."""
    index = np.full(len(query), -1, int)
    score = np.full(len(query), -np.inf, np.float32)
    if len(reference) == 0:
        return index, score
    for start, block in _similarity_blocks(query, reference):
        index[start:start + len(block)] = block.argmax(axis=1)
        score[start:start + len(block)] = block.max(axis=1)
    return index, score


def group_near_duplicates(desc: np.ndarray, threshold: float) -> np.ndarray:
    """Connected components of the near-duplicate graph: one group id per descriptor."""
    rows, cols = [], []
    for start, block in _similarity_blocks(desc, desc):
        r, c = np.nonzero(block >= threshold)
        rows.append(r + start)
        cols.append(c)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(desc), len(desc)))
    return connected_components(graph, directed=False)[1]


def match_precision_recall(predicted: pd.Series, truth: pd.Series) -> tuple[float, float]:
    """Precision and recall of a predicted augmented→original mapping ("" = no match) against the truth."""
    made = predicted != ""
    correct = (predicted == truth) & made
    precision = correct.sum() / max(made.sum(), 1)
    recall = correct.sum() / max(len(truth), 1)
    return float(precision), float(recall)


def recover_originals(frame: pd.DataFrame, desc: np.ndarray, threshold: float) -> pd.Series:
    """For each augmented image, the relpath of the original it was made from ("" when none matches)."""
    orig = np.flatnonzero((frame["kind"] == "original").to_numpy())
    aug = np.flatnonzero((frame["kind"] == "augmented").to_numpy())
    match, score = best_match(desc[aug], desc[orig])
    names = frame["relpath"].to_numpy()[orig]
    found = np.where(score >= threshold, names[np.maximum(match, 0)], "") if len(orig) else np.full(len(aug), "")
    return pd.Series(found, index=frame.index[aug], name="recovered_original")


def mapping_quality(frame: pd.DataFrame, desc: np.ndarray, threshold: float) -> tuple[float, float] | None:
    """Precision and recall of the recovered augmented→original mapping, where the truth is known."""
    truth = frame.loc[frame["kind"] == "augmented", "original"]
    if len(truth) == 0 or (truth == "").all():
        return None
    return match_precision_recall(recover_originals(frame, desc, threshold), truth)


def audit(frame: pd.DataFrame, desc: np.ndarray, threshold: float, split_col: str = "split") -> pd.DataFrame:
    """Per evaluation split: how many images have a near-duplicate in train (the leak)."""
    train = np.flatnonzero(frame[split_col].to_numpy() == "train")
    rows = []
    for split in ("val", "test"):
        members = np.flatnonzero(frame[split_col].to_numpy() == split)
        if len(members) == 0:
            continue
        _, score = best_match(desc[members], desc[train])
        leaked = score >= threshold
        rows.append(dict(pair=f"train→{split}", images=len(members), leaked=int(leaked.sum()),
                         leaked_fraction=float(leaked.mean()), max_similarity=float(score.max())))
    return pd.DataFrame(rows)


def leaked_pairs(frame: pd.DataFrame, desc: np.ndarray, threshold: float, n: int = 6,
                 split_col: str = "split") -> list[tuple[str, str, float]]:
    """Up to ``n`` (test image, its near-duplicate in train, similarity) triples, for showing a leak."""
    train = np.flatnonzero(frame[split_col].to_numpy() == "train")
    test = np.flatnonzero(frame[split_col].to_numpy() == "test")
    match, score = best_match(desc[test], desc[train])
    leaked = np.flatnonzero(score >= threshold)[:n]
    paths = frame["path"].to_numpy()
    return [(paths[test[i]], paths[train[match[i]]], float(score[i])) for i in leaked]


def descriptor_cache_path(cache_dir: Path, fingerprint: str) -> Path:
    """Where the descriptors of a dataset with this fingerprint are kept between runs."""
    return Path(cache_dir) / "descriptors" / f"{fingerprint}-{DESCRIPTOR_SIZE}.npy"


def cached_descriptors(paths: list[str], cache_dir: Path, fingerprint: str, progress: bool = True) -> np.ndarray:
    """Descriptors for ``paths``, computed once per dataset fingerprint and then read from disk."""
    path = descriptor_cache_path(cache_dir, fingerprint)
    if path.exists():
        desc = np.load(path)
        if len(desc) == len(paths):
            return desc
    desc = compute_descriptors(paths, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, desc)
    tmp.replace(path)
    return desc
