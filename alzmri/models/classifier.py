"""The classifier: a ``keras.applications`` backbone with a new head, built as one functional graph.

One flat graph (input → preprocessing → backbone layers → pooling → dropout → softmax), not a nested
``Sequential([base, head])``: Grad-CAM needs the backbone's last feature map and the head in the same
graph, and nested models give "Graph disconnected" errors in Keras 3. Preprocessing lives inside the
model, so a saved model takes raw 0–255 RGB images.
"""

from __future__ import annotations

import functools

import re
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

from alzmri.config import CLASS_NAMES, Config
from alzmri.errors import SettingsError, WeightsError

#: How each supported backbone expects its input; "tf": [-1, 1], "torch": ImageNet mean/std, "none":
#: the backbone rescales by itself (EfficientNet, ConvNeXt).
PREPROCESSING = {
    **{name: "tf" for name in ("ResNet50V2", "ResNet101V2", "ResNet152V2", "MobileNet", "MobileNetV2",
                               "InceptionV3", "InceptionResNetV2", "Xception", "NASNetMobile")},
    **{name: "torch" for name in ("DenseNet121", "DenseNet169", "DenseNet201")},
    **{name: "none" for name in ("MobileNetV3Small", "MobileNetV3Large", "EfficientNetB0", "EfficientNetB1",
                                 "EfficientNetB2", "EfficientNetB3", "EfficientNetV2B0", "EfficientNetV2B1",
                                 "ConvNeXtTiny")},
}
IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)
HEAD_LAYERS = ("head_pool", "head_dropout", "predictions")
WEIGHTS_HOST = "https://storage.googleapis.com"
BLOCK_OUTPUT = re.compile(r"^(conv\d+)_block\d+_out$")  # a residual block's output, named by its stage
BLOCK_PATTERN = re.compile(r"^(conv\d+_block\d+|block_?\d+[a-z]?|stage\d+_block\d+|mixed\d+|block\d+)")


def _imagenet_reachable(timeout: float = 5.0) -> bool:
    """Whether the host of the Keras ImageNet weights answers (so we fail fast instead of hanging)."""
    try:
        urllib.request.urlopen(WEIGHTS_HOST, timeout=timeout)
        return True
    except Exception:  # noqa: BLE001 -- any failure means: not reachable from here
        return False


def _cached_imagenet_file(backbone: str) -> bool:
    """Whether Keras already holds this backbone's no-top ImageNet weights in ``~/.keras/models``."""
    folder = Path.home() / ".keras" / "models"
    names = [p.name.lower().replace("_", "") for p in folder.iterdir()] if folder.is_dir() else []
    return any(backbone.lower() in name and "notop" in name for name in names)


def _backbone(config: Config, inputs):
    """Instantiate the backbone on ``inputs`` (preprocessed tensor), with the requested weights."""
    import keras

    if config.backbone not in PREPROCESSING or not hasattr(keras.applications, config.backbone):
        raise SettingsError(f"Unknown or unsupported backbone {config.backbone!r}; "
                            f"choose one of {sorted(PREPROCESSING)}")
    factory = getattr(keras.applications, config.backbone)
    weights = config.weights
    way_out = ("Download the no-top weights file elsewhere and pass it with --weights /path/to/file.h5 "
               "(weights='/path/to/file.h5'), or train from scratch with --weights none.")
    if weights == "imagenet" and not _cached_imagenet_file(config.backbone) and not _imagenet_reachable():
        raise WeightsError(f"ImageNet weights for {config.backbone} need internet access ({WEIGHTS_HOST} is not "
                           f"reachable). {way_out}")
    local = weights not in (None, "imagenet")
    if local and not Path(weights).is_file():
        raise WeightsError(f"Weights file {weights} does not exist; pass 'imagenet', none, or an existing file")
    try:
        backbone = factory(include_top=False, weights=None if local else weights, input_tensor=inputs)
    except Exception as err:  # noqa: BLE001 -- Keras' download raises a bare Exception ("URL fetch failure")
        if weights != "imagenet":
            raise
        raise WeightsError(f"The ImageNet weights for {config.backbone} could not be downloaded ({err}). "
                           f"{way_out}") from err
    if local:
        _load_local_weights(backbone, factory, config, Path(weights))
    return backbone


def _load_local_weights(backbone, factory, config: Config, path: Path) -> None:
    """Load a backbone weights file (as saved from ``keras.applications.<Name>(include_top=False)``).

    The file is read into a standalone copy of the backbone, so any partial or mismatched load is an
    error rather than a silent mix of loaded and random layers, then copied layer by layer by name.
    """
    import warnings

    reference = factory(include_top=False, weights=None, input_shape=(config.image_size, config.image_size, 3))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # Keras only *warns* about layers it skipped
            reference.load_weights(path)
        for layer in reference.layers:
            if layer.weights:
                backbone.get_layer(layer.name).set_weights(layer.get_weights())
    except Exception as err:  # noqa: BLE001 -- h5py, keras and warnings raise many types for a bad file
        raise WeightsError(f"Weights file {path} does not fit {config.backbone} at {config.image_size}px "
                           f"({type(err).__name__}: {str(err)[:300]})") from err


def _preprocess(inputs, mode: str):
    """Keras layers that turn raw 0–255 RGB into what the backbone expects (saved with the model)."""
    import keras

    if mode == "tf":
        return keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="preprocess")(inputs)
    if mode == "torch":
        return keras.layers.Normalization(mean=IMAGENET_MEAN, variance=[s**2 for s in IMAGENET_STD],
                                          name="preprocess")(inputs)
    return inputs


def build_classifier(config: Config):
    """The classifier for ``config``: raw RGB in, class probabilities (float32) out."""
    import keras

    inputs = keras.Input((config.image_size, config.image_size, 3), name="image")
    backbone = _backbone(config, _preprocess(inputs, PREPROCESSING.get(config.backbone, "tf")))
    features = backbone.output if config.backbone_end is None else _stage_output(backbone, config.backbone_end)
    if config.weights is None:
        # From scratch, the default BatchNorm momentum (0.99-0.999) lags far behind the weights for the
        # first few hundred steps, so validation runs on stale statistics; 0.9 keeps up.
        for layer in backbone.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = 0.9
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(features)
    x = keras.layers.Dropout(config.dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(len(CLASS_NAMES), activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name=f"alzmri_{config.backbone}")


def _stage_output(backbone, stage: str):
    """The output of the last block of ``stage`` (e.g. ``conv3``: ``conv3_block4_out`` in ResNet50V2,
    ``conv3_block8_out`` in ResNet152V2): the backbone is cut there and the layers above are left out.

    Why cut: on a CPU, training a from-scratch ResNet costs time in proportion to its weights, hardly to
    the image size (measured: ResNet50V2 at 32, 48 and 64 px all train at 16-19 images/s on 2 cores);
    stages conv4 and conv5 hold 94 % of ResNet50V2's weights and see only 2x2 and 1x1 maps of a 64 px slice.
    """
    outputs = [layer for layer in backbone.layers if BLOCK_OUTPUT.match(layer.name)]
    in_stage = [layer for layer in outputs if BLOCK_OUTPUT.match(layer.name).group(1) == stage]
    if not in_stage:
        stages = sorted({BLOCK_OUTPUT.match(layer.name).group(1) for layer in outputs})
        raise SettingsError(f"backbone_end {stage!r} is not a stage of {backbone.name} (its stages: "
                            f"{', '.join(stages) or 'none named like conv3_block4_out'}); pass --backbone-end none "
                            "(backbone_end=None) to keep the whole backbone")
    return in_stage[-1].output


def backbone_layers(model) -> list:
    """The backbone's layers, in order (everything between the input/preprocessing and the head)."""
    return [layer for layer in model.layers if layer.name not in HEAD_LAYERS + ("image", "preprocess")]


def backbone_blocks(model) -> list[list]:
    """The backbone's layers grouped into residual/inverted blocks by name; the stem first, the top last."""
    blocks: list[list] = [[]]
    current = None
    for layer in backbone_layers(model):
        match = BLOCK_PATTERN.match(layer.name)
        if match and match.group(1) != current:
            current = match.group(1)
            blocks.append([])
        blocks[-1].append(layer)
    return [b for b in blocks if b]


def set_trainable(model, top_blocks: int, freeze_batchnorm: bool = True) -> int:
    """Freeze the backbone except its top ``top_blocks`` blocks (-1: all); BatchNorm stays frozen.

    Returns the number of trainable backbone layers. BatchNorm layers stay in inference mode when
    fine-tuning pretrained weights: with small batches, updating their statistics would wreck what the
    backbone learnt. Only a backbone trained from scratch (``freeze_batchnorm=False``) needs them to learn.
    """
    import keras

    blocks = backbone_blocks(model)
    n = len(blocks) if top_blocks < 0 else min(top_blocks, len(blocks))
    unfrozen = {id(layer) for block in blocks[len(blocks) - n:] for layer in block}
    count = 0
    for layer in backbone_layers(model):
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = id(layer) in unfrozen and not (is_bn and freeze_batchnorm)
        count += layer.trainable
    for name in HEAD_LAYERS:
        model.get_layer(name).trainable = True
    return count


def trainable_batchnorm(model) -> int:
    """How many BatchNormalization layers of ``model`` are trainable (0 once :func:`set_trainable` froze them)."""
    import keras

    return sum(layer.trainable for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))


def feature_extractor(model):
    """The model up to the pooled backbone features (what stage 1 caches)."""
    import keras

    return keras.Model(model.input, model.get_layer("head_pool").output, name="features")


def head_model(model):
    """The head alone, on pooled features; it shares its layers (and weights) with ``model``."""
    import keras

    features = keras.Input(model.get_layer("head_pool").output.shape[1:], name="features")
    x = model.get_layer("head_dropout")(features)
    return keras.Model(features, model.get_layer("predictions")(x), name="head")


@functools.lru_cache(maxsize=4)
def compiled_forward(model):
    """``model``'s forward pass (inference mode, float32 out) as one compiled call with a fixed signature, traced
    once per model.

    ``model.predict`` and ``predict_on_batch`` trace again for every new batch shape (a last, partial batch;
    deletion/insertion's batches), and after a few TensorFlow warns about retracing; this is the same forward
    pass without the warning or the cost.
    """
    import tensorflow as tf

    images = tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32)
    return tf.function(lambda x: tf.cast(model(x, training=False), tf.float32), input_signature=[images])


def probabilities(model, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Class probabilities of ``images`` (float 0-255, as the model takes them), ``batch_size`` at a time."""
    forward = compiled_forward(model)
    return np.concatenate([forward(np.asarray(images[i:i + batch_size], np.float32)).numpy()
                           for i in range(0, len(images), batch_size)])


def predict_frame(model, frame: pd.DataFrame, image_size: int, batch_size: int = 32,
                  progress: bool = False, neighbours: bool = False) -> np.ndarray:
    """Class probabilities for ``frame``'s images, shape (n, n_classes), read as training reads them (with each
    slice's neighbours as its channels where ``neighbours``: a 2.5-D model)."""
    from tqdm.auto import tqdm

    from alzmri.data.pipeline import images_only, make_tf_dataset, model_frame
    from alzmri.progress import show_bars

    forward = compiled_forward(model)
    batches = make_tf_dataset(model_frame(frame, neighbours), image_size, batch_size, cache=False).map(images_only)
    return np.concatenate([forward(images).numpy() for images in tqdm(
        batches, total=-(-len(frame) // batch_size), desc="predicting", unit="batch", disable=not show_bars(progress))])


def as_model_batch(images, image_size: int):
    """Check and shape an array for the model: (n, size, size, 3) float32 raw 0–255, grey in all three channels.

    Accepts one grey image (H, W), one image (H, W, C) with 1, 3 or 4 channels, a batch of grey images
    (N, H, W) or a batch (N, H, W, C). Anything else, or the wrong size, is an error that says what was
    expected: resizing silently would hide a mix-up of runs.
    """
    if not hasattr(images, "shape") or not hasattr(images, "dtype"):
        raise TypeError(f"Expected a NumPy array or tensor of images, got {type(images).__name__}; "
                        "pass file paths to `alzmri predict` instead")
    batch = np.asarray(images)
    if not (np.issubdtype(batch.dtype, np.integer) or np.issubdtype(batch.dtype, np.floating)):
        raise TypeError(f"Expected numeric pixel values, got dtype {batch.dtype}")
    if batch.ndim == 2:
        batch = batch[None, ..., None]  # one grey image
    elif batch.ndim == 3:
        one_image = batch.shape[-1] in (1, 3, 4) and batch.shape[:2] == (image_size, image_size)
        batch = batch[None] if one_image else batch[..., None]  # else: a batch of grey images
    if batch.ndim != 4 or batch.shape[-1] not in (1, 3, 4):
        raise ValueError(f"Expected images shaped (H, W), (H, W, C) or (N, H, W[, C]) with 1, 3 or 4 channels; "
                         f"got shape {tuple(np.asarray(images).shape)}")
    if batch.shape[1:3] != (image_size, image_size):
        raise ValueError(f"This run takes {image_size}x{image_size} images, got {batch.shape[1]}x{batch.shape[2]}; "
                         "resize them first (file paths given to `alzmri predict` are resized for you)")
    grey = batch[..., :3].astype(np.float32).mean(axis=-1, keepdims=True)  # as training saw files: grey
    return np.repeat(grey, 3, axis=-1)
