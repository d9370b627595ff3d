"""Grad-CAM: where in the slice the evidence for a class came from, and how faithful that map is.

Grad-CAM weights each channel of a convolutional feature map by the mean gradient of the class score
(the logit, before the softmax) with respect to it, sums, and keeps the positive part. One backward
pass serves a whole batch: the images are independent, so the gradient of the summed scores gives each
image its own map. On the synthetic set every image has a mask of where its class evidence lies, so
the maps can be scored (pointing game, energy in the mask) against random and centre-blob maps.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import ndimage

from .errors import SettingsError

CANDIDATE_LAYERS = ("Activation", "ReLU", "Add")  # feature maps after a non-linearity or residual sum
TOP_FRACTION = 0.15  # energy-in-mask looks at each heatmap's strongest 15 % of pixels


def find_target_layer(model, min_size: int = 7):
    """The last convolutional feature map of the backbone with at least ``min_size`` x ``min_size`` cells.

    At 224 px this is the backbone's last one (7x7 ``post_relu`` in ResNetV2); at small input sizes,
    where that map shrinks to 2x2, an earlier, finer map is the one that can still point somewhere.
    """
    head = model.get_layer("head_pool")
    layers = model.layers[: model.layers.index(head)]
    maps = [layer for layer in layers if type(layer).__name__ in CANDIDATE_LAYERS and len(layer.output.shape) == 4]
    if not maps:
        raise SettingsError(f"{model.name} has no convolutional feature map before its head; is it a classifier "
                         "built by alzmri.model.build_classifier?")
    big_enough = [layer for layer in maps if min(layer.output.shape[1:3]) >= min_size]
    return (big_enough or maps[:1])[-1]


@functools.lru_cache(maxsize=8)
def _cam_function(model, layer_name: str, plus_plus: bool):
    """A compiled function (images, class or -1) → (maps, classes), built once per model and layer."""
    import keras
    import tensorflow as tf

    dense = model.get_layer("predictions")
    probe = keras.Model(model.inputs, [model.get_layer(layer_name).output, dense.input])

    @tf.function(reduce_retracing=True)
    def cams(x, wanted):
        with tf.GradientTape() as tape:
            fmap, pooled = probe(x, training=False)
            logits = tf.matmul(tf.cast(pooled, tf.float32), dense.kernel) + dense.bias
            chosen = tf.where(wanted < 0, tf.argmax(logits, axis=1), wanted)
            score = tf.reduce_sum(tf.gather(logits, chosen, batch_dims=1))
        grads = tf.cast(tape.gradient(score, fmap), tf.float32)
        fmap = tf.cast(fmap, tf.float32)
        if plus_plus:
            g2, g3 = grads**2, grads**3
            denom = 2 * g2 + tf.reduce_sum(fmap, axis=(1, 2), keepdims=True) * g3
            alpha = g2 / tf.where(denom != 0, denom, tf.ones_like(denom))
            weights = tf.reduce_sum(alpha * tf.nn.relu(grads), axis=(1, 2))
        else:
            weights = tf.reduce_mean(grads, axis=(1, 2))
        cam = tf.nn.relu(tf.einsum("nhwc,nc->nhw", fmap, weights))
        cam = tf.image.resize(cam[..., None], tf.shape(x)[1:3], method="bilinear")[..., 0]
        return tf.math.divide_no_nan(cam, tf.reduce_max(cam, axis=(1, 2), keepdims=True)), chosen

    return cams


def gradcam(model, images: np.ndarray, class_index: np.ndarray | None = None, layer_name: str | None = None,
            min_size: int = 7, plus_plus: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps (n, H, W) in [0, 1] at the input resolution, and the class each one explains.

    ``class_index`` defaults to the predicted class; ``plus_plus`` uses the Grad-CAM++ channel weights.
    """
    import tensorflow as tf

    name = layer_name or find_target_layer(model, min_size).name
    wanted = np.full(len(images), -1) if class_index is None else np.asarray(class_index)
    maps, chosen = _cam_function(model, name, plus_plus)(tf.convert_to_tensor(images, tf.float32),
                                                         tf.convert_to_tensor(wanted, tf.int64))
    return maps.numpy(), chosen.numpy()


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The heatmap in the 'jet' colour map blended over a grey or RGB uint8 slice (RGB uint8 out)."""
    from matplotlib import colormaps

    grey = image if image.ndim == 2 else image[..., :3].mean(axis=-1)
    base = np.repeat(grey[..., None].astype(np.float32) / 255.0, 3, axis=-1)
    colour = colormaps["jet"](np.clip(heatmap, 0, 1))[..., :3]
    return (np.clip((1 - alpha) * base + alpha * colour, 0, 1) * 255).round().astype(np.uint8)


def random_heatmaps(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Baseline: smooth random maps, as coarse as a Grad-CAM map."""
    rng = np.random.default_rng(seed)
    maps = np.stack([ndimage.gaussian_filter(rng.random((size, size)), size / 8) for _ in range(n)])
    maps -= maps.min(axis=(1, 2), keepdims=True)
    return maps / maps.max(axis=(1, 2), keepdims=True)


def centre_heatmaps(n: int, size: int) -> np.ndarray:
    """Baseline: a Gaussian blob in the image centre (where the ventricles usually are)."""
    lin = np.linspace(-1, 1, size)
    yy, xx = np.meshgrid(lin, lin, indexing="ij")
    blob = np.exp(-(xx**2 + yy**2) / (2 * 0.35**2))
    return np.repeat(blob[None], n, axis=0)


def faithfulness(heatmaps: np.ndarray, masks: np.ndarray, top_fraction: float = TOP_FRACTION) -> dict:
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


def faithfulness_report(model, images: np.ndarray, masks: np.ndarray, labels: np.ndarray | None = None,
                        min_size: int = 7, seed: int = 0) -> dict:
    """Grad-CAM's faithfulness next to random-map and centre-blob baselines, on the same images.

    With ``labels`` (class ids), the same scores per true class follow under ``by_class``.
    """
    from .config import CLASS_NAMES

    size, layer = images.shape[1], find_target_layer(model, min_size).name
    maps = {"gradcam": gradcam(model, images, layer_name=layer)[0],
            "random": random_heatmaps(len(images), size, seed),
            "centre": centre_heatmaps(len(images), size)}
    report = {"layer": layer, "top_fraction": TOP_FRACTION}
    report.update({name: faithfulness(m, masks) for name, m in maps.items()})
    if labels is not None:
        report["by_class"] = {CLASS_NAMES[c]: {name: faithfulness(m[labels == c], masks[labels == c])
                                               for name, m in maps.items()}
                              for c in np.unique(labels)}
    return report
