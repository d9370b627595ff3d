"""Grad-CAM: where in the slice the evidence for a class came from.

Grad-CAM weights each channel of a convolutional feature map by the mean gradient of the class score
(the logit, before the softmax) with respect to it, sums, and keeps the positive part. One backward
pass serves a whole batch: the images are independent, so the gradient of the summed scores gives each
image its own map. Whether a map explains the model is measured in :mod:`alzmri.explain.faithfulness`, next to
the two maps here that know nothing of the model: random smooth maps and a centre blob.
"""

from __future__ import annotations

import functools
import re

import numpy as np
from scipy import ndimage

from alzmri.errors import SettingsError

CANDIDATE_LAYERS = ("Activation", "ReLU", "Add")  # feature maps after a non-linearity or residual sum
MAIN_PATH = re.compile(r"^(conv\d+_block\d+_out|post_relu)$")  # a ResNet block's output, or the backbone's last map


def find_target_layer(model, min_size: int = 7):
    """The feature map Grad-CAM explains: the last one on the backbone's main path with at least
    ``min_size`` x ``min_size`` cells.

    Main path: in a ResNet, a block's output (``convN_blockM_out``, the sum of the shortcut and the residual
    branch) or the backbone's final activation (``post_relu`` in ResNetV2). A layer inside a residual branch
    (``conv3_block4_1_relu``) sees only that branch and misses what the shortcut carries. At 224 px the pick
    is the last map (7x7 ``post_relu``); at small input sizes, where the last map shrinks to 2x2 or 4x4, it is
    the last block output that can still point somewhere (``conv3_block3_out``, 8x8, at 64 px). Backbones
    without such names (MobileNet, EfficientNet) fall back to any activation or residual sum. Pass
    ``layer_name`` to :func:`gradcam` (``--layer``, ``gradcam_layer``) to choose another.
    """
    head = model.get_layer("head_pool")
    layers = [layer for layer in model.layers[: model.layers.index(head)] if len(layer.output.shape) == 4]
    maps = [layer for layer in layers if MAIN_PATH.match(layer.name)] or \
        [layer for layer in layers if type(layer).__name__ in CANDIDATE_LAYERS]
    if not maps:
        raise SettingsError(f"{model.name} has no convolutional feature map before its head; is it a classifier "
                            "built by alzmri.models.classifier.build_classifier?")
    big_enough = [layer for layer in maps if min(layer.output.shape[1:3]) >= min_size]
    return (big_enough or maps[:1])[-1]


def check_layer(model, layer_name: str | None) -> None:
    """A layer named by the user must exist and be a feature map; the error lists the main-path choices."""
    if layer_name is None:
        return
    layers = {layer.name: layer for layer in model.layers}
    if layer_name not in layers or len(layers[layer_name].output.shape) != 4:
        choices = [name for name in layers if MAIN_PATH.match(name)]
        raise SettingsError(f"--layer {layer_name!r} is not a feature map of {model.name}; its block outputs are: "
                            f"{', '.join(choices) or 'none named like conv3_block3_out'}")


@functools.lru_cache(maxsize=8)
def _cam_function(model, layer_name: str, plus_plus: bool):
    """A compiled function (images, class or -1) → (maps, classes), built once per model and layer."""
    import keras
    import tensorflow as tf

    dense = model.get_layer("predictions")
    probe = keras.Model(model.inputs, [model.get_layer(layer_name).output, dense.input])

    # One signature, any batch size: traced once per model and layer. Without it each new batch size (and each
    # model of the randomisation check) traces again, and TensorFlow warns about retracing.
    images = tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32)

    @tf.function(input_signature=[images, tf.TensorSpec([None], tf.int64)])
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

    check_layer(model, layer_name)
    name = layer_name or find_target_layer(model, min_size).name
    wanted = np.full(len(images), -1) if class_index is None else np.asarray(class_index)
    maps, chosen = _cam_function(model, name, plus_plus)(tf.convert_to_tensor(images, tf.float32),
                                                         tf.convert_to_tensor(wanted, tf.int64))
    return maps.numpy(), chosen.numpy()


def gradcam_batches(model, images: np.ndarray, batch_size: int = 64, layer_name: str | None = None,
                    plus_plus: bool = False, progress: bool = True):
    """:func:`gradcam` over many images, ``batch_size`` at a time, with a progress bar.

    One call over thousands of images builds one huge gradient tape (gigabytes) and says nothing for
    minutes; batches keep memory flat and let the caller save each batch's overlays as they come.

    Yields:
        ``(start, maps, classes)`` per batch: the index of its first image, its maps and explained classes.
    """
    from tqdm.auto import tqdm

    from alzmri.progress import show_bars

    with tqdm(total=len(images), desc="Grad-CAM", unit="img", disable=not show_bars(progress)) as bar:
        for start in range(0, len(images), batch_size):
            maps, classes = gradcam(model, images[start:start + batch_size], layer_name=layer_name,
                                    plus_plus=plus_plus)
            yield start, maps, classes
            bar.update(len(maps))


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
