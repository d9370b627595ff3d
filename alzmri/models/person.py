"""A model of the person: one network that sees a subject's whole stack of slices and answers once.

The slice classifier answers per slice and the answers are voted; this one learns from subjects. A shared slice
encoder (a small CNN, the same weights for every slice) turns each of ``person_slices`` slices of the stack into a
feature vector; the vectors are pooled over the stack (their mean, or a learnt attention weighting: Ilse et al.
2018) and one softmax answers for the subject. Mean pooling matched attention on moderate-sized tasks (Harvey et
al., 2026), so ``mean`` is the default. It trains from scratch on a fold's training subjects (early stopping on its
validation subjects), so it has as many training examples as there are training brains: about 140 in a fold of the
real set, where the slice models see 32 times as many (correlated) slices.

Every slice of a subject gets the subject's answer, so the per-slice scores of :mod:`alzmri.evaluation.cv` and
``evaluate`` repeat the per-subject ones, weighted by slices; soft voting gives the subject's answer back unchanged.
``train --model person`` saves it as a run (``config.model`` ``person``: the run folder, card and metrics of any
run), which ``evaluate`` scores and ``predict --per-subject`` answers with; it answers no single slice, so plain
``predict``, ``serve`` and ``gradcam`` refuse it.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from alzmri.config import CLASS_NAMES, Config
from alzmri.data.pipeline import class_weights, read_images_for_model
from alzmri.models.classifier import predict_frame
from alzmri.voting import slice_units

DESCRIPTION = "model of the person: a shared slice CNN over {n} slices of the stack, {pooling} pooling, one answer"


def _natural(name: str) -> str:
    """``name`` with every run of digits zero-padded, so that text order is numeric order (``2`` before ``10``)."""
    return re.sub(r"\d+", lambda digits: digits.group().zfill(12), name)


def stack_rows(frame: pd.DataFrame, n_slices: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Each subject's ``n_slices`` rows of ``frame``, evenly spaced over its stack from lowest to highest.

    The stack is ordered by ``slice_pos`` (unknown positions last, then by file name, numbers in it compared as
    numbers: ``slice2`` before ``slice10``); a subject with fewer slices repeats some. A slice with no subject is a
    stack of its own.

    Returns:
        ``(units, rows)``: the sorted subject ids and, for each, the positions (in ``frame``) of its chosen slices.
    """
    units = slice_units(frame["subject"], frame["relpath"])
    order = pd.DataFrame({"unit": units, "pos": frame["slice_pos"].where(frame["slice_pos"] >= 0, 10**6).to_numpy(),
                          "name": [_natural(name) for name in frame["relpath"].astype(str)],
                          "row": np.arange(len(frame))})
    order = order.sort_values(["unit", "pos", "name"], kind="stable")
    names, rows = [], []
    for unit, stack in order.groupby("unit", sort=True):
        picks = np.round(np.linspace(0, len(stack) - 1, n_slices)).astype(int)
        names.append(unit)
        rows.append(stack["row"].to_numpy()[picks])
    return np.array(names), rows


def read_stacks(frame: pd.DataFrame, config: Config) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stacks of ``frame``'s subjects as the model takes them.

    Returns:
        ``(units, stacks, labels)``: subject ids, uint8 (subjects, person_slices, size, size, 1), class ids.
    """
    units, rows = stack_rows(frame, config.person_slices)
    flat = np.concatenate(rows)
    wanted, inverse = np.unique(flat, return_inverse=True)  # each file read once
    images = read_images_for_model(list(frame["path"].to_numpy()[wanted]), config.image_size)[..., :1]
    stacks = images.astype(np.uint8)[inverse].reshape(len(units), config.person_slices, *images.shape[1:])
    labels = frame["label"].to_numpy()[[r[0] for r in rows]]
    return units, stacks, labels


def build_person_model(config: Config):
    """The network: (stack of slices, size, size, 1) raw 0-255 in, four class probabilities out.

    Built of stock Keras layers only (attention pooling is a ``Dot`` of the slices' features and their softmax
    weights, not a ``Lambda``), so a saved run loads in Keras' safe mode.
    """
    import keras
    from keras import layers

    size = config.image_size
    encoder = keras.Sequential([keras.Input((size, size, 1)), layers.Rescaling(1 / 255.0),
                                *[block for width in (16, 32, 64) for block in (
                                    layers.Conv2D(width, 3, padding="same", activation="relu"),
                                    layers.BatchNormalization(), layers.MaxPooling2D())],
                                layers.Conv2D(64, 3, padding="same", activation="relu"),
                                layers.GlobalAveragePooling2D()], name="slice_encoder")
    stack = keras.Input((config.person_slices, size, size, 1), name="stack")
    features = layers.TimeDistributed(encoder, name="each_slice")(stack)
    if config.person_pooling == "attention":
        weights = layers.Softmax(axis=1, name="slice_weights")(layers.Dense(1, name="slice_score")(
            layers.Dense(32, activation="tanh")(features)))
        pooled = layers.Flatten(name="attention_pool")(layers.Dot(axes=1)([features, weights]))
    else:
        pooled = layers.GlobalAveragePooling1D(name="mean_pool")(features)
    out = layers.Dense(len(CLASS_NAMES), activation="softmax", name="predictions")(
        layers.Dropout(config.dropout)(pooled))
    model = keras.Model(stack, out, name="person")
    model.compile(optimizer=keras.optimizers.Adam(config.finetune_learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _flip(stack, label):
    """A training stack flipped left-right at random (every slice of it together), as float32."""
    import tensorflow as tf

    stack = tf.cast(stack, tf.float32)
    return tf.cond(tf.random.uniform(()) < 0.5, lambda: tf.reverse(stack, [2]), lambda: stack), label


def fit_person_model(train: pd.DataFrame, val: pd.DataFrame, config: Config, progress: bool = False):
    """Train the model of the person on ``train``'s subjects, stopping early on ``val``'s (where there are any; the
    best validation epoch's weights are kept).

    Returns:
        ``(model, history)``: the trained model, and one row per epoch (``epoch``, ``loss``, ``accuracy`` and with
        validation subjects ``val_loss``, ``val_accuracy``; ``stage`` ``person`` and a running ``step``, as a run's
        ``history.csv`` holds them).
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(config.seed)
    model = build_person_model(config)
    _, stacks, labels = read_stacks(train, config)
    batch = max(1, min(config.batch_size // 4, len(labels)))
    data = (tf.data.Dataset.from_tensor_slices((stacks, labels.astype(np.int32))).shuffle(len(labels), seed=config.seed)
            .map(_flip).batch(batch))
    fit_args = {}
    if len(val):
        _, val_stacks, val_labels = read_stacks(val, config)
        fit_args = {"validation_data": (val_stacks.astype(np.float32), val_labels),
                    "callbacks": [keras.callbacks.EarlyStopping(patience=config.patience, restore_best_weights=True)]}
    fitted = model.fit(data, epochs=config.person_epochs, class_weight=class_weights(labels),
                       verbose=2 if progress else 0, **fit_args)
    history = pd.DataFrame(fitted.history)
    history.insert(0, "epoch", np.arange(len(history)))
    return model, history.assign(stage="person", step=np.arange(len(history)))


def _spread(proba: np.ndarray, units: np.ndarray, frame: pd.DataFrame) -> np.ndarray:
    """Each of ``frame``'s slices given its subject's row of ``proba`` (one row per unit of ``units``)."""
    return pd.DataFrame(proba, index=units).loc[slice_units(frame["subject"], frame["relpath"])].to_numpy()


def answer_slices(model, frame: pd.DataFrame, config: Config) -> np.ndarray:
    """Four-class probabilities for each slice of ``frame``: its subject's answer from a model of the person.

    Args:
        model: the model of the person.
        frame: the slices (``path``, ``subject``, ``slice_pos``, ``relpath``, ``label``).
        config: its settings (``image_size``, ``person_slices``).

    Returns:
        (slices, 4) probabilities in ``frame``'s order.
    """
    units, stacks, _ = read_stacks(frame, config)
    return _spread(model.predict(stacks.astype(np.float32), verbose=0), units, frame)


def answer_images(model, images: np.ndarray, subjects: np.ndarray, names: list[str], n_slices: int) -> np.ndarray:
    """Four-class probabilities for images already read: each its subject's answer from a model of the person.

    Args:
        model: the model of the person.
        images: the slices as the model's pipeline reads them, (n, size, size, channels), grey in the first.
        subjects: each image's subject.
        names: each image's name: a stack is ordered by them (files carry no known slice position).
        n_slices: the slices of a stack the model takes (``person_slices``), evenly spaced over each subject's.

    Returns:
        (n, 4) probabilities in the images' order.
    """
    frame = pd.DataFrame({"subject": np.asarray(subjects, str), "relpath": list(names), "slice_pos": -1})
    if not len(frame):
        return np.zeros((0, len(CLASS_NAMES)))
    units, rows = stack_rows(frame, n_slices)
    stacks = np.asarray(images, np.float32)[np.stack(rows)][..., :1]
    return _spread(model.predict(stacks, verbose=0), units, frame)


def slice_answers(model, frame: pd.DataFrame, config: Config, progress: bool = False) -> np.ndarray:
    """Four-class probabilities for each slice of ``frame`` from a run's model, read as the run's settings say: the
    model of the person (``model`` ``person``) answers each slice with its subject's answer; the slice classifier
    reads each slice as training did (with its neighbours as its channels for 2.5-D input).

    Args:
        model: the run's Keras model.
        frame: the slices (``path``, ``subject``, ``slice_pos``, ``relpath``).
        config: the run's settings (``model``, ``image_size``, ``batch_size``, ``neighbour_slices``,
            ``person_slices``).
        progress: show a progress bar (the slice classifier's pass).

    Returns:
        (slices, 4) probabilities in ``frame``'s order.
    """
    if config.model == "person":
        return answer_slices(model, frame, config)
    return predict_frame(model, frame, config.image_size, config.batch_size, progress, config.neighbour_slices)


def person_probabilities(train: pd.DataFrame, val: pd.DataFrame, parts: dict[str, pd.DataFrame], config: Config,
                         progress: bool = False) -> dict[str, np.ndarray]:
    """Four-class probabilities for each slice of ``parts``: its subject's answer, from a model of the person trained
    on ``train``'s subjects.

    Args:
        train: the training slices (originals; their subjects and positions).
        val: the validation slices (early stopping); may be empty.
        parts: the frames to answer, by name.
        config: the settings (``image_size``, ``person_slices``, ``person_pooling``, ``person_epochs``, ...).
        progress: show training's epochs.

    Returns:
        ``{name: (slices, 4) probabilities}`` in each frame's order.
    """
    model, _ = fit_person_model(train, val, config, progress)
    return {name: answer_slices(model, frame, config) for name, frame in parts.items()}


def describe_person(config: Config) -> str:
    """The model of the person, in words."""
    return DESCRIPTION.format(n=config.person_slices, pooling=config.person_pooling)
