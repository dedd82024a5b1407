"""Motion-derived start of the surface model's depth: what moves unlike the camera starts nearer."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from omnimotion_core.flow_set import FlowSet
from omnimotion_core.model.motion_depth import fit_similarity, motion_depth_offsets, shortest_gap_row
from omnimotion_core.model.rendering import normalise_pixels
from omnimotion_core.model.surface_model import SurfaceMotion
from omnimotion_core.model.trainer import Trainer
from tests.omnimotion_core.test_model_surface import small_surface_config

SIZE = 32
SQUARE = (slice(8, 20), slice(10, 22))
"""Rows and columns of the object that moves 6 px per frame to the right of the camera's motion."""


def camera_flow(gap: int) -> np.ndarray:
    """A pan of (2, -1) px per frame and a zoom of 1 % per frame about the origin: [H, W, 2]."""
    ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    zoom = 1.01**gap - 1.0
    return np.stack([zoom * xs + 2.0 * gap, zoom * ys - 1.0 * gap], axis=-1)


def object_flow_set(num_frames: int = 4, gaps: tuple[int, ...] = (1, 2, 3)) -> FlowSet:
    """Pairs (i, i +- gap); the square moves 6 px per frame more than the camera's pan; every pixel trusted."""
    pairs = np.array([(i, j) for i in range(num_frames) for j in range(num_frames) if abs(j - i) in gaps])
    flow = np.zeros((len(pairs), SIZE, SIZE, 2), np.float32)
    for row, (i, j) in enumerate(pairs):
        flow[row] = camera_flow(j - i)
        flow[row][SQUARE] += (6.0 * (j - i), 0.0)
    mask = np.ones(flow.shape[:3], bool)
    counts = np.zeros((num_frames, SIZE, SIZE), np.int32)
    for row, (i, _) in enumerate(pairs):
        counts[i] += mask[row]
    return FlowSet(pairs=pairs, flow=flow, mask=mask, counts=counts)


def test_fit_similarity_recovers_the_camera_despite_outliers():
    generator = np.random.default_rng(0)
    points = generator.uniform(0, 64, (400, 2))
    angle, scale = 0.05, 1.02
    a, b = scale * np.cos(angle), scale * np.sin(angle)
    targets = np.stack([a * points[:, 0] - b * points[:, 1] + 3.0, b * points[:, 0] + a * points[:, 1] - 2.0], 1)
    targets[:80] += generator.uniform(5, 15, (80, 2))  # 20 % independently moving
    np.testing.assert_allclose(fit_similarity(points, targets), [a, b, 3.0, -2.0], atol=0.02)


def test_fit_similarity_checks_its_input():
    with pytest.raises(ValueError, match=r"\[M, 2\]"):
        fit_similarity(np.zeros((5, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="at least 2"):
        fit_similarity(np.zeros((1, 2)), np.zeros((1, 2)))


def test_the_moving_square_starts_nearer_and_the_background_flat():
    offsets = motion_depth_offsets(object_flow_set(), resolution=SIZE, offset=0.3, scale=3.0)
    assert offsets.shape == (4, SIZE, SIZE)
    inner = (slice(SQUARE[0].start + 3, SQUARE[0].stop - 3), slice(SQUARE[1].start + 3, SQUARE[1].stop - 3))
    np.testing.assert_allclose(offsets[:, inner[0], inner[1]], -0.3 * np.tanh(6.0 / 3.0), atol=1e-3)
    background = np.ones((SIZE, SIZE), bool)
    background[SQUARE[0].start - 3 : SQUARE[0].stop + 3, SQUARE[1].start - 3 : SQUARE[1].stop + 3] = False
    assert np.abs(offsets[:, background]).max() < 0.01


def test_a_longer_gap_is_read_as_motion_per_frame():
    """With only gap-2 and gap-3 pairs the square's 12 px per pair is 6 px per frame: the same offsets."""
    only_gap_one = motion_depth_offsets(object_flow_set(gaps=(1,)), resolution=16, offset=0.3, scale=3.0)
    longer = motion_depth_offsets(object_flow_set(gaps=(2, 3)), resolution=16, offset=0.3, scale=3.0)
    np.testing.assert_allclose(longer, only_gap_one, atol=5e-3)  # 2 % of the offset: the fit's outlier bias


def test_shortest_gap_row_prefers_the_nearest_then_the_later_frame():
    pairs = np.array([[2, 0], [2, 5], [2, 1], [2, 3], [4, 3]])
    assert shortest_gap_row(pairs, 2) == 3  # (2, 1) and (2, 3) tie at gap 1: the later frame
    assert shortest_gap_row(pairs, 4) == 4
    with pytest.raises(ValueError, match="no pair from frame 0"):
        shortest_gap_row(pairs, 0)


def test_motion_depth_offsets_rejects_a_negative_offset():
    with pytest.raises(ValueError, match="offset >= 0"):
        motion_depth_offsets(object_flow_set(), resolution=8, offset=-0.1, scale=3.0)


def test_the_trainer_starts_the_surface_model_from_motion_depth():
    config = small_surface_config(steps=1)
    config = replace(config, surface=replace(config.surface, depth_resolution=SIZE))
    flow_set = object_flow_set()
    centre = normalise_pixels(torch.tensor([[16.0, 14.0], [2.0, 28.0]]), (SIZE, SIZE))  # (x, y): square, background
    depth = Trainer(config, flow_set, None).model.depth_at(centre, torch.tensor([1, 1]))
    initial = config.surface.initial_depth
    expected = initial - config.surface.motion_depth_offset * np.tanh(6.0 / config.surface.motion_depth_scale)
    torch.testing.assert_close(depth, torch.tensor([expected, initial], dtype=torch.float32), atol=5e-3, rtol=0)
    flat = replace(config, surface=replace(config.surface, motion_depth_offset=0.0))
    torch.testing.assert_close(Trainer(flat, flow_set, None).model.depth_at(centre, torch.tensor([1, 1])),
                               torch.full((2,), initial))


def test_offset_depth_checks_the_shape():
    model = SurfaceMotion(small_surface_config(), num_frames=4)
    with pytest.raises(ValueError, match=r"offsets must be \[4, 8, 8\]"):
        model.offset_depth(torch.zeros(4, 16, 16))
