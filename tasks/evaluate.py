"""Prefect task: score stored predictions against TAP-Vid ground truth."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from prefect import task

from flows.config import EvaluationConfig
from omnimotion_core.metrics import tapvid_metrics
from storage.prediction_store import read_predictions
from storage.results_table import summarize_video_metrics
from storage.tapvid import load_tapvid_sample
from tasks.caching import StoreCachePolicy, always_live, file_identity, store_identity


def evaluation_identity(inputs: dict[str, Any]) -> dict[str, object]:
    """Cache identity of :func:`evaluate_tapvid`: the predictions, the dataset's bytes (the ground truth)
    and the scoring settings. The result is a record, not a store, so it stays valid on its own."""
    return {"predictions": store_identity(inputs["predictions"]), "dataset": file_identity(inputs["dataset"]),
            "video_name": inputs["video_name"], "evaluation": asdict(inputs["evaluation"])}


def _evaluate_tapvid(predictions: str, dataset: str, video_name: str, evaluation: EvaluationConfig) -> dict[str, object]:
    """Return one results record (dataset, method, video and the metric means) for stored predictions."""
    predicted = read_predictions(Path(predictions))
    sample = load_tapvid_sample(Path(dataset), video_name, evaluation.query_mode, evaluation.resolution)
    if not np.array_equal(predicted.query_points, sample.query_points):
        raise ValueError(f"{predictions}: query points differ from those of {dataset} video {video_name}")
    metrics = tapvid_metrics(
        sample.query_points[None],
        sample.occluded[None],
        sample.target_points[None],
        predicted.occluded[None],
        predicted.tracks[None],
        query_mode=evaluation.query_mode,
        frame_rule=evaluation.frame_rule,
    )
    record: dict[str, object] = {"dataset": Path(dataset).stem, "method": predicted.method, "video": video_name}
    record.update(summarize_video_metrics(metrics))
    return record


evaluate_tapvid = task(
    _evaluate_tapvid, name="evaluate_tapvid", cache_policy=StoreCachePolicy(identity=evaluation_identity, is_live=always_live),
)
