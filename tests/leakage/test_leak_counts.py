"""One count of leaks (alzmri.leakage.copies.leaks) behind the audit, compare, evaluate and the command line."""

import numpy as np
import pandas as pd

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
