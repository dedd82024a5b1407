"""Difficulty statistics of ground-truth tracks, on a hand-made case."""

from __future__ import annotations

import numpy as np
import pytest

from omnimotion_core.synthetic import summarize_tracks


def _hand_tracks() -> tuple[np.ndarray, np.ndarray]:
    """Three points over 8 frames of a 32x32 video.

    A moves right by 2 px per frame, always visible; B stands still at (5, 5), hidden in frames 1-5;
    C steps out of the frame (x = 40) in frames 2-3 and comes back.
    """
    frames = np.arange(8)
    positions = np.zeros((3, 8, 2))
    positions[0] = np.stack([10.0 + 2 * frames, np.full(8, 10.0)], axis=1)
    positions[1] = 5.0
    positions[2, :, 0] = [20, 25, 40, 40, 25, 20, 20, 20]
    positions[2, :, 1] = 10.0
    occluded = np.zeros((3, 8), dtype=bool)
    occluded[1, 1:6] = True
    occluded[2, 2:4] = True
    return positions, occluded


def test_statistics_match_hand_computed_values():
    positions, occluded = _hand_tracks()
    stats = summarize_tracks(positions, occluded, height=32, width=32)
    assert stats.occluded_fraction == pytest.approx(7 / 24)
    assert stats.outside_fraction == pytest.approx(2 / 24)
    assert stats.points_leaving == pytest.approx(1 / 3)
    assert stats.points_returning == pytest.approx(1 / 3)
    assert stats.points_hidden_5_to_20 == pytest.approx(1 / 3)
    # Visible distances to the first visible position: A 0, 2, ..., 14; B 0, 0, 0; C 0, 5, 5, 0, 0, 0.
    assert stats.mean_displacement_px == pytest.approx(66 / 17)
    # At 256x256 (x8) A is 16 px off at frame 1 and worse later: only B's 2 and C's 3 scored visible frames
    # are within every threshold, of 14 scored visible frames; 16 scored frames are false positives.
    assert stats.zero_motion_delta_avg == pytest.approx(5 / 14)
    assert stats.zero_motion_average_jaccard == pytest.approx(5 / 30)


def test_rejects_track_that_is_never_visible():
    positions, occluded = _hand_tracks()
    occluded[0] = True
    with pytest.raises(ValueError, match="every track must be visible in at least one frame"):
        summarize_tracks(positions, occluded, height=32, width=32)


def test_rejects_tracks_without_xy_axis():
    positions, occluded = _hand_tracks()
    with pytest.raises(ValueError, match=r"expected positions \[N, T, 2\].*\(3, 8, 1\)"):
        summarize_tracks(positions[..., :1], occluded, height=32, width=32)
