"""Depth colour map and track overlays."""

from __future__ import annotations

import numpy as np
import pytest

from omnimotion_core.visuals import colorize_depth, draw_tracks


def test_near_is_blue_and_far_is_red() -> None:
    depth = np.tile(np.linspace(0.0, 2.0, 16, dtype=np.float32), (4, 1))
    image = colorize_depth(depth)
    assert image.shape == (4, 16, 3) and image.dtype == np.uint8
    near, far = image[0, 0].astype(int), image[0, -1].astype(int)
    assert near[2] > near[0] + 50
    assert far[0] > far[2] + 50


def test_dots_are_drawn_where_visible_and_hidden_where_occluded() -> None:
    frames = np.zeros((2, 20, 20, 3), dtype=np.uint8)
    tracks = np.array([[[5.0, 5.0], [14.0, 14.0]]])
    occluded = np.array([[False, True]])
    out = draw_tracks(frames, tracks, occluded)
    assert out[0, 5, 5].sum() > 0
    assert out[1].sum() == 0
    assert frames.sum() == 0


def test_rejects_tracks_of_another_length() -> None:
    with pytest.raises(ValueError, match=r"tracks must be \[N, 3, 2\]"):
        draw_tracks(np.zeros((3, 8, 8, 3), np.uint8), np.zeros((1, 2, 2)), np.zeros((1, 2), bool))
