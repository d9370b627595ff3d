import numpy as np
import pytest

from alzmri import gradcam as G
from alzmri.config import get_config
from alzmri.model import as_model_batch, build_classifier, load_run


def test_target_layer_is_the_last_feature_map_big_enough():
    at_224 = build_classifier(get_config("smoke", backbone="ResNet50V2", backbone_end=None, image_size=224))
    assert G.find_target_layer(at_224).name == "post_relu"
    at_64 = build_classifier(get_config("smoke", backbone="ResNet50V2", backbone_end=None, image_size=64))
    layer = G.find_target_layer(at_64)
    assert min(layer.output.shape[1:3]) >= 7 and layer.name.startswith("conv3")
    assert G.find_target_layer(at_64, min_size=1).name == "post_relu"


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


def test_faithfulness_by_hand():
    mask = np.zeros((1, 4, 4), bool)
    mask[0, :2, :2] = True
    inside = np.zeros((1, 4, 4))
    inside[0, 0, 0] = 1.0
    inside[0, 3, 3] = 0.5
    score = G.faithfulness(inside, mask, top_fraction=2 / 16)
    assert score["pointing_game"] == 1.0 and score["energy_in_mask"] == pytest.approx(1.0 / 1.5)
    outside = G.faithfulness(inside[:, ::-1, ::-1], mask, top_fraction=2 / 16)
    assert outside["pointing_game"] == 0.0 and outside["energy_in_mask"] == pytest.approx(0.5 / 1.5)


def test_baseline_maps_are_normalised_and_differ():
    random_maps, centre = G.random_heatmaps(3, 32, seed=1), G.centre_heatmaps(3, 32)
    assert random_maps.shape == centre.shape == (3, 32, 32)
    assert random_maps.max() == pytest.approx(1) and random_maps.min() == pytest.approx(0)
    assert centre[0].argmax() in {15 * 32 + 15, 15 * 32 + 16, 16 * 32 + 15, 16 * 32 + 16}


def test_overlay_is_rgb_uint8():
    out = G.overlay(np.full((8, 8), 100, np.uint8), np.linspace(0, 1, 64).reshape(8, 8))
    assert out.shape == (8, 8, 3) and out.dtype == np.uint8 and out[-1, -1, 0] > out[0, 0, 0]


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
