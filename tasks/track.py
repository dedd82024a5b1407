"""Prefect task: run a baseline tracker on the query points of one TAP-Vid video."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.config import EvaluationConfig
from omnimotion_core.trackers import get_tracker
from storage.prediction_store import Predictions, predictions_path, write_predictions
from storage.tapvid import load_tapvid_sample
from storage.video_store import open_video


@task(name="track_points", cache_policy=NO_CACHE)
def track_points(video_group: str, dataset: str, video_name: str, method: str, evaluation: EvaluationConfig) -> str:
    """Predict tracks of the dataset's query points with ``method`` on the stored frames; return the
    path of the stored predictions (computed once per method and evaluation settings)."""
    params = {"query_mode": evaluation.query_mode, "resolution": list(evaluation.resolution)}
    existing = predictions_path(Path(video_group), method, params)
    if existing.exists():
        return str(existing)
    group = open_video(Path(video_group))
    sample = load_tapvid_sample(Path(dataset), video_name, evaluation.query_mode, evaluation.resolution)
    frames = group.read_frames()
    if frames.shape[:3] != sample.video.shape[:3]:
        raise ValueError(
            f"{video_group}: stored frames are {frames.shape[:3]}, the dataset's video {video_name} is "
            f"{sample.video.shape[:3]} at the evaluation resolution"
        )
    tracks, occluded = get_tracker(method)(frames, sample.query_points)
    get_run_logger().info("%s: %s tracked %d points over %d frames", video_name, method, len(tracks), frames.shape[0])
    predictions = Predictions(sample.query_points, tracks, occluded, method, params)
    return str(write_predictions(Path(video_group), predictions))
