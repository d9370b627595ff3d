import numpy as np

from alzmri.data import synthetic
from alzmri.leakage import copies as leakage
from alzmri.leakage import similarity
from alzmri.config import get_config
from alzmri.evaluation.baselines import thumbnail_baseline
from alzmri.leakage.audit import audit


def test_copy_descriptor_survives_the_augmentations():
    rng = np.random.default_rng(0)
    image, mask = synthetic.render_slice(synthetic.draw_subject(rng, 1), 128, rng)
    other, _ = synthetic.render_slice(synthetic.draw_subject(np.random.default_rng(1), 1), 128, rng)
    base = similarity.copy_descriptor(image)
    copies = [similarity.copy_descriptor(synthetic.augment(image, mask, np.random.default_rng(s))[0])
              for s in range(8)]
    copies.append(similarity.copy_descriptor(image[:, ::-1]))
    copies.append(similarity.copy_descriptor(image[::-1]))
    _, same = similarity.best_match(np.stack(copies), base[None])
    _, different = similarity.best_match(similarity.copy_descriptor(other)[None], base[None])
    threshold = get_config().duplicate_threshold
    assert (same >= threshold).all() and different[0] < threshold


def test_copies_are_matched_to_the_manifest_originals(medium_index, medium_descriptors):
    precision, recall = leakage.mapping_quality(medium_index.frame, medium_descriptors,
                                                get_config().duplicate_threshold)
    assert precision >= 0.95 and recall >= 0.95


def test_audit_shows_which_protocols_leak_subjects(medium_data):
    table, per_image = audit(medium_data, get_config("demo"))
    table = table.set_index(["protocol", "pair"])
    for pair in ("train→val", "train→test"):
        assert table.loc[("subject", pair), ["copy_in_train", "subject_in_train"]].tolist() == [0, 0]
    # copies kept together, but other slices of the same brains on both sides
    assert table.loc[("image", "train→test"), "copy_in_train"] == 0
    assert table.loc[("image", "train→test"), "subject_in_train"] > 0.5 * table.loc[("image", "train→test"), "images"]
    naive = table.loc[("naive", "train→test")]
    assert naive["copy_in_train"] > 0.5 * naive["images"] and naive["subjects_in_train"] == naive["subjects"]
    assert set(per_image.filter(like="split_").columns) == {"split_subject", "split_image", "split_official",
                                                            "split_naive"}


def test_similarity_check_catches_a_planted_leak_the_grouping_misses(medium_data):
    """Move one test subject's slices to train under a *wrong* subject id: the subject counts cannot see
    it, the similarity check (which does not use subjects) does."""
    frame = medium_data.frame.copy()
    test = frame[(frame["split"] == "test") & (frame["kind"] == "original")]
    victim = test["subject"].iloc[0]
    slices = test[test["subject"] == victim].sort_values("slice_pos")
    moved = slices.index[::2]  # every other slice to train, relabelled as a new subject
    frame.loc[moved, "split"] = "train"
    frame.loc[moved, "subject"] = "planted"
    threshold = medium_data.subjects.evidence.threshold
    honest = leakage.leak_counts(medium_data.frame, medium_data.features, threshold).set_index("pair")
    leaky = leakage.leak_counts(frame, medium_data.features, threshold).set_index("pair")
    assert leaky.loc["train→test", "subject_in_train"] == 0  # the grouping misses it
    assert leaky.loc["train→test", "at_neighbour_level"] >= honest.loc["train→test", "at_neighbour_level"] + len(
        slices.index[1::2]) - 1


def test_thumbnail_baseline_stays_modest_unless_the_split_leaks_subjects(medium_data):
    """A linear model on thumbnails must not solve the synthetic task on unseen subjects (else it teaches
    nothing), yet the same model looks good when other slices of the test brains are in train."""
    from alzmri.leakage.splits import split_frame

    honest = thumbnail_baseline(medium_data.frame)
    leaky = thumbnail_baseline(split_frame(medium_data.frame, "image", get_config("demo")))
    assert honest <= 0.75 and leaky > honest + 0.2


def test_exact_duplicates_point_at_the_first_copy_and_never_at_blank_images():
    rng = np.random.default_rng(0)
    features = similarity.Features(rng.normal(size=(6, 8)).astype(np.float32),
                                   rng.normal(size=(6, 5)).astype(np.float32))
    for row in (3, 5):
        features.copy[row], features.slice[row] = features.copy[1], features.slice[1]
    features.slice[[2, 4]] = 0  # blank: standardised flat images are all zeros
    features.copy[4] = features.copy[2]
    assert leakage.exact_duplicates(features).tolist() == [-1, -1, -1, 1, -1, 1]


def test_audit_of_a_class_with_a_single_image(tmp_path):
    """Tiny data used to crash the audit inside scikit-learn; now every protocol is counted."""
    import warnings

    from alzmri.data.datasets import index_dataset
    from alzmri.leakage.splits import PreparedData, annotate

    root = synthetic.generate_dataset(tmp_path / "v2", n_per_class=16, size=48, slices=4, balance="equal",
                                      progress=False)
    for folder in (root / "data" / "val" / "ModerateDemented", root / "data" / "train" / "ModerateDemented"):
        for path in sorted(folder.glob("*.jpg"))[1:]:
            path.unlink()
    config = get_config("smoke")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        index = index_dataset(root, cache_dir=tmp_path, progress=False)
        frame, features, recovery = annotate(index, config, tmp_path, progress=False)
    table, _ = audit(PreparedData(index, frame, "subject", features, recovery), config)
    assert set(table["protocol"]) == {"subject", "image", "official", "naive"}


def test_thumbnail_baseline_refuses_a_single_class_in_train(medium_data):
    import pytest

    from alzmri.errors import DatasetError

    frame = medium_data.frame.copy()
    frame.loc[(frame["split"] == "train") & (frame["class_name"] != "NonDemented"), "split"] = "unused"
    with pytest.raises(DatasetError, match="at least 2 classes"):
        thumbnail_baseline(frame)
