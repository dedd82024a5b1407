"""Prefect task: run a baseline tracker on the query points of one TAP-Vid video."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from prefect import get_run_logger, task

from omnimotion_core.appearance import check_appearance
from omnimotion_core.flow import FlowConfig, FlowEngineConfig
from omnimotion_core.methods import METHODS, ModelMethod, TrackerMethod, run_methods
from omnimotion_core.registry import Tracker
from omnimotion_core.trackers import MftTracker, build_tracker
from storage.flow_store import flow_set_name, list_flow_sets, open_flow_reader
from storage.ground_truth import load_ground_truth
from storage.prediction_store import (
    Predictions,
    prediction_key,
    predictions_path,
    write_predictions,
)
from storage.video_store import open_video
from tasks.caching import StoreCachePolicy, ground_truth_identity, video_identity
from tasks.config import EvaluationConfig
from tasks.flow import flow_params, load_flow_engine, weights_key


def _engine_config(method: TrackerMethod, flow: FlowConfig) -> FlowEngineConfig | None:
    """The flow engine a tracker runs on: the engine it names, with the configured engine settings (e.g. the
    RAFT weights and device; the defaults where none were set); None for a tracker without engine."""
    if method.flow_engine is None:
        return None
    return dataclasses.replace(flow.engine, engine=method.flow_engine)


def check_method(method: str, flow: FlowConfig) -> None:
    """Raise a clear error for an unknown method, or a tracker whose flow engine lacks its weights file,
    before any work."""
    found = METHODS.find(method)
    if not isinstance(found, ModelMethod | TrackerMethod):
        raise ValueError(f"unknown method {method!r}; known methods: {', '.join(run_methods())}")
    engine = _engine_config(found, flow) if isinstance(found, TrackerMethod) else None
    if engine is None or engine.method.weights_option is None:
        return
    weights = engine.method.weights_file(engine)
    if weights is None:
        raise ValueError(f"{method} needs {engine.method.title} weights: pass {engine.method.weights_option} PATH "
                         "(a local checkpoint file, e.g. a torchvision RAFT checkpoint for RAFT)")
    if not Path(weights).is_file():
        raise ValueError(f"{method}: {engine.method.title} weights not found at {weights}")


def build_pipeline_tracker(method: str, flow: FlowConfig, video_group: Path | None = None) -> Tracker:
    """The registered tracker ``method`` on its flow engine built from ``flow`` (weights read from disk).

    A tracker that can reuse flows (an ``<engine>-mft``) reads them from the direct flow set of ``video_group``
    computed with the same engine settings, when that set is there and finished."""
    engine_config = _engine_config(METHODS.get(method, TrackerMethod), flow)
    tracker = build_tracker(method, None if engine_config is None else load_flow_engine(engine_config))
    if isinstance(tracker, MftTracker) and engine_config is not None and video_group is not None:
        name = flow_set_name(flow_params(dataclasses.replace(flow, engine=engine_config)))
        if name in list_flow_sets(video_group):
            tracker = tracker.reusing(open_flow_reader(video_group, name))
    return tracker


def predict_tracks(
    tracker: Tracker, frames: np.ndarray, query_points: np.ndarray, evaluation: EvaluationConfig
) -> tuple[np.ndarray, np.ndarray]:
    """A tracker's tracks [N, T, 2] (x, y) px and occlusion [N, T] of ``query_points`` [N, 3] (t, y, x) on
    ``frames`` uint8 [T, H, W, 3], after the appearance check every stored prediction passes through."""
    tracks, occluded = tracker(frames, query_points)
    return tracks, check_appearance(frames, query_points, tracks, occluded, evaluation.appearance_check)


def prediction_params(method: str, evaluation: EvaluationConfig, flow: FlowConfig) -> dict[str, object]:
    """What names a baseline's predictions: the query and appearance-check settings and, for a tracker on a
    flow engine, its engine (and weights file)."""
    params = evaluation.prediction_params()
    engine = _engine_config(METHODS.get(method, TrackerMethod), flow)
    if engine is not None:
        engine_params = flow_params(dataclasses.replace(flow, engine=engine))
        params.update(engine=engine_params["engine"], consistency=engine_params["consistency"])
        if weights_key(engine) in engine_params:
            params[weights_key(engine)] = engine_params[weights_key(engine)]
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
    tracker = build_pipeline_tracker(method, flow, Path(video_group))
    group = open_video(Path(video_group))
    sample = load_ground_truth(Path(dataset), video_name, evaluation.query_mode, evaluation.resolution,
                               group.max_frames)
    frames = group.read_frames()
    if frames.shape[:3] != sample.video.shape[:3]:
        raise ValueError(
            f"{video_group}: stored frames are {frames.shape[:3]}, the dataset's video {video_name} is "
            f"{sample.video.shape[:3]} at the evaluation resolution"
        )
    tracks, occluded = predict_tracks(tracker, frames, sample.query_points, evaluation)
    get_run_logger().info("%s: %s tracked %d points over %d frames", video_name, method, len(tracks), frames.shape[0])
    predictions = Predictions(sample.query_points, tracks, occluded, method, params)
    return str(write_predictions(Path(video_group), predictions))


track_points = task(_track_points, name="track_points", cache_policy=StoreCachePolicy(identity=track_identity))
