"""Grid-conditioned bijection T_i of the ``surface`` representation (in the spirit of CaDeX++).

T_i (local -> canonical) is a per-frame 2D similarity of (x, y) followed by affine coupling layers whose
log-scale s and shift t are read from per-frame multi-resolution feature planes over the layer's two kept
coordinates, instead of being computed by an MLP from a latent code. A plane value only moves the points
near it, so each correspondence updates a few grid cells: supervision is absorbed in hundreds of steps
rather than thousands, and one step costs a few bilinear look-ups per point instead of MLP passes.

Every plane starts at zero and the similarity at the identity, so T_i starts as the identity. The maps stay
exactly invertible: a coupling layer's (s, t) depend only on the coordinates it keeps.

Plane layout: ``planes[level]`` is [1, 2, N, R, R] (channels s and t; frame; second kept axis; first kept
axis), sampled with ``grid_sample`` at (first kept, second kept, frame); the frame coordinate lands exactly on
a slice, so a point only reads (and trains) the planes of its own frame.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from omnimotion_core.model.config import GridBijectionConfig

AXIS_ORDER = ((0, 1, 2), (1, 2, 0), (0, 2, 1))
"""(kept, kept, moved) axes of the coupling layers, repeated: depth from (x, y), then x from (y, z), then y
from (x, z). Depth goes first so that the layers of a scene separate in z before x and y move per layer."""


def frame_coordinate(frame: Tensor, num_frames: int) -> Tensor:
    """grid_sample coordinate of integer frames on an ``align_corners=True`` axis of N slices. [M] -> [M]."""
    return frame.to(torch.float32) * (2.0 / max(num_frames - 1, 1)) - 1.0


class FrameSimilarity(nn.Module):
    """Per-frame 2D similarity of (x, y): xy' = e^scale R(angle) xy + shift; depth unchanged.

    It carries camera pan, zoom and roll for every point, also for points outside the frame, where no flow
    supervises the coupling planes.
    """

    def __init__(self, num_frames: int) -> None:
        super().__init__()
        self.params = nn.Parameter(torch.zeros(num_frames, 4))  # log-scale, angle, shift x, shift y

    def forward(self, points: Tensor, frame: Tensor, inverse: bool = False) -> Tensor:
        """points: [M, 3]; frame: int64 [M] -> [M, 3] (local -> canonical, or back with ``inverse``)."""
        log_scale, angle, shift = self.params[frame, 0:1], self.params[frame, 1], self.params[frame, 2:4]
        cos, sin = torch.cos(angle)[:, None], torch.sin(angle)[:, None]
        x, y = points[:, 0:1], points[:, 1:2]
        if not inverse:
            scale = torch.exp(log_scale)
            xy = scale * torch.cat([cos * x - sin * y, sin * x + cos * y], dim=1) + shift
        else:
            x, y = x - shift[:, 0:1], y - shift[:, 1:2]
            scale = torch.exp(-log_scale)
            xy = scale * torch.cat([cos * x + sin * y, -sin * x + cos * y], dim=1)
        return torch.cat([xy, points[:, 2:3]], dim=1)


class GridCoupling(nn.Module):
    """One affine coupling layer whose (s, t) are read from per-frame multi-resolution planes.

    Args:
        num_frames: N.
        axes: (kept, kept, moved) coordinate indices.
        config: plane resolutions, coordinate ranges and the log-scale bound.
    """

    def __init__(self, num_frames: int, axes: tuple[int, int, int], config: GridBijectionConfig) -> None:
        super().__init__()
        self.num_frames = num_frames
        self.axes = axes
        self.max_log_scale = config.max_log_scale
        lows = torch.tensor([-config.xy_extent, -config.xy_extent, config.depth_range[0]])
        highs = torch.tensor([config.xy_extent, config.xy_extent, config.depth_range[1]])
        kept = list(axes[:2])
        self.register_buffer("low", lows[kept].clone(), persistent=False)
        self.register_buffer("span", (highs - lows)[kept].clone(), persistent=False)
        self.planes = nn.ParameterList(
            nn.Parameter(torch.zeros(1, 2, num_frames, resolution, resolution)) for resolution in config.resolutions
        )

    def log_scale_and_shift(self, kept: Tensor, frame: Tensor) -> tuple[Tensor, Tensor]:
        """(s, t), each [M, 1], of points with kept coordinates ``kept`` [M, 2] in frames ``frame`` [M]."""
        grid = torch.cat(
            [(kept - self.low) * (2.0 / self.span) - 1.0, frame_coordinate(frame, self.num_frames)[:, None]], dim=1
        ).to(self.planes[0].dtype)
        grid = grid.view(1, 1, 1, -1, 3)
        out = sum(
            nn.functional.grid_sample(plane, grid, mode="bilinear", padding_mode="border", align_corners=True)
            for plane in self.planes
        )
        out = out.view(2, -1).t()
        return self.max_log_scale * torch.tanh(out[:, :1] / self.max_log_scale), out[:, 1:]

    def forward(self, points: Tensor, frame: Tensor, inverse: bool = False) -> Tensor:
        """points: [M, 3] -> [M, 3]: moved = (moved - t) e^-s (to canonical) or moved e^s + t (``inverse``)."""
        a, b, m = self.axes
        s, t = self.log_scale_and_shift(points[:, [a, b]], frame)
        moved = points[:, m : m + 1]
        moved = moved * torch.exp(s) + t if inverse else (moved - t) * torch.exp(-s)
        columns = [points[:, 0:1], points[:, 1:2], points[:, 2:3]]
        columns[m] = moved
        return torch.cat(columns, dim=1)


class GridBijection(nn.Module):
    """T_i: frame i's local points <-> canonical points, exactly invertible.

    Args:
        num_frames: N.
        config: number of coupling layers, plane resolutions and ranges.
    """

    def __init__(self, num_frames: int, config: GridBijectionConfig) -> None:
        super().__init__()
        self.similarity = FrameSimilarity(num_frames)
        self.layers = nn.ModuleList(
            GridCoupling(num_frames, AXIS_ORDER[index % len(AXIS_ORDER)], config) for index in range(config.num_layers)
        )

    def forward(self, x: Tensor, frame: Tensor) -> Tensor:
        """Local -> canonical. x: [M, 3] local points; frame: int64 [M] -> u: [M, 3]."""
        return self._transform(x, frame, "to_canonical")

    def inverse(self, u: Tensor, frame: Tensor) -> Tensor:
        """Canonical -> local; the exact inverse of :meth:`forward`. u: [M, 3]; frame: int64 [M] -> [M, 3]."""
        return self._transform(u, frame, "to_local")

    def _transform(self, points: Tensor, frame: Tensor, direction: Literal["to_canonical", "to_local"]) -> Tensor:
        if points.ndim != 2 or points.shape[1] != 3:
            raise ValueError(f"GridBijection: points must be [M, 3], got {tuple(points.shape)}")
        if frame.shape != points.shape[:1]:
            raise ValueError(f"GridBijection: frame must be [M={points.shape[0]}], got {tuple(frame.shape)}")
        if direction == "to_canonical":
            points = self.similarity(points, frame)
            for layer in self.layers:
                points = layer(points, frame)
            return points
        for layer in reversed(self.layers):
            points = layer(points, frame, inverse=True)
        return self.similarity(points, frame, inverse=True)

    def plane_parameters(self) -> list[nn.Parameter]:
        """The coupling planes (one learning rate)."""
        return [plane for layer in self.layers for plane in layer.planes]
