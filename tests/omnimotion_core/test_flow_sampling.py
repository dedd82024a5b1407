"""Bilinear sampling of per-pixel fields at sub-pixel positions, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from omnimotion_core.flow.sampling import sample_points


def test_points_between_pixels_take_the_bilinear_mix_of_their_four_neighbours() -> None:
    field = np.array([[[0.0, 1.0], [2.0, 1.0], [4.0, 1.0]],
                      [[10.0, 3.0], [12.0, 3.0], [14.0, 3.0]]], dtype=np.float16)  # value = 2 x + 10 y, and 1 + 2 y
    x = np.array([0.25, 1.5, 1.75, 0.0])
    y = np.array([0.5, 0.0, 0.25, 1.0])
    expected = np.array([[5.5, 2.0], [3.0, 1.0], [6.0, 1.5], [10.0, 3.0]], dtype=np.float32)
    sampled = sample_points(field, x, y)
    assert sampled.dtype == np.float32
    np.testing.assert_allclose(sampled, expected, rtol=0, atol=1e-6)


def test_every_pixel_centre_returns_its_own_value_and_outside_points_the_nearest_border_pixel() -> None:
    field = np.random.default_rng(0).normal(size=(4, 5, 3)).astype(np.float32)
    ys, xs = np.mgrid[0:4, 0:5]
    np.testing.assert_array_equal(sample_points(field, xs.ravel(), ys.ravel()), field.reshape(-1, 3))
    outside = sample_points(field, np.array([-3.0, 9.0, 2.0, 4.0]), np.array([1.0, 2.0, -1.5, 7.0]))
    np.testing.assert_array_equal(outside, field[[1, 2, 0, 3], [0, 4, 2, 4]])


@pytest.mark.parametrize("shape", [(1, 4, 2), (4, 1, 2), (1, 1, 2)])
def test_a_field_one_pixel_wide_or_high_is_sampled_along_the_other_axis(shape: tuple[int, int, int]) -> None:
    field = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    x = np.array([0.5, 2.0]) if shape[1] > 1 else np.array([0.0, 3.0])
    y = np.array([0.5, 2.0]) if shape[0] > 1 else np.array([0.0, -2.0])
    flat = field.reshape(-1, 2)
    along = x if shape[1] > 1 else y
    expected = flat[0] + (flat[min(1, len(flat) - 1)] - flat[0]) * np.clip(along, 0, len(flat) - 1)[:, None]
    np.testing.assert_allclose(sample_points(field, x, y), expected, rtol=0, atol=1e-6)


def test_a_field_that_is_not_per_pixel_channels_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\[H, W, C\]"):
        sample_points(np.zeros((4, 5)), np.zeros(1), np.zeros(1))
