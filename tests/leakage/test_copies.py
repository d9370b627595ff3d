"""Augmented copies found by their descriptor and matched to their originals, exact duplicates, and the one count
of leaks (alzmri.leakage.copies.leaks) behind the audit, compare, evaluate and the command line."""

import numpy as np
import pandas as pd

from alzmri.config import get_config
from alzmri.data import synthetic
from alzmri.leakage import copies as leakage
from alzmri.leakage import similarity
from alzmri.leakage.copies import leak_counts, leaks


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "relpath": ["a1", "a2", "b1", "b1c", "c1", "c2"],
        "kind": ["original", "original", "original", "augmented", "original", "original"],
        "original": ["", "", "", "b1", "", ""],
        "subject": ["A", "A", "B", "B", "C", ""],
        "split": ["train", "test", "test", "train", "test", "test"]})


def test_leaks_counts_copies_and_subjects_in_train():
    counted = leaks(_frame(), "test")
    assert (counted.images, counted.subjects, counted.subjects_in_train) == (4, 3, 2)
    assert (counted.copy_in_train, counted.subject_in_train, counted.images_leaked) == (1, 2, 2)
    assert counted.leaked.tolist() == [True, True, False, False]


def test_the_audit_table_uses_the_same_count():
    class Features:
        slice = np.eye(6, dtype=np.float32)

    row = leak_counts(_frame(), Features(), 0.9).set_index("pair").loc["train→test"]
    counted = leaks(_frame(), "test")
    assert (row["copy_in_train"], row["subject_in_train"], row["subjects"], row["subjects_in_train"]) == \
        (counted.copy_in_train, counted.subject_in_train, counted.subjects, counted.subjects_in_train)


def test_pixel_identical_files_on_both_sides_count_as_copies():
    """A split made elsewhere may part two files with the very same pixels (the protocols never do)."""
    frame = _frame().assign(duplicate_of=["", "", "", "", "", "a1"])  # c2 is a1 saved again under another name
    counted = leaks(frame, "test")
    assert counted.copy_in_train == 2 and counted.leaked.tolist() == [True, True, False, True]

    class Features:
        slice = np.eye(6, dtype=np.float32)

    assert leak_counts(frame, Features(), 0.9).set_index("pair").loc["train→test", "images_leaked"] == 3


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


def test_exact_duplicates_point_at_the_first_copy_and_never_at_blank_images():
    rng = np.random.default_rng(0)
    features = similarity.Features(rng.normal(size=(6, 8)).astype(np.float32),
                                   rng.normal(size=(6, 5)).astype(np.float32))
    for row in (3, 5):
        features.copy[row], features.slice[row] = features.copy[1], features.slice[1]
    features.slice[[2, 4]] = 0  # blank: standardised flat images are all zeros
    features.copy[4] = features.copy[2]
    assert leakage.exact_duplicates(features).tolist() == [-1, -1, -1, 1, -1, 1]
