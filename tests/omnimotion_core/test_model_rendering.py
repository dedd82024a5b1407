"""Rendering: pixel normalisation, depth samples, compositing, correspondences and occlusion."""

import math

import pytest
import torch

from omnimotion_core.model.rendering import (
    blend_samples,
    composite,
    denormalise_pixels,
    expected_depth,
    lift_pixels,
    normalise_pixels,
    occlusion_score,
    sample_depths,
    select_max_weight,
)


class WallModel:
    """Identity bijection and a density wall at depth in [0.9, 1.1] (sigma 50, else 0)."""

    def to_canonical(self, x_i, frame_i, codes):
        return x_i

    def query_canonical(self, u):
        sigma = torch.where((u[..., 2] > 0.9) & (u[..., 2] < 1.1), 50.0, 0.0)
        return torch.zeros(*u.shape[:-1], 3), sigma


def test_normalise_pixels_maps_corners_to_unit_square():
    px = torch.tensor([[0.0, 0.0], [31.0, 15.0], [15.5, 7.5]])
    xy = normalise_pixels(px, (16, 32))
    torch.testing.assert_close(xy, torch.tensor([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0]]))
    torch.testing.assert_close(denormalise_pixels(xy, (16, 32)), px)


def test_sample_depths_linspace_at_inference_and_jitter_within_strata():
    z = sample_depths(3, 5, 0.0, 2.0, None, torch.device("cpu"))
    torch.testing.assert_close(z, torch.linspace(0, 2, 5).expand(3, 5))
    jittered = sample_depths(100, 5, 0.0, 2.0, torch.Generator().manual_seed(0), torch.device("cpu"))
    edges = torch.tensor([0.0, 0.25, 0.75, 1.25, 1.75, 2.0])
    assert (jittered >= edges[:-1]).all() and (jittered <= edges[1:]).all()
    again = sample_depths(100, 5, 0.0, 2.0, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert torch.equal(jittered, again)


def test_lift_pixels_shape_and_values():
    x = lift_pixels(torch.tensor([[0.0, 3.0]]), torch.tensor([[0.5, 1.5]]), (4, 4))
    torch.testing.assert_close(x, torch.tensor([[[-1.0, 1.0, 0.5], [-1.0, 1.0, 1.5]]]))


def test_composite_hand_case():
    sigma = torch.tensor([[math.log(2.0), math.log(2.0), math.log(4.0)]])
    weights = composite(sigma)
    torch.testing.assert_close(weights, torch.tensor([[0.5, 0.25, 0.1875]]), atol=1e-6, rtol=0)
    masked = composite(sigma, num_near_masked=1)
    torch.testing.assert_close(masked, torch.tensor([[0.0, 0.5, 0.375]]), atol=1e-6, rtol=0)


def test_blend_samples_zeroes_samples_mapped_outside_depth_range():
    x_j = torch.tensor([[[1.0, 1.0, 0.5], [3.0, 3.0, 2.5]]])
    weights = torch.tensor([[0.6, 0.4]])
    torch.testing.assert_close(blend_samples(x_j, weights, 0.0, 2.0), torch.tensor([[0.6, 0.6, 0.3]]))


def test_select_max_weight_and_expected_depth():
    values = torch.arange(12.0).reshape(2, 3, 2)
    weights = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.1, 0.4]])
    torch.testing.assert_close(select_max_weight(values, weights), torch.tensor([[2.0, 3.0], [6.0, 7.0]]))
    z = torch.tensor([[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]])
    torch.testing.assert_close(expected_depth(weights, z), torch.tensor([1.1, 0.9]))


@pytest.mark.parametrize(("depth", "expected_occluded"), [(0.92, False), (1.8, True)])
def test_occlusion_score_counts_weight_in_front_of_predicted_depth(depth, expected_occluded):
    score = occlusion_score(
        WallModel(), torch.tensor([[3.0, 3.0]]), torch.tensor([depth]), torch.tensor([0]),
        torch.zeros(1, 1), (8, 8), 32, 0.0, 2.0, 1.1, 0,
    )
    assert (score.item() > 0.99) == expected_occluded
    assert score.item() == pytest.approx(1.0 if expected_occluded else 0.0, abs=1e-3)
