import numpy as np
import pytest

from alzmri.explain import gradcam as G
from alzmri.models.classifier import as_model_batch
from alzmri.models.runs import load_run


@pytest.mark.parametrize("backbone", ["ResNet50V2", pytest.param("ResNet152V2", marks=pytest.mark.slow)])
def test_the_layer_is_a_block_output_on_the_main_path(backbone):
    import keras

    picks = {}
    for size in (32, 64, 224):
        inputs = keras.Input((size, size, 3))
        base = getattr(keras.applications, backbone)(include_top=False, weights=None, input_tensor=inputs)
        pooled = keras.layers.GlobalAveragePooling2D(name="head_pool")(base.output)
        layer = G.find_target_layer(keras.Model(inputs, keras.layers.Dense(4, name="predictions")(pooled)))
        assert G.MAIN_PATH.match(layer.name), (size, layer.name)  # never inside a residual branch
        assert min(layer.output.shape[1:3]) >= 7 or size == 32 and layer.output.shape[1] >= 4, (size, layer.name)
        picks[size] = layer.name
    assert picks[224] == "post_relu"  # at full size: the backbone's last map, 7x7
    assert picks[64].endswith("_out") and picks[32].endswith("_out")


def test_gradcam_on_a_saved_model_one_pass_per_batch(smoke_run):
    run = load_run(smoke_run)  # a model loaded from model.keras, not a freshly built one
    images = np.random.default_rng(0).uniform(0, 255, (5, 32, 32, 3)).astype("float32")
    maps, chosen = G.gradcam(run.model, images, min_size=1)
    assert maps.shape == (5, 32, 32) and maps.min() >= 0 and maps.max() <= 1
    assert (chosen == run.model.predict(images, verbose=0).argmax(axis=1)).all()
    one_by_one = np.concatenate([G.gradcam(run.model, images[i:i + 1], min_size=1)[0] for i in range(5)])
    np.testing.assert_allclose(maps, one_by_one, atol=1e-4)  # the batch pass gives each image its own map
    plus, _ = G.gradcam(run.model, images, class_index=np.zeros(5, int), min_size=1, plus_plus=True)
    assert plus.shape == maps.shape and np.isfinite(plus).all()


def test_baseline_maps_are_normalised_and_differ():
    random_maps, centre = G.random_heatmaps(3, 32, seed=1), G.centre_heatmaps(3, 32)
    assert random_maps.shape == centre.shape == (3, 32, 32)
    assert random_maps.max() == pytest.approx(1) and random_maps.min() == pytest.approx(0)
    assert centre[0].argmax() in {15 * 32 + 15, 15 * 32 + 16, 16 * 32 + 15, 16 * 32 + 16}


def test_model_batches_are_checked():
    assert as_model_batch(np.zeros((32, 32), np.uint8), 32).shape == (1, 32, 32, 3)
    assert as_model_batch(np.zeros((32, 32, 4)), 32).shape == (1, 32, 32, 3)
    assert as_model_batch(np.zeros((5, 32, 32)), 32).shape == (5, 32, 32, 3)
    with pytest.raises(ValueError, match="takes 32x32 images, got 40x40"):
        as_model_batch(np.zeros((40, 40)), 32)
    with pytest.raises(TypeError, match="got list"):
        as_model_batch([[0, 1]], 32)
    with pytest.raises(TypeError, match="numeric pixel values"):
        as_model_batch(np.array([["a"]]), 32)
    with pytest.raises(ValueError, match="1, 3 or 4 channels"):
        as_model_batch(np.zeros((2, 32, 32, 5)), 32)


def test_gradcam_matches_the_formula_on_a_model_small_enough_to_work_out():
    """Logit_c = sum_k W[k, c] * mean(A_k) + b_c, so alpha_k = W[k, c] / (H * W) and the map is
    relu(sum_k W[k, c] A_k), scaled to a maximum of 1: computed here with NumPy, no TensorFlow."""
    import keras

    inputs = keras.Input((8, 8, 3))
    fmap = keras.layers.Conv2D(2, 1, activation="relu", name="conv2_block1_out")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(name="head_pool")(fmap)
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax", name="predictions")(pooled))
    kernel = np.array([[[[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]]])  # A_0 = red channel, A_1 = green
    model.get_layer("conv2_block1_out").set_weights([kernel, np.zeros(2)])
    head = np.array([[2.0, -1.0, 0.5, 0.0], [-1.0, 3.0, 0.5, 0.0]])
    model.get_layer("predictions").set_weights([head, np.zeros(4)])
    images = np.random.default_rng(0).uniform(0, 1, (3, 8, 8, 3)).astype("float32")
    for c in (0, 1, 2):
        maps, chosen = G.gradcam(model, images, class_index=np.full(3, c), min_size=1)
        expected = np.maximum(head[0, c] * images[..., 0] + head[1, c] * images[..., 1], 0)
        expected /= expected.max(axis=(1, 2), keepdims=True)
        np.testing.assert_allclose(maps, expected, atol=1e-5)
        assert (chosen == c).all()


def test_many_images_are_explained_in_batches_that_match_one_call(smoke_run):
    from alzmri.models.runs import load_run

    run = load_run(smoke_run)
    images = np.random.default_rng(1).uniform(0, 255, (10, run.image_size, run.image_size, 3)).astype(np.float32)
    whole, classes = G.gradcam(run.model, images)
    parts = list(G.gradcam_batches(run.model, images, batch_size=4, progress=False))
    assert [start for start, _, _ in parts] == [0, 4, 8] and [len(m) for _, m, _ in parts] == [4, 4, 2]
    np.testing.assert_allclose(np.concatenate([m for _, m, _ in parts]), whole, atol=1e-5)
    assert np.array_equal(np.concatenate([c for _, _, c in parts]), classes)
