"""Picking a stored track with the pointer: which of N tracks passes nearest to a pixel in a given frame."""

from __future__ import annotations

import numpy as np


def nearest_track(tracks: np.ndarray, occluded: np.ndarray, frame: int, xy: tuple[float, float]) -> tuple[int, float]:
    """The track nearest to a point of one frame, among those visible there (among all when none is).

    Args:
        tracks: [N, T, 2] (x, y) pixels.
        occluded: bool [N, T].
        frame: the frame index t of the point, in [0, T).
        xy: (x, y) pixels of the point in frame t.

    Returns:
        (index of the track, its distance in pixels to ``xy`` in frame t).

    Example:
        >>> tracks = np.array([[[0.0, 0.0]], [[5.0, 5.0]]])
        >>> nearest_track(tracks, np.array([[False], [False]]), 0, (4.0, 4.0))
        (1, 1.4142135623730951)
    """
    if tracks.ndim != 3 or tracks.shape[2] != 2 or occluded.shape != tracks.shape[:2]:
        raise ValueError(f"nearest_track: tracks must be [N, T, 2] and occluded [N, T], got {tracks.shape} and "
                         f"{occluded.shape}")
    if len(tracks) == 0:
        raise ValueError("nearest_track: there are no tracks to pick from")
    if not 0 <= frame < tracks.shape[1]:
        raise ValueError(f"nearest_track: frame must lie in [0, {tracks.shape[1]}), got {frame}")
    distance = np.hypot(tracks[:, frame, 0] - xy[0], tracks[:, frame, 1] - xy[1])
    distance = np.where(np.isfinite(distance), distance, np.inf)
    candidates = ~occluded[:, frame] & np.isfinite(distance)
    if candidates.any():
        distance = np.where(candidates, distance, np.inf)
    index = int(np.argmin(distance))
    return index, float(distance[index])
