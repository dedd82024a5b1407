"""Training objective of the ``surface`` representation: one batch to the weighted sum of its loss terms."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from omnimotion_core.model.losses import depth_range_loss, flow_loss, gap_weights, scene_flow_loss
from omnimotion_core.model.match_sampling import MatchBatch
from omnimotion_core.model.rendering import denormalise_pixels, inside_frame, normalise_pixels
from omnimotion_core.model.sampling import Batch
from omnimotion_core.model.surface_model import SurfaceMotion

SURFACE_LOSS_TERMS = ("total", "flow", "surface", "occlusion", "scene_flow", "anywhere_smoothness", "depth_range",
                      "match", "match_surface")
"""Names of the terms :func:`compute_surface_losses` returns, in the order a fit records them."""


def compute_surface_losses(
    model: SurfaceMotion, batch: Batch, size: tuple[int, int], generator: torch.Generator,
    matches: MatchBatch | None = None,
) -> dict[str, Tensor]:
    """All loss terms of one step of the surface model.

    Every pixel of frame i is lifted to its depth, mapped to canonical space once, and the canonical points
    go through ONE inverse pass serving the target frames j and, for the scene-flow term, frames i - 1 and
    i + 1 (of the first ``scene_flow_fraction`` of each pair's pixels), and for the same pixels a random
    frame k with k - 1 and k + 1 (``anywhere_smoothness``: the acceleration is also kept small in frames
    where the point is hidden or outside the frame, which no flow supervises).

    Args:
        model: the model (its config supplies the loss settings).
        batch: B pairs x P pixels, on the model's device; ``valid`` False marks untrusted pixels.
        size: (H, W) of the frames.
        generator: source of the random frames of the ``anywhere_smoothness`` term.
        matches: long-gap matches of this step (``match_weight`` applies), or None.

    Returns:
        ``total`` and each unweighted term: ``flow`` (pixels; trusted pixels, and untrusted ones whose target
        leaves the frame, at gaps <= ``outside_flow_max_gap`` unless None), ``surface`` (|z_j - D_j| at the flow target,
        trusted pixels), ``occlusion`` (hinge; untrusted pixels whose target and prediction lie inside frame j,
        at gaps <= ``occlusion_max_gap``), ``scene_flow``, ``anywhere_smoothness``, ``depth_range``, ``match`` (pixels,
        mean over the matches) and ``match_surface`` (|z_j - D_j| at the match targets); all scalars (the match
        terms 0 without matches).
    """
    surface, losses = model.config.surface, model.config.losses
    num_pairs, num_pixels, _ = batch.px_i.shape
    frame_i = batch.frame_i.repeat_interleave(num_pixels)
    frame_j = batch.frame_j.repeat_interleave(num_pixels)
    x_i = model.lift(normalise_pixels(batch.px_i.reshape(-1, 2), size), frame_i)
    u = model.to_canonical(x_i, frame_i)

    num_smooth = 0 if losses.scene_flow_weight == 0 else math.ceil(num_pixels * losses.scene_flow_fraction)
    inner = (batch.frame_i >= 1) & (batch.frame_i <= model.num_frames - 2)
    u_smooth = u.reshape(num_pairs, num_pixels, 3)[inner, :num_smooth].reshape(-1, 3)
    frame_smooth = batch.frame_i[inner].repeat_interleave(num_smooth)
    num_anywhere = 0 if surface.anywhere_smoothness_weight == 0 else num_pairs * num_smooth
    u_anywhere = u.reshape(num_pairs, num_pixels, 3)[:, :num_smooth].reshape(-1, 3)[:num_anywhere]
    frame_anywhere = torch.randint(1, model.num_frames - 1, (num_anywhere,), generator=generator).to(u.device)
    x_all = model.from_canonical(
        torch.cat([u, u_smooth, u_smooth, u_anywhere, u_anywhere, u_anywhere]),
        torch.cat([frame_j, frame_smooth - 1, frame_smooth + 1, frame_anywhere - 1, frame_anywhere, frame_anywhere + 1]),
    )
    x_j, x_prev, x_next, x_before, x_at, x_after = torch.split(
        x_all, [len(u), len(u_smooth), len(u_smooth), num_anywhere, num_anywhere, num_anywhere]
    )

    gaps = (batch.frame_j - batch.frame_i).abs()
    pair_weight = gap_weights(gaps, batch.max_gap) if surface.gap_weighting else torch.ones_like(gaps, dtype=x_j.dtype)
    gap = gaps.repeat_interleave(num_pixels).reshape(num_pairs, num_pixels)
    target_inside = inside_frame(batch.px_j, size)
    leaving = ~batch.valid & ~target_inside
    if surface.outside_flow_max_gap is not None:
        leaving &= gap <= surface.outside_flow_max_gap
    px_pred = denormalise_pixels(x_j[:, :2], size)
    terms = {"flow": flow_loss(px_pred.reshape(num_pairs, num_pixels, 2), batch.px_j, pair_weight, batch.valid | leaving)}

    valid = batch.valid.reshape(-1)
    target_xy = normalise_pixels(batch.px_j.reshape(-1, 2)[valid], size)
    terms["surface"] = (x_j[valid, 2] - model.depth_at(target_xy, frame_j[valid])).abs().sum() / valid.sum().clamp_min(1)

    predicted_inside = inside_frame(px_pred, size)
    hidden = (~batch.valid & target_inside & (gap <= surface.occlusion_max_gap)).reshape(-1) & predicted_inside
    behind = model.behind_surface(x_j[hidden], frame_j[hidden])
    terms["occlusion"] = (surface.hinge_margin - behind).clamp_min(0.0).sum() / hidden.sum().clamp_min(1)

    if len(u_smooth) > 0:
        x_smooth = x_i.reshape(num_pairs, num_pixels, 3)[inner, :num_smooth].reshape(-1, 3)
        terms["scene_flow"] = scene_flow_loss(x_prev, x_smooth, x_next)
    else:
        terms["scene_flow"] = x_i.new_zeros(())
    if num_anywhere > 0:
        terms["anywhere_smoothness"] = scene_flow_loss(x_before, x_at, x_after)
    else:
        terms["anywhere_smoothness"] = x_i.new_zeros(())
    low, high = surface.bijection.depth_range
    terms["depth_range"] = depth_range_loss(x_j[:, 2], low, high)
    terms["match"], terms["match_surface"] = _match_terms(model, matches, size, x_i)

    terms["total"] = (
        losses.flow_weight * terms["flow"]
        + surface.surface_weight * terms["surface"]
        + surface.occlusion_weight * terms["occlusion"]
        + losses.scene_flow_weight * terms["scene_flow"]
        + surface.anywhere_smoothness_weight * terms["anywhere_smoothness"]
        + losses.depth_range_weight * terms["depth_range"]
        + surface.match_weight * (losses.flow_weight * terms["match"] + surface.surface_weight * terms["match_surface"])
    )
    return terms


def _match_terms(model: SurfaceMotion, matches: MatchBatch | None, size: tuple[int, int],
                 like: Tensor) -> tuple[Tensor, Tensor]:
    """(mean L1 pixel error of the matches' predicted targets, mean |z_j - D_j| there); zeros without matches."""
    if matches is None:
        return like.new_zeros(()), like.new_zeros(())
    x_i = model.lift(normalise_pixels(matches.px_i, size), matches.frame_i)
    x_j = model.from_canonical(model.to_canonical(x_i, matches.frame_i), matches.frame_j)
    position = (denormalise_pixels(x_j[:, :2], size) - matches.px_j).abs().mean()
    landing = (x_j[:, 2] - model.depth_at(normalise_pixels(matches.px_j, size), matches.frame_j)).abs().mean()
    return position, landing
