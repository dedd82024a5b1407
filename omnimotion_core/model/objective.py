"""The training objective: one batch through the model to the weighted sum of all loss terms."""

from __future__ import annotations

import math

import torch
from torch import Tensor

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
from omnimotion_core.model.omnimotion import OmniMotion
from omnimotion_core.model.rendering import (
    blend_samples,
    count_near_masked,
    lift_pixels,
    map_to_frames,
    project,
    render_rays,
    sample_depths,
)
from omnimotion_core.model.sampling import Batch

LOSS_TERMS = ("total", "flow", "photometric", "scene_flow", "depth_range", "distortion")
"""Names of the terms :func:`compute_losses` returns, in the order a fit records them."""


def compute_losses(
    model: OmniMotion, batch: Batch, step: int, size: tuple[int, int], generator: torch.Generator
) -> dict[str, Tensor]:
    """All loss terms of one step, weighted by the model's configuration and the step's schedules.

    Rays of frame i are mapped to canonical space once; the canonical samples then go through ONE inverse
    pass that serves both the target frames j and, for the scene-flow term, the frames i - 1 and i + 1.

    Args:
        model: the model (its config supplies rendering and loss settings).
        batch: B pairs x P pixels, on the model's device.
        step: optimisation step (drives the schedules).
        size: (H, W) of the frames.
        generator: source of the depth jitter.

    Returns:
        ``total`` (to minimise) and each unweighted term: ``flow``, ``photometric``, ``scene_flow``,
        ``depth_range``, ``distortion``; all scalars.
    """
    rendering, weights_config = model.config.rendering, model.config.losses
    num_pairs, num_pixels, _ = batch.px_i.shape
    num_samples = rendering.num_samples
    frame_i = batch.frame_i.repeat_interleave(num_pixels)
    frame_j = batch.frame_j.repeat_interleave(num_pixels)
    z = sample_depths(num_pairs * num_pixels, num_samples, rendering.near, rendering.far, generator, batch.px_i.device)
    x_i = lift_pixels(batch.px_i.reshape(-1, 2), z, size)
    masked = count_near_masked(rendering, step)
    codes = model.latent_codes()
    u, colour, weights = render_rays(model, x_i, frame_i, codes, masked)

    num_smooth = math.ceil(num_pixels * weights_config.scene_flow_fraction)
    if weights_config.scene_flow_weight == 0:
        num_smooth = 0
    inner = (batch.frame_i >= 1) & (batch.frame_i <= model.num_frames - 2)
    u_smooth = u.reshape(num_pairs, num_pixels, num_samples, 3)[inner, :num_smooth].reshape(-1, num_samples, 3)
    frame_smooth = batch.frame_i[inner].repeat_interleave(num_smooth)
    x_all = map_to_frames(
        model,
        torch.cat([u, u_smooth, u_smooth]),
        torch.cat([frame_j, frame_smooth - 1, frame_smooth + 1]),
        codes,
    )
    x_j, x_prev, x_next = torch.split(x_all, [len(u), len(u_smooth), len(u_smooth)])

    px_pred, _ = project(blend_samples(x_j, weights, rendering.near, rendering.far), size)
    pair_weight = gap_weights((batch.frame_j - batch.frame_i).abs(), batch.max_gap)
    terms = {"flow": flow_loss(px_pred.reshape(num_pairs, num_pixels, 2), batch.px_j, pair_weight, batch.valid)}

    w_rgb = photometric_weight(step, weights_config.photometric_rate, weights_config.photometric_max_weight)
    if weights_config.photometric_max_weight > 0:
        if batch.rgb_i is None:
            raise ValueError("compute_losses: the photometric loss is on but the batch has no colours (no video)")
        rgb_pred = (weights[..., None] * colour).sum(dim=-2)
        terms["photometric"] = photometric_loss(rgb_pred, batch.rgb_i.reshape(-1, 3))
    else:
        terms["photometric"] = x_i.new_zeros(())

    if len(u_smooth) > 0:
        x_smooth = x_i.reshape(num_pairs, num_pixels, num_samples, 3)[inner, :num_smooth].reshape(-1, num_samples, 3)
        terms["scene_flow"] = scene_flow_loss(x_prev, x_smooth, x_next)
    else:
        terms["scene_flow"] = x_i.new_zeros(())

    terms["depth_range"] = depth_range_loss(x_j[..., 2], rendering.near, rendering.far)

    w_distortion = distortion_weight(
        step, weights_config.distortion_start, weights_config.distortion_rate, weights_config.distortion_max_weight
    )
    if w_distortion > 0:
        in_range = (x_j[..., 2] >= rendering.near) & (x_j[..., 2] <= rendering.far)
        terms["distortion"] = distortion_loss(torch.cat([z, z[:, -1:]], dim=1), weights * in_range)
    else:
        terms["distortion"] = x_i.new_zeros(())

    terms["total"] = (
        weights_config.flow_weight * terms["flow"]
        + w_rgb * terms["photometric"]
        + weights_config.scene_flow_weight * terms["scene_flow"]
        + weights_config.depth_range_weight * terms["depth_range"]
        + w_distortion * terms["distortion"]
    )
    return terms
