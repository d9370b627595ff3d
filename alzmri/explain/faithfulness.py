"""Does a heatmap explain the model? Deletion and insertion, the randomisation check, and plausibility.

* **Deletion and insertion** (Petsiuk et al., RISE, 2018): take the image's pixels away in the order a
  heatmap ranks them, most important first, in :data:`STEPS` steps, and follow the model's probability for
  the explained class: it should fall fast for a faithful map (small area under the curve). Insertion puts
  the pixels back, in the same order, into an image that had none: the probability should rise fast (large
  area). A pixel "taken away" becomes a heavily blurred copy of the slice, not black: on an MRI slice black
  is what cerebrospinal fluid looks like, so blacking out tissue would paint atrophy, the very evidence the
  classes differ by. The blur keeps each region's brightness and removes its structure.
* **Model randomisation** (Adebayo et al., "Sanity checks for saliency maps", 2018): re-initialise the head,
  then more and more of the top blocks, and compare the maps with the trained model's (Spearman rank
  correlation and SSIM). A map that barely changes when the weights it explains are destroyed explains the
  image, not the model.
* **Plausibility** (synthetic data only): do the maps land where the generator drew the class evidence
  (pointing game, share of the strongest 15 % of the map inside the mask)? That asks whether the model looks
  where *we* would, a weaker question than the two above; a centre blob does well on it, since the
  ventricles sit in the middle of every slice.

Every score is given for Grad-CAM and for two maps that know nothing of the model: random smooth maps and
a centre blob. Both need no masks, so they work on real slices too.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage, stats

from alzmri.config import CLASS_NAMES
from alzmri.explain.gradcam import centre_heatmaps, find_target_layer, gradcam, random_heatmaps
from alzmri.metrics import describe_units, statistic_interval
from alzmri.models.classifier import backbone_blocks, probabilities

STEPS = 16  # deletion/insertion steps: 1/16 of the pixels each
BLUR_FRACTION = 0.1  # the removal baseline's blur, as a share of the image side
TOP_FRACTION = 0.15  # energy in mask looks at each map's strongest 15 % of pixels


def removal_baseline(images: np.ndarray, blur_fraction: float = BLUR_FRACTION) -> np.ndarray:
    """What deleted pixels become: each image blurred with a Gaussian of ``blur_fraction`` x its side."""
    sigma = blur_fraction * images.shape[1]
    return ndimage.gaussian_filter(images.astype(np.float32), sigma=(0, sigma, sigma, 0))


def _pixel_ranks(heatmaps: np.ndarray, seed: int) -> np.ndarray:
    """Each pixel's place in its map's order, most important first (ties, e.g. zeros, in random order)."""
    n = len(heatmaps)
    flat = heatmaps.reshape(n, -1)
    jitter = np.random.default_rng(seed).random(flat.shape)
    order = np.lexsort((jitter, -flat), axis=-1)  # by importance, then by the jitter
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(flat.shape[1])[None].repeat(n, 0), axis=1)
    return ranks


def deletion_insertion_curves(model, images: np.ndarray, heatmaps: np.ndarray, classes: np.ndarray,
                              steps: int = STEPS, seed: int = 0,
                              batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """The explained class's probability as pixels are deleted, and as they are inserted, in map order.

    Args:
        model: the classifier.
        images: (n, size, size, 3) float 0-255, as the model takes them.
        heatmaps: (n, size, size), higher = more important.
        classes: the class each map explains, per image.
        steps: how many equal shares of the pixels are deleted (inserted) one after another.
        seed: breaks ties between equally ranked pixels.
        batch_size: images per forward pass.

    Returns:
        ``(deletion, insertion)``, each (n, steps + 1): the probability after 0, 1/steps, ..., all pixels.
    """
    n, pixels = len(images), images.shape[1] * images.shape[2]
    ranks = _pixel_ranks(heatmaps, seed).reshape(images.shape[:3])[..., None]
    blurred = removal_baseline(images)
    counts = np.round(np.linspace(0, 1, steps + 1) * pixels).astype(int)
    deleted = np.concatenate([np.where(ranks < k, blurred, images) for k in counts])
    inserted = np.concatenate([np.where(ranks < k, images, blurred) for k in counts])
    proba = probabilities(model, np.concatenate([deleted, inserted]), batch_size)
    picked = proba[np.arange(len(proba)), np.tile(classes, 2 * (steps + 1))]
    deletion, insertion = picked.reshape(2, steps + 1, n)
    return deletion.T, insertion.T


def area_under(curves: np.ndarray) -> np.ndarray:
    """Area under each curve sampled at equal steps from 0 to 1 (trapezoid rule), per row."""
    return (curves[:, 1:] + curves[:, :-1]).sum(axis=1) / (2 * (curves.shape[1] - 1))


def baseline_maps(n: int, size: int, seed: int = 0) -> dict[str, np.ndarray]:
    """The maps Grad-CAM is compared with: random smooth maps and a centre blob."""
    return {"random": random_heatmaps(n, size, seed), "centre": centre_heatmaps(n, size)}


def deletion_insertion_report(model, images: np.ndarray, maps: dict[str, np.ndarray], classes: np.ndarray,
                              units: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict:
    """Mean deletion and insertion AUC of each map, with 95 % intervals resampling ``units``, and mean curves.

    Returns:
        ``{"deletion_auc": {map: mean}, "insertion_auc": {...}, "deletion_auc_ci": {map: [low, high]},
        "insertion_auc_ci": {...}, "deletion_curve": {map: [...]}, "insertion_curve": {...}, "steps": ...}``
    """
    report: dict = {key: {} for key in ("deletion_auc", "insertion_auc", "deletion_auc_ci", "insertion_auc_ci",
                                        "deletion_curve", "insertion_curve")}
    for name, heat in maps.items():
        curves = dict(zip(("deletion", "insertion"),
                          deletion_insertion_curves(model, images, heat, classes, seed=seed)))
        for kind, curve in curves.items():
            auc = area_under(curve)
            report[f"{kind}_auc"][name] = float(auc.mean())
            report[f"{kind}_auc_ci"][name] = statistic_interval(lambda rows, a=auc: float(a[rows].mean()), units,
                                                                n_boot, seed)
            report[f"{kind}_curve"][name] = [float(v) for v in curve.mean(axis=0)]
    report.update(steps=STEPS, removed_to=f"a Gaussian blur of the slice (sigma {BLUR_FRACTION:g} x its side)")
    return report


def _top_blocks(model) -> list[list[str]]:
    """The backbone's blocks, top first, as lists of layer names that hold weights."""
    return [[layer.name for layer in block if layer.weights] for block in reversed(backbone_blocks(model))]


def _mix_weights(target, trained, fresh: list[list[np.ndarray]], randomised: set[str]) -> None:
    """Give ``target`` (a clone of ``trained``) the re-drawn weights ``fresh`` in the layers named in
    ``randomised``, and the trained weights elsewhere.

    Clones keep the layers' order but not always their names (an input layer is renamed), so layers are
    paired by position and named by the trained model's.
    """
    for mine, original, redrawn in zip(target.layers, trained.layers, fresh):
        mine.set_weights(redrawn if original.name in randomised else original.get_weights())


def randomisation_check(model, images: np.ndarray, layer_name: str, depths: tuple[int, ...] = (1, 2, 4, 8),
                        seed: int = 0, return_maps: bool = False):
    """The cascade: maps of models whose head, then head and top 1, 2, 4, ... blocks are re-initialised,
    compared with the trained model's maps (per image, then averaged).

    Args:
        model: the trained classifier (left untouched: a clone is re-initialised).
        images: the images to explain, as the model takes them.
        layer_name: the feature map Grad-CAM explains.
        depths: how many top blocks to re-initialise (with the head) at each step after the head alone.
        seed: seeds Keras' random state before the weights are re-drawn, so the check is reproducible.
        return_maps: also return every step's maps.

    Returns:
        One ``{"randomised": what, "layers": count, "rank_correlation": ..., "ssim": ...}`` per step, the maps
        explaining the class the trained model predicted; with ``return_maps`` also the maps, the trained
        model's first: ``(results, [maps, ...])``.
    """
    import keras
    import tensorflow as tf

    original, classes = gradcam(model, images, layer_name=layer_name)
    head = ["predictions"]
    blocks = _top_blocks(model)
    steps = [("head", head)] + [(f"head + top {d} block{'s' if d > 1 else ''}", head + sum(blocks[:d], []))
                                for d in depths if d <= len(blocks)]
    keras.utils.set_random_seed(seed)
    copy = keras.models.clone_model(model)  # every layer re-drawn by its own initialiser, once for all steps
    fresh = [layer.get_weights() for layer in copy.layers]
    results, all_maps = [], [original]
    for what, names in steps:
        _mix_weights(copy, model, fresh, set(names))
        maps, _ = gradcam(copy, images, class_index=classes, layer_name=layer_name)
        with warnings.catch_warnings():  # a flat map has no ranks: nan, left out of the mean
            warnings.simplefilter("ignore", stats.ConstantInputWarning)
            rho = [stats.spearmanr(a.ravel(), b.ravel())[0] for a, b in zip(original, maps)]
        ssim = tf.image.ssim(tf.constant(original[..., None]), tf.constant(maps[..., None]), max_val=1.0).numpy()
        rho = np.asarray(rho, dtype=float)
        results.append({"randomised": what, "layers": len(names),
                        "rank_correlation": float(rho[~np.isnan(rho)].mean()) if (~np.isnan(rho)).any() else None,
                        "ssim": float(np.mean(ssim))})
        all_maps.append(maps)
    return (results, all_maps) if return_maps else results


def plausibility(heatmaps: np.ndarray, masks: np.ndarray, top_fraction: float = TOP_FRACTION) -> dict:
    """Pointing game (the hottest pixel lies in the evidence mask) and the share of top-k energy in it."""
    n = len(heatmaps)
    flat, inside = heatmaps.reshape(n, -1), masks.reshape(n, -1).astype(bool)
    pointing = inside[np.arange(n), flat.argmax(axis=1)]
    k = max(1, int(round(top_fraction * flat.shape[1])))
    top = np.argsort(flat, axis=1)[:, -k:]
    top_energy = np.take_along_axis(flat, top, axis=1)
    in_mask = np.take_along_axis(inside, top, axis=1)
    energy = (top_energy * in_mask).sum(axis=1) / np.maximum(top_energy.sum(axis=1), 1e-12)
    return {"pointing_game": float(pointing.mean()), "energy_in_mask": float(energy.mean()), "images": n}


def explanation_report(model, images: np.ndarray, units: np.ndarray, unit: str, layer_name: str | None = None,
                       masks: np.ndarray | None = None, labels: np.ndarray | None = None, n_boot: int = 1000,
                       seed: int = 0, show: int = 4) -> tuple[dict, dict | None, list[np.ndarray]]:
    """Everything :func:`alzmri.evaluation.evaluate.evaluate_run` reports about Grad-CAM on a sample of test images.

    Args:
        model: the classifier.
        images: the sample, as the model takes them.
        units: each image's independent unit (subject, else copy group), for the intervals.
        unit: that unit's name.
        layer_name: the feature map to explain (default: :func:`alzmri.explain.gradcam.find_target_layer`).
        masks: evidence masks (synthetic data only), for the plausibility scores.
        labels: true class ids, to break plausibility down by class.
        n_boot: bootstrap resamples.
        seed: for the random maps, ties and re-initialised weights.
        show: images whose randomisation maps are kept for a figure.

    Returns:
        ``(faithfulness, plausibility, cascade_maps)``: deletion/insertion AUCs of Grad-CAM, random and centre
        maps with intervals and mean curves, and the randomisation cascade; plausibility is None without
        masks; the cascade's maps of the first ``show`` images, the trained model's first.
    """
    layer = layer_name or find_target_layer(model).name
    cams, classes = gradcam(model, images, layer_name=layer)
    maps = {"gradcam": cams, **baseline_maps(len(images), images.shape[1], seed)}
    faithful = {"layer": layer, "images": int(len(images)), "explains": "the predicted class",
                "intervals": describe_units(units, unit)}
    faithful.update(deletion_insertion_report(model, images, maps, classes, units, n_boot, seed))
    faithful["randomisation"], cascade_maps = randomisation_check(model, images, layer, seed=seed, return_maps=True)
    cascade_maps = [maps[:show] for maps in cascade_maps]
    if masks is None:
        return faithful, None, cascade_maps
    plausible = {"layer": layer, "top_fraction": TOP_FRACTION,
                 **{name: plausibility(m, masks) for name, m in maps.items()}}
    if labels is not None:
        plausible["by_class"] = {CLASS_NAMES[c]: {name: plausibility(m[labels == c], masks[labels == c])
                                                  for name, m in maps.items()} for c in np.unique(labels)}
    return faithful, plausible, cascade_maps
