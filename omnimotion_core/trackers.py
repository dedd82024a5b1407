"""The trackers that run without model fitting (the baselines of the results table), registered in the
method registry, and :func:`build_tracker`, which builds any registered tracker.

A tracker (:class:`omnimotion_core.registry.Tracker`) takes the frames of a video and TAP-Vid query points
and returns tracks and occlusion. ``<engine>-c`` chains consecutive flow, ``<engine>-d`` flows directly from
the query frame (the paper's RAFT-C / RAFT-D rows), both with the 3 px cycle check of the default
:class:`ConsistencyConfig`; ``<engine>-mft`` chains flows of several gaps, keeping per frame the candidate the
others agree with (:mod:`omnimotion_core.flow.mft`). All run on a flow engine the caller builds (the
pipeline reads its weights, if any, through ``storage``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from omnimotion_core.flow import (
    ConsistencyConfig,
    FlowEngine,
    FlowEngineConfig,
    MftConfig,
    build_flow_engine,
    track_chained,
    track_direct,
    track_mft,
)
from omnimotion_core.flow.mft import FlowReader
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


class MftTracker:
    """Multi-gap chaining (:func:`track_mft`) on one engine; flows it is given are not computed again."""

    def __init__(self, engine: FlowEngine | None, config: MftConfig = MftConfig(), known: FlowReader | None = None) -> None:
        """
        Args:
            engine: the built flow engine it runs on.
            config: gaps, uncertainty and selection rule.
            known: flows of this engine already at hand (e.g. a stored flow set of the video), or None.
        """
        if engine is None:
            raise ValueError("a flow tracker needs a flow engine")
        self.engine = engine
        self.config = config
        self.known = known

    def reusing(self, known: FlowReader) -> MftTracker:
        """The same tracker reading the flows ``known`` holds instead of computing them."""
        return MftTracker(self.engine, self.config, known)

    def __call__(self, frames: np.ndarray, query_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Track ``query_points`` [N, 3] (t, y, x) through ``frames`` uint8 [T, H, W, 3]; see :func:`track_mft`."""
        return track_mft(frames, query_points, self.engine, self.config, self.known)


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
    METHODS.register(TrackerMethod(
        name=f"{_engine}-mft",
        description=f"{METHODS.get(_engine, FlowEngineMethod).title} flows of gaps 1-32 chained MFT-style, keeping per frame "
                    "the candidate the others agree with; occluded where its flows are, or its uncertainty exceeds 3 px",
        options=_options, factory=MftTracker, flow_engine=_engine,
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
