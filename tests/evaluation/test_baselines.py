"""The classical baselines: the atrophy measurements, and the probabilities every baseline gives."""

import numpy as np
import pandas as pd
import pytest

from alzmri.config import CLASS_NAMES, get_config
from alzmri.data import synthetic
from alzmri.evaluation.baselines import (MEASUREMENTS, atrophy_probabilities, baseline_probabilities,
                                         slice_measurements, thumbnail_baseline, thumbnail_probabilities)


def _measure(subject, rng) -> dict:
    return dict(zip(MEASUREMENTS, slice_measurements(synthetic.render_slice(subject, 128, rng)[0])))


def test_atrophy_gives_more_csf_and_wider_ventricles_on_the_same_brain():
    """The same synthetic brain, healthy and at full atrophy: wider ventricles and sulci, so more CSF."""
    for seed in range(3):
        subject = synthetic.draw_subject(np.random.default_rng(seed), rank=0)
        healthy = _measure(subject, np.random.default_rng(0))
        atrophied = _measure(synthetic.at_full_atrophy(subject), np.random.default_rng(0))
        assert atrophied["csf_share"] > healthy["csf_share"] + 0.02, (healthy, atrophied)
        assert atrophied["ventricle_share"] > healthy["ventricle_share"], (healthy, atrophied)
        assert atrophied["mean_intensity"] < healthy["mean_intensity"]


def test_measurements_do_not_depend_on_brightness_or_size():
    """Users bring re-encoded, brightened and resized copies: the thresholds are relative, the areas shares."""
    from PIL import Image

    image = synthetic.render_slice(synthetic.draw_subject(np.random.default_rng(4), rank=2), 128,
                                   np.random.default_rng(0))[0]
    base = slice_measurements(image)
    darker = slice_measurements((image * 0.6).round().astype(np.uint8))
    larger = slice_measurements(np.asarray(Image.fromarray(image).resize((200, 240), Image.Resampling.BILINEAR)))
    np.testing.assert_allclose(darker, base, atol=0.03)
    np.testing.assert_allclose(larger, base, atol=0.03)
    assert (slice_measurements(np.zeros((64, 64), np.uint8)) == 0).all()  # a blank slice measures nothing


def test_atrophy_model_answers_per_subject_with_four_columns(small_data):
    frame = small_data.frame
    split = frame["split"].to_numpy()
    train = (split == "train") & (frame["class_name"] != "ModerateDemented").to_numpy()  # a class it never saw
    held = split == "test"
    proba = atrophy_probabilities(frame, train, held)
    assert proba.shape == (held.sum(), len(CLASS_NAMES))
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    assert (proba[:, CLASS_NAMES.index("ModerateDemented")] == 0).all()
    per_subject = pd.DataFrame(proba).groupby(frame.loc[held, "subject"].to_numpy()).nunique()
    assert (per_subject == 1).all().all()  # every slice of a subject gets the subject's answer


def test_atrophy_model_learns_from_originals_not_from_their_augmented_copies(small_data):
    frame = small_data.frame
    split = frame["split"].to_numpy()
    train, held = split == "train", split == "test"
    assert (frame.loc[train, "kind"] == "augmented").any()  # the copies are training material
    originals = train & (frame["kind"] == "original").to_numpy()
    np.testing.assert_array_equal(atrophy_probabilities(frame, train, held),
                                  atrophy_probabilities(frame, originals, held))
    copies = train & ~originals  # where train holds only copies (the naive split), it learns from them
    assert not np.allclose(atrophy_probabilities(frame, copies, held), atrophy_probabilities(frame, train, held))


def test_every_baseline_gives_probabilities_and_the_probe_is_one_hot(small_data):
    held = small_data.frame["split"].to_numpy() == "test"
    for model in ("probe", "thumbnail", "atrophy"):
        proba = baseline_probabilities(model, small_data, held)
        assert proba.shape == (held.sum(), 4) and np.allclose(proba.sum(axis=1), 1), model
    assert set(np.unique(baseline_probabilities("probe", small_data, held))) == {0.0, 1.0}


def test_thumbnail_baseline_scores_its_own_probabilities(small_data):
    from alzmri.metrics import balanced_accuracy

    frame = small_data.frame
    split = frame["split"].to_numpy()
    proba = thumbnail_probabilities(frame, split == "train", split == "test")
    expected = balanced_accuracy(frame.loc[split == "test", "label"].to_numpy(), proba.argmax(axis=1))
    assert thumbnail_baseline(frame) == expected


def test_a_baseline_with_nothing_to_predict_says_so(small_data):
    from alzmri.errors import DatasetError

    frame = small_data.frame
    with pytest.raises(DatasetError, match="atrophy baseline needs .* and images to predict; got .* 0 image"):
        atrophy_probabilities(frame, frame["split"].to_numpy() == "train", np.zeros(len(frame), bool))


def test_thumbnail_baseline_stays_modest_unless_the_split_leaks_subjects(medium_data):
    """A linear model on thumbnails must not solve the synthetic task on unseen subjects (else it teaches
    nothing), yet the same model looks good when other slices of the test brains are in train."""
    from alzmri.leakage.protocols import split_frame

    honest = thumbnail_baseline(medium_data.frame)
    leaky = thumbnail_baseline(split_frame(medium_data.frame, "image", get_config("demo")))
    assert honest <= 0.75 and leaky > honest + 0.2


def test_thumbnail_baseline_refuses_a_single_class_in_train(medium_data):
    import pytest

    from alzmri.errors import DatasetError

    frame = medium_data.frame.copy()
    frame.loc[(frame["split"] == "train") & (frame["class_name"] != "NonDemented"), "split"] = "unused"
    with pytest.raises(DatasetError, match="at least 2 classes"):
        thumbnail_baseline(frame)
