"""In-memory pairwise correspondences of one video: the interface between flow and model fitting."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FlowSet:
    """Pairwise optical flow of one video with its cycle-consistency masks.

    Attributes:
        pairs: int64 [P, 2], (i, j) frame indices; flow ``p`` maps frame ``pairs[p, 0]`` to ``pairs[p, 1]``.
        flow: float [P, H, W, 2], (dx, dy) in pixels: pixel (x, y) of frame i lands on (x + dx, y + dy)
            in frame j.
        mask: bool [P, H, W], True where the correspondence is trusted (cycle-consistent, inside frame j).
        counts: int32 [T, H, W], number of trusted correspondences of each pixel over all its pairs.
    """

    pairs: np.ndarray
    flow: np.ndarray
    mask: np.ndarray
    counts: np.ndarray

    def __post_init__(self) -> None:
        num_pairs = self.pairs.shape[0] if self.pairs.ndim == 2 else -1
        if self.pairs.ndim != 2 or self.pairs.shape[1] != 2:
            raise ValueError(f"pairs must be [P, 2], got shape {self.pairs.shape}")
        if self.flow.ndim != 4 or self.flow.shape[0] != num_pairs or self.flow.shape[3] != 2:
            raise ValueError(f"flow must be [P={num_pairs}, H, W, 2], got shape {self.flow.shape}")
        if self.mask.shape != self.flow.shape[:3] or self.mask.dtype != np.bool_:
            raise ValueError(
                f"mask must be bool {self.flow.shape[:3]}, got {self.mask.dtype} {self.mask.shape}"
            )
        if self.counts.ndim != 3 or self.counts.shape[1:] != self.flow.shape[1:3]:
            raise ValueError(f"counts must be [T, {self.flow.shape[1]}, {self.flow.shape[2]}], got {self.counts.shape}")
        if num_pairs and (self.pairs.min() < 0 or self.pairs.max() >= self.counts.shape[0]):
            raise ValueError(f"pairs index frames outside [0, {self.counts.shape[0]})")

    @property
    def num_frames(self) -> int:
        """T, the number of frames of the video."""
        return int(self.counts.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the frames."""
        return int(self.flow.shape[1]), int(self.flow.shape[2])
