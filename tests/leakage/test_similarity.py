"""The image features behind copies and subjects: a damaged cache is recomputed with a note, never trusted."""

import numpy as np
import pytest

from alzmri.leakage import copies as leakage
from alzmri.leakage import similarity


@pytest.fixture
def some_paths(small_root):
    return sorted(str(p) for p in small_root.rglob("*.jpg"))[:6]


@pytest.mark.parametrize("damage, said", [
    (lambda path: path.write_bytes(path.read_bytes()[:100]), r"is damaged \(BadZipFile\)"),
    (lambda path: np.savez(path, copy=np.zeros((6, 7)), slice=np.zeros((6, 7))), "holds features of another shape"),
    (lambda path: path.write_bytes(b""), r"is damaged \(EOFError\)"),
])
def test_a_damaged_features_cache_is_recomputed_with_a_note(damage, said, some_paths, tmp_path):
    fresh = similarity.cached_features(some_paths, tmp_path, "fp", progress=False)
    cache = similarity.features_cache_path(tmp_path, "fp")
    damage(cache)
    with pytest.warns(UserWarning, match=said):
        again = similarity.cached_features(some_paths, tmp_path, "fp", progress=False)
    assert np.array_equal(again.copy, fresh.copy) and np.array_equal(again.slice, fresh.slice)
    assert similarity.cached_features(some_paths, tmp_path, "fp", progress=False).copy.shape == fresh.copy.shape
    assert [p.name for p in cache.parent.iterdir()] == [cache.name]  # no temporary file left beside it


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
