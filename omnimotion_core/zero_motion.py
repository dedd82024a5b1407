"""The trivial "zero-motion" tracker: every point stays where it was queried and is never occluded.

It is the floor every real tracker must beat; on the synthetic benchmark it shows the benchmark is not
trivially solved.
"""

from __future__ import annotations

import numpy as np


def track_zero_motion(query_points: np.ndarray, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Predict that each query point never moves and is always visible.

    Args:
        query_points: [N, 3] (t, y, x) pixels.
        num_frames: T, the number of frames of the video.

    Returns:
        tracks: float32 [N, T, 2] (x, y) pixels, the query position repeated.
        occluded: bool [N, T], all False.
    """
    query_points = np.asarray(query_points)
    if query_points.ndim != 2 or query_points.shape[1] != 3:
        raise ValueError(f"query_points must be [N, 3] (t, y, x), got shape {query_points.shape}")
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    xy = query_points[:, [2, 1]].astype(np.float32)
    tracks = np.repeat(xy[:, None, :], num_frames, axis=1)
    occluded = np.zeros((query_points.shape[0], num_frames), dtype=bool)
    return tracks, occluded
