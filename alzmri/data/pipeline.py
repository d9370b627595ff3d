"""Feeding the model: tf.data pipelines, class weights, and reading image files to predict.

Training and prediction share one decode-and-resize path (:func:`resize_for_model`), so a saved model
sees a file at prediction time exactly as it saw its training images.
"""

from __future__ import annotations

import functools
import io
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from alzmri.data.datasets import existing_path, is_visible, to_8bit

from alzmri.errors import DatasetError, ImageError


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


#: Pillow's formats an image file or upload is opened as: raster formats with decoders of Pillow's own. Never every
#: plugin Pillow knows: EPS and PDF hand the file to Ghostscript, and a format nobody sends is only attack surface.
RASTER_FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "GIF", "WEBP", "PPM")
#: Pixels an image may decode to: a slice is a few hundred pixels a side; more is refused before it is decoded
#: (Pillow's own limit, ``Image.MAX_IMAGE_PIXELS``, is 89 M pixels and only warns).
MAX_PIXELS = 4096 * 4096
#: Longest side and most elongated shape an image may have. The resize to the model's input costs memory in
#: proportion to the longest side, not the pixels: a 16,000,000 x 1 PNG of 15 KB took 6 GB.
MAX_SIDE = 4096
MAX_ASPECT = 8
#: Decoded images with a longer side are first shrunk by a whole factor (Pillow's box ``reduce``) to at most this,
#: so no full-size copy of a large image waits anywhere or reaches TensorFlow's resize.
REDUCE_TO = 1024
#: What an MRI user with a volume should do (a refusal of a file that is no accepted image says it).
MRI_HINT = ("an MRI volume (NIfTI, DICOM) is read by exporting its axial slices as PNG or JPEG files first "
            "(docs/data.md)")


def _check_shape(im: Image.Image, name: str, max_pixels: int) -> None:
    """Refuse, from its header alone, an image whose decoding or resizing would cost more than a slice's.

    Raises:
        ImageError: too many pixels, a side too long or a shape too elongated (413), or several pages or frames
            (422).
    """
    width, height = im.size
    if width * height > max_pixels:
        raise ImageError(name, f"too large to decode safely ({width}x{height} pixels, over {max_pixels:,}: refused "
                               "as a decompression bomb)", 413)
    if max(width, height) > MAX_SIDE or max(width, height) > MAX_ASPECT * max(1, min(width, height)):
        raise ImageError(name, f"too large to decode safely ({width}x{height} pixels: a slice is about square, at "
                               f"most {MAX_SIDE} pixels a side and {MAX_ASPECT}:1)", 413)
    frames = getattr(im, "n_frames", 1)
    if frames > 1:
        raise ImageError(name, f"a multi-page or animated image ({frames} pages or frames): only the first would be "
                               "read, so send each slice as a file of its own", 422)


def decode_slice(source: Path | bytes, name: str, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """One image file or upload as uint8 RGB (H, W, 3): the one way ``predict``, ``gradcam`` and the server read a
    slice. Opened only as :data:`RASTER_FORMATS`, checked from its header before it is decoded, decoded fully (a
    truncated file is caught), and a side over :data:`REDUCE_TO` shrunk by a whole factor.

    Args:
        source: a file path, or an upload's bytes (read from memory: an upload never touches the disk).
        name: what a refusal calls it (the path, or the upload's name as sent).
        max_pixels: most pixels it may decode to.

    Returns:
        The slice (the model's resize comes later, the same as training's).

    Raises:
        ImageError: empty (400), not an accepted image (415), too large or not slice-shaped (413), several pages,
            truncated, corrupt or holding no numbers (422); each names the file.
    """
    if (len(source) if isinstance(source, (bytes, bytearray)) else Path(source).stat().st_size) == 0:
        raise ImageError(name, "an empty file (0 bytes)", 400)
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source,
                        formats=RASTER_FORMATS) as im:
            _check_shape(im, name, max_pixels)
            if im.format == "JPEG" and max(im.size) > REDUCE_TO:
                im.draft(im.mode, (REDUCE_TO, REDUCE_TO))  # decoded at a reduced scale by the JPEG decoder itself
            im.load()
            image = to_8bit(im)
            factor = -(-max(image.size) // REDUCE_TO)
            return np.asarray((image.reduce(factor) if factor > 1 else image).convert("RGB"))
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(name, f"not an image of an accepted format ({', '.join(RASTER_FORMATS)}); {MRI_HINT}",
                         415) from None
    except Image.DecompressionBombError as err:
        raise ImageError(name, f"too large to decode safely ({err})", 413) from None
    except (OSError, SyntaxError) as err:
        raise ImageError(name, f"unreadable (truncated or corrupt: {err})", 422) from None
    except ValueError as err:
        raise ImageError(name, f"unreadable ({err})", 422) from None


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
            return decode_slice(path, str(path))
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


@contextmanager
def files_kept(frame: pd.DataFrame, during: str, hint: str = ""):
    """Turn a file of ``frame`` deleted while TensorFlow reads it (a raw ``NotFoundError`` from deep in tf.data)
    into one line naming the file.

    Args:
        frame: the rows being read (a ``path`` column).
        during: what was running, for the message (e.g. "cv fold 2 of 5").
        hint: what to do next, added to the message.

    Raises:
        DatasetError: a file of ``frame`` is gone and reading failed on it; other errors pass unchanged.
    """
    try:
        yield
    except Exception as err:  # noqa: BLE001 -- only what reading a vanished file raises is turned, below
        tf = sys.modules.get("tensorflow")  # whatever raised TensorFlow's error imported it: no import here
        if not (isinstance(err, FileNotFoundError) or (tf is not None and isinstance(err, tf.errors.NotFoundError))):
            raise
        missing = [p for p in frame["path"].astype(str) if not Path(p).exists()]
        if not missing:
            raise
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DatasetError(f"{missing[0]}{more} vanished during {during}: the data changed while it was read. "
                           f"Restore it, or index the data again{hint}") from None


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
