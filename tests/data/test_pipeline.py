"""The tf.data pipeline: batches of the model's shape, class weights, the grey cache, 2.5-D neighbours."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alzmri.data import datasets as data
from alzmri.data import pipeline


def test_class_weights_are_balanced():
    weights = pipeline.class_weights(np.array([0, 0, 0, 1, 2, 2]))
    assert weights[1] == pytest.approx(6 / (3 * 1)) and weights[0] == pytest.approx(6 / (3 * 3))
    counts = {0: 3, 1: 1, 2: 2}
    assert len({round(weights[c] * n, 6) for c, n in counts.items()}) == 1  # each class weighs the same


def test_tf_pipeline_shapes_and_augmentation(small_root, tmp_path):
    index = data.index_dataset(small_root, cache_dir=tmp_path, progress=False)
    frame = index.frame.head(10)
    plain = pipeline.make_tf_dataset(frame, 48, 4)
    images, labels = next(iter(plain))
    assert images.shape == (4, 48, 48, 3) and images.dtype.name == "float32"
    assert labels.dtype.name == "int32" and 0 <= float(images.numpy().min()) and float(images.numpy().max()) <= 255
    assert np.allclose(images[..., 0], images[..., 2])  # grayscale repeated to 3 channels
    assert sum(int(b[0].shape[0]) for b in plain) == 10
    first = next(iter(pipeline.make_tf_dataset(frame, 48, 10, training=True, seed=1)))[0].numpy()
    again = next(iter(pipeline.make_tf_dataset(frame, 48, 10, training=False)))[0].numpy()
    assert not np.allclose(np.sort(first.ravel()), np.sort(again.ravel()))  # augmented in training only


def test_the_cache_holds_one_grey_channel_and_colour_is_made_grey_the_same_way_everywhere(tmp_path):
    import tensorflow as tf
    from PIL import Image

    colour = np.zeros((40, 40, 3), np.uint8)
    colour[..., 0], colour[..., 1], colour[..., 2] = 30, 90, 240  # a colour image: R, G, B differ
    path = tmp_path / "colour.png"
    Image.fromarray(colour).save(path)
    cached = pipeline.load_image(tf.constant(str(path)), 32)  # what the tf.data cache stores
    assert cached.shape == (32, 32, 1) and cached.dtype == tf.uint8  # a third of RGB's memory
    assert int(cached[0, 0, 0]) == 120  # the mean of R, G and B
    read, _, _ = pipeline.read_readable_images([path], 32)  # the prediction path
    assert read.shape == (1, 32, 32, 3) and np.all(read == 120)  # the same grey, repeated after the cache


def _stack_frame(tmp_path):
    """Slices whose grey value is 10 x (position + 1): subject a at positions 0-3 (out of order), subject b with one
    slice, and a slice with no subject."""
    import pandas as pd

    rows = [("a", 2), ("a", 0), ("b", 5), ("a", 3), ("", -1), ("a", 1)]
    paths = []
    for i, (subject, pos) in enumerate(rows):
        path = tmp_path / f"s{i}.png"
        Image.fromarray(np.full((40, 40), 10 * (pos + 2), np.uint8)).save(path)
        paths.append(str(path))
    return pd.DataFrame({"path": paths, "relpath": [Path(p).name for p in paths], "subject": [r[0] for r in rows],
                         "slice_pos": [r[1] for r in rows], "label": 0})


def test_neighbours_come_from_the_stack_and_edges_repeat_their_one_neighbour(tmp_path):
    frame = pipeline.with_neighbours(_stack_frame(tmp_path))
    by_pos = dict(zip(zip(frame["subject"], frame["slice_pos"]), frame["path"]))
    a = [by_pos[("a", k)] for k in range(4)]
    below = dict(zip(frame["path"], frame["path_below"]))
    above = dict(zip(frame["path"], frame["path_above"]))
    assert [below[p] for p in a] == [a[1], a[0], a[1], a[2]]  # the lowest slice's missing neighbour is the one above
    assert [above[p] for p in a] == [a[1], a[2], a[3], a[2]]
    for alone in (by_pos[("b", 5)], by_pos[("", -1)]):  # no stack: the slice is its own neighbour (2-D)
        assert below[alone] == above[alone] == alone


def test_a_2_5_d_batch_carries_the_slice_below_itself_and_above_as_its_channels(tmp_path):
    frame = _stack_frame(tmp_path)
    plain = next(iter(pipeline.make_tf_dataset(frame, 32, 8, cache=False)))[0].numpy()
    stacked = next(iter(pipeline.make_tf_dataset(pipeline.model_frame(frame, True), 32, 8, cache=False)))[0].numpy()
    value = 10 * (frame["slice_pos"].to_numpy() + 2)
    np.testing.assert_allclose(plain[:, 16, 16, :], np.repeat(value[:, None], 3, axis=1))  # grey, three times
    first_of_a = int(np.flatnonzero((frame["subject"] == "a") & (frame["slice_pos"] == 0))[0])
    np.testing.assert_allclose(stacked[first_of_a, 16, 16], [30, 20, 30])  # position 1, 0, 1
    second_of_a = int(np.flatnonzero((frame["subject"] == "a") & (frame["slice_pos"] == 1))[0])
    np.testing.assert_allclose(stacked[second_of_a, 16, 16], [20, 30, 40])
