"""Rays, compositing and correspondences of the orthographic quasi-3D volume (all vectorised over rays).

Coordinates: pixels are (x, y) in pixels; local points are (x, y) normalised to [-1, 1] with (w - 1, h - 1)
and depth z in [near, far]. R rays, K samples per ray.
"""

from __future__ import annotations

import torch
from torch import Tensor

from omnimotion_core.model.config import RenderingConfig
from omnimotion_core.model.omnimotion import OmniMotion


def normalise_pixels(px: Tensor, size: tuple[int, int]) -> Tensor:
    """px: [..., 2] (x, y) pixels of an (H, W) frame -> [..., 2] in [-1, 1] (0 -> -1, w - 1 -> 1)."""
    height, width = size
    scale = px.new_tensor([2.0 / (width - 1), 2.0 / (height - 1)])
    return px * scale - 1.0


def denormalise_pixels(xy: Tensor, size: tuple[int, int]) -> Tensor:
    """xy: [..., 2] in [-1, 1] -> [..., 2] (x, y) pixels of an (H, W) frame; inverse of normalise_pixels."""
    height, width = size
    scale = xy.new_tensor([(width - 1) / 2.0, (height - 1) / 2.0])
    return (xy + 1.0) * scale


def sample_depths(
    num_rays: int, num_samples: int, near: float, far: float, generator: torch.Generator | None, device: torch.device
) -> Tensor:
    """Depths along each ray: linspace(near, far, K), jittered within its stratum when a generator is given.

    Returns:
        z: [R, K], ascending along K.
    """
    z = torch.linspace(near, far, num_samples, device=device).expand(num_rays, num_samples)
    if generator is None:
        return z.contiguous()
    mids = 0.5 * (z[:, 1:] + z[:, :-1])
    lower = torch.cat([z[:, :1], mids], dim=1)
    upper = torch.cat([mids, z[:, -1:]], dim=1)
    jitter = torch.rand(num_rays, num_samples, generator=generator).to(device)
    return lower + (upper - lower) * jitter


def inside_frame(px: Tensor, size: tuple[int, int]) -> Tensor:
    """bool [...]: pixel positions px [..., 2] (x, y) inside an (H, W) frame (within the border pixels' halves)."""
    height, width = size
    x, y = px[..., 0], px[..., 1]
    return (x >= -0.5) & (x <= width - 0.5) & (y >= -0.5) & (y <= height - 0.5)


def lift_pixels(px: Tensor, z: Tensor, size: tuple[int, int]) -> Tensor:
    """Local 3D samples on the rays of pixels. px: [R, 2] (x, y) px; z: [R, K] -> x: [R, K, 3]."""
    xy = normalise_pixels(px, size)[:, None, :].expand(-1, z.shape[1], -1)
    return torch.cat([xy, z[..., None]], dim=-1)


def project(x: Tensor, size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """Orthographic projection. x: [..., 3] local -> (px [..., 2] (x, y) pixels, depth [...])."""
    return denormalise_pixels(x[..., :2], size), x[..., 2]


def count_near_masked(config: RenderingConfig, step: int) -> int:
    """Nearest samples whose alpha is zeroed at ``step``: K * near_mask_fraction before near_mask_steps, else 0."""
    return int(config.num_samples * config.near_mask_fraction) if step < config.near_mask_steps else 0


def composite(sigma: Tensor, num_near_masked: int = 0) -> Tensor:
    """Alpha-compositing weights w_k = T_k alpha_k, alpha = 1 - exp(-sigma), T_k = prod_{l<k}(1 - alpha_l).

    Args:
        sigma: [..., K] densities, nearest sample first.
        num_near_masked: the alpha of this many nearest samples is set to 0.

    Returns:
        weights: [..., K], summing to at most 1.
    """
    alpha = 1.0 - torch.exp(-sigma)
    if num_near_masked > 0:
        keep = torch.ones(sigma.shape[-1], dtype=sigma.dtype, device=sigma.device)
        keep[:num_near_masked] = 0.0
        alpha = alpha * keep
    transmittance = torch.cumprod(1.0 - alpha + 1e-10, dim=-1)
    transmittance = torch.cat([torch.ones_like(transmittance[..., :1]), transmittance[..., :-1]], dim=-1)
    return alpha * transmittance


def render_rays(
    model: OmniMotion, x_i: Tensor, frame_i: Tensor, codes: Tensor, num_near_masked: int = 0
) -> tuple[Tensor, Tensor, Tensor]:
    """Map ray samples of frame i to canonical space and composite them.

    Args:
        x_i: [R, K, 3] local samples of frame i.
        frame_i: int64 [R], frame of each ray.
        codes: [N, C] latent codes of all frames.
        num_near_masked: see :func:`composite`.

    Returns:
        u: [R, K, 3] canonical samples; colour: [R, K, 3]; weights: [R, K].
    """
    num_rays, num_samples, _ = x_i.shape
    u = model.to_canonical(x_i.reshape(-1, 3), frame_i.repeat_interleave(num_samples), codes)
    u = u.reshape(num_rays, num_samples, 3)
    colour, sigma = model.query_canonical(u)
    return u, colour, composite(sigma, num_near_masked)


def map_to_frames(model: OmniMotion, u: Tensor, frame_j: Tensor, codes: Tensor) -> Tensor:
    """x_j = T_j^-1(u) for every sample of each ray. u: [R, K, 3]; frame_j: int64 [R] -> x_j: [R, K, 3]."""
    num_rays, num_samples, _ = u.shape
    x_j = model.from_canonical(u.reshape(-1, 3), frame_j.repeat_interleave(num_samples), codes)
    return x_j.reshape(num_rays, num_samples, 3)


def blend_samples(x_j: Tensor, weights: Tensor, near: float, far: float) -> Tensor:
    """Training correspondence sum_k w_k x_j^k, zeroing samples whose mapped depth leaves [near, far].

    x_j: [R, K, 3]; weights: [R, K] -> [R, 3].
    """
    in_range = (x_j[..., 2] >= near) & (x_j[..., 2] <= far)
    return (weights * in_range)[..., None].mul(x_j).sum(dim=-2)


def select_max_weight(values: Tensor, weights: Tensor) -> Tensor:
    """Inference correspondence: the sample with the largest weight. values: [R, K, D]; weights: [R, K] -> [R, D]."""
    index = weights.argmax(dim=-1)
    return values[torch.arange(values.shape[0], device=values.device), index]


def expected_depth(weights: Tensor, z: Tensor) -> Tensor:
    """Pseudo-depth sum_k w_k z_k. weights, z: [R, K] -> [R]."""
    return (weights * z).sum(dim=-1)


def occlusion_score(
    model: OmniMotion,
    px_j: Tensor,
    depth_j: Tensor,
    frame_j: Tensor,
    codes: Tensor,
    size: tuple[int, int],
    num_samples: int,
    near: float,
    far: float,
    margin: float,
    num_near_masked: int,
) -> Tensor:
    """Weight in front of the predicted point on the ray at its predicted pixel in frame j.

    Args:
        px_j: [R, 2] predicted (x, y) pixels in frame j.
        depth_j: [R] predicted depth in frame j.
        frame_j: int64 [R].
        codes: [N, C].
        margin: samples count as in front when z < depth_j - margin * (far - near) / K.
        num_near_masked: see :func:`composite`.

    Returns:
        [R] summed weights in front; the point is occluded when this exceeds the threshold.
    """
    z = sample_depths(px_j.shape[0], num_samples, near, far, None, px_j.device)
    _, _, weights = render_rays(model, lift_pixels(px_j, z, size), frame_j, codes, num_near_masked)
    in_front = z < (depth_j[:, None] - margin * (far - near) / num_samples)
    return (weights * in_front).sum(dim=-1)
