"""Registry of the point trackers that run without model fitting (the baselines of the results table).

A tracker takes the frames of a video and TAP-Vid query points and returns tracks and occlusion.
``TRACKERS`` holds the ones that need nothing else; the RAFT flow trackers need weights, so the caller
reads them, builds the engine and gets the tracker from :func:`flow_tracker`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Literal

import numpy as np

from omnimotion_core.flow import (
    ConsistencyConfig,
    FlowEngine,
    FlowEngineConfig,
    build_flow_engine,
    track_chained,
    track_direct,
)
from omnimotion_core.flow.engines import EngineName
from omnimotion_core.zero_motion import track_zero_motion

Tracker = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""(frames uint8 [T, H, W, 3], query_points [N, 3] (t, y, x) px) -> (tracks [N, T, 2] (x, y) px, occluded [N, T])."""

FlowFollow = Literal["chained", "direct"]

FLOW_TRACKER_METHODS: dict[str, tuple[EngineName, FlowFollow]] = {
    "dis-c": ("dis", "chained"),
    "dis-d": ("dis", "direct"),
    "farneback-c": ("farneback", "chained"),
    "farneback-d": ("farneback", "direct"),
    "raft-c": ("raft", "chained"),
    "raft-d": ("raft", "direct"),
}
"""Flow tracker name -> (flow engine it needs, how it follows points). ``<engine>-c`` chains consecutive
flow, ``<engine>-d`` flows directly from the query frame (the paper's RAFT-C / RAFT-D rows)."""


def _zero_motion(frames: np.ndarray, query_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return track_zero_motion(query_points, num_frames=frames.shape[0])


def flow_tracker(method: str, engine: FlowEngine) -> Tracker:
    """The flow tracker ``method`` (a key of ``FLOW_TRACKER_METHODS``) running on ``engine``, with the
    3 px cycle check of the default :class:`ConsistencyConfig`.

    Raises:
        ValueError: ``method`` is not a flow tracker, or ``engine`` is not the engine it names.
    """
    if method not in FLOW_TRACKER_METHODS:
        raise ValueError(
            f"unknown flow tracker {method!r}; flow trackers: {', '.join(sorted(FLOW_TRACKER_METHODS))}"
        )
    engine_name, follow = FLOW_TRACKER_METHODS[method]
    if engine.config.engine != engine_name:
        raise ValueError(
            f"flow tracker {method!r} needs a {engine_name!r} flow engine, got {engine.config.engine!r}"
        )
    if follow == "chained":
        return partial(_run_flow_tracker, track_chained, engine)
    elif follow == "direct":
        return partial(_run_flow_tracker, track_direct, engine)
    else:
        raise ValueError(f"unknown way to follow points {follow!r}; expected 'chained' or 'direct'")


def _run_flow_tracker(
    follow: Callable[..., tuple[np.ndarray, np.ndarray]],
    engine: FlowEngine,
    frames: np.ndarray,
    query_points: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    return follow(frames, query_points, engine, ConsistencyConfig())


TRACKERS: dict[str, Tracker] = {
    "zero_motion": _zero_motion,
    **{
        method: flow_tracker(method, build_flow_engine(FlowEngineConfig(engine=engine_name)))
        for method, (engine_name, _) in FLOW_TRACKER_METHODS.items()
        if engine_name != "raft"
    },
}
"""Name -> tracker, for the trackers that need no weights: ``zero_motion`` and the DIS / Farneback flow
trackers with the engine's default settings."""


def get_tracker(method: str) -> Tracker:
    """The weight-free tracker called ``method``; an unknown name lists the known ones.

    Raises:
        ValueError: unknown ``method``, or a RAFT method (it needs weights: use :func:`flow_tracker`).
    """
    if method in FLOW_TRACKER_METHODS and method not in TRACKERS:
        raise ValueError(
            f"RAFT methods need weights: {method!r} is built by the caller with flow_tracker({method!r}, engine) "
            "once it has read the weights (storage.raft_weights.read_raft_weights) and built the engine "
            "(build_flow_engine(FlowEngineConfig(engine='raft', ...), state_dict))"
        )
    if method not in TRACKERS:
        raise ValueError(f"unknown method {method!r}; known methods: {', '.join(sorted(TRACKERS))}")
    return TRACKERS[method]
