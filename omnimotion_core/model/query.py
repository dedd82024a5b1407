"""Inference with a fitted model: dense tracks with occlusion, and pseudo-depth maps (batched, no grad)."""

from __future__ import annotations

import torch
from torch import Tensor

from omnimotion_core.model.omnimotion import MotionModel
from omnimotion_core.model.rendering import (
    count_near_masked,
    denormalise_pixels,
    expected_depth,
    inside_frame,
    lift_pixels,
    map_to_frames,
    normalise_pixels,
    occlusion_score,
    project,
    render_rays,
    sample_depths,
    select_max_weight,
)
from omnimotion_core.model.surface_model import SurfaceMotion


def _track_surface_chunk(
    model: SurfaceMotion, px_i: Tensor, frame_i: Tensor, size: tuple[int, int]
) -> tuple[Tensor, Tensor]:
    """Surface model: n query pixels lifted to their depth, mapped to every frame; occluded behind the
    surface there. px_i: [n, 2]; frame_i: [n] -> [n, T, 2], [n, T]."""
    num_frames, num_queries = model.num_frames, px_i.shape[0]
    u = model.to_canonical(model.lift(normalise_pixels(px_i, size), frame_i), frame_i)
    frame_j = torch.arange(num_frames, device=px_i.device).repeat(num_queries)
    x_j = model.from_canonical(u.repeat_interleave(num_frames, dim=0), frame_j)
    px_j = denormalise_pixels(x_j[:, :2], size)
    hidden = model.behind_surface(x_j, frame_j) > model.config.surface.occlusion_margin
    occluded = hidden | ~inside_frame(px_j, size)
    return px_j.reshape(num_queries, num_frames, 2), occluded.reshape(num_queries, num_frames)


def _track_chunk(model: MotionModel, px_i: Tensor, frame_i: Tensor, size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """Positions and occlusion of n query pixels in all T frames. px_i: [n, 2]; frame_i: [n] -> [n, T, 2], [n, T]."""
    if isinstance(model, SurfaceMotion):
        return _track_surface_chunk(model, px_i, frame_i, size)
    rendering = model.config.rendering
    num_frames, num_samples, num_queries = model.num_frames, rendering.num_samples, px_i.shape[0]
    codes = model.latent_codes()
    masked = count_near_masked(rendering, int(model.steps_trained))
    z = sample_depths(num_queries, num_samples, rendering.near, rendering.far, None, px_i.device)
    u, _, weights = render_rays(model, lift_pixels(px_i, z, size), frame_i, codes, masked)
    frame_j = torch.arange(num_frames, device=px_i.device).repeat(num_queries)
    if rendering.inference == "max_weight":
        u_best = select_max_weight(u, weights).repeat_interleave(num_frames, dim=0)[:, None, :]
        x_j = map_to_frames(model, u_best, frame_j, codes)[:, 0]
    elif rendering.inference == "blend":
        x_samples = map_to_frames(model, u.repeat_interleave(num_frames, dim=0), frame_j, codes)
        x_j = (weights.repeat_interleave(num_frames, dim=0)[..., None] * x_samples).sum(dim=1)
    else:
        raise ValueError(f"rendering.inference must be 'max_weight' or 'blend', got {rendering.inference!r}")
    px_j, depth_j = project(x_j, size)
    score = occlusion_score(
        model,
        px_j,
        depth_j,
        frame_j,
        codes,
        size,
        num_samples,
        rendering.near,
        rendering.far,
        rendering.occlusion_margin,
        masked,
    )
    occluded = (score > rendering.occlusion_threshold) | ~inside_frame(px_j, size)
    return px_j.reshape(num_queries, num_frames, 2), occluded.reshape(num_queries, num_frames)


@torch.no_grad()
def track(
    model: MotionModel, query_points: Tensor, num_frames: int, size: tuple[int, int], chunk_size: int = 256
) -> tuple[Tensor, Tensor]:
    """Track query points through every frame of the video.

    Args:
        model: a fitted model of a video of ``num_frames`` frames.
        query_points: [N, 3] (t, y, x): query frame index and pixel position.
        num_frames: T, frames of the video (must match the model).
        size: (H, W) of the frames.
        chunk_size: queries per batch (each costs T rays of K samples twice).

    Returns:
        tracks: [N, T, 2] (x, y) pixels; occluded: bool [N, T], True where the point is hidden by the
        scene or lies outside the frame (TAP-Vid counts a point that left the frame as not visible); both
        on the model's device. At its own frame a query is its own position and visible.
    """
    if query_points.ndim != 2 or query_points.shape[1] != 3:
        raise ValueError(f"track: query_points must be [N, 3] (t, y, x), got {tuple(query_points.shape)}")
    if num_frames != model.num_frames:
        raise ValueError(f"track: num_frames={num_frames} but the model was fitted to {model.num_frames} frames")
    device = model.steps_trained.device
    query_points = query_points.to(device=device, dtype=torch.float32)
    frame_i = query_points[:, 0].round().long()
    if frame_i.numel() and (frame_i.min() < 0 or frame_i.max() >= num_frames):
        raise ValueError(f"track: query frames must lie in [0, {num_frames}), got {frame_i.min()}..{frame_i.max()}")
    px_i = query_points[:, [2, 1]]
    tracks, occluded = [], []
    for start in range(0, len(query_points), chunk_size):
        stop = start + chunk_size
        chunk_tracks, chunk_occluded = _track_chunk(model, px_i[start:stop], frame_i[start:stop], size)
        tracks.append(chunk_tracks)
        occluded.append(chunk_occluded)
    tracks_all = torch.cat(tracks) if tracks else px_i.new_zeros(0, num_frames, 2)
    occluded_all = torch.cat(occluded) if occluded else torch.zeros(0, num_frames, dtype=torch.bool, device=device)
    rows = torch.arange(len(query_points), device=device)
    tracks_all[rows, frame_i] = px_i
    occluded_all[rows, frame_i] = False
    return tracks_all, occluded_all


@torch.no_grad()
def pseudo_depth(model: MotionModel, frame: int, size: tuple[int, int], chunk_size: int = 8192) -> Tensor:
    """Depth of every pixel of one frame: the expected depth sum_k w_k z_k (volume model) or the frame's
    depth plane D_frame (surface model).

    Args:
        model: a fitted model.
        frame: frame index in [0, T).
        size: (H, W) of the frames.
        chunk_size: rays per batch.

    Returns:
        [H, W] depth (small = near), on the model's device.
    """
    if not 0 <= frame < model.num_frames:
        raise ValueError(f"pseudo_depth: frame must lie in [0, {model.num_frames}), got {frame}")
    height, width = size
    device = model.steps_trained.device
    ys, xs = torch.meshgrid(torch.arange(height, device=device), torch.arange(width, device=device), indexing="ij")
    px = torch.stack([xs, ys], dim=-1).reshape(-1, 2).float()
    if isinstance(model, SurfaceMotion):
        frames = torch.full((len(px),), frame, dtype=torch.int64, device=device)
        return model.depth_at(normalise_pixels(px, size), frames).reshape(height, width)
    rendering = model.config.rendering
    codes = model.latent_codes()
    masked = count_near_masked(rendering, int(model.steps_trained))
    depths = []
    for start in range(0, len(px), chunk_size):
        chunk = px[start : start + chunk_size]
        z = sample_depths(len(chunk), rendering.num_samples, rendering.near, rendering.far, None, device)
        frames = torch.full((len(chunk),), frame, dtype=torch.int64, device=device)
        _, _, weights = render_rays(model, lift_pixels(chunk, z, size), frames, codes, masked)
        depths.append(expected_depth(weights, z))
    return torch.cat(depths).reshape(height, width)
