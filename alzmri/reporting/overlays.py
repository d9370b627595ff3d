"""A Grad-CAM map drawn over its slice: resized to the slice's own shape, coloured, on the brain only.

The maps themselves come from :mod:`alzmri.explain.gradcam`; this is how the figures
(:func:`alzmri.reporting.plots.gradcam_gallery`, the randomisation cascade) show them.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def brain_mask(image: np.ndarray, background: int = 10) -> np.ndarray:
    """Where the brain is in a slice on a black background: pixels above ``background``, holes filled.

    Filling the holes keeps the dark ventricles, which sit inside the brain and are evidence themselves.
    """
    grey = image if image.ndim == 2 else image[..., :3].mean(axis=-1)
    return ndimage.binary_fill_holes(grey > background)


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45, brain_only: bool = True) -> np.ndarray:
    """The heatmap in the 'jet' colour map blended over a grey or RGB uint8 slice (RGB uint8 out).

    With ``brain_only`` the background stays grey: heat drawn on the black around the brain would suggest
    evidence where there is no tissue (the map is coarse and spills over the brain's edge).
    """
    from matplotlib import colormaps

    grey = image if image.ndim == 2 else image[..., :3].mean(axis=-1)
    base = np.repeat(grey[..., None].astype(np.float32) / 255.0, 3, axis=-1)
    colour = colormaps["jet"](np.clip(heatmap, 0, 1))[..., :3]
    weight = alpha * (brain_mask(grey)[..., None] if brain_only else 1.0)
    return (np.clip((1 - weight) * base + weight * colour, 0, 1) * 255).round().astype(np.uint8)


def map_to_shape(heatmap: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A heatmap at the model's square size, resized (bilinear) to a slice's own height and width.

    The model sees every slice squeezed into a square; drawing the map over the slice at its own aspect
    ratio means resizing the map, never the slice.
    """
    if heatmap.shape == tuple(shape):
        return heatmap
    zoom = (shape[0] / heatmap.shape[0], shape[1] / heatmap.shape[1])
    return np.clip(ndimage.zoom(heatmap.astype(np.float32), zoom, order=1, grid_mode=True, mode="nearest"), 0, 1)
