"""Tests for omnimotion_core.flow.external: sparse flow sets from another tracker's point tracks."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import zarr

from omnimotion_core.flow.external import flow_set_from_tracks
from storage.flow_store import flow_set_name, read_flow_set, write_flow_set

NAN = np.nan
SIZE = (8, 8)


def _hand_tracks() -> tuple[np.ndarray, np.ndarray]:
    """Three tracks over three frames of an 8x8 video, (x, y) pixels.

    track 0: visible everywhere: (1.2, 2.4) -> pixel (1, 2); (3.0, 2.6) -> (3, 3); (5.5, 6.0) -> (6, 6)
    track 1: occluded at frame 1: (6.0, 1.0) -> (6, 1); NaN; (4.0, 0.5) -> (4, 1) (halves round up)
    track 2: (0.6, 1.9) -> (1, 2), the pixel of track 0 in frame 0; (7.4, 7.0) -> (7, 7);
             (7.6, 3.0) -> (8, 3), outside the frame
    """
    tracks = np.array(
        [
            [[1.2, 2.4], [3.0, 2.6], [5.5, 6.0]],
            [[6.0, 1.0], [NAN, NAN], [4.0, 0.5]],
            [[0.6, 1.9], [7.4, 7.0], [7.6, 3.0]],
        ]
    )
    occluded = np.array([[False, False, False], [False, True, False], [False, False, False]])
    return tracks, occluded


# pair (i, j) -> {pixel (x, y) of frame i: flow (dx, dy)}, worked out by hand from _hand_tracks.
HAND_EXPECTED = {
    # track 2 shares pixel (1, 2) with track 0, which has the lower index; track 1 is occluded in frame 1
    (0, 1): {(1, 2): (1.8, 0.2)},
    (1, 0): {(3, 3): (-1.8, -0.2), (7, 7): (-6.8, -5.1)},
    # track 2 again loses pixel (1, 2) to track 0
    (0, 2): {(1, 2): (4.3, 3.6), (6, 1): (-2.0, -0.5)},
    # track 2 rounds to (8, 3) in frame 2: outside an 8x8 frame
    (2, 0): {(6, 6): (-4.3, -3.6), (4, 1): (2.0, 0.5)},
    # track 2 would land on (7, 7) + (0.2, -4.0) = (7.2, 3.0), right of the last column
    (1, 2): {(3, 3): (2.5, 3.4)},
    (2, 1): {(6, 6): (-2.5, -3.4)},
}


def _expected_arrays(pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    flow = np.zeros((len(pairs), *SIZE, 2), dtype=np.float32)
    mask = np.zeros((len(pairs), *SIZE), dtype=bool)
    for row, (i, j) in enumerate(pairs.tolist()):
        for (x, y), (dx, dy) in HAND_EXPECTED[(i, j)].items():
            flow[row, y, x] = dx, dy
            mask[row, y, x] = True
    return flow, mask


def test_hand_case_gives_the_track_displacement_at_the_nearest_pixel():
    tracks, occluded = _hand_tracks()
    flow_set = flow_set_from_tracks(tracks, occluded, SIZE)
    assert flow_set.pairs.tolist() == [[0, 1], [1, 0], [0, 2], [2, 0], [1, 2], [2, 1]]
    flow, mask = _expected_arrays(flow_set.pairs)
    np.testing.assert_array_equal(flow_set.mask, mask)
    np.testing.assert_allclose(flow_set.flow, flow, atol=1e-6)
    assert flow_set.flow.dtype == np.float32


def test_hand_case_counts_correspondences_per_pixel_over_pairs():
    tracks, occluded = _hand_tracks()
    counts = flow_set_from_tracks(tracks, occluded, SIZE).counts
    expected = np.zeros((3, *SIZE), dtype=np.int32)
    expected[0, 2, 1], expected[0, 1, 6] = 2, 1  # [t, y, x]
    expected[1, 3, 3], expected[1, 7, 7] = 2, 1
    expected[2, 6, 6], expected[2, 1, 4] = 2, 1
    assert counts.dtype == np.int32
    np.testing.assert_array_equal(counts, expected)


def test_occluded_frames_give_no_correspondence():
    tracks = np.array([[[2.0, 2.0], [3.0, 3.0], [4.0, 4.0]]])
    occluded = np.array([[False, True, False]])
    flow_set = flow_set_from_tracks(tracks, occluded, SIZE, min_points=0)
    per_pair = {(i, j): int(m.sum()) for (i, j), m in zip(flow_set.pairs.tolist(), flow_set.mask, strict=True)}
    assert per_pair == {(0, 1): 0, (1, 0): 0, (0, 2): 1, (2, 0): 1, (1, 2): 0, (2, 1): 0}


def test_collision_keeps_the_lowest_track_index():
    tracks = np.array([[[2.2, 2.1], [4.0, 2.0]], [[1.8, 1.9], [1.0, 5.0]]])
    occluded = np.zeros((2, 2), dtype=bool)
    first = flow_set_from_tracks(tracks, occluded, SIZE, pairs=np.array([[0, 1]]))
    swapped = flow_set_from_tracks(tracks[::-1], occluded, SIZE, pairs=np.array([[0, 1]]))
    assert first.mask.sum() == swapped.mask.sum() == 1
    np.testing.assert_allclose(first.flow[0, 2, 2], [1.8, -0.1], atol=1e-6)
    np.testing.assert_allclose(swapped.flow[0, 2, 2], [-0.8, 3.1], atol=1e-6)


def test_points_outside_either_frame_are_skipped():
    tracks = np.array(
        [
            [[-0.6, 3.0], [2.0, 3.0]],  # rounds to column -1 in frame 0
            [[3.0, 7.4], [3.0, 7.6]],  # lands at row 7 + 0.2 = 7.2 in frame 1, below the last row
            [[3.0, 3.0], [7.0, 0.0]],  # lands exactly on the corner pixel (7, 0): kept
        ]
    )
    flow_set = flow_set_from_tracks(tracks, np.zeros((3, 2), bool), SIZE, pairs=np.array([[0, 1]]))
    assert np.argwhere(flow_set.mask[0]).tolist() == [[3, 3]]  # [y, x]
    np.testing.assert_allclose(flow_set.flow[0, 3, 3], [4.0, -3.0])


def test_pure_translation_gives_that_translation_at_every_kept_pixel():
    rng = np.random.default_rng(0)
    x_0 = rng.uniform(0.0, 7.0, size=(50, 2))
    shift = np.array([0.37, -0.61])
    tracks = np.stack([x_0, x_0 + shift, x_0 + 2 * shift], axis=1)
    flow_set = flow_set_from_tracks(tracks, np.zeros((50, 3), bool), SIZE)
    assert flow_set.mask.sum() > 0
    for (i, j), flow, mask in zip(flow_set.pairs, flow_set.flow, flow_set.mask, strict=True):
        np.testing.assert_allclose(flow[mask], np.tile((j - i) * shift, (int(mask.sum()), 1)), atol=1e-6)


def test_explicit_pairs_keep_their_order():
    tracks, occluded = _hand_tracks()
    pairs = np.array([[2, 1], [0, 1]])
    flow_set = flow_set_from_tracks(tracks, occluded, SIZE, pairs=pairs)
    assert flow_set.pairs.tolist() == [[2, 1], [0, 1]]
    flow, mask = _expected_arrays(pairs)
    np.testing.assert_array_equal(flow_set.mask, mask)
    np.testing.assert_allclose(flow_set.flow, flow, atol=1e-6)


def test_min_points_leaves_out_thin_pairs():
    tracks, occluded = _hand_tracks()
    flow_set = flow_set_from_tracks(tracks, occluded, SIZE, min_points=2)
    assert flow_set.pairs.tolist() == [[1, 0], [0, 2], [2, 0]]
    assert flow_set.mask.sum(axis=(1, 2)).tolist() == [2, 2, 2]
    assert flow_set.counts.sum() == 6


def test_min_points_nobody_reaches_raises():
    tracks, occluded = _hand_tracks()
    with pytest.raises(ValueError, match="no pair of frames has at least 3 correspondences"):
        flow_set_from_tracks(tracks, occluded, SIZE, min_points=3)


def test_nan_at_occluded_points_raises_no_warning():
    tracks, occluded = _hand_tracks()
    tracks[1, 1] = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flow_set_from_tracks(tracks, occluded, SIZE)


def test_rejects_non_finite_visible_position():
    tracks, occluded = _hand_tracks()
    tracks[2, 1, 0] = NAN
    with pytest.raises(ValueError, match=r"visible track positions must be finite.*track 2 at frame 1"):
        flow_set_from_tracks(tracks, occluded, SIZE)


@pytest.mark.parametrize(
    ("tracks_shape", "occluded_shape", "message"),
    [
        ((3, 3), (3, 3), r"tracks must be \[N, T, 2\]"),
        ((3, 3, 3), (3, 3), r"tracks must be \[N, T, 2\]"),
        ((3, 3, 2), (3, 4), r"occluded must be bool \[N, T\] = \[3, 3\]"),
        ((3, 1, 2), (3, 1), "at least 2 frames"),
    ],
)
def test_rejects_bad_shapes(tracks_shape, occluded_shape, message):
    with pytest.raises(ValueError, match=message):
        flow_set_from_tracks(np.zeros(tracks_shape), np.zeros(occluded_shape, bool), SIZE)


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (np.array([0, 1]), r"pairs must be \[P, 2\]"),
        (np.array([[0, 3]]), r"pairs must index frames in \[0, 3\)"),
        (np.array([[1, 1]]), "two different frames"),
        (np.array([[0, 1], [0, 1]]), "distinct"),
    ],
)
def test_rejects_bad_pairs(pairs, message):
    tracks, occluded = _hand_tracks()
    with pytest.raises(ValueError, match=message):
        flow_set_from_tracks(tracks, occluded, SIZE, pairs=pairs)


def test_round_trips_through_the_flow_store(tmp_path: Path):
    video_group = tmp_path / "videos" / "clip.zarr"
    group = zarr.open_group(str(video_group), mode="w", zarr_format=3)
    group.attrs.update({"num_frames": 3, "size": list(SIZE)})
    tracks, occluded = _hand_tracks()
    flow_set = flow_set_from_tracks(tracks, occluded, SIZE)
    params = {"engine": {"engine": "external", "tracker": "hand"}, "min_points": 1}
    name = flow_set_name(params)
    write_flow_set(video_group, name, flow_set, params)
    loaded = read_flow_set(video_group, name)
    np.testing.assert_array_equal(loaded.pairs, flow_set.pairs)
    np.testing.assert_array_equal(loaded.mask, flow_set.mask)
    np.testing.assert_array_equal(loaded.counts, flow_set.counts)
    np.testing.assert_allclose(loaded.flow, flow_set.flow, atol=4e-3)  # stored as float16


def test_far_off_points_are_skipped_without_overflow():
    tracks = np.array([[[1e30, 2.0], [3.0, 3.0]], [[2.0, 2.0], [-1e30, 3.0]], [[1.0, 1.0], [2.0, 2.0]]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flow_set = flow_set_from_tracks(tracks, np.zeros((3, 2), bool), SIZE, pairs=np.array([[0, 1], [1, 0]]))
    assert np.argwhere(flow_set.mask[0]).tolist() == [[1, 1]]  # [y, x], track 2 only
    assert np.argwhere(flow_set.mask[1]).tolist() == [[2, 2]]
