"""Forward-backward (cycle) consistency of a pair of flows.

Values follow the OmniMotion reference code (``preprocessing/filter_raft.py``, ``loaders/raft.py``):
a correspondence is kept when the round trip i -> j -> i misses its start by less than 3 pixels, an
absolute threshold with no term relative to the flow magnitude. For pairs one frame apart the reference
trains on every pixel regardless of the cycle check; here that is the ``adjacent_pairs="in_frame"``
option, which keeps every pixel that lands inside frame j. The reference also rejects long-gap matches
(gap >= 3) whose DINO features differ (cosine similarity <= 0.5); without DINO weights, the optional
appearance check compares colours instead, with the RGB threshold of the reference's
``preprocessing/chain_raft.py`` (L2 distance of [0, 1] RGB < 0.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from omnimotion_core.flow.sampling import sample_at_flow

AdjacentPairMode = Literal["in_frame", "cycle"]


@dataclass(frozen=True)
class ConsistencyConfig:
    """Which correspondences of a flow to trust."""

    max_cycle_error: float = 3.0
    """Largest forward-backward round-trip error in pixels (reference ``--cycle_th``, default 3)."""
    adjacent_pairs: AdjacentPairMode = "in_frame"
    """Pairs with gap 1: ``"in_frame"`` trusts every pixel landing inside frame j (the reference's
    ``mask = ones`` for ``frame_interval == 1``, minus pixels that leave the frame); ``"cycle"`` applies
    the cycle check as for every other gap."""
    appearance_check: bool = False
    """Also reject correspondences of pairs ``appearance_min_gap`` or more frames apart whose colours
    differ by ``max_color_distance`` or more (off by default: a stand-in for the reference's DINO check)."""
    max_color_distance: float = 0.3
    """Largest L2 distance between the RGB colours (scaled to [0, 1]) of a pixel and its match."""
    appearance_min_gap: int = 3
    """Smallest gap (frames) the appearance check applies to (the reference's DINO check: gap >= 3)."""

    def __post_init__(self) -> None:
        if not self.max_cycle_error > 0:
            raise ValueError(f"max_cycle_error must be > 0 pixels, got {self.max_cycle_error}")
        if not self.max_color_distance > 0:
            raise ValueError(f"max_color_distance must be > 0, got {self.max_color_distance}")
        if self.appearance_min_gap < 1:
            raise ValueError(f"appearance_min_gap must be >= 1 frame, got {self.appearance_min_gap}")
        if self.adjacent_pairs not in ("in_frame", "cycle"):
            raise ValueError(f"adjacent_pairs must be 'in_frame' or 'cycle', got {self.adjacent_pairs!r}")


def cycle_error(flow_ij: np.ndarray, flow_ji: np.ndarray) -> np.ndarray:
    """Forward-backward round-trip error of every pixel of frame i.

    Args:
        flow_ij: float32 [H, W, 2] (dx, dy) pixels from frame i to frame j.
        flow_ji: float32 [H, W, 2] (dx, dy) pixels from frame j to frame i.

    Returns:
        float32 [H, W], ``|flow_ij(p) + flow_ji(p + flow_ij(p))|`` in pixels (flow_ji sampled bilinearly).
    """
    if flow_ij.shape != flow_ji.shape or flow_ij.ndim != 3 or flow_ij.shape[2] != 2:
        raise ValueError(f"flows must both be [H, W, 2], got {flow_ij.shape} and {flow_ji.shape}")
    round_trip = flow_ij + sample_at_flow(flow_ji, flow_ij)
    return np.hypot(round_trip[..., 0], round_trip[..., 1]).astype(np.float32, copy=False)


def color_distance(frame_i: np.ndarray, frame_j: np.ndarray, flow_ij: np.ndarray) -> np.ndarray:
    """Colour difference between each pixel of frame i and where it lands in frame j.

    Args:
        frame_i, frame_j: uint8 [H, W, 3] RGB.
        flow_ij: float32 [H, W, 2] (dx, dy) pixels from frame i to frame j.

    Returns:
        float32 [H, W], L2 distance of the RGB colours scaled to [0, 1] (frame j sampled bilinearly).
    """
    color_i = frame_i.astype(np.float32) / 255.0
    color_j = sample_at_flow(frame_j.astype(np.float32) / 255.0, flow_ij)
    difference = color_i - color_j
    return np.sqrt(np.sum(difference * difference, axis=-1))


def lands_in_frame(flow_ij: np.ndarray) -> np.ndarray:
    """bool [H, W], True where pixel (x, y) + flow lies inside frame j: 0 <= x' <= W - 1, 0 <= y' <= H - 1."""
    height, width = flow_ij.shape[:2]
    x_j = np.arange(width, dtype=np.float32)[None, :] + flow_ij[..., 0]
    y_j = np.arange(height, dtype=np.float32)[:, None] + flow_ij[..., 1]
    return (x_j >= 0) & (x_j <= width - 1) & (y_j >= 0) & (y_j <= height - 1)


def consistency_mask(
    flow_ij: np.ndarray,
    flow_ji: np.ndarray,
    gap: int,
    config: ConsistencyConfig,
    frames_ij: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Trusted correspondences of the flow from frame i to frame j.

    Args:
        flow_ij: float32 [H, W, 2] (dx, dy) pixels from frame i to frame j.
        flow_ji: float32 [H, W, 2] (dx, dy) pixels from frame j to frame i.
        gap: |j - i| in frames.
        config: thresholds and the rule for adjacent frames.
        frames_ij: (frame i, frame j), uint8 [H, W, 3] RGB; needed only when ``config.appearance_check``.

    Returns:
        bool [H, W], True where the pixel lands inside frame j, (unless gap 1 with
        ``adjacent_pairs="in_frame"``) its round-trip error is below ``config.max_cycle_error``, and
        (with the appearance check, for gaps >= ``appearance_min_gap``) its colour matches.
    """
    mask = lands_in_frame(flow_ij)
    if gap != 1 or config.adjacent_pairs == "cycle":
        mask &= cycle_error(flow_ij, flow_ji) < config.max_cycle_error
    elif config.adjacent_pairs != "in_frame":
        raise ValueError(f"adjacent_pairs must be 'in_frame' or 'cycle', got {config.adjacent_pairs!r}")
    if config.appearance_check and gap >= config.appearance_min_gap:
        if frames_ij is None:
            raise ValueError("the appearance check is on (ConsistencyConfig.appearance_check) but no frames came")
        mask &= color_distance(frames_ij[0], frames_ij[1], flow_ij) < config.max_color_distance
    return mask
