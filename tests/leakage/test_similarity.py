"""The image features behind copies and subjects: a damaged cache is recomputed with a note, never trusted."""

import numpy as np
import pytest

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
