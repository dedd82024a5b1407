"""How hard a set of ground-truth tracks is: occlusion, exits, motion and a zero-motion baseline."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from omnimotion_core.synthetic.tracks import INSIDE_TOLERANCE

THRESHOLDS_PX = (1, 2, 4, 8, 16)
"""TAP-Vid distance thresholds, in pixels of a 256x256 frame."""

SCORING_SIZE = 256
"""Tracks are rescaled to this frame size before the zero-motion scores, as TAP-Vid evaluates at 256x256."""


@dataclass(frozen=True)
class TrackStatistics:
    """Summary of N tracks over T frames (see :func:`summarize_tracks`)."""

    occluded_fraction: float
    """Share of (point, frame) entries that are occluded (covered or outside)."""
    outside_fraction: float
    """Share of (point, frame) entries outside the frame."""
    points_leaving: float
    """Share of points outside the frame in at least one frame."""
    points_returning: float
    """Share of points visible, then outside the frame, then visible again."""
    points_hidden_5_to_20: float
    """Share of points covered (inside the frame) for a run of 5 to 20 frames between two visible frames."""
    mean_displacement_px: float
    """Mean distance in pixels between a visible point and its position at its first visible frame."""
    zero_motion_delta_avg: float
    """TAP-Vid delta_avg (query = first visible frame, frames after it) of a tracker predicting that
    every point stays at its query position; thresholds at 256x256."""
    zero_motion_average_jaccard: float
    """TAP-Vid AJ of the same tracker, which also predicts every point visible."""


def summarize_tracks(positions: np.ndarray, occluded: np.ndarray, height: int, width: int) -> TrackStatistics:
    """Statistics of tracks: positions float [N, T, 2] (x, y) pixels, occluded bool [N, T], frame H x W.

    Outside the frame means not (0 <= x <= W - 1 and 0 <= y <= H - 1), as in the scene's ground truth.
    Every track must be visible at least once.
    """
    if positions.ndim != 3 or positions.shape[2] != 2 or occluded.shape != positions.shape[:2]:
        raise ValueError(
            f"expected positions [N, T, 2] and occluded [N, T], got {positions.shape} and {occluded.shape}"
        )
    visible = ~occluded
    if not np.all(visible.any(axis=1)):
        raise ValueError("every track must be visible in at least one frame")
    num_points, num_frames = occluded.shape
    x, y, eps = positions[..., 0], positions[..., 1], INSIDE_TOLERANCE
    outside = ~((x >= -eps) & (x <= width - 1 + eps) & (y >= -eps) & (y <= height - 1 + eps))
    hidden = occluded & ~outside
    first = np.argmax(visible, axis=1)
    query = positions[np.arange(num_points), first]
    distance = np.linalg.norm(positions - query[:, None], axis=-1)

    scale = np.array([SCORING_SIZE / width, SCORING_SIZE / height])
    scored = np.arange(num_frames)[None, :] > first[:, None]
    distance_256 = np.linalg.norm((positions - query[:, None]) * scale, axis=-1)
    visible_scored = visible & scored
    within = [distance_256 < threshold for threshold in THRESHOLDS_PX]
    delta = [np.sum(visible_scored & w) / max(np.sum(visible_scored), 1) for w in within]
    jaccard = [
        np.sum(visible_scored & w) / max(np.sum(visible_scored) + np.sum(scored & ~(visible & w)), 1) for w in within
    ]
    return TrackStatistics(
        occluded_fraction=float(occluded.mean()),
        outside_fraction=float(outside.mean()),
        points_leaving=float(outside.any(axis=1).mean()),
        points_returning=float(np.mean([_has_gap(v, o) for v, o in zip(visible, outside, strict=True)])),
        points_hidden_5_to_20=float(np.mean([_has_gap(v, h, 5, 20) for v, h in zip(visible, hidden, strict=True)])),
        mean_displacement_px=float(distance[visible].mean()),
        zero_motion_delta_avg=float(np.mean(delta)),
        zero_motion_average_jaccard=float(np.mean(jaccard)),
    )


def _has_gap(visible: np.ndarray, state: np.ndarray, shortest: int = 1, longest: int | None = None) -> bool:
    """Whether ``state`` [T] holds for a run of frames bounded by visible frames on both sides, with
    shortest <= run length <= longest (the run may not contain visible frames)."""
    visible_frames = np.nonzero(visible)[0]
    for start, end in zip(visible_frames[:-1], visible_frames[1:], strict=True):
        run = end - start - 1
        if run >= 1 and np.all(state[start + 1 : end]):
            if run >= shortest and (longest is None or run <= longest):
                return True
    return False
