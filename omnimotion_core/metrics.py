"""TAP-Vid point-tracking metrics (AJ, delta_avg, OA), OmniMotion's temporal coherence (TC) and BADJA's PCK-T.

The TAP-Vid scores follow ``compute_tapvid_metrics`` of google-deepmind/tapnet
(``tapnet/tapvid/evaluation_datasets.py``): same argument layout, same keys, same masking and
denominators. Every score is per video; a benchmark number is the plain mean over videos.

Sparse labels (BADJA labels a joint about every 5th frame) come with an evaluation mask: the (point,
frame) entries that carry a label at all. An entry without one is neither visible nor occluded and is
left out of every score; without a mask (TAP-Vid) every entry is labelled.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

QueryMode = Literal["first", "strided"]
FrameRule = Literal["tapvid", "all_but_query"]

THRESHOLDS_PX = (1, 2, 4, 8, 16)
"""Distance thresholds of pts_within_{d} and jaccard_{d}, in pixels at 256x256."""

PCK_T_FRACTION = 0.2
"""PCK-T's threshold as a fraction of the square root of the object's mask area (BADJA)."""


def tapvid_metrics(
    query_points: np.ndarray,
    gt_occluded: np.ndarray,
    gt_tracks: np.ndarray,
    pred_occluded: np.ndarray,
    pred_tracks: np.ndarray,
    query_mode: QueryMode,
    frame_rule: FrameRule = "tapvid",
    evaluation_mask: np.ndarray | None = None,
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
        evaluation_mask: bool [B, N, T], True where the (point, frame) carries a label; the others are
            scored nowhere (not in OA, delta_avg, AJ nor TC), whatever ``gt_occluded`` holds there. None:
            every entry is labelled (TAP-Vid); an all-True mask gives bit-identical scores.

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
    scored = scored_frames(_query_frames(query_points, num_frames), num_frames, query_mode, frame_rule)
    if evaluation_mask is not None:
        _check_mask(evaluation_mask, gt_occluded.shape)
        scored = scored & evaluation_mask
        gt_occluded_or_unlabelled = gt_occluded | ~evaluation_mask
    else:
        gt_occluded_or_unlabelled = gt_occluded

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
    metrics["temporal_coherence"] = temporal_coherence(gt_occluded_or_unlabelled, gt_tracks, pred_tracks)
    return metrics


def pck_t(
    query_points: np.ndarray,
    gt_occluded: np.ndarray,
    gt_tracks: np.ndarray,
    pred_tracks: np.ndarray,
    object_area: np.ndarray,
    query_mode: QueryMode,
    frame_rule: FrameRule = "tapvid",
    evaluation_mask: np.ndarray | None = None,
    scale_xy: np.ndarray | None = None,
) -> np.ndarray:
    """BADJA's PCK-T per video: float64 [B], the fraction of scored (point, frame) entries, labelled and
    truly visible in a frame with an object mask, whose prediction lies strictly closer to the true
    point than ``PCK_T_FRACTION * sqrt(area of the object's mask in that frame)``.

    Distances are measured in the pixels the areas are counted in (the source frames): a track error
    (dx, dy) in track pixels is (dx / sx, dy / sy) there, so the score does not depend on the size the
    tracks were made at, even when that size changes the aspect ratio. The predicted occlusion flag plays
    no part. Which frames are scored follows ``query_mode`` / ``frame_rule`` as in :func:`tapvid_metrics`.

    Args:
        query_points, gt_occluded, gt_tracks, pred_tracks, query_mode, frame_rule, evaluation_mask: as in
            :func:`tapvid_metrics` (tracks (x, y) in track pixels).
        object_area: float [B, T], pixels of the object's mask in each frame, counted in the source
            frames; NaN where a frame has no mask (its entries are not scored).
        scale_xy: float [B, 2], (sx, sy) track pixels per source pixel along x and y; None: 1 (tracks in
            source pixels).

    Returns:
        [B] fractions; NaN for a video without any scored entry in a frame with a mask (e.g. no masks).
    """
    _check_inputs(query_points, gt_occluded, gt_tracks, gt_occluded, pred_tracks)  # no predicted flags here
    batch, _, num_frames = gt_occluded.shape
    object_area = np.asarray(object_area, dtype=np.float64)
    if object_area.shape != (batch, num_frames):
        raise ValueError(f"object_area must be [B, T] = {(batch, num_frames)}, got shape {object_area.shape}")
    scale = np.ones((batch, 2)) if scale_xy is None else np.asarray(scale_xy, dtype=np.float64)
    if scale.shape != (batch, 2) or not np.all(np.isfinite(scale)) or not np.all(scale > 0):
        raise ValueError(f"scale_xy must be positive finite [B, 2] = {(batch, 2)}, got {scale!r}")
    scored = scored_frames(_query_frames(query_points, num_frames), num_frames, query_mode, frame_rule)
    scored = scored & ~gt_occluded
    if evaluation_mask is not None:
        _check_mask(evaluation_mask, gt_occluded.shape)
        scored &= evaluation_mask
    with np.errstate(divide="ignore", invalid="ignore"):
        scored &= (object_area >= 0)[:, np.newaxis, :]
        error = (pred_tracks - gt_tracks).astype(np.float64) / scale[:, np.newaxis, np.newaxis, :]
        threshold = PCK_T_FRACTION * np.sqrt(object_area)[:, np.newaxis, :]
        correct = scored & (np.linalg.norm(error, axis=-1) < threshold)
        return _count(correct) / _count(scored)


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


def _query_frames(query_points: np.ndarray, num_frames: int) -> np.ndarray:
    """The query frames of ``query_points`` [..., 3] rounded to integers; ValueError unless in [0, T)."""
    if not np.all(np.isfinite(query_points[..., 0])):
        raise ValueError("query_points[..., 0] must be finite frame indices, got NaN or inf")
    query_frames = np.rint(query_points[..., 0]).astype(np.int64)
    if query_frames.size and (query_frames.min() < 0 or query_frames.max() >= num_frames):
        raise ValueError(
            f"query_points[..., 0] must be frame indices in [0, {num_frames - 1}], "
            f"got values in [{query_frames.min()}, {query_frames.max()}] after rounding"
        )
    return query_frames


def _check_mask(evaluation_mask: np.ndarray, shape: tuple[int, ...]) -> None:
    """Raise ValueError unless ``evaluation_mask`` is bool [B, N, T] of ``shape``."""
    if not isinstance(evaluation_mask, np.ndarray) or evaluation_mask.dtype != np.bool_:
        raise ValueError(f"evaluation_mask must be a bool numpy array (True = labelled), got {evaluation_mask!r:.80}")
    if evaluation_mask.shape != shape:
        raise ValueError(f"evaluation_mask must be bool [B, N, T] = {shape}, got shape {evaluation_mask.shape}")


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
