"""A map drawn over its slice: resized to the slice, not the slice to the map; heat on the brain only."""

import numpy as np

from alzmri.reporting.overlays import brain_mask, map_to_shape, overlay


def test_a_map_is_resized_to_the_slice_not_the_slice_to_the_map():
    square = np.zeros((64, 64))
    square[:, :32] = 1.0  # left half hot
    tall = map_to_shape(square, (208, 176))
    assert tall.shape == (208, 176) and tall[:, :80].mean() > 0.95 and tall[:, 96:].mean() < 0.05


def test_overlay_is_rgb_uint8():
    out = overlay(np.full((8, 8), 100, np.uint8), np.linspace(0, 1, 64).reshape(8, 8))
    assert out.shape == (8, 8, 3) and out.dtype == np.uint8 and out[-1, -1, 0] > out[0, 0, 0]


def test_heat_is_drawn_on_the_brain_only():
    grey = np.zeros((40, 50), np.uint8)
    grey[8:32, 10:40] = 150
    grey[16:24, 20:30] = 5  # a dark ventricle inside the brain is still brain
    heat = np.ones((40, 50))
    drawn = overlay(grey, heat)
    assert (drawn[0, 0] == 0).all()  # background: left black, no heat on it
    assert drawn[20, 25, 0] > 0  # the ventricle gets heat
    assert brain_mask(grey)[20, 25] and not brain_mask(grey)[2, 2]
    assert not np.array_equal(overlay(grey, heat, brain_only=False)[0, 0], drawn[0, 0])
