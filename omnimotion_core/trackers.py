"""Registry of the point trackers that run without model fitting (the baselines of the results table).

A tracker takes the frames of a video and TAP-Vid query points and returns tracks and occlusion.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from omnimotion_core.flow import ConsistencyConfig, FlowEngineConfig, track_chained, track_direct
from omnimotion_core.zero_motion import track_zero_motion

Tracker = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""(frames uint8 [T, H, W, 3], query_points [N, 3] (t, y, x) px) -> (tracks [N, T, 2] (x, y) px, occluded [N, T])."""


def _zero_motion(frames: np.ndarray, query_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return track_zero_motion(query_points, num_frames=frames.shape[0])


def _flow_tracker(follow: Callable[..., tuple[np.ndarray, np.ndarray]], engine: str) -> Tracker:
    return partial(_run_flow_tracker, follow, FlowEngineConfig(engine=engine))


def _run_flow_tracker(
    follow: Callable[..., tuple[np.ndarray, np.ndarray]],
    engine_config: FlowEngineConfig,
    frames: np.ndarray,
    query_points: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    return follow(frames, query_points, engine_config, ConsistencyConfig())


TRACKERS: dict[str, Tracker] = {
    "zero_motion": _zero_motion,
    "dis-c": _flow_tracker(track_chained, "dis"),
    "dis-d": _flow_tracker(track_direct, "dis"),
    "farneback-c": _flow_tracker(track_chained, "farneback"),
    "farneback-d": _flow_tracker(track_direct, "farneback"),
}
"""Name -> tracker. ``<engine>-c`` chains consecutive flow, ``<engine>-d`` flows directly from the query
frame (the paper's RAFT-C / RAFT-D rows), with the engine's default settings and the 3 px cycle check."""


def get_tracker(method: str) -> Tracker:
    """The tracker called ``method``; an unknown name lists the known ones."""
    if method not in TRACKERS:
        raise ValueError(f"unknown method {method!r}; known methods: {', '.join(sorted(TRACKERS))}")
    return TRACKERS[method]
