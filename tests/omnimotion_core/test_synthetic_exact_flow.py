"""Exact correspondences of a synthetic video as a FlowSet, at the scene's resolution and at a processed one."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from omnimotion_core.flow_set import flow_set_nbytes
from omnimotion_core.synthetic import (
    SYNTHETIC_PRESETS,
    all_ordered_pairs,
    exact_flow_set,
    generate_synthetic_video,
    ground_truth_flow,
    ground_truth_flow_at,
    resized_pixel_centres,
    surface_layer_at,
    to_tapvid,
)
from omnimotion_core.synthetic.tracks import pixel_grid

SMALL = SYNTHETIC_PRESETS["small"].video  # 12 frames, 64x64, 3 objects, 64 tracks


@pytest.fixture(scope="module")
def video():
    return generate_synthetic_video(SMALL, seed=3, index=1)


def test_all_ordered_pairs_every_pair_once() -> None:
    pairs = all_ordered_pairs(5)
    assert len(pairs) == 20
    assert {tuple(p) for p in pairs} == {(i, j) for i in range(5) for j in range(5) if i != j}
    assert tuple(pairs[0]) == (0, 1) and tuple(pairs[1]) == (1, 0)


def test_point_variant_at_pixel_centres_is_ground_truth_flow(video) -> None:
    scene = video.scene
    flow, visible = ground_truth_flow_at(scene, 2, 9, pixel_grid(scene))
    expected_flow, expected_visible = ground_truth_flow(scene, 2, 9)
    np.testing.assert_array_equal(flow.astype(np.float32).reshape(expected_flow.shape), expected_flow)
    np.testing.assert_array_equal(visible.reshape(expected_visible.shape), expected_visible)


def test_point_variant_follows_the_tracks_at_their_query_points(video) -> None:
    """At the sampled tracks' (off-grid) query positions the flow is exactly their displacement."""
    tracks = video.tracks
    for j in (0, 5, 11):
        for q in np.unique(tracks.query_frames):
            rows = np.nonzero(tracks.query_frames == q)[0]
            flow, visible = ground_truth_flow_at(video.scene, int(q), j, tracks.positions[rows, q],
                                                 layers=tracks.layers[rows])
            np.testing.assert_allclose(flow, tracks.positions[rows, j] - tracks.positions[rows, q], atol=1e-9)
            np.testing.assert_array_equal(visible, ~tracks.occluded[rows, j])


def test_at_the_scene_resolution_it_equals_ground_truth_flow(video) -> None:
    flow_set = exact_flow_set(video)
    scene = video.scene
    assert flow_set.size == (scene.height, scene.width) and flow_set.num_frames == scene.num_frames
    np.testing.assert_array_equal(flow_set.pairs, all_ordered_pairs(scene.num_frames))
    for row in (0, 1, 37, len(flow_set.pairs) - 1):
        i, j = map(int, flow_set.pairs[row])
        expected_flow, expected_visible = ground_truth_flow(scene, i, j)
        # float16 as stored (rounded once from float64, so within half a float16 step of the float32 flow)
        np.testing.assert_allclose(flow_set.flow[row].astype(np.float32), expected_flow, rtol=2**-11, atol=1e-6)
        np.testing.assert_array_equal(flow_set.mask[row], expected_visible)
    counts = np.zeros_like(flow_set.counts)
    for row, (i, _) in enumerate(flow_set.pairs):
        counts[i] += flow_set.mask[row]
    np.testing.assert_array_equal(flow_set.counts, counts)


def test_memory_is_a_stored_flow_sets(video) -> None:
    flow_set = exact_flow_set(video, (96, 80))
    assert flow_set.flow.dtype == np.float16 and flow_set.mask.dtype == np.bool_ and flow_set.counts.dtype == np.int32
    assert flow_set.nbytes == flow_set_nbytes(len(flow_set.pairs), flow_set.num_frames, (96, 80), flow_itemsize=2)


def test_resized_pixel_centres_follow_cv2_resize() -> None:
    """A linear ramp resized by cv2 reads, at each resized pixel, the ramp's value at the mapped scene position."""
    video = generate_synthetic_video(SMALL, seed=0)
    xy, scale = resized_pixel_centres(video.scene, (128, 96))
    assert scale == (64 / 96, 64 / 128)
    ramp = np.tile(np.arange(64, dtype=np.float32), (64, 1))  # value = x
    up = cv2.resize(ramp, (96, 128), interpolation=cv2.INTER_LINEAR)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] <= 63)  # cv2 clamps at the border
    np.testing.assert_allclose(up.ravel()[inside], xy[inside, 0], atol=1e-4)
    down = cv2.resize(np.tile(np.arange(64, dtype=np.float32)[:, None], (1, 64)), (32, 32), interpolation=cv2.INTER_AREA)
    xy_down, _ = resized_pixel_centres(video.scene, (32, 32))
    np.testing.assert_allclose(down.ravel(), xy_down[:, 1], atol=1e-4)  # value = y


def test_at_twice_the_resolution_it_matches_the_tapvid_tracks(video) -> None:
    """At 2x, the flow read at each TAP-Vid track's query point (scene position p, processed position
    2 p + 0.5 under cv2's convention) equals the track's displacement scaled by 2, wherever the four
    processed pixels around it show the track's own layer (the flow is affine on a layer, so bilinear
    reading is exact up to float16); the mask there says what the track's occlusion says."""
    scene = video.scene
    entry = to_tapvid(video)
    points = entry["points"].astype(np.float64) * np.array([scene.width, scene.height])  # TAP-Vid pixels
    flow_set = exact_flow_set(video, (2 * scene.height, 2 * scene.width))
    rows = {tuple(map(int, pair)): row for row, pair in enumerate(flow_set.pairs)}
    checked = agreed = 0
    for track, q in enumerate(video.tracks.query_frames):
        q = int(q)
        processed = 2 * points[track, q] + 0.5
        x0, y0 = np.floor(processed).astype(int)
        fx, fy = processed - (x0, y0)
        corners = np.array([(x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1)])
        if corners.min() < 0 or corners[:, 0].max() >= flow_set.size[1] or corners[:, 1].max() >= flow_set.size[0]:
            continue
        if np.any(surface_layer_at(scene, q, (corners + 0.5) / 2 - 0.5) != video.tracks.layers[track]):
            continue
        weights = np.array([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy])
        for j in range(scene.num_frames):
            if j == q:
                continue
            row = rows[(q, j)]
            flow = flow_set.flow[row, corners[:, 1], corners[:, 0]].astype(np.float64)
            np.testing.assert_allclose(weights @ flow, 2 * (points[track, j] - points[track, q]), atol=0.05)
            mask = flow_set.mask[row, corners[:, 1], corners[:, 0]]
            if mask.all() or not mask.any():
                checked += 1
                agreed += bool(mask[0]) == (not entry["occluded"][track, j])
    assert checked > 300
    assert agreed / checked > 0.98
