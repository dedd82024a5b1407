"""Prefect task: run a baseline tracker on the query points of one TAP-Vid video."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task

from flows.config import EvaluationConfig, FlowConfig
from omnimotion_core.appearance import check_appearance
from omnimotion_core.flow import FlowEngineConfig
from omnimotion_core.trackers import (
    FLOW_TRACKER_METHODS,
    TRACKERS,
    Tracker,
    flow_tracker,
    get_tracker,
)
from storage.ground_truth import load_ground_truth
from storage.prediction_store import (
    Predictions,
    prediction_key,
    predictions_path,
    write_predictions,
)
from storage.video_store import open_video
from tasks.caching import StoreCachePolicy, ground_truth_identity, video_identity
from tasks.flow import flow_params, load_flow_engine

BASELINE_METHODS = tuple(sorted({*TRACKERS, *FLOW_TRACKER_METHODS}))
"""Every tracker the benchmark can run without fitting a model (RAFT ones need ``--raft-weights``)."""


def _engine_config(method: str, flow: FlowConfig) -> FlowEngineConfig:
    """The flow engine of a flow tracker: the configured engine when it is the one the method names,
    else that engine with default settings (RAFT keeps the configured weights)."""
    engine_name = FLOW_TRACKER_METHODS[method][0]
    if flow.engine.engine == engine_name:
        return flow.engine
    return FlowEngineConfig(engine=engine_name, raft=flow.engine.raft)


def check_method(method: str, flow: FlowConfig) -> None:
    """Raise a clear error for an unknown method, or a RAFT method without weights, before any work."""
    if method not in BASELINE_METHODS:
        raise ValueError(f"unknown method {method!r}; known methods: {', '.join(BASELINE_METHODS)}")
    if method in FLOW_TRACKER_METHODS and _engine_config(method, flow).engine == "raft":
        weights = flow.engine.raft.weights
        if weights is None:
            raise ValueError(f"{method} needs RAFT weights: pass --raft-weights PATH (a local torchvision RAFT checkpoint)")
        if not Path(weights).is_file():
            raise ValueError(f"{method}: RAFT weights not found at {weights}")


def _tracker(method: str, flow: FlowConfig) -> Tracker:
    if method not in FLOW_TRACKER_METHODS:
        return get_tracker(method)
    return flow_tracker(method, load_flow_engine(_engine_config(method, flow)))


def prediction_params(method: str, evaluation: EvaluationConfig, flow: FlowConfig) -> dict[str, object]:
    """What names a baseline's predictions: the query and appearance-check settings and, for a flow
    tracker, its engine."""
    params = evaluation.prediction_params()
    if method in FLOW_TRACKER_METHODS:
        engine_params = flow_params(dataclasses.replace(flow, engine=_engine_config(method, flow)))
        params.update(engine=engine_params["engine"], consistency=engine_params["consistency"])
        if "raft_weights" in engine_params:
            params["raft_weights"] = engine_params["raft_weights"]
    return params


def track_identity(inputs: dict[str, Any]) -> dict[str, object]:
    """Cache identity of :func:`track_points`: the video's content, the predictions' key and the
    ground truth's bytes (the query points)."""
    key = prediction_key(inputs["method"], prediction_params(inputs["method"], inputs["evaluation"], inputs["flow"]))
    return {"video": video_identity(inputs["video_group"]), "predictions": key,
            "dataset": ground_truth_identity(inputs["dataset"], inputs["video_name"]),
            "video_name": inputs["video_name"]}


def _track_points(
    video_group: str, dataset: str, video_name: str, method: str, evaluation: EvaluationConfig, flow: FlowConfig
) -> str:
    """Predict tracks of the query points of ``dataset`` (a TAP-Vid pickle or a BADJA folder) with ``method``
    on the stored frames; return the path of the stored predictions (computed once per method, its settings
    and the evaluation settings)."""
    params = prediction_params(method, evaluation, flow)
    existing = predictions_path(Path(video_group), method, params)
    if existing.exists():
        return str(existing)
    tracker = _tracker(method, flow)
    group = open_video(Path(video_group))
    sample = load_ground_truth(Path(dataset), video_name, evaluation.query_mode, evaluation.resolution,
                               group.max_frames)
    frames = group.read_frames()
    if frames.shape[:3] != sample.video.shape[:3]:
        raise ValueError(
            f"{video_group}: stored frames are {frames.shape[:3]}, the dataset's video {video_name} is "
            f"{sample.video.shape[:3]} at the evaluation resolution"
        )
    tracks, occluded = tracker(frames, sample.query_points)
    occluded = check_appearance(frames, sample.query_points, tracks, occluded, evaluation.appearance_check)
    get_run_logger().info("%s: %s tracked %d points over %d frames", video_name, method, len(tracks), frames.shape[0])
    predictions = Predictions(sample.query_points, tracks, occluded, method, params)
    return str(write_predictions(Path(video_group), predictions))


track_points = task(_track_points, name="track_points", cache_policy=StoreCachePolicy(identity=track_identity))
