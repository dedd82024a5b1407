"""Long-gap correspondences by descriptor matching: SIFT keypoints matched between every two frames far apart.

Chained flow loses a point for good once it is hidden or its chain fails the cycle check, and direct flow
cannot follow the large displacements of long gaps; a descriptor match links the same surface point across
any gap and through occlusions. A match is kept when it is the mutual nearest neighbour of its descriptor,
passes Lowe's ratio test, and at least ``min_support`` other matches of the same pair that start within
``support_radius`` pixels of it move within ``support_tolerance`` pixels of its displacement (a lone
match that no neighbour agrees with is most often a repeated texture matched to the wrong place).

Every gap from ``min_gap`` to ``dense_max_gap`` is matched, and beyond it gaps growing by ``gap_growth``:
a long video's pairs grow with the square of its frames, each costing a descriptor distance matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch


@dataclass(frozen=True)
class MatchConfig:
    """How long-gap matches are found (the defaults were set on one development video, bench seed 7).

    Attributes:
        min_gap: only pairs of frames at least this far apart are matched (shorter gaps have dense flow).
        dense_max_gap: every gap up to this one is matched.
        gap_growth: beyond ``dense_max_gap`` each matched gap is this factor times the previous (rounded).
        max_keypoints: most SIFT keypoints kept per frame (the strongest).
        contrast_threshold: SIFT's contrast threshold (OpenCV's default 0.04 finds about 20 keypoints on a
            256x256 synthetic frame upsampled from 128 px; 0.01 finds about 200).
        ratio: Lowe's ratio test: nearest descriptor distance < ratio x second nearest.
        support_radius: pixels in frame i within which other matches count as neighbours.
        support_tolerance: pixels within which a neighbour's displacement must agree to support a match.
        min_support: supporting neighbours a match needs to be kept.
    """

    min_gap: int = 2
    dense_max_gap: int = 24
    gap_growth: float = 1.5
    max_keypoints: int = 1000
    contrast_threshold: float = 0.01
    ratio: float = 0.75
    support_radius: float = 24.0
    support_tolerance: float = 4.0
    min_support: int = 2


@dataclass(frozen=True)
class Matches:
    """Sparse correspondences between frames.

    Attributes:
        frames: int64 [M, 2], (i, j) of each match.
        source: float32 [M, 2], (x, y) pixels in frame i.
        target: float32 [M, 2], (x, y) pixels in frame j.
    """

    frames: np.ndarray
    source: np.ndarray
    target: np.ndarray

    def __post_init__(self) -> None:
        count = len(self.frames)
        if self.frames.shape != (count, 2) or self.source.shape != (count, 2) or self.target.shape != (count, 2):
            raise ValueError(
                f"Matches: frames, source and target must all be [M, 2], got {self.frames.shape}, "
                f"{self.source.shape} and {self.target.shape}"
            )

    def __len__(self) -> int:
        return len(self.frames)


def neighbour_support(source: np.ndarray, target: np.ndarray, radius: float, tolerance: float) -> np.ndarray:
    """int64 [M]: for each match, the other matches starting within ``radius`` px of it (in its frame i) whose
    displacement differs from its own by less than ``tolerance`` px. ``source``, ``target``: [M, 2] pixels."""
    displacement = target - source
    near = np.linalg.norm(source[:, None] - source[None], axis=-1) < radius
    agree = np.linalg.norm(displacement[:, None] - displacement[None], axis=-1) < tolerance
    return (near & agree).sum(axis=1) - 1


def _keypoints(frame: np.ndarray, sift: cv2.SIFT) -> tuple[np.ndarray, np.ndarray | None]:
    """(x, y) float32 [K, 2] and descriptors float32 [K, 128] (None when K = 0) of one RGB frame."""
    keypoints, descriptors = sift.detectAndCompute(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), None)
    return np.array([point.pt for point in keypoints], dtype=np.float32).reshape(-1, 2), descriptors


def match_gaps(num_frames: int, config: MatchConfig) -> list[int]:
    """The frame gaps matched in a video of ``num_frames`` frames: ``min_gap`` .. ``dense_max_gap``, then
    each ``gap_growth`` times the last (rounded, at least one more), below ``num_frames``."""
    gaps = list(range(config.min_gap, min(config.dense_max_gap, num_frames - 1) + 1))
    while gaps and gaps[-1] < num_frames - 1:
        following = max(gaps[-1] + 1, round(gaps[-1] * config.gap_growth))
        if following > num_frames - 1:
            break
        gaps.append(following)
    return gaps


def _match_pair(descriptors_i: torch.Tensor, descriptors_j: torch.Tensor, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices (into i, into j) of the mutual nearest descriptors whose distance passes the ratio test."""
    if len(descriptors_i) < 2 or len(descriptors_j) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    distance = torch.cdist(descriptors_i, descriptors_j)
    nearest = distance.topk(2, dim=1, largest=False)
    index_j = nearest.indices[:, 0]
    mutual = distance.argmin(dim=0)[index_j] == torch.arange(len(descriptors_i))
    keep = mutual & (nearest.values[:, 0] < ratio * nearest.values[:, 1])
    return torch.nonzero(keep)[:, 0].numpy(), index_j[keep].numpy()


def find_matches(frames: np.ndarray, config: MatchConfig, on_frame: Callable[[int], None] | None = None) -> Matches:
    """Verified SIFT matches between every ordered pair of frames whose gap is one of :func:`match_gaps`.

    Args:
        frames: uint8 [T, H, W, 3] RGB.
        config: detection, matching and verification settings.
        on_frame: called with the number of frames done after each frame's matches to all others are found
            (progress of a long video), or None.

    Returns:
        the kept matches, pairs in (i, j) row-major order; deterministic for the same frames.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"find_matches: frames must be uint8 [T, H, W, 3] RGB, got {frames.dtype} {frames.shape}")
    if config.min_gap < 1 or config.min_support < 0 or config.max_keypoints < 1:
        raise ValueError(f"find_matches: min_gap and max_keypoints must be >= 1 and min_support >= 0, got {config}")
    if config.dense_max_gap < config.min_gap or config.gap_growth <= 1:
        raise ValueError(f"find_matches: dense_max_gap must be >= min_gap and gap_growth > 1, got {config}")
    sift = cv2.SIFT_create(nfeatures=config.max_keypoints, contrastThreshold=config.contrast_threshold)
    found = [_keypoints(frame, sift) for frame in frames]
    descriptors = [torch.from_numpy(d if d is not None else np.zeros((0, 128), np.float32)) for _, d in found]
    gaps = set(match_gaps(len(frames), config))
    pairs, sources, targets = [], [], []
    for i, (points_i, _) in enumerate(found):
        for j, (points_j, _) in enumerate(found):
            if abs(i - j) not in gaps:
                continue
            index_i, index_j = _match_pair(descriptors[i], descriptors[j], config.ratio)
            source, target = points_i[index_i], points_j[index_j]
            keep = neighbour_support(source, target, config.support_radius, config.support_tolerance) >= config.min_support
            pairs.append(np.tile(np.array([[i, j]], np.int64), (int(keep.sum()), 1)))
            sources.append(source[keep])
            targets.append(target[keep])
        if on_frame is not None:
            on_frame(i + 1)
    if not pairs:
        empty = np.zeros((0, 2), np.float32)
        return Matches(frames=np.zeros((0, 2), np.int64), source=empty, target=empty.copy())
    return Matches(frames=np.concatenate(pairs), source=np.concatenate(sources), target=np.concatenate(targets))
