"""Deletion/insertion, the randomisation check and plausibility, each on a case with a known answer."""

import numpy as np
import pytest

from alzmri.explain import faithfulness as F
from alzmri.reporting.summaries import faithfulness_verdict, randomisation_verdict


def _patch_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Smooth grey 32 x 32 images; class 1 has an 8 x 8 checkerboard somewhere (same mean brightness), class 0
    none. The evidence is structure, which removal (a blur) takes away."""
    rng = np.random.default_rng(seed)
    images = (30 + rng.normal(0, 2, (n, 32, 32, 1))).repeat(3, axis=-1).astype("float32")
    labels = rng.integers(0, 2, n)
    checker = np.where((np.indices((8, 8)).sum(axis=0) % 2) == 0, 0.0, 60.0)[..., None]
    for image, label in zip(images, labels):
        if label:
            y, x = rng.integers(0, 24, 2)
            image[y:y + 8, x:x + 8] = checker
    return images, labels


@pytest.fixture(scope="module")
def patch_model():
    """A small CNN trained to tell whether a bright patch is present: its answer lives in a known region."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 30, offset=-1)(inputs)  # background near 0, the checkerboard at +-1
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2_block1_out")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2_block2_out")(x)
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = keras.layers.Dropout(0.0, name="head_dropout")(x)
    outputs = keras.layers.Dense(4, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    images, labels = _patch_images(512, seed=1)
    model.fit(images, labels, epochs=8, batch_size=32, verbose=0)
    return model


def test_area_under_a_curve_and_pixel_ranks_by_hand():
    assert F.area_under(np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])) == pytest.approx([1.0, 0.25])
    ranks = F._pixel_ranks(np.array([[[0.1, 0.9], [0.5, 0.0]]]), seed=0)
    assert ranks.tolist() == [[2, 0, 1, 3]]  # the hottest pixel goes first


def test_grad_cam_deletes_the_evidence_faster_than_random_and_centre(patch_model):
    from alzmri.explain.gradcam import gradcam

    images, labels = _patch_images(64, seed=2)
    images = images[labels == 1]  # the patch is the evidence
    cams, classes = gradcam(patch_model, images)
    assert (classes == 1).mean() > 0.9  # the model learnt the task
    maps = {"gradcam": cams, **F.baseline_maps(len(images), 32, seed=0)}
    report = F.deletion_insertion_report(patch_model, images, maps, classes, np.arange(len(images)), n_boot=100)
    deletion, insertion = report["deletion_auc"], report["insertion_auc"]
    assert deletion["gradcam"] < deletion["random"] - 0.1 and deletion["gradcam"] < deletion["centre"] - 0.1
    assert report["deletion_auc_ci"]["gradcam"][1] < report["deletion_auc_ci"]["random"][0]  # intervals apart
    assert insertion["gradcam"] > insertion["random"] and insertion["gradcam"] > insertion["centre"]
    curve = report["deletion_curve"]["gradcam"]
    assert len(curve) == F.STEPS + 1 and curve[0] > 0.9 and curve[-1] < 0.5  # all deleted: no patch left
    assert "blur" in report["removed_to"]
    first = faithfulness_verdict(report).splitlines()[0]
    assert first.startswith("deletion: Grad-CAM") and "vs random" in first
    assert "falls faster with Grad-CAM, intervals apart" in first


def test_maps_decorrelate_when_the_weights_are_destroyed(patch_model):
    images, labels = _patch_images(32, seed=3)
    cascade, maps = F.randomisation_check(patch_model, images[labels == 1], "conv2_block2_out", depths=(1, 2),
                                          return_maps=True)
    assert [step["randomised"] for step in cascade] == ["head", "head + top 1 block", "head + top 2 blocks"]
    assert len(maps) == 4 and maps[0].shape == maps[-1].shape
    assert cascade[-1]["rank_correlation"] < 0.5 and cascade[-1]["ssim"] < 0.9
    assert "decorrelate" in randomisation_verdict(cascade)
    again = F.randomisation_check(patch_model, images[labels == 1], "conv2_block2_out", depths=(1, 2))
    assert again == cascade  # re-drawn weights come from the seed: the check is reproducible


def test_plausibility_by_hand():
    mask = np.zeros((1, 4, 4), bool)
    mask[0, :2, :2] = True
    inside = np.zeros((1, 4, 4))
    inside[0, 0, 0] = 1.0
    inside[0, 3, 3] = 0.5
    score = F.plausibility(inside, mask, top_fraction=2 / 16)
    assert score["pointing_game"] == 1.0 and score["energy_in_mask"] == pytest.approx(1.0 / 1.5)
    outside = F.plausibility(inside[:, ::-1, ::-1], mask, top_fraction=2 / 16)
    assert outside["pointing_game"] == 0.0 and outside["energy_in_mask"] == pytest.approx(0.5 / 1.5)


def test_removed_pixels_become_a_blur_not_black():
    images = np.zeros((1, 32, 32, 3), np.float32)
    images[0, 8:24, 8:24] = 200.0
    blurred = F.removal_baseline(images)
    assert blurred.mean() == pytest.approx(images.mean(), rel=0.05) and blurred.max() < 200  # brightness kept
