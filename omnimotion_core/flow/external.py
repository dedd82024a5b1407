"""Sparse pairwise correspondences from another tracker's point tracks (the paper's "Ours (TAP-Net)" input).

OmniMotion fits whatever correspondences its :class:`~omnimotion_core.flow_set.FlowSet` holds. Here they
come from point tracks instead of dense optical flow: for an ordered pair (i, j), every track visible in
both frames gives one trusted correspondence, and every other pixel is masked out.

Where a track lands on the pixel grid. A FlowSet holds flow at integer pixel centres: pixel c = (x, y)
of frame i lands on c + flow[c] in frame j. A track passes frame i at a sub-pixel point p_i and frame j at
p_j. It is stored at the nearest pixel c = round(p_i) (halves round up: ``floor(v + 0.5)``) with

    flow[c] = p_j - p_i,

the track's own displacement. This is the nearest-neighbour estimate of the motion of pixel c: if the
motion around p_i has Jacobian J (J = 0 for a translation), c truly moves by (p_j - p_i) + J (c - p_i),
so the error is J (c - p_i), at most 0.5 |J| px per axis. The alternative, flow[c] = p_j - c (so that
c + flow lands exactly on p_j), claims that c, not p_i, lands on p_j; its error is (I + J) (c - p_i), up
to 0.5 px per axis even for a pure translation. Either way the source point is quantised to the pixel
grid, which is what a FlowSet can hold.

Kept correspondences: the track is visible (not occluded) in frames i and j, c is a pixel of the frame,
and c + flow lies inside frame j (``0 <= x <= W - 1``, ``0 <= y <= H - 1``, as
:func:`~omnimotion_core.flow.consistency.lands_in_frame` requires of dense flow). When several tracks
round to the same pixel c in a pair, the one with the lowest track index is kept.

Memory: the flow is dense, float32 [P, H, W, 2] plus a bool [P, H, W] mask, however sparse the tracks:
all 2,256 ordered pairs of a 48-frame video at 256x256 take 1.2 GB of flow and 0.15 GB of mask. Pairs
with fewer than ``min_points`` correspondences are left out before allocating.
"""

from __future__ import annotations

import numpy as np

from omnimotion_core.flow.flow_set_builder import count_correspondences
from omnimotion_core.flow.pairs import PairSelectionConfig, select_pairs
from omnimotion_core.flow_set import FlowSet


def _check_tracks(tracks: np.ndarray, occluded: np.ndarray, size: tuple[int, int]) -> None:
    if tracks.ndim != 3 or tracks.shape[2] != 2:
        raise ValueError(f"tracks must be [N, T, 2] (x, y) pixels, got shape {tracks.shape}")
    if occluded.dtype != np.bool_ or occluded.shape != tracks.shape[:2]:
        raise ValueError(
            f"occluded must be bool [N, T] = {list(tracks.shape[:2])}, got {occluded.dtype} {occluded.shape}"
        )
    if tracks.shape[1] < 2:
        raise ValueError(f"tracks need at least 2 frames for frame pairs, got {tracks.shape[1]}")
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"size must be (H, W) with H, W >= 1, got {size}")
    bad = ~occluded & ~np.isfinite(tracks).all(axis=-1)
    if bad.any():
        track, frame = np.argwhere(bad)[0]
        raise ValueError(
            f"visible track positions must be finite, got {tracks[track, frame].tolist()} for track {track} "
            f"at frame {frame} ({int(bad.sum())} such points)"
        )


def _check_pairs(pairs: np.ndarray, num_frames: int) -> np.ndarray:
    pairs = np.asarray(pairs, dtype=np.int64)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f"pairs must be [P, 2] (i, j) frame indices, got shape {pairs.shape}")
    if pairs.size and (pairs.min() < 0 or pairs.max() >= num_frames):
        raise ValueError(
            f"pairs must index frames in [0, {num_frames}), got values in [{pairs.min()}, {pairs.max()}]"
        )
    if np.any(pairs[:, 0] == pairs[:, 1]):
        same = pairs[pairs[:, 0] == pairs[:, 1]]
        raise ValueError(f"pairs must join two different frames, got {same[:3].tolist()}")
    if len(np.unique(pairs, axis=0)) != len(pairs):
        raise ValueError("pairs must be distinct")
    return pairs


def _displacement(positions: np.ndarray, i: int, j: int) -> np.ndarray:
    """float32 [N, 2], p_j - p_i of every track (x, y) pixels, rounded to float32 as the flow stores it."""
    return (positions[:, j] - positions[:, i]).astype(np.float32)


def flow_set_from_tracks(
    tracks: np.ndarray,
    occluded: np.ndarray,
    size: tuple[int, int],
    *,
    pairs: np.ndarray | None = None,
    min_points: int = 1,
) -> FlowSet:
    """Sparse flow set from point tracks: one trusted correspondence per track visible in both frames.

    See the module docstring for where a track is stored and which correspondences are kept.

    Args:
        tracks: float [N, T, 2], (x, y) pixels; pixel (column c, row r) is at (x=c, y=r). Positions where
            ``occluded`` is True are never read (they may be NaN).
        occluded: bool [N, T], True where the track is not visible.
        size: (H, W) of the frames.
        pairs: int [P, 2] ordered (i, j) frame indices, distinct, i != j; None for every ordered pair, in
            the order of :func:`~omnimotion_core.flow.pairs.select_pairs` (``mode="all"``).
        min_points: pairs with fewer correspondences are left out of the set (0 keeps every pair).

    Returns:
        FlowSet of the kept pairs (in input order): flow float32 [P', H, W, 2] (dx, dy) pixels, zero where
        the mask is False; mask bool [P', H, W]; counts int32 [T, H, W], the number of pairs in which each
        pixel of frame i holds a correspondence.

    Raises:
        ValueError: bad shapes, non-finite visible positions, bad pairs, or no pair with ``min_points``
            correspondences.

    Example:
        >>> tracks = np.array([[[1.25, 2.0], [3.0, 2.5]]])  # one track, two frames, (x, y)
        >>> flow_set = flow_set_from_tracks(tracks, np.zeros((1, 2), bool), (4, 5))
        >>> flow_set.pairs.tolist(), flow_set.flow[0, 2, 1].tolist(), int(flow_set.mask[0].sum())
        ([[0, 1], [1, 0]], [1.75, 0.5], 1)
    """
    tracks = np.asarray(tracks)
    occluded = np.asarray(occluded)
    _check_tracks(tracks, occluded, size)
    if min_points < 0:
        raise ValueError(f"min_points must be >= 0, got {min_points}")
    height, width = int(size[0]), int(size[1])
    num_frames = tracks.shape[1]
    if pairs is None:
        pairs = select_pairs(num_frames, PairSelectionConfig(mode="all"))
    else:
        pairs = _check_pairs(pairs, num_frames)

    visible = ~occluded
    positions = np.where(visible[..., None], tracks, 0.0).astype(np.float64)  # [N, T, 2], no NaN left
    # [N, T, 2] (x, y) nearest pixel; clipping first keeps far-off points off the frame and within int64
    pixels = np.floor(np.clip(positions, -1.0, max(height, width)) + 0.5).astype(np.int64)
    source_ok = visible & (pixels >= 0).all(axis=-1) & (pixels[..., 0] < width) & (pixels[..., 1] < height)
    pixel_index = pixels[..., 1] * width + pixels[..., 0]  # [N, T] row-major index into [H, W]

    kept_pairs, kept_tracks = [], []
    for i, j in pairs:
        end = pixels[:, i] + _displacement(positions, i, j)  # [N, 2] (x, y) in frame j, as the set will hold it
        lands = (end >= 0).all(axis=-1) & (end[:, 0] <= width - 1) & (end[:, 1] <= height - 1)
        candidates = np.flatnonzero(source_ok[:, i] & visible[:, j] & lands)  # ascending track index
        _, first = np.unique(pixel_index[candidates, i], return_index=True)  # lowest track per pixel
        if len(first) >= min_points:
            kept_pairs.append((i, j))
            kept_tracks.append(candidates[first])
    if not kept_pairs:
        raise ValueError(f"no pair of frames has at least {min_points} correspondences from the tracks")

    flow = np.zeros((len(kept_pairs), height, width, 2), dtype=np.float32)
    mask = np.zeros((len(kept_pairs), height, width), dtype=bool)
    for row, ((i, j), track_ids) in enumerate(zip(kept_pairs, kept_tracks, strict=True)):
        x_i, y_i = pixels[track_ids, i, 0], pixels[track_ids, i, 1]
        flow[row, y_i, x_i] = _displacement(positions[track_ids], i, j)
        mask[row, y_i, x_i] = True
    kept = np.asarray(kept_pairs, dtype=np.int64).reshape(-1, 2)
    return FlowSet(pairs=kept, flow=flow, mask=mask, counts=count_correspondences(kept, mask, num_frames))
