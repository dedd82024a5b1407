"""Tests for omnimotion_core.flow.engines: accuracy on known motion and input/output checks."""

import cv2
import numpy as np
import pytest
import skimage.data

from omnimotion_core.flow import engines
from omnimotion_core.flow.engines import DisConfig, FarnebackConfig, FlowEngineConfig, compute_flow

SIZE = 64
MARGIN = 8


def _warped_pair(shift_xy: tuple[float, float], angle_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A textured 64x64 crop, the same crop rotated about its centre and shifted, and the true flow."""
    frame_i = np.ascontiguousarray(skimage.data.astronaut()[100 : 100 + SIZE, 180 : 180 + SIZE])
    affine = cv2.getRotationMatrix2D((SIZE / 2, SIZE / 2), angle_deg, 1.0)
    affine[:, 2] += shift_xy
    frame_j = cv2.warpAffine(frame_i, affine, (SIZE, SIZE), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    x_i, y_i = np.meshgrid(np.arange(SIZE, dtype=np.float64), np.arange(SIZE, dtype=np.float64))
    x_j = affine[0, 0] * x_i + affine[0, 1] * y_i + affine[0, 2]
    y_j = affine[1, 0] * x_i + affine[1, 1] * y_i + affine[1, 2]
    return frame_i, frame_j, np.stack([x_j - x_i, y_j - y_i], axis=-1)


def _interior_error(flow: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return np.linalg.norm(flow - truth, axis=-1)[MARGIN:-MARGIN, MARGIN:-MARGIN]


def test_dis_flow_is_within_half_pixel_of_known_shift_and_rotation():
    frame_i, frame_j, truth = _warped_pair((2.3, -1.7), 2.0)
    flow = compute_flow(frame_i, frame_j, FlowEngineConfig())
    assert flow.dtype == np.float32 and flow.shape == (SIZE, SIZE, 2)
    error = _interior_error(flow, truth)
    assert error.max() < 0.5
    assert np.median(error) < 0.1


def test_farneback_flow_is_within_half_pixel_of_known_shift_and_rotation_for_most_pixels():
    frame_i, frame_j, truth = _warped_pair((2.3, -1.7), 2.0)
    error = _interior_error(compute_flow(frame_i, frame_j, FlowEngineConfig(engine="farneback")), truth)
    assert np.percentile(error, 95) < 0.5
    assert np.median(error) < 0.25


def test_flow_points_from_frame_i_to_frame_j():
    frame_i, frame_j, _ = _warped_pair((3.0, 0.0), 0.0)
    forward = compute_flow(frame_i, frame_j, FlowEngineConfig())
    backward = compute_flow(frame_j, frame_i, FlowEngineConfig())
    interior = (slice(MARGIN, -MARGIN), slice(MARGIN, -MARGIN))
    np.testing.assert_allclose(np.median(forward[interior], axis=(0, 1)), [3.0, 0.0], atol=0.1)
    np.testing.assert_allclose(np.median(backward[interior], axis=(0, 1)), [-3.0, 0.0], atol=0.1)


def test_dis_parameter_overrides_change_the_flow():
    frame_i, frame_j, _ = _warped_pair((2.3, -1.7), 2.0)
    preset = compute_flow(frame_i, frame_j, FlowEngineConfig(dis=DisConfig(preset="fast")))
    no_refinement = compute_flow(
        frame_i, frame_j, FlowEngineConfig(dis=DisConfig(preset="fast", variational_refinement_iterations=0))
    )
    assert not np.allclose(preset, no_refinement)


def test_rejects_frames_of_different_sizes():
    frame = np.zeros((32, 32, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"same size for pair \(2, 5\).*\(32, 32, 3\) and \(32, 40, 3\)"):
        compute_flow(frame, np.zeros((32, 40, 3), dtype=np.uint8), FlowEngineConfig(), pair=(2, 5))


def test_rejects_frames_that_are_not_uint8_rgb():
    with pytest.raises(ValueError, match=r"uint8 \[H, W, 3\].*float32 \(32, 32, 3\)"):
        compute_flow(np.zeros((32, 32, 3), np.float32), np.zeros((32, 32, 3), np.float32), FlowEngineConfig())


def test_nan_from_the_engine_raises_naming_the_pair(monkeypatch):
    def nan_flow(frame_i: np.ndarray, frame_j: np.ndarray, config: DisConfig) -> np.ndarray:
        flow = np.zeros((*frame_i.shape[:2], 2), dtype=np.float32)
        flow[3, 4] = np.nan
        return flow

    monkeypatch.setattr(engines, "_run_dis", nan_flow)
    frame = np.zeros((32, 32, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"'dis-fast' returned NaN or infinite flow at 1 pixels for pair \(0, 7\)"):
        compute_flow(frame, frame, FlowEngineConfig(), pair=(0, 7))


def test_unknown_engine_or_preset_is_refused():
    with pytest.raises(ValueError, match="'dis' or 'farneback', got 'raft'"):
        FlowEngineConfig(engine="raft")
    with pytest.raises(ValueError, match="got 'slow'"):
        DisConfig(preset="slow")
    with pytest.raises(ValueError, match="pyr_scale"):
        FarnebackConfig(pyr_scale=1.5)
