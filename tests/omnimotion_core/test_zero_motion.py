"""The zero-motion tracker."""

from __future__ import annotations

import numpy as np
import pytest

from omnimotion_core.zero_motion import track_zero_motion


def test_points_stay_at_their_query_position_in_xy_order() -> None:
    tracks, occluded = track_zero_motion(np.array([[2.0, 5.0, 7.0], [0.0, 1.5, 3.25]]), num_frames=4)
    assert tracks.shape == (2, 4, 2) and tracks.dtype == np.float32
    np.testing.assert_array_equal(tracks[0], [[7.0, 5.0]] * 4)
    np.testing.assert_array_equal(tracks[1], [[3.25, 1.5]] * 4)
    assert not occluded.any() and occluded.shape == (2, 4)


def test_rejects_query_points_without_three_columns() -> None:
    with pytest.raises(ValueError, match=r"\[N, 3\] \(t, y, x\), got shape \(2, 2\)"):
        track_zero_motion(np.zeros((2, 2)), num_frames=3)
