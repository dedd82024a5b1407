"""The ``surface`` representation: one depth per pixel of each frame and a grid-conditioned bijection.

The volume model of the paper renders 32 density samples per ray through a canonical network and finds
occlusion from the density in front of a point. Here a pixel p of frame i has one depth D_i(p), read from a
per-frame depth plane; (p, D_i(p)) is mapped by T_i to canonical space and by T_j^-1 into frame j. A point
is hidden in frame j when it lands behind frame j's own surface: z_j > D_j(p_j) + margin. One bijection
pass per correspondence instead of 32 and no canonical network make a step cheap enough for batches 16x
larger, and the depth test is trained directly by the flow's untrusted pixels (``surface_objective``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from omnimotion_core.model.config import OmniMotionConfig
from omnimotion_core.model.grid_bijection import GridBijection, frame_coordinate


class SurfaceMotion(nn.Module):
    """Depth planes D_i and the bijections T_i of a video of N frames.

    Args:
        config: the configuration tree (``config.surface`` is read).
        num_frames: N.

    Coordinates are the volume model's: (x, y) normalised to [-1, 1], depth in the planes' units (starting
    at ``surface.initial_depth``). ``steps_trained`` counts the optimisation steps behind the weights.
    """

    steps_trained: Tensor
    frame_times: Tensor

    def __init__(self, config: OmniMotionConfig, num_frames: int) -> None:
        super().__init__()
        if num_frames < 2:
            raise ValueError(f"SurfaceMotion: need at least 2 frames, got {num_frames}")
        surface = config.surface
        self.config = config
        self.initial_depth = surface.initial_depth
        self.bijection = GridBijection(num_frames, surface.bijection)
        resolution = surface.depth_resolution
        self.depth_planes = nn.Parameter(torch.zeros(1, 1, num_frames, resolution, resolution))
        self.register_buffer("frame_times", torch.arange(num_frames, dtype=torch.float32))
        self.register_buffer("steps_trained", torch.zeros((), dtype=torch.int64))

    @property
    def num_frames(self) -> int:
        """N, frames of the video."""
        return int(self.frame_times.shape[0])

    def depth_at(self, xy: Tensor, frame: Tensor) -> Tensor:
        """D_frame(xy): xy [M, 2] normalised (x, y); frame int64 [M] -> depth [M] (border value outside)."""
        grid = torch.cat([xy, frame_coordinate(frame, self.num_frames)[:, None]], dim=1).view(1, 1, 1, -1, 3)
        value = nn.functional.grid_sample(
            self.depth_planes, grid.to(self.depth_planes.dtype), mode="bilinear", padding_mode="border",
            align_corners=True,
        )
        return value.view(-1) + self.initial_depth

    def offset_depth(self, offsets: Tensor) -> None:
        """Add ``offsets`` [N, R, R] (depth units, R = ``depth_resolution``) to the depth planes, e.g. the
        motion-derived start of :func:`omnimotion_core.model.motion_depth.motion_depth_offsets`."""
        expected = tuple(self.depth_planes.shape[2:])
        if tuple(offsets.shape) != expected:
            raise ValueError(f"SurfaceMotion.offset_depth: offsets must be {list(expected)}, got {list(offsets.shape)}")
        with torch.no_grad():
            self.depth_planes += offsets.to(self.depth_planes)[None, None]

    def lift(self, xy: Tensor, frame: Tensor) -> Tensor:
        """Local 3D points of pixels on their frame's surface: xy [M, 2]; frame [M] -> [M, 3]."""
        return torch.cat([xy, self.depth_at(xy, frame)[:, None]], dim=1)

    def to_canonical(self, x_i: Tensor, frame_i: Tensor) -> Tensor:
        """u = T_i(x_i). x_i: [M, 3] local; frame_i: int64 [M] -> u: [M, 3]."""
        return self.bijection(x_i, frame_i)

    def from_canonical(self, u: Tensor, frame_j: Tensor) -> Tensor:
        """x_j = T_j^-1(u). u: [M, 3] canonical; frame_j: int64 [M] -> x_j: [M, 3]."""
        return self.bijection.inverse(u, frame_j)

    def behind_surface(self, x_j: Tensor, frame_j: Tensor) -> Tensor:
        """z_j - D_j(p_j) of local points x_j [M, 3] of frames frame_j [M] -> [M]: > 0 behind the surface."""
        return x_j[:, 2] - self.depth_at(x_j[:, :2], frame_j)

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by part, for per-part learning rates: ``similarity``, ``planes``, ``depth``."""
        return {
            "similarity": list(self.bijection.similarity.parameters()),
            "planes": self.bijection.plane_parameters(),
            "depth": [self.depth_planes],
        }

    def base_learning_rates(self) -> dict[str, float]:
        """The learning rate of each part of :meth:`param_groups` (``config.surface``)."""
        surface = self.config.surface
        return {"similarity": surface.lr_similarity, "planes": surface.lr_planes, "depth": surface.lr_depth}
