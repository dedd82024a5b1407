"""Loss terms and schedules on hand-computed cases."""

import math

import pytest
import torch

from omnimotion_core.model.losses import (
    depth_range_loss,
    distortion_loss,
    distortion_weight,
    flow_loss,
    gap_weights,
    photometric_loss,
    photometric_weight,
    scene_flow_loss,
)


def test_gap_weights_fall_with_gap():
    weights = gap_weights(torch.tensor([1, 3, 5]), max_gap=4)
    torch.testing.assert_close(weights, torch.tensor([1.0, math.cos(math.pi / 4), 0.0]), atol=1e-6, rtol=0)


def test_flow_loss_uses_trusted_pixels_and_pair_weights():
    pred = torch.tensor([[[1.0, 2.0], [10.0, 10.0]], [[0.0, 0.0], [0.0, 0.0]]])
    target = torch.tensor([[[2.0, 4.0], [0.0, 0.0]], [[1.0, 1.0], [4.0, 0.0]]])
    valid = torch.tensor([[True, False], [True, True]])
    # trusted per-pixel L1 means: 1.5 (w 1), 1.0 and 2.0 (w 0.5) -> (1.5 + 0.5 + 1.0) / 3
    loss = flow_loss(pred, target, torch.tensor([1.0, 0.5]), valid)
    assert loss.item() == pytest.approx(1.0)


def test_photometric_loss_hand_case():
    pred = torch.tensor([[0.5, 0.5, 0.5], [1.0, 1.0, 1.0]])
    true = torch.tensor([[0.0, 0.5, 0.5], [1.0, 1.0, 1.0]])
    # mse = 0.25 / 6; diffs: pred (0.5, 0.5, 0.5), true (1.0, 0.5, 0.5) -> l1 mean 0.5 / 3
    assert photometric_loss(pred, true).item() == pytest.approx(0.25 / 6 + 0.5 / 3)


def test_weight_schedules():
    assert photometric_weight(2500, 1 / 5000, 10.0) == pytest.approx(0.5)
    assert photometric_weight(10**6, 1 / 5000, 10.0) == 10.0
    assert distortion_weight(39000, 40000, 1 / 2000, 10.0) == 0.0
    assert distortion_weight(41000, 40000, 1 / 2000, 10.0) == pytest.approx(0.5)


def test_scene_flow_loss_is_zero_for_constant_velocity():
    x = torch.tensor([[0.0, 0.0, 1.0]])
    assert scene_flow_loss(x - 0.1, x, x + 0.1).item() == pytest.approx(0.0, abs=1e-7)
    # displacements (0.1, 0, 0) then (0.4, 0, 0) -> |-0.3| / 3 coordinates
    assert scene_flow_loss(x - torch.tensor([0.1, 0, 0]), x, x + torch.tensor([0.4, 0, 0])).item() == pytest.approx(0.1)


def test_depth_range_loss_hand_case():
    depth = torch.tensor([-0.5, 1.0, 2.5, 3.0])
    assert depth_range_loss(depth, 0.0, 2.0).item() == pytest.approx((0.25 + 0.25 + 1.0) / 4)


def test_distortion_loss_hand_case():
    t = torch.tensor([[0.0, 1.0, 2.0]])
    w = torch.tensor([[0.5, 0.5]])
    # inter: 2 * 0.25 * |0.5 - 1.5| = 0.5; intra: (0.25 + 0.25) / 3
    assert distortion_loss(t, w).item() == pytest.approx(0.5 + 0.5 / 3)
