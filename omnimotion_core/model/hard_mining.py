"""Hard mining: where is the model's flow wrong? Per-frame error maps that steer the batch sampler.

A refresh renders a subsample of trusted pixels (``BatchSampler.draw_probe``: a few pairs per frame, a few
hundred pixels per pair) without gradients, compares the model's correspondence with the input flow and
spreads the sparse errors into dense per-frame maps by a normalised Gaussian blur. Full-frame error maps
would cost tens of seconds on a CPU (METHOD.md); the probe costs about as much as a few training steps.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from omnimotion_core.model.omnimotion import MotionModel
from omnimotion_core.model.rendering import (
    blend_samples,
    count_near_masked,
    denormalise_pixels,
    lift_pixels,
    map_to_frames,
    normalise_pixels,
    project,
    render_rays,
    sample_depths,
)
from omnimotion_core.model.sampling import Batch, BatchSampler
from omnimotion_core.model.surface_model import SurfaceMotion


@torch.no_grad()
def predict_correspondences(
    model: MotionModel, batch: Batch, step: int, size: tuple[int, int], chunk_size: int = 4096
) -> Tensor:
    """The model's training-style correspondence of a batch's pixels (volume: blended samples, unjittered
    depths; surface: the pixel lifted to its depth).

    Args:
        model: the model being fitted.
        batch: B pairs x P pixels, on the model's device.
        step: optimisation step (decides whether the nearest samples are masked, as in training).
        size: (H, W) of the frames.
        chunk_size: rays per forward pass.

    Returns:
        px_j: [B, P, 2] (x, y) predicted pixels in frame j.
    """
    num_pairs, num_pixels, _ = batch.px_i.shape
    if isinstance(model, SurfaceMotion):
        frame_i = batch.frame_i.repeat_interleave(num_pixels)
        frame_j = batch.frame_j.repeat_interleave(num_pixels)
        u = model.to_canonical(model.lift(normalise_pixels(batch.px_i.reshape(-1, 2), size), frame_i), frame_i)
        return denormalise_pixels(model.from_canonical(u, frame_j)[:, :2], size).reshape(num_pairs, num_pixels, 2)
    rendering = model.config.rendering
    px_i = batch.px_i.reshape(-1, 2)
    frame_i = batch.frame_i.repeat_interleave(num_pixels)
    frame_j = batch.frame_j.repeat_interleave(num_pixels)
    masked = count_near_masked(rendering, step)
    codes = model.latent_codes()
    predicted = []
    for start in range(0, len(px_i), chunk_size):
        stop = start + chunk_size
        chunk = px_i[start:stop]
        z = sample_depths(len(chunk), rendering.num_samples, rendering.near, rendering.far, None, px_i.device)
        u, _, weights = render_rays(model, lift_pixels(chunk, z, size), frame_i[start:stop], codes, masked)
        x_j = map_to_frames(model, u, frame_j[start:stop], codes)
        predicted.append(project(blend_samples(x_j, weights, rendering.near, rendering.far), size)[0])
    return torch.cat(predicted).reshape(num_pairs, num_pixels, 2)


def gaussian_blur_maps(maps: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur with zero padding, kernel truncated at ceil(3 sigma). maps: [N, H, W] -> [N, H, W]."""
    radius = math.ceil(3.0 * sigma)
    offsets = torch.arange(-radius, radius + 1, dtype=maps.dtype, device=maps.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    out = torch.nn.functional.conv2d(maps[:, None], kernel.view(1, 1, 1, -1), padding=(0, radius))
    return torch.nn.functional.conv2d(out, kernel.view(1, 1, -1, 1), padding=(radius, 0))[:, 0]


def splat_error_maps(
    frame_i: Tensor, px_i: Tensor, error: Tensor, num_frames: int, size: tuple[int, int], blur: float
) -> Tensor:
    """Dense per-frame error maps from errors at scattered pixels (normalised convolution).

    Args:
        frame_i: int64 [M], frame of each probed pixel.
        px_i: [M, 2] (x, y) integer pixel positions.
        error: [M] flow error at each probe (pixels).
        num_frames: N.
        size: (H, W).
        blur: Gaussian standard deviation in pixels (0: no blur, each probed pixel keeps its own mean error).

    Returns:
        [N, H, W]: blurred errors / blurred probe density; pixels no probe reaches get their frame's mean
        error, frames without probes are 0.
    """
    height, width = size
    index = frame_i * (height * width) + px_i[:, 1].long() * width + px_i[:, 0].long()
    sums = torch.zeros(num_frames * height * width, dtype=torch.float32, device=error.device)
    hits = torch.zeros_like(sums)
    sums.index_add_(0, index, error.float())
    hits.index_add_(0, index, torch.ones_like(error, dtype=torch.float32))
    sums, hits = sums.view(num_frames, height, width), hits.view(num_frames, height, width)
    frame_mean = sums.flatten(1).sum(dim=1) / hits.flatten(1).sum(dim=1).clamp_min(1.0)
    if blur > 0:
        sums, hits = gaussian_blur_maps(sums, blur), gaussian_blur_maps(hits, blur)
    reached = hits > 1e-8
    return torch.where(reached, sums / hits.clamp_min(1e-8), frame_mean[:, None, None])


def refresh_error_maps(model: MotionModel, sampler: BatchSampler, step: int, size: tuple[int, int]) -> Tensor:
    """Measure the model's flow error on the sampler's probe pixels and hand the error maps to the sampler.

    Draws from the sampler's generator only (the probe's pixels); depths are not jittered.

    Args:
        model: the model being fitted.
        sampler: the training batch sampler (its config gives probe sizes and blur).
        step: optimisation step.
        size: (H, W) of the frames.

    Returns:
        the new error maps [N, H, W] (pixels), on the CPU.
    """
    device = next(model.parameters()).device
    probe = sampler.draw_probe(step).to(device)
    px_pred = predict_correspondences(model, probe, step, size)
    error = (px_pred - probe.px_j).norm(dim=-1).cpu()
    num_pixels = probe.px_i.shape[1]
    maps = splat_error_maps(
        probe.frame_i.cpu().repeat_interleave(num_pixels),
        probe.px_i.cpu().reshape(-1, 2),
        error.reshape(-1),
        sampler.num_frames,
        size,
        sampler.config.hard_mining_blur,
    )
    sampler.set_error_maps(maps)
    return maps
