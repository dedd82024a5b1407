"""TAP-Vid point-tracking metrics (AJ, delta_avg, OA) and OmniMotion's temporal coherence (TC).

The TAP-Vid scores follow ``compute_tapvid_metrics`` of google-deepmind/tapnet
(``tapnet/tapvid/evaluation_datasets.py``): same argument layout, same keys, same masking and
denominators. Every score is per video; a benchmark number is the plain mean over videos.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

QueryMode = Literal["first", "strided"]
FrameRule = Literal["tapvid", "all_but_query"]

THRESHOLDS_PX = (1, 2, 4, 8, 16)
"""Distance thresholds of pts_within_{d} and jaccard_{d}, in pixels at 256x256."""


def tapvid_metrics(
    query_points: np.ndarray,
    gt_occluded: np.ndarray,
    gt_tracks: np.ndarray,
    pred_occluded: np.ndarray,
    pred_tracks: np.ndarray,
    query_mode: QueryMode,
    frame_rule: FrameRule = "tapvid",
) -> dict[str, np.ndarray]:
    """Score predicted tracks of B videos against TAP-Vid ground truth.

    All coordinates are pixels of the frames the benchmark scores at, 256x256 for TAP-Vid: the
    thresholds (1, 2, 4, 8, 16 px) and TC only mean what the papers report at that size.

    Args:
        query_points: [B, N, 3] (t, y, x); t is a frame index (rounded to the nearest integer),
            y and x are pixels.
        gt_occluded: bool [B, N, T], True where the true point is occluded.
        gt_tracks: [B, N, T, 2] (x, y) pixels.
        pred_occluded: bool [B, N, T], True where the prediction says occluded.
        pred_tracks: [B, N, T, 2] (x, y) pixels.
        query_mode: how the queries were sampled. ``"first"``: each query is the first visible
            point of its track; ``"strided"``: queries every few frames.
        frame_rule: which frames of a track are scored.
            ``"tapvid"`` (official TAP-Vid evaluator): never the query frame; with
            ``query_mode="first"`` only the frames after it, with ``"strided"`` all other frames.
            ``"all_but_query"`` (the OmniMotion paper's own scoring): every frame except the query
            frame in both modes, so first-frame queries are also scored on the frames before them.

    Returns:
        Per-video float64 arrays [B]:
        ``occlusion_accuracy``: fraction of scored (point, frame) where the predicted occlusion flag
        equals the true one.
        ``pts_within_{d}`` for d in 1, 2, 4, 8, 16: fraction of scored, truly visible (point, frame)
        whose prediction lies strictly closer than d px, whatever the predicted flag.
        ``jaccard_{d}``: TP / (TP + FP + FN); TP = truly visible, predicted visible and closer than
        d px; FP = predicted visible but truly occluded or not closer than d px; FN = truly visible
        and not TP. Computed as TP / (truly visible + FP), like tapnet.
        ``average_jaccard`` (AJ) and ``average_pts_within_thresh`` (delta_avg): means over d.
        ``temporal_coherence`` (TC): see :func:`temporal_coherence`.
        A ratio whose denominator is zero (e.g. no truly visible scored point) is NaN, as in tapnet.
    """
    _check_inputs(query_points, gt_occluded, gt_tracks, pred_occluded, pred_tracks)
    num_frames = gt_occluded.shape[2]
    if not np.all(np.isfinite(query_points[..., 0])):
        raise ValueError("query_points[..., 0] must be finite frame indices, got NaN or inf")
    query_frames = np.rint(query_points[..., 0]).astype(np.int64)
    if query_frames.size and (query_frames.min() < 0 or query_frames.max() >= num_frames):
        raise ValueError(
            f"query_points[..., 0] must be frame indices in [0, {num_frames - 1}], "
            f"got values in [{query_frames.min()}, {query_frames.max()}] after rounding"
        )
    scored = scored_frames(query_frames, num_frames, query_mode, frame_rule)

    gt_visible = ~gt_occluded
    pred_visible = ~pred_occluded
    squared_distance = np.sum(np.square(pred_tracks - gt_tracks), axis=-1)
    visible_scored = gt_visible & scored
    visible_pred_visible_scored = visible_scored & pred_visible
    num_visible = _count(visible_scored)

    with np.errstate(divide="ignore", invalid="ignore"):
        metrics = {"occlusion_accuracy": _count((gt_occluded == pred_occluded) & scored) / _count(scored)}
        for threshold in THRESHOLDS_PX:
            within = squared_distance < threshold**2
            true_positives = _count(visible_pred_visible_scored & within)
            false_positives = _count(pred_visible & scored & ~(gt_visible & within))
            metrics[f"pts_within_{threshold}"] = _count(visible_scored & within) / num_visible
            metrics[f"jaccard_{threshold}"] = true_positives / (num_visible + false_positives)
    metrics["average_jaccard"] = np.mean([metrics[f"jaccard_{d}"] for d in THRESHOLDS_PX], axis=0)
    metrics["average_pts_within_thresh"] = np.mean(
        [metrics[f"pts_within_{d}"] for d in THRESHOLDS_PX], axis=0
    )
    metrics["temporal_coherence"] = temporal_coherence(gt_occluded, gt_tracks, pred_tracks)
    return metrics


def scored_frames(
    query_frames: np.ndarray, num_frames: int, query_mode: QueryMode, frame_rule: FrameRule
) -> np.ndarray:
    """Which (point, frame) entries are scored, as bool [..., T] for integer query frames [...].

    See ``frame_rule`` in :func:`tapvid_metrics`.
    """
    if query_mode not in ("first", "strided"):
        raise ValueError(f"query_mode must be 'first' or 'strided', got {query_mode!r}")
    frames = np.arange(num_frames)
    query_frames = np.asarray(query_frames)[..., np.newaxis]
    if frame_rule == "tapvid":
        if query_mode == "first":
            return frames > query_frames
        return frames != query_frames
    elif frame_rule == "all_but_query":
        return frames != query_frames
    else:
        raise ValueError(f"frame_rule must be 'tapvid' or 'all_but_query', got {frame_rule!r}")


def temporal_coherence(gt_occluded: np.ndarray, gt_tracks: np.ndarray, pred_tracks: np.ndarray) -> np.ndarray:
    """Temporal coherence (TC, OmniMotion paper), lower is better: float64 [B], pixels.

    With accelerations a_t = p_{t+1} - 2 p_t + p_{t-1}, TC of a video is the mean of
    ||a_t(pred) - a_t(gt)||_2 over every (point, t) whose true point is visible at t-1, t and t+1.
    Pass tracks at 256x256 to compare with the paper. The predicted occlusion flags and the query
    frames play no part. A video without any such triplet (e.g. T < 3) gets NaN.

    Args:
        gt_occluded: bool [B, N, T], True where the true point is occluded.
        gt_tracks: [B, N, T, 2] (x, y) pixels.
        pred_tracks: [B, N, T, 2] (x, y) pixels.
    """
    gt_visible = ~gt_occluded
    triplet = gt_visible[..., :-2] & gt_visible[..., 1:-1] & gt_visible[..., 2:]
    error = np.linalg.norm(_acceleration(pred_tracks) - _acceleration(gt_tracks), axis=-1)
    total = np.sum(np.where(triplet, error, 0.0), axis=(1, 2), dtype=np.float64)
    count = _count(triplet)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _acceleration(tracks: np.ndarray) -> np.ndarray:
    """Second difference along time: [B, N, T, 2] -> [B, N, T-2, 2], entry t-1 holds a_t."""
    tracks = tracks.astype(np.float64, copy=False)
    return tracks[:, :, 2:] - 2.0 * tracks[:, :, 1:-1] + tracks[:, :, :-2]


def _count(mask: np.ndarray) -> np.ndarray:
    """Number of True entries per video: bool [B, N, T] -> int64 [B]."""
    return np.sum(mask, axis=(1, 2), dtype=np.int64)


def _check_inputs(
    query_points: np.ndarray,
    gt_occluded: np.ndarray,
    gt_tracks: np.ndarray,
    pred_occluded: np.ndarray,
    pred_tracks: np.ndarray,
) -> None:
    """Raise ValueError unless the arrays have the shapes and dtypes documented in tapvid_metrics."""
    arrays = {
        "query_points": query_points,
        "gt_occluded": gt_occluded,
        "gt_tracks": gt_tracks,
        "pred_occluded": pred_occluded,
        "pred_tracks": pred_tracks,
    }
    for name, array in arrays.items():
        if not isinstance(array, np.ndarray):
            raise ValueError(f"{name} must be a numpy array, got {type(array).__name__}")
    if gt_occluded.ndim != 3:
        raise ValueError(f"gt_occluded must be bool [B, N, T], got shape {gt_occluded.shape}")
    batch, num_points, num_frames = gt_occluded.shape
    expected_shapes = {
        "query_points": (batch, num_points, 3),
        "gt_occluded": (batch, num_points, num_frames),
        "gt_tracks": (batch, num_points, num_frames, 2),
        "pred_occluded": (batch, num_points, num_frames),
        "pred_tracks": (batch, num_points, num_frames, 2),
    }
    layouts = {
        "query_points": "[B, N, 3] (t, y, x)",
        "gt_occluded": "bool [B, N, T]",
        "gt_tracks": "[B, N, T, 2] (x, y)",
        "pred_occluded": "bool [B, N, T]",
        "pred_tracks": "[B, N, T, 2] (x, y)",
    }
    for name, shape in expected_shapes.items():
        if arrays[name].shape != shape:
            raise ValueError(
                f"{name} must be {layouts[name]} = {shape} to match gt_occluded {gt_occluded.shape}, "
                f"got shape {arrays[name].shape}"
            )
    for name in ("gt_occluded", "pred_occluded"):
        if arrays[name].dtype != np.bool_:
            raise ValueError(f"{name} must have dtype bool (True = occluded), got {arrays[name].dtype}")
    for name in ("query_points", "gt_tracks", "pred_tracks"):
        dtype = arrays[name].dtype
        if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
            raise ValueError(f"{name} must hold real numbers (float or int), got dtype {dtype}")
