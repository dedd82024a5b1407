"""Loss terms of the test-time optimisation and their weight schedules (each a small pure function)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def gap_weights(gaps: Tensor, max_gap: int) -> Tensor:
    """Pair weight cos((gap - 1) / max_gap * pi / 2): 1 for neighbours, falling with the frame gap.

    gaps: [B] |j - i| >= 1 -> [B].
    """
    return torch.cos((gaps.to(torch.float32) - 1.0) / max_gap * (math.pi / 2.0))


def flow_loss(px_pred: Tensor, px_target: Tensor, pair_weight: Tensor, valid: Tensor) -> Tensor:
    """Weighted L1 in pixels between predicted and flow-given positions, over trusted pixels only.

    Args:
        px_pred: [B, P, 2] predicted (x, y) pixels in frame j.
        px_target: [B, P, 2] flow targets (x, y) pixels.
        pair_weight: [B] weight of each pair (see :func:`gap_weights`).
        valid: bool [B, P], trusted correspondences.

    Returns:
        scalar: sum over valid of pair_weight * mean_xy |px_pred - px_target|, divided by the valid count.
    """
    per_pixel = (px_pred - px_target).abs().mean(dim=-1) * pair_weight[:, None]
    return (per_pixel * valid).sum() / valid.sum().clamp_min(1)


def photometric_loss(rgb_pred: Tensor, rgb_true: Tensor) -> Tensor:
    """Colour MSE plus L1 between the colour differences of consecutive samples of the batch.

    rgb_pred, rgb_true: [M, 3] in [0, 1] -> scalar.
    """
    mse = (rgb_pred - rgb_true).square().mean()
    grad_l1 = (rgb_pred.diff(dim=0) - rgb_true.diff(dim=0)).abs().mean()
    return mse + grad_l1


def photometric_weight(step: int, rate: float, max_weight: float) -> float:
    """min(step * rate, max_weight); the reference ramps 1/5000 per step up to 10."""
    return min(step * rate, max_weight)


def scene_flow_loss(x_prev: Tensor, x: Tensor, x_next: Tensor) -> Tensor:
    """Acceleration L1: |(x - x_prev) - (x_next - x)|, mean over points and coordinates.

    x_prev, x, x_next: [..., 3] the same points in frames i - 1, i, i + 1 -> scalar.
    """
    return ((x - x_prev) - (x_next - x)).abs().mean()


def depth_range_loss(depth: Tensor, near: float, far: float) -> Tensor:
    """Sum of squared excursions of mapped depths outside [near, far], divided by their number.

    depth: [...] -> scalar.
    """
    below = (near - depth).clamp_min(0.0)
    above = (depth - far).clamp_min(0.0)
    return (below.square() + above.square()).sum() / depth.numel()


def distortion_loss(t: Tensor, weights: Tensor) -> Tensor:
    """mip-NeRF-360 distortion: sum_ij w_i w_j |m_i - m_j| + sum_i w_i^2 (t_{i+1} - t_i) / 3, mean over rays.

    Args:
        t: [R, K + 1] interval edges along each ray (m_i are the midpoints).
        weights: [R, K].

    Returns:
        scalar.
    """
    mids = 0.5 * (t[..., 1:] + t[..., :-1])
    spread = (mids[..., :, None] - mids[..., None, :]).abs()
    inter = (weights[..., :, None] * weights[..., None, :] * spread).sum((-2, -1))
    intra = (weights.square() * t.diff(dim=-1)).sum(-1) / 3.0
    return (inter + intra).mean()


def distortion_weight(step: int, start: int, rate: float, max_weight: float) -> float:
    """0 until ``start``, then min((step - start) * rate, max_weight)."""
    return min(max(step - start, 0) * rate, max_weight)
