"""The input check: stored by training, quiet on the run's own test slices, loud on slices unlike its training data."""

import json
import random
import warnings

import numpy as np
import pytest

from alzmri.models.input_check import (COMPONENTS, InputCheck, InputScores, fit_input_check, load_input_check,
                                       summary, textures)
from alzmri.models.runs import CHECK_FILE


def _own_data(run_dir):
    from alzmri.models.runs import load_run
    from alzmri.models.runs import load_run_splits, run_config

    run = load_run(run_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run, load_run_splits(run.path, run_config(run.metadata, run.path), progress=False)


def unlike_slices(images: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Slices unlike the synthetic training data, made from ``images`` (n, s, s, 3) of it: inverted, noise,
    checkerboard, brightened, blank, and "real-like" (zoomed so the brain fills the frame, as in the real
    176x208 slices, with the fine texture of a folded cortex)."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    n, size = len(images), images.shape[1]
    brain = images > 10
    checker = ((np.indices((size, size)).sum(axis=0) // 4) % 2 * 255.0)[None, ..., None]
    big = tf.image.resize(images, (int(size * 1.3),) * 2).numpy()
    start = (big.shape[1] - size) // 2
    zoomed = big[:, start:start + size, start:start + size]
    texture = rng.normal(0, 25, zoomed.shape[:3])[..., None]
    return {"inverted": np.where(brain, 255 - images, 0), "noise": rng.uniform(0, 255, images.shape),
            "checkerboard": np.broadcast_to(checker, (n, size, size, 3)), "bright": np.clip(images * 1.6, 0, 255),
            "blank": np.zeros_like(images), "real-like": np.clip(np.where(zoomed > 10, zoomed + texture, zoomed), 0, 255)}


def test_training_stores_the_check_in_the_run(smoke_run):
    check = load_input_check(smoke_run)
    metadata = json.loads((smoke_run / "metadata.json").read_text())
    assert (smoke_run / CHECK_FILE).exists() and check is not None
    settings = metadata["input_check"]
    assert settings["file"] == CHECK_FILE and settings["threshold"] == pytest.approx(check.threshold, abs=1e-6)
    assert settings["reference_images"] == len(check.reference["features"]) > 0
    assert settings["val_images"] == metadata["split_sizes"]["val"]["images"] > 0
    assert check.reference["features"].dtype == np.float16 and check.reference["pixels"].dtype == np.uint8
    assert np.allclose(np.linalg.norm(check.reference["features"].astype(np.float32), axis=1), 1, atol=1e-2)
    assert metadata["synthetic"] is True


def test_the_runs_own_test_slices_are_in_distribution(smoke_run):
    from alzmri.evaluation.evaluate import batch_images
    from alzmri.evaluation.predict import predict_checked

    run, data = _own_data(smoke_run)
    test = data.part("test")
    _, scores = predict_checked(run, batch_images(test, run.image_size))
    assert len(scores.score) == len(test) and scores.in_distribution.mean() >= 0.9, scores.score


def test_slices_unlike_the_training_data_are_flagged(smoke_run):
    from alzmri.evaluation.evaluate import batch_images
    from alzmri.evaluation.predict import predict_checked

    run, data = _own_data(smoke_run)
    images = batch_images(data.part("test").head(8), run.image_size)
    for name, unlike in unlike_slices(images).items():
        _, scores = predict_checked(run, unlike)
        assert not scores.in_distribution.any(), (name, scores.score, scores.threshold)


def test_building_the_check_leaves_the_global_random_state_alone(smoke_run):
    run, data = _own_data(smoke_run)
    numpy_before, python_before = np.random.get_state(), random.getstate()
    check = fit_input_check(run.model, data.part("train"), data.part("val"), run.image_size, seed=42)
    numpy_after = np.random.get_state()
    assert random.getstate() == python_before
    assert all(np.array_equal(a, b) for a, b in zip(numpy_before, numpy_after))
    stored = load_input_check(smoke_run)  # the same seed draws the same reference: what training stored
    assert check.threshold == pytest.approx(stored.threshold, rel=1e-3)
    assert np.array_equal(check.reference["pixels"], stored.reference["pixels"])


def test_no_check_without_validation_slices(smoke_run):
    run, data = _own_data(smoke_run)
    assert fit_input_check(run.model, data.part("train"), data.part("val").head(0), run.image_size, 0) is None


def test_a_check_survives_saving_and_a_broken_file_is_named(tmp_path):
    from alzmri.errors import RunError

    rng = np.random.default_rng(0)
    check = InputCheck({"features": rng.random((7, 4)).astype(np.float16),
                        "pixels": rng.integers(0, 255, (7, 1024), dtype=np.uint8),
                        "texture": rng.random((7, 16)).astype(np.float16)},
                       {"features": 0.1, "pixels": 20.0, "texture": 0.2}, 1.3, k=3, val_images=5, val_flagged=1)
    back = InputCheck.load(check.save(tmp_path / CHECK_FILE))
    assert back.scales == check.scales and (back.threshold, back.k, back.val_images) == (1.3, 3, 5)
    assert all(np.array_equal(back.reference[n], check.reference[n]) for n in COMPONENTS)
    assert load_input_check(tmp_path / "elsewhere") is None  # a run from before the check: none, no error
    whole = (tmp_path / CHECK_FILE).read_bytes()
    for broken in (b"not an npz", whole[:500], whole[: len(whole) // 2]):  # torn files are BadZipFile or EOFError
        (tmp_path / CHECK_FILE).write_bytes(broken)
        with pytest.raises(RunError, match="is not an input check"):
            load_input_check(tmp_path)


def test_texture_of_a_blank_slice_is_flat_and_of_a_ramp_is_one_bin():
    blank = np.zeros((1, 32, 32, 3))
    ramp = np.broadcast_to((20 + 6 * np.arange(32.0))[None, None, :, None], (1, 32, 32, 3))  # 6 grey levels a pixel
    flat, sharp = textures(blank)[0], textures(ramp)[0]
    assert np.allclose(flat, 0.25) and np.allclose(sharp, np.eye(16)[0])  # bins of 8 grey levels: all in the first


def test_the_summary_counts_what_is_flagged():
    scores = InputScores(np.array([0.5, 2.0, 3.0]), {}, 1.2)
    assert summary(scores).startswith("2 of 3 slices look unlike this run's training data (score above the threshold "
                                      "1.20 set on its validation slices)")
    assert summary(InputScores(np.array([0.5]), {}, 1.2)).startswith("The slice does not look unlike")
    assert summary(InputScores(np.array([0.5, 0.7]), {}, 1.2)).startswith("None of the 2 slices looks unlike")
    assert "no input check stored in this run" in summary(None)


def test_a_2_5_d_check_sees_each_slice_with_its_neighbours_as_training_did(smoke_run):
    from alzmri.data.pipeline import read_images_for_model, with_neighbours
    from alzmri.models.classifier import feature_extractor
    from alzmri.models.input_check import normalise, thumbnails

    run, data = _own_data(smoke_run)
    train = data.part("train")
    train = train[train["kind"] == "original"]  # fewer than the reference holds: every slice, in order
    check = fit_input_check(run.model, train, data.part("val"), run.image_size, 0, neighbours=True)
    stacks = with_neighbours(train)
    row = int(np.flatnonzero((stacks["path_below"] != stacks["path"]) & (stacks["path_above"] != stacks["path"])
                             & (stacks["path_below"] != stacks["path_above"]))[0])  # a slice between two others
    below, itself, above = read_images_for_model(list(stacks.iloc[row][["path_below", "path", "path_above"]]),
                                                 run.image_size)[..., 0]
    by_hand = np.stack([below, itself, above], axis=-1)[None]  # the channels training gave it
    features = normalise(feature_extractor(run.model).predict(by_hand, verbose=0))[0]
    np.testing.assert_allclose(check.reference["features"][row].astype(np.float32), features, atol=2e-3)
    thumbs = thumbnails(np.repeat(np.stack([below, itself, above])[..., None], 3, axis=-1)).astype(int)
    gaps = np.abs(thumbs - check.reference["pixels"][row].astype(int)).mean(axis=1)
    assert gaps[1] < 1 < gaps[[0, 2]].min()  # the thumbnail is of the slice itself (as decoded), not a neighbour
