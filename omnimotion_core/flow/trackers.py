"""Optical-flow trackers for TAP-Vid query points (the paper's RAFT-C / RAFT-D rows, and MFT-style chaining).

``track_chained`` ("<engine>-C") follows each point frame to frame with the flow between consecutive
frames; ``track_direct`` ("<engine>-D") jumps straight from the query frame to every other frame. Both
sample the flow bilinearly at the point and call a point occluded in a frame when the flow that brought
it there fails the forward-backward check (round trip >= ``max_cycle_error`` pixels) or lands outside
the frame. ``track_mft`` ("<engine>-MFT") picks, frame by frame, among the stored result of several
earlier frames moved on by their flow (:mod:`omnimotion_core.flow.mft`). The check has no gap-1
exemption here: ``ConsistencyConfig.adjacent_pairs`` is not used.
Flows go through the engine in batches (see :func:`iter_pair_flows`), each pair with its reverse.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from omnimotion_core.flow.consistency import ConsistencyConfig
from omnimotion_core.flow.engines import FlowEngine, iter_pair_flows
from omnimotion_core.flow.mft import FlowReader, MftConfig, follow_points, needed_pairs
from omnimotion_core.flow.pairs import with_reverse_pairs
from omnimotion_core.flow.sampling import sample_points

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(flows_done, flows_total)`` after each engine batch."""


def _check_inputs(frames: np.ndarray, query_points: np.ndarray) -> np.ndarray:
    if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 [T, H, W, 3] RGB, got {frames.dtype} {tuple(frames.shape)}")
    num_frames = frames.shape[0]
    if num_frames < 2:
        raise ValueError(f"tracking needs at least 2 frames, got {num_frames}")
    query_points = np.asarray(query_points, dtype=np.float64)
    if query_points.ndim != 2 or query_points.shape[1] != 3:
        raise ValueError(f"query_points must be [N, 3] (t, y, x), got shape {query_points.shape}")
    query_frames = query_points[:, 0]
    bad = (query_frames != np.round(query_frames)) | (query_frames < 0) | (query_frames >= num_frames)
    if np.any(bad):
        raise ValueError(
            f"query frame indices must be integers in [0, {num_frames}), got {query_frames[bad][:3].tolist()}"
        )
    return query_points


def _follow(
    flow_ab: np.ndarray, flow_ba: np.ndarray, x_a: np.ndarray, y_a: np.ndarray, max_cycle_error: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Move points of frame a to frame b; return (x_b, y_b, consistent) with consistent bool [N]."""
    height, width = flow_ab.shape[:2]
    step = sample_points(flow_ab, x_a, y_a).astype(np.float64)
    x_b = x_a + step[:, 0]
    y_b = y_a + step[:, 1]
    back = sample_points(flow_ba, x_b, y_b)
    round_trip = np.hypot(step[:, 0] + back[:, 0], step[:, 1] + back[:, 1])
    inside = (x_b >= 0) & (x_b <= width - 1) & (y_b >= 0) & (y_b <= height - 1)
    return x_b, y_b, inside & (round_trip < max_cycle_error)


def track_chained(
    frames: np.ndarray,
    query_points: np.ndarray,
    engine: FlowEngine,
    consistency_config: ConsistencyConfig,
    progress: ProgressCallback | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Track points by chaining the flow between consecutive frames, forward and backward in time.

    From its query frame each point moves one frame at a time (t -> t + 1 after it, t -> t - 1 before
    it). It is marked occluded in frame t' when the step into t' fails the cycle check or leaves the
    frame, and is followed on regardless. Costs 2 (T - 1) flows, batched as (0, 1), (1, 0), (1, 2), ...

    Args:
        frames: uint8 [T, H, W, 3] RGB.
        query_points: float [N, 3] (t, y, x): frame index and pixel position (TAP-Vid order).
        engine: flow engine ("dis" gives DIS-C, "farneback" Farneback-C, "raft" RAFT-C).
        consistency_config: ``max_cycle_error`` is the occlusion threshold in pixels.
        progress: optional ``progress(flows_done, flows_total)``.

    Returns:
        tracks: float32 [N, T, 2] (x, y) pixels; occluded: bool [N, T] (False at the query frame).
    """
    query_points = _check_inputs(frames, query_points)
    num_frames = frames.shape[0]
    num_points = len(query_points)
    query_frames = query_points[:, 0].astype(np.int64)
    steps = np.arange(num_frames - 1)
    pairs = with_reverse_pairs(np.stack([steps, steps + 1], axis=1))  # (t, t + 1), (t + 1, t) for t < T - 1
    flows = np.empty((len(pairs), *frames.shape[1:3], 2), dtype=np.float32)
    for batch in iter_pair_flows(engine, frames, pairs):
        flows[batch.rows] = batch.flow
        if progress is not None:
            progress(batch.rows.stop, len(pairs))
    forward, backward = flows[0::2], flows[1::2]  # [T - 1, H, W, 2]: t -> t + 1 and t + 1 -> t

    tracks = np.zeros((num_points, num_frames, 2), dtype=np.float64)
    occluded = np.zeros((num_points, num_frames), dtype=bool)
    points = np.arange(num_points)
    tracks[points, query_frames] = query_points[:, [2, 1]]
    max_error = consistency_config.max_cycle_error
    for t in range(num_frames - 1):
        moving = query_frames <= t
        x_b, y_b, consistent = _follow(forward[t], backward[t], tracks[moving, t, 0], tracks[moving, t, 1], max_error)
        tracks[moving, t + 1] = np.stack([x_b, y_b], axis=-1)
        occluded[moving, t + 1] = ~consistent
    for t in range(num_frames - 1, 0, -1):
        moving = query_frames >= t
        x_b, y_b, consistent = _follow(
            backward[t - 1], forward[t - 1], tracks[moving, t, 0], tracks[moving, t, 1], max_error
        )
        tracks[moving, t - 1] = np.stack([x_b, y_b], axis=-1)
        occluded[moving, t - 1] = ~consistent
    return tracks.astype(np.float32), occluded


def track_direct(
    frames: np.ndarray,
    query_points: np.ndarray,
    engine: FlowEngine,
    consistency_config: ConsistencyConfig,
    progress: ProgressCallback | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Track points with the flow straight from their query frame to every other frame.

    A point is occluded in frame t' when the flow query frame -> t' fails the cycle check against
    t' -> query frame at the point, or lands outside the frame. Each unordered pair that touches a query
    frame is computed once in both directions, in batches: 2 (T - 1) Q - Q (Q - 1) flows for Q distinct
    query frames.

    Args:
        frames: uint8 [T, H, W, 3] RGB.
        query_points: float [N, 3] (t, y, x): frame index and pixel position (TAP-Vid order).
        engine: flow engine ("dis" gives DIS-D, "farneback" Farneback-D, "raft" RAFT-D).
        consistency_config: ``max_cycle_error`` is the occlusion threshold in pixels.
        progress: optional ``progress(flows_done, flows_total)``.

    Returns:
        tracks: float32 [N, T, 2] (x, y) pixels; occluded: bool [N, T] (False at the query frame).
    """
    query_points = _check_inputs(frames, query_points)
    num_frames = frames.shape[0]
    num_points = len(query_points)
    query_frames = query_points[:, 0].astype(np.int64)
    is_query_frame = np.zeros(num_frames, dtype=bool)
    is_query_frame[query_frames] = True
    tracks = np.zeros((num_points, num_frames, 2), dtype=np.float64)
    occluded = np.zeros((num_points, num_frames), dtype=bool)
    points = np.arange(num_points)
    tracks[points, query_frames] = query_points[:, [2, 1]]
    max_error = consistency_config.max_cycle_error
    pairs = np.array(
        [
            ordered
            for a in range(num_frames)
            for b in range(a + 1, num_frames)
            if is_query_frame[[a, b]].any()
            for ordered in ((a, b), (b, a))
        ],
        dtype=np.int64,
    )  # [P, 2]: each pair (a, b), a < b, that touches a query frame, followed by (b, a)
    for batch in iter_pair_flows(engine, frames, pairs):
        for k in range(0, len(batch.flow), 2):
            a, b = (int(index) for index in pairs[batch.rows.start + k])
            flow_ab, flow_ba = batch.flow[k], batch.flow[k + 1]
            for source, target, flow_st, flow_ts in ((a, b, flow_ab, flow_ba), (b, a, flow_ba, flow_ab)):
                at_source = query_frames == source
                if not at_source.any():
                    continue
                x_t, y_t, consistent = _follow(
                    flow_st, flow_ts, query_points[at_source, 2], query_points[at_source, 1], max_error
                )
                tracks[at_source, target] = np.stack([x_t, y_t], axis=-1)
                occluded[at_source, target] = ~consistent
        if progress is not None:
            progress(batch.rows.stop, len(pairs))
    return tracks.astype(np.float32), occluded


def track_mft(
    frames: np.ndarray,
    query_points: np.ndarray,
    engine: FlowEngine,
    config: MftConfig,
    known: FlowReader | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Track points by multi-gap chaining (MFT, see :mod:`omnimotion_core.flow.mft`).

    The flows come from ``known`` where it holds them (e.g. a stored flow set of the same engine) and are
    computed otherwise: for the Q distinct query frames, the pairs of every gap of ``config.gaps`` and the
    pairs from each query frame, both directions (at most all T (T - 1) ordered pairs, far fewer for long
    videos with few query frames). They are held in memory as float16, the precision of a stored flow set, so
    the tracks are the same whether the flows were read or computed.

    Args:
        frames: uint8 [T, H, W, 3] RGB.
        query_points: float [N, 3] (t, y, x): frame index and pixel position (TAP-Vid order); all the pixels
            of a frame make a dense query.
        engine: flow engine ("dis" gives DIS-MFT).
        config: gaps, uncertainty and selection rule.
        known: flows already at hand (see :data:`FlowReader`), or None.
        progress: optional ``progress(flows_done, flows_total)`` over the flows computed.

    Returns:
        tracks: float32 [N, T, 2] (x, y) pixels; occluded: bool [N, T] (False at the query frame).
    """
    query_points = _check_inputs(frames, query_points)
    num_frames = frames.shape[0]
    query_frames = query_points[:, 0].astype(np.int64)
    flows: dict[tuple[int, int], np.ndarray] = {}
    missing = []
    for a, b in needed_pairs(query_frames, num_frames, config.gaps)[0::2]:
        pair = (int(a), int(b))
        found = (None, None) if known is None else (known(*pair), known(pair[1], pair[0]))
        if found[0] is None or found[1] is None:
            missing += [pair, pair[::-1]]
        else:
            flows[pair], flows[pair[::-1]] = found
    missing_pairs = np.array(missing, dtype=np.int64).reshape(-1, 2)
    for batch in iter_pair_flows(engine, frames, missing_pairs):
        for (a, b), flow in zip(missing_pairs[batch.rows], batch.flow, strict=True):
            flows[int(a), int(b)] = flow.astype(np.float16)
        if progress is not None:
            progress(batch.rows.stop, len(missing_pairs))
    tracks = np.zeros((len(query_points), num_frames, 2), dtype=np.float32)
    occluded = np.zeros((len(query_points), num_frames), dtype=bool)

    def read(a: int, b: int) -> np.ndarray | None:
        return flows.get((a, b))

    for source in np.unique(query_frames):
        at_source = query_frames == source
        followed = follow_points(query_points[at_source][:, [2, 1]], int(source), num_frames, read, config)
        tracks[at_source] = followed.positions.transpose(1, 0, 2)
        occluded[at_source] = followed.occluded.T
    return tracks, occluded
