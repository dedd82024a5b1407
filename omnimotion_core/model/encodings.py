"""Positional encoding and scene contraction of coordinates."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def encode_positions(x: Tensor, num_frequencies: int) -> Tensor:
    """NeRF positional encoding [x, sin(2^k pi x), cos(2^k pi x)], k = 0 .. F-1.

    Args:
        x: [..., D] coordinates.
        num_frequencies: F.

    Returns:
        [..., D + 2 * D * F]: x, then all sines (frequency-major), then all cosines.
    """
    frequencies = math.pi * 2.0 ** torch.arange(num_frequencies, dtype=x.dtype, device=x.device)
    angles = (x[..., :, None] * frequencies).flatten(-2)
    return torch.cat([x, torch.sin(angles), torch.cos(angles)], dim=-1)


class PositionalEncoding(nn.Module):
    """Module twin of :func:`encode_positions`."""

    def __init__(self, in_dim: int, num_frequencies: int) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.num_frequencies = num_frequencies

    @property
    def out_dim(self) -> int:
        """D + 2 * D * F."""
        return self.in_dim * (1 + 2 * self.num_frequencies)

    def forward(self, x: Tensor) -> Tensor:
        """x: [..., D] -> [..., D + 2 D F]."""
        return encode_positions(x, self.num_frequencies)


def contract_scene(u: Tensor) -> Tensor:
    """mip-NeRF-360 contraction: u if |u| <= 1, else (2 - 1/|u|) u/|u| (inside the ball of radius 2).

    Args:
        u: [..., 3] canonical points.

    Returns:
        [..., 3] contracted points, |.| < 2.
    """
    norm = u.norm(dim=-1, keepdim=True)
    safe_norm = norm.clamp_min(1.0)
    return torch.where(norm <= 1.0, u, (2.0 - 1.0 / safe_norm) * u / safe_norm)


class SceneContraction(nn.Module):
    """Module twin of :func:`contract_scene`."""

    def forward(self, u: Tensor) -> Tensor:
        """u: [..., 3] -> [..., 3]."""
        return contract_scene(u)
