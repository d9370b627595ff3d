"""Feeding the model: tf.data pipelines, class weights, and reading image files to predict.

Training and prediction share one decode-and-resize path (:func:`resize_for_model`), so a saved model
sees a file at prediction time exactly as it saw its training images.
"""

from __future__ import annotations

import functools

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from alzmri.data.datasets import existing_path, is_visible, to_8bit

from alzmri.errors import DatasetError


def class_weights(labels: np.ndarray) -> dict[int, float]:
    """Balanced class weights (scikit-learn's formula) for the classes present in ``labels``."""
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(labels)
    weights = compute_class_weight("balanced", classes=present, y=labels)
    return {int(c): float(w) for c, w in zip(present, weights)}


def resize_for_model(image, image_size: int):
    """Resize RGB image(s) the one way training and prediction share; one grey channel, uint8, out.

    MRI slices are grey, whether stored with one channel or three equal ones; keeping one channel (the
    mean of R, G and B: exact for grey pixels) makes cached images a third the size. The RGB the
    backbone expects is made after the cache, by :func:`to_rgb`.
    """
    import tensorflow as tf

    image = tf.image.resize(image, (image_size, image_size), antialias=True)
    grey = tf.reduce_mean(image, axis=-1, keepdims=True)
    return tf.cast(tf.clip_by_value(tf.round(grey), 0, 255), tf.uint8)


def to_rgb(grey):
    """One grey channel repeated to the three the backbone takes, as float32 0-255 (three channels, a slice and its
    neighbours, are only cast)."""
    import tensorflow as tf

    images = tf.cast(grey, tf.float32)
    return images if images.shape[-1] == 3 else tf.image.grayscale_to_rgb(images)


#: The columns :func:`with_neighbours` adds: the files of the slice below and above each slice in its brain.
NEIGHBOUR_COLUMNS = ("path_below", "path_above")


def with_neighbours(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each slice's neighbours in its subject's stack, for 2.5-D input (``Config.neighbour_slices``).

    The stack is ordered by ``slice_pos`` (from the file names, or the order recovered with the subjects); a slice's
    neighbours are the nearest positions below and above it among ``frame``'s rows of the same subject, so a split
    never reaches into another split for them. An edge slice repeats its one neighbour on both sides (the slice
    below the lowest is the one above it); a slice with no subject, no known position or no other slice of its
    subject is its own neighbour (the 2-D input).

    Args:
        frame: the slices (``path``, ``subject``, ``slice_pos``).

    Returns:
        A copy with ``path_below`` and ``path_above``.
    """
    out = frame.copy()
    out["path_below"], out["path_above"] = out["path"], out["path"]
    known = out[(out["subject"].astype(str) != "") & (out["slice_pos"] >= 0)]
    for _, stack in known.sort_values("slice_pos", kind="stable").groupby("subject", sort=False):
        if len(stack) < 2:
            continue
        paths = stack["path"].to_numpy()
        below, above = np.concatenate([paths[1:2], paths[:-1]]), np.concatenate([paths[1:], paths[-2:-1]])
        out.loc[stack.index, "path_below"], out.loc[stack.index, "path_above"] = below, above
    return out


def model_frame(frame: pd.DataFrame, neighbours: bool) -> pd.DataFrame:
    """The rows as the model reads them: with their neighbours' files where the model takes 2.5-D input."""
    return with_neighbours(frame) if neighbours else frame


@functools.lru_cache(maxsize=4)
def _compiled_model_input(image_size: int):
    """:func:`resize_for_model` then :func:`to_rgb` of a batch of same-sized slices, compiled once per size."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)], reduce_retracing=True)
    def convert(images):
        return to_rgb(resize_for_model(images, image_size))

    return convert


def model_inputs(slices: list[np.ndarray], image_size: int) -> np.ndarray:
    """Decoded uint8 RGB slices (any heights and widths) as the model takes them: float32 (n, size, size, 3).

    The same operations as training's pipeline, one compiled call per group of same-sized slices (a brain's
    slices share a size): called eagerly one slice at a time they cost about 1.3 ms a slice, twice a slice's
    share of the forward pass in a server.
    """
    out = np.empty((len(slices), image_size, image_size, 3), np.float32)
    convert = _compiled_model_input(image_size)
    by_shape: dict[tuple, list[int]] = {}
    for i, image in enumerate(slices):
        by_shape.setdefault(np.shape(image), []).append(i)
    for rows in by_shape.values():
        out[rows] = convert(np.stack([np.asarray(slices[i], np.uint8) for i in rows])).numpy()
    return out


def load_image(path, image_size: int):
    """Read, decode and resize one image: (size, size, 1) uint8, raw 0-255 (the model preprocesses)."""
    import tensorflow as tf

    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    return resize_for_model(image, image_size)


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".gif", ".webp"}


def collect_image_files(inputs: list[str]) -> list[Path]:
    """Image files named directly or found in folders.

    Args:
        inputs: file and folder paths, as given.

    Returns:
        The files, folders' images sorted and in the order the folders were given.

    Raises:
        DatasetError: an input that is a URL or ``-``, a symbolic link loop, missing, neither a file nor a folder,
            or a folder without images (see :func:`alzmri.data.datasets.existing_path`).
    """
    files = []
    for item in inputs:
        item = existing_path(item)
        if item.is_dir():
            found = sorted(p for p in item.rglob("*")
                           if p.suffix.lower() in IMAGE_SUFFIXES and is_visible(p.name) and p.is_file())
            if not found:
                raise DatasetError(f"No images ({', '.join(sorted(IMAGE_SUFFIXES))}) in folder {item}")
            files += found
        elif not item.is_file():
            raise DatasetError(f"{item} is neither an image file nor a folder")
        else:
            files.append(item)
    return files


def decode_image_file(path: Path) -> np.ndarray:
    """One image file as uint8 RGB (H, W, 3), fully decoded and checked; clear errors otherwise."""
    if path.stat().st_size == 0:
        raise DatasetError(f"{path} is an empty file (0 bytes)")
    try:
        with Image.open(path) as im:
            im.load()
            return np.asarray(to_8bit(im).convert("RGB"))
    except UnidentifiedImageError as err:
        raise DatasetError(f"{path} is not an image") from err
    except Image.DecompressionBombError as err:
        raise DatasetError(f"{path} is too large to decode safely ({err})") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise DatasetError(f"{path} is unreadable (truncated or corrupt: {err})") from err


def read_images_for_model(paths: list[Path], image_size: int) -> np.ndarray:
    """Image files as the model takes them: float32 (n, size, size, 3), raw 0–255; any bad file is an error.

    Files are decoded in parallel and resized in one batched call per original size (the same
    resize as training), which keeps prediction on files close to the speed of the model itself.
    """
    images, _, problems = read_readable_images(paths, image_size)
    if problems:
        raise DatasetError(problems[0][1])
    return images


def read_readable_images(paths: list[Path], image_size: int) -> tuple[np.ndarray, list[Path], list[tuple[Path, str]]]:
    """Like :func:`read_images_for_model`, but files that cannot be read are set aside, not fatal.

    Returns:
        ``(images, read, problems)``: the images of the files in ``read`` (in order) and one
        ``(path, message)`` per file that could not be read.
    """
    def attempt(path: Path):
        try:
            return decode_image_file(path)
        except DatasetError as err:
            return str(err)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(attempt, map(Path, paths)))
    read = [Path(p) for p, r in zip(paths, results) if not isinstance(r, str)]
    problems = [(Path(p), r) for p, r in zip(paths, results) if isinstance(r, str)]
    decoded = [r for r in results if not isinstance(r, str)]
    out = np.zeros((len(decoded), image_size, image_size, 3), np.float32)
    by_shape: dict[tuple, list[int]] = {}
    for i, array in enumerate(decoded):
        by_shape.setdefault(array.shape, []).append(i)
    for members in by_shape.values():
        out[members] = to_rgb(resize_for_model(np.stack([decoded[i] for i in members]), image_size)).numpy()
    return out, read, problems


def images_only(images, labels):
    """Drop the labels from a (images, labels) dataset element, for ``model.predict``."""
    return images


def augmentation_layers(seed: int):
    """On-the-fly, train-only augmentation with Keras preprocessing layers (raw 0–255 input)."""
    import keras

    return keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomRotation(0.03, fill_mode="constant", seed=seed),
        keras.layers.RandomZoom(0.08, fill_mode="constant", seed=seed),
        keras.layers.RandomTranslation(0.05, 0.05, fill_mode="constant", seed=seed),
        keras.layers.RandomBrightness(0.1, value_range=(0, 255), seed=seed),
    ], name="augmentation")


def make_tf_dataset(frame: pd.DataFrame, image_size: int, batch_size: int, training: bool = False,
                    augment: bool = True, seed: int = 0, cache: str | bool = True):
    """A batched ``tf.data`` pipeline of (float32 0-255 RGB images, int labels) for ``frame``'s rows.

    Where ``frame`` has :data:`NEIGHBOUR_COLUMNS` (:func:`model_frame`), the three channels are the slice below, the
    slice and the slice above (2.5-D input); else one grey slice three times.

    ``cache`` keeps the decoded, resized grey images (in memory, or in the file it names) after the
    first pass; leave it off for a pipeline that is read once.
    """
    import tensorflow as tf

    autotune = tf.data.AUTOTUNE
    layers = augmentation_layers(seed) if training and augment else None

    def decode(path, label):
        if path.shape.rank == 0:
            return load_image(path, image_size), label
        return tf.concat([load_image(path[i], image_size) for i in range(3)], axis=-1), label

    def to_float(images, labels):
        images = to_rgb(images)
        return (layers(images, training=True) if layers is not None else images), labels

    if all(column in frame for column in NEIGHBOUR_COLUMNS):  # 2.5-D: below, the slice, above as the channels
        paths = np.stack([frame[c].to_numpy(str) for c in ("path_below", "path", "path_above")], axis=1)
    else:
        paths = frame["path"].to_numpy(str)
    ds = tf.data.Dataset.from_tensor_slices((paths, frame["label"].to_numpy(np.int32)))
    ds = ds.map(decode, num_parallel_calls=autotune)
    if cache:  # only for data read more than once (epochs); one grey uint8 channel: 1/12 of float32 RGB
        ds = ds.cache(cache if isinstance(cache, str) else "")
    if training:
        ds = ds.shuffle(len(frame), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(to_float, num_parallel_calls=autotune)
    return ds.prefetch(autotune)
