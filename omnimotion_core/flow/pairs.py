"""Which frame pairs get optical flow.

Every selection is symmetric: it holds (j, i) whenever it holds (i, j), because the cycle-consistency
check needs the flow of both directions. Selected pairs come in a fixed order: unordered pairs
(i < j) sorted by (i, j), each followed by its reverse, i.e. rows ``2k`` and ``2k + 1`` are
(i_k, j_k) and (j_k, i_k).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

PairMode = Literal["auto", "all", "windowed"]


@dataclass(frozen=True)
class PairSelectionConfig:
    """How to choose the frame pairs of a video.

    ``"all"``: every ordered pair i != j, T (T - 1) flows (the paper's exhaustive setting).
    ``"windowed"``: every pair with gap <= ``window``, plus long-range pairs at gaps
    ``window * 2, window * 4, ...`` (< T) from every frame, about 2 T (window + log2(T / window)) flows.
    ``"auto"``: ``"all"`` for videos of at most ``auto_max_frames_all`` frames, else ``"windowed"``.
    """

    mode: PairMode = "auto"
    window: int = 8
    """Largest gap (in frames) of the dense part of ``"windowed"``."""
    auto_max_frames_all: int = 64
    """Longest video (frames) for which ``"auto"`` takes all pairs: 64 frames at 256x256 are 4,032 flows,
    1 GiB as float16 on disk (TAP-Vid-DAVIS videos have 34-104 frames)."""

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "all", "windowed"):
            raise ValueError(f"pair mode must be 'auto', 'all' or 'windowed', got {self.mode!r}")
        if self.window < 1:
            raise ValueError(f"pair window must be >= 1 frame, got {self.window}")
        if self.auto_max_frames_all < 2:
            raise ValueError(f"auto_max_frames_all must be >= 2, got {self.auto_max_frames_all}")


def _pair_gaps(num_frames: int, config: PairSelectionConfig) -> list[int]:
    if config.mode == "auto":
        mode = "all" if num_frames <= config.auto_max_frames_all else "windowed"
    else:
        mode = config.mode
    if mode == "all":
        return list(range(1, num_frames))
    elif mode == "windowed":
        gaps = list(range(1, min(config.window, num_frames - 1) + 1))
        gap = config.window * 2
        while gap < num_frames:
            gaps.append(gap)
            gap *= 2
        return gaps
    else:
        raise ValueError(f"unknown pair mode {mode!r}; expected 'all' or 'windowed'")


def select_pairs(num_frames: int, config: PairSelectionConfig) -> np.ndarray:
    """The ordered frame pairs of a video of ``num_frames`` frames.

    Returns:
        int64 [P, 2], (i, j) frame indices in the module's order: (i, j) then (j, i) for each i < j.

    Raises:
        ValueError: fewer than two frames (a single frame has no pairs).
    """
    if num_frames < 2:
        raise ValueError(f"a video needs at least 2 frames for optical flow pairs, got {num_frames}")
    gaps = _pair_gaps(num_frames, config)
    unordered = [(i, i + gap) for i in range(num_frames) for gap in gaps if i + gap < num_frames]
    unordered.sort()
    return with_reverse_pairs(np.asarray(unordered, dtype=np.int64).reshape(-1, 2))


def with_reverse_pairs(unordered: np.ndarray) -> np.ndarray:
    """Interleave each pair with its reverse: [U, 2] (i, j) -> [2U, 2] rows (i, j), (j, i)."""
    unordered = np.asarray(unordered, dtype=np.int64)
    return np.stack([unordered, unordered[:, ::-1]], axis=1).reshape(-1, 2)


def unordered_pairs(pairs: np.ndarray) -> np.ndarray:
    """The distinct unordered pairs of a set of ordered pairs.

    Args:
        pairs: int [P, 2] ordered (i, j) frame indices, i != j.

    Returns:
        int64 [U, 2] (min, max) of each pair, unique and sorted by (i, j).
    """
    pairs = np.asarray(pairs, dtype=np.int64)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f"pairs must be [P, 2], got shape {pairs.shape}")
    if np.any(pairs[:, 0] == pairs[:, 1]):
        raise ValueError(f"pairs must join two different frames, got {pairs[pairs[:, 0] == pairs[:, 1]][:3].tolist()}")
    return np.unique(np.sort(pairs, axis=1), axis=0).reshape(-1, 2)


def split_pairs(pairs: np.ndarray, chunk_size: int) -> list[np.ndarray]:
    """Split [P, 2] pairs into consecutive chunks of at most ``chunk_size`` rows (the last may be shorter)."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    pairs = np.asarray(pairs, dtype=np.int64)
    return [pairs[start : start + chunk_size] for start in range(0, len(pairs), chunk_size)]
