"""Tests for omnimotion_core.flow.consistency: round-trip error, in-frame test and the trusted mask."""

import cv2
import numpy as np
import pytest
import skimage.data

from omnimotion_core.flow.consistency import (
    ConsistencyConfig,
    color_distance,
    consistency_mask,
    cycle_error,
    lands_in_frame,
)
from omnimotion_core.flow.engines import FlowEngineConfig, compute_flow

SIZE = 64


def _occluder_flows(shift: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact flows of a static background with a 20x20 square at x in [10, 30) moving ``shift`` px right.

    In frame j the square covers x in [10 + shift, 30 + shift): background pixels of frame i with
    x in [30, 30 + shift) are hidden in frame j.
    """
    flow_ij = np.zeros((SIZE, SIZE, 2), dtype=np.float32)
    flow_ji = np.zeros((SIZE, SIZE, 2), dtype=np.float32)
    flow_ij[20:40, 10:30, 0] = shift
    flow_ji[20:40, 10 + shift : 30 + shift, 0] = -shift
    return flow_ij, flow_ji


def test_cycle_error_is_zero_for_opposite_uniform_flows_and_adds_up_otherwise():
    forward = np.full((SIZE, SIZE, 2), [1.5, -2.0], dtype=np.float32)
    np.testing.assert_allclose(cycle_error(forward, -forward), 0.0, atol=1e-5)
    np.testing.assert_allclose(cycle_error(forward, np.zeros_like(forward)), 2.5, atol=1e-5)


def test_mask_is_false_where_the_pixel_is_hidden_in_the_other_frame():
    flow_ij, flow_ji = _occluder_flows(shift=10)
    mask = consistency_mask(flow_ij, flow_ji, gap=2, config=ConsistencyConfig())
    assert not mask[20:40, 30:40].any()  # background covered by the square in frame j
    assert mask[20:40, 10:30].all()  # the square itself, seen in both frames
    assert mask[:20].all() and mask[40:].all()  # background away from the square
    np.testing.assert_allclose(cycle_error(flow_ij, flow_ji)[20:40, 30:40], 10.0)


def test_threshold_is_three_absolute_pixels_whatever_the_flow_magnitude():
    for magnitude in (0.0, 20.0):
        flow_ij = np.full((SIZE, SIZE, 2), [magnitude, 0.0], dtype=np.float32)
        for error, kept in ((2.9, True), (3.1, False)):
            flow_ji = np.full((SIZE, SIZE, 2), [error - magnitude, 0.0], dtype=np.float32)
            mask = consistency_mask(flow_ij, flow_ji, gap=5, config=ConsistencyConfig())
            assert mask[:, : SIZE - 20].all() == kept
    assert ConsistencyConfig().max_cycle_error == 3.0


def test_correspondences_landing_outside_frame_j_are_rejected():
    flow_ij = np.full((SIZE, SIZE, 2), [6.0, -2.0], dtype=np.float32)
    inside = lands_in_frame(flow_ij)
    assert not inside[:, SIZE - 6 :].any() and not inside[:2].any()
    assert inside[2:, : SIZE - 6].all()
    mask = consistency_mask(flow_ij, -flow_ij, gap=3, config=ConsistencyConfig())
    np.testing.assert_array_equal(mask, inside)


def test_adjacent_pairs_trust_every_in_frame_pixel_by_default_and_the_cycle_check_on_request():
    flow_ij, flow_ji = _occluder_flows(shift=10)
    flow_ij[0:5, :, 1] = -3.0  # top rows leave the frame
    adjacent = consistency_mask(flow_ij, flow_ji, gap=1, config=ConsistencyConfig())
    np.testing.assert_array_equal(adjacent, lands_in_frame(flow_ij))
    assert adjacent[20:40, 30:40].all()
    cycle = consistency_mask(flow_ij, flow_ji, gap=1, config=ConsistencyConfig(adjacent_pairs="cycle"))
    assert not cycle[20:40, 30:40].any()


def test_dis_flows_of_a_shifted_texture_are_consistent_inside_and_rejected_where_they_leave():
    frame_i = np.ascontiguousarray(skimage.data.astronaut()[100 : 100 + SIZE, 180 : 180 + SIZE])
    shift = np.float32([[1, 0, 5.0], [0, 1, 0.0]])
    frame_j = cv2.warpAffine(frame_i, shift, (SIZE, SIZE), borderMode=cv2.BORDER_REFLECT)
    flow_ij = compute_flow(frame_i, frame_j, FlowEngineConfig())
    flow_ji = compute_flow(frame_j, frame_i, FlowEngineConfig())
    mask = consistency_mask(flow_ij, flow_ji, gap=2, config=ConsistencyConfig())
    assert mask[8:-8, 8 : SIZE - 12].mean() > 0.98
    assert not mask[:, SIZE - 3 :].any()


def test_appearance_check_rejects_recoloured_matches_from_gap_three_on_only():
    frame_i = np.full((SIZE, SIZE, 3), 100, dtype=np.uint8)
    frame_j = frame_i.copy()
    frame_j[10:20, 10:20] = (100, 200, 100)  # green differs by 100 / 255 = 0.39 > 0.3
    frame_j[40:50, 40:50] = (100, 150, 100)  # 50 / 255 = 0.2 < 0.3
    still = np.zeros((SIZE, SIZE, 2), dtype=np.float32)
    np.testing.assert_allclose(color_distance(frame_i, frame_j, still)[15, 15], 100 / 255, rtol=1e-5)
    config = ConsistencyConfig(appearance_check=True)
    long_gap = consistency_mask(still, still, gap=3, config=config, frames_ij=(frame_i, frame_j))
    assert not long_gap[10:20, 10:20].any() and long_gap[40:50, 40:50].all() and long_gap.sum() == SIZE**2 - 100
    assert consistency_mask(still, still, gap=2, config=config, frames_ij=(frame_i, frame_j)).all()
    assert consistency_mask(still, still, gap=3, config=ConsistencyConfig(), frames_ij=(frame_i, frame_j)).all()
    with pytest.raises(ValueError, match="appearance check is on .* no frames"):
        consistency_mask(still, still, gap=3, config=config)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="max_cycle_error must be > 0"):
        ConsistencyConfig(max_cycle_error=0.0)
    with pytest.raises(ValueError, match="got 'all'"):
        ConsistencyConfig(adjacent_pairs="all")
