"""nearest_track: the stored track a click picks."""

from __future__ import annotations

import numpy as np
import pytest

from omnimotion_core.track_picking import nearest_track

TRACKS = np.array([[[0.0, 0.0], [10.0, 10.0]], [[5.0, 5.0], [11.0, 10.0]], [[30.0, 30.0], [20.0, 20.0]]])


def test_picks_the_track_nearest_to_the_click_in_the_clicked_frame() -> None:
    occluded = np.zeros((3, 2), dtype=bool)
    assert nearest_track(TRACKS, occluded, 0, (4.0, 4.0)) == (1, pytest.approx(np.sqrt(2)))
    assert nearest_track(TRACKS, occluded, 1, (10.2, 10.0))[0] == 0


def test_prefers_tracks_visible_in_that_frame_and_falls_back_to_all_when_none_is() -> None:
    occluded = np.array([[False, False], [True, True], [False, True]])
    assert nearest_track(TRACKS, occluded, 0, (5.0, 5.0))[0] == 0
    assert nearest_track(TRACKS, np.ones((3, 2), dtype=bool), 0, (5.0, 5.0)) == (1, 0.0)


def test_rejects_mismatched_shapes_and_frames_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"tracks must be \[N, T, 2\]"):
        nearest_track(TRACKS, np.zeros((3, 3), dtype=bool), 0, (0.0, 0.0))
    with pytest.raises(ValueError, match=r"frame must lie in \[0, 2\), got 2"):
        nearest_track(TRACKS, np.zeros((3, 2), dtype=bool), 2, (0.0, 0.0))
    with pytest.raises(ValueError, match="no tracks"):
        nearest_track(np.zeros((0, 2, 2)), np.zeros((0, 2), dtype=bool), 0, (0.0, 0.0))
