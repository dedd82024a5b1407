"""The appearance check of predicted tracks on hand-built videos with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from omnimotion_core.appearance import (
    AppearanceCheckConfig,
    check_appearance,
    patch_difference,
    sample_patches,
)


def _sliding_square_video(num_frames: int = 8, size: int = 48, speed: int = 3) -> np.ndarray:
    """A grey background and a 12 px textured square whose top-left corner is at (4 + speed * t, 18)."""
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
    frames = np.full((num_frames, size, size, 3), 128, dtype=np.uint8)
    for t in range(num_frames):
        x = 4 + speed * t
        frames[t, 18:30, x : x + 12] = texture[:, : max(0, min(12, size - x))]
    return frames


def test_bilinear_patches_are_exact_on_a_linear_image_and_clamped_at_the_border() -> None:
    ys, xs = np.mgrid[0:10, 0:20].astype(np.float32)
    frame = np.stack([xs, ys, xs + 2 * ys], axis=-1)[None]
    patch = sample_patches(frame, np.array([0]), np.array([[5.25, 3.5]]), radius=1)
    centre = patch[0, 4]
    np.testing.assert_allclose(centre, [5.25, 3.5, 12.25], atol=1e-5)
    np.testing.assert_allclose(patch[0, 0], [4.25, 2.5, 9.25], atol=1e-5)  # (dy, dx) = (-1, -1) comes first
    corner = sample_patches(frame, np.array([0]), np.array([[-3.0, 40.0]]), radius=0)
    np.testing.assert_allclose(corner[0, 0], [0.0, 9.0, 18.0], atol=1e-5)


def test_uint8_frames_give_colours_in_unit_range() -> None:
    frames = np.full((1, 4, 4, 3), 255, dtype=np.uint8)
    np.testing.assert_allclose(sample_patches(frames, np.array([0]), np.array([[1.0, 1.0]]), 1), 1.0)


def test_the_true_track_matches_and_a_stalled_track_is_hidden_once_the_square_has_left() -> None:
    frames = _sliding_square_video()
    query = np.array([[0.0, 24.0, 10.0]])  # (t, y, x): inside the square at frame 0
    true_track = np.stack([10.0 + 3.0 * np.arange(8), np.full(8, 24.0)], axis=-1)[None]
    stalled = np.repeat(np.array([[[10.0, 24.0]]]), 8, axis=1)
    config = AppearanceCheckConfig(radius=2, threshold=0.15)
    np.testing.assert_allclose(patch_difference(frames, query, true_track, radius=2), 0.0, atol=1e-6)
    assert not check_appearance(frames, query, true_track, np.zeros((1, 8), bool), config).any()
    # from t = 1 the patch at the stalled position shows another part of the random texture (shifted 3 px),
    # from t = 3 partly the background
    hidden = check_appearance(frames, query, stalled, np.zeros((1, 8), bool), config)
    np.testing.assert_array_equal(hidden[0], [False, True, True, True, True, True, True, True])


def test_a_point_behind_an_occluder_is_hidden_only_while_covered() -> None:
    frames = _sliding_square_video(speed=0)
    frames[3:5, 20:28, 6:14] = (255, 0, 0)
    query = np.array([[0.0, 24.0, 10.0]])
    track = np.repeat(np.array([[[10.0, 24.0]]]), 8, axis=1)
    tracker_says = np.zeros((1, 8), bool)
    tracker_says[0, 7] = True
    hidden = check_appearance(frames, query, track, tracker_says, AppearanceCheckConfig(radius=2, threshold=0.15))
    np.testing.assert_array_equal(hidden[0], [False, False, False, True, True, False, False, True])


def test_a_disabled_check_keeps_the_trackers_occlusion() -> None:
    frames = _sliding_square_video()
    occluded = np.zeros((1, 8), bool)
    stalled = np.repeat(np.array([[[10.0, 24.0]]]), 8, axis=1)
    kept = check_appearance(frames, np.array([[0.0, 24.0, 10.0]]), stalled, occluded,
                            AppearanceCheckConfig(enabled=False))
    assert kept is occluded


def test_bad_inputs_name_the_problem() -> None:
    frames = _sliding_square_video()
    query = np.array([[0.0, 24.0, 10.0]])
    track = np.full((1, 8, 2), 10.0)
    with pytest.raises(ValueError, match="frames must be \\[T=8, H, W, 3\\]"):
        patch_difference(frames[:4], query, track, 1)
    with pytest.raises(ValueError, match="query_points must be \\[1, 3\\]"):
        patch_difference(frames, query[:, :2], track, 1)
    track[0, 3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        check_appearance(frames, query, track, np.zeros((1, 8), bool), AppearanceCheckConfig())
    with pytest.raises(ValueError, match="radius must be >= 0"):
        AppearanceCheckConfig(radius=-1)
    with pytest.raises(ValueError, match="threshold must be > 0"):
        AppearanceCheckConfig(threshold=0.0)
