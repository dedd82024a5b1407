"""The trackers that run without model fitting (the baselines of the results table), registered in the
method registry, and :func:`build_tracker`, which builds any registered tracker.

A tracker (:class:`omnimotion_core.registry.Tracker`) takes the frames of a video and TAP-Vid query points
and returns tracks and occlusion. ``<engine>-c`` chains consecutive flow, ``<engine>-d`` flows directly from
the query frame (the paper's RAFT-C / RAFT-D rows); both run on a flow engine the caller builds (the
pipeline reads its weights, if any, through ``storage``), with the 3 px cycle check of the default
:class:`ConsistencyConfig`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from omnimotion_core.flow import (
    ConsistencyConfig,
    FlowEngine,
    FlowEngineConfig,
    build_flow_engine,
    track_chained,
    track_direct,
)
from omnimotion_core.registry import METHODS, FlowEngineMethod, Tracker, TrackerMethod
from omnimotion_core.zero_motion import track_zero_motion

FollowPoints = Callable[[np.ndarray, np.ndarray, FlowEngine, ConsistencyConfig], tuple[np.ndarray, np.ndarray]]
"""``track_chained`` or ``track_direct``: (frames, query_points, engine, consistency) -> (tracks, occluded)."""


def _zero_motion(frames: np.ndarray, query_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return track_zero_motion(query_points, num_frames=frames.shape[0])


class FlowTracker:
    """A flow tracker: ``follow`` (chained or direct) on one engine, with the default cycle check."""

    def __init__(self, follow: FollowPoints, engine: FlowEngine | None) -> None:
        """
        Args:
            follow: :func:`track_chained` or :func:`track_direct`.
            engine: the built flow engine it runs on.
        """
        if engine is None:
            raise ValueError("a flow tracker needs a flow engine")
        self.follow = follow
        self.engine = engine

    def __call__(self, frames: np.ndarray, query_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Track ``query_points`` [N, 3] (t, y, x) through ``frames`` uint8 [T, H, W, 3]; see ``follow``."""
        return self.follow(frames, query_points, self.engine, ConsistencyConfig())


def _flow_tracker(follow: FollowPoints) -> Callable[[FlowEngine | None], Tracker]:
    def factory(engine: FlowEngine | None) -> Tracker:
        return FlowTracker(follow, engine)

    return factory


_FOLLOW: dict[str, tuple[FollowPoints, str]] = {
    "c": (track_chained, "chained frame to frame"),
    "d": (track_direct, "straight from the query frame"),
}
_ENGINES = (("dis", ()), ("farneback", ()), ("raft", ("--raft-weights", "--device")))

METHODS.register(TrackerMethod(
    name="zero_motion", description="every point stays where it was queried and is never occluded (the floor)",
    factory=lambda engine: _zero_motion,
))
for _engine, _options in _ENGINES:
    for _suffix, (_follow, _how) in _FOLLOW.items():
        METHODS.register(TrackerMethod(
            name=f"{_engine}-{_suffix}",
            description=f"{METHODS.get(_engine, FlowEngineMethod).title} flow {_how}; occluded where the cycle check fails",
            options=_options, factory=_flow_tracker(_follow), flow_engine=_engine,
        ))


def build_tracker(name: str, engine: FlowEngine | None = None) -> Tracker:
    """The registered tracker ``name``; one that runs on a flow engine runs on ``engine``, or when that is
    None on its engine with default settings (an engine that needs weights cannot be built that way).

    Raises:
        ValueError: unknown ``name``, ``engine`` is not the engine the tracker runs on, or the default
            engine needs weights (build it with them and pass it).
    """
    method = METHODS.get(name, TrackerMethod)
    if method.flow_engine is None:
        if engine is not None:
            raise ValueError(f"tracker {name!r} runs on no flow engine, got the {engine.name!r} engine")
        return method.factory(None)
    if engine is None:
        engine = build_flow_engine(FlowEngineConfig(engine=method.flow_engine))
    elif engine.name != method.flow_engine:
        raise ValueError(f"flow tracker {name!r} needs a {method.flow_engine!r} flow engine, got {engine.name!r}")
    return method.factory(engine)
