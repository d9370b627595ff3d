"""One answer per person: soft and position-weighted voting on hand-built cases."""

import numpy as np
import pytest

from alzmri.voting import position_weights, slice_units, slice_weights, units_note, vote


def test_soft_voting_is_the_mean_of_each_subjects_slices():
    proba = np.array([[0.9, 0.1, 0.0, 0.0], [0.1, 0.5, 0.4, 0.0], [0.0, 0.0, 0.2, 0.8]])
    votes = vote(proba, ["b", "b", "a"], labels=np.array([1, 1, 3]))
    assert list(votes.units) == ["a", "b"]
    np.testing.assert_allclose(votes.proba, [[0.0, 0.0, 0.2, 0.8], [0.5, 0.3, 0.2, 0.0]])
    assert list(votes.slices) == [1, 2]
    assert list(votes.labels) == [3, 1]
    assert list(votes.predicted) == [3, 0]


def test_one_confident_slice_does_not_outvote_many_soft_ones():
    # hard (majority) voting would answer class 1; the mean probability answers class 0
    proba = np.array([[0.4, 0.6, 0, 0], [0.4, 0.6, 0, 0], [1.0, 0.0, 0, 0]])
    assert vote(proba, ["s", "s", "s"]).predicted[0] == 0


def test_weighted_voting_follows_the_weights_and_falls_back_to_the_mean():
    proba = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]])
    votes = vote(proba, ["a", "a", "b", "b"], weights=np.array([1.0, 3.0, 0.0, 0.0]))
    np.testing.assert_allclose(votes.proba[0], [0.25, 0.75, 0, 0])
    np.testing.assert_allclose(votes.proba[1], [0, 0, 0.5, 0.5])  # every slice dropped: the plain mean


def test_position_weights_drop_positions_under_the_threshold():
    labels = np.array([0, 1, 0, 1, 0, 1])
    positions = np.array([0, 0, 1, 1, 2, -1])
    right, wrong = np.eye(4)[[0, 1]], np.eye(4)[[1, 0]]
    proba = np.vstack([right, wrong, np.eye(4)[[0]], np.eye(4)[[1]]])
    weights = position_weights(labels, proba, positions, threshold=0.5)
    assert weights == {0: 1.0, 1: 0.0, 2: 1.0}  # -1 (unknown) is no position
    np.testing.assert_array_equal(slice_weights(np.array([0, 1, 5, -1]), weights), [1.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(slice_weights(np.array([0, 1]), None), [1.0, 1.0])


def test_slices_without_a_subject_are_their_own_unit_and_said_to_be():
    units = slice_units(["s1", "", "s1", ""], ["x.png", "y.png", "z.png", "w.png"])
    assert list(units) == ["s1", "image:y.png", "s1", "image:w.png"]
    assert "2 slice(s) have no known subject" in units_note(units)
    assert units_note(np.array(["s1", "s2"])) is None
    assert len(vote(np.full((4, 4), 0.25), units).units) == 3


def test_vote_refuses_rows_and_units_of_different_lengths():
    with pytest.raises(ValueError, match="3 probability rows but 2 units"):
        vote(np.full((3, 4), 0.25), ["a", "b"])
