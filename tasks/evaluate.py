"""Prefect task: score stored predictions against the ground truth (a TAP-Vid pickle or a BADJA folder)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from prefect import task

from omnimotion_core.metrics import pck_t, tapvid_metrics
from storage import layout
from storage.ground_truth import load_ground_truth
from storage.prediction_store import read_predictions
from storage.results_table import summarize_video_metrics
from storage.tapvid import TapVidSample
from storage.video_store import open_video
from tasks.caching import StoreCachePolicy, always_live, ground_truth_identity, store_identity
from tasks.config import EvaluationConfig


def evaluation_identity(inputs: dict[str, Any]) -> dict[str, object]:
    """Cache identity of :func:`evaluate_tapvid`: the predictions, the ground truth's bytes and the
    scoring settings. The result is a record, not a store, so it stays valid on its own."""
    return {"predictions": store_identity(inputs["predictions"]),
            "dataset": ground_truth_identity(inputs["dataset"], inputs["video_name"]),
            "video_name": inputs["video_name"], "evaluation": asdict(inputs["evaluation"])}


def _evaluate_tapvid(predictions: str, dataset: str, video_name: str, evaluation: EvaluationConfig) -> dict[str, object]:
    """Return one results record (dataset, method, video and the metric means) for stored predictions.

    Only labelled (point, frame) entries are scored (a BADJA sequence's evaluation mask); where the ground
    truth has object masks (BADJA) the record also holds ``pck_t``.
    """
    predicted = read_predictions(Path(predictions))
    group = open_video(layout.video_group_of(Path(predictions)))
    sample = load_ground_truth(Path(dataset), video_name, evaluation.query_mode, evaluation.resolution,
                               group.max_frames)
    if not np.array_equal(predicted.query_points, sample.query_points):
        raise ValueError(f"{predictions}: query points differ from those of {dataset} video {video_name}")
    record: dict[str, object] = {"dataset": Path(dataset).stem, "method": predicted.method, "video": video_name}
    record.update(score_tracks(sample, predicted.tracks, predicted.occluded, evaluation))
    return record


def score_tracks(
    sample: TapVidSample, tracks: np.ndarray, occluded: np.ndarray, evaluation: EvaluationConfig
) -> dict[str, float]:
    """The metric means of one video's predictions (see ``storage.results_table.summarize_video_metrics``).

    Args:
        sample: the ground truth at the evaluation resolution.
        tracks: float [N, T, 2] (x, y) pixels, predicted for ``sample.query_points``.
        occluded: bool [N, T], predicted occlusion.
        evaluation: query mode and frame rule.

    Only labelled (point, frame) entries are scored (``sample.evaluation_mask``); where the ground truth has
    object masks (BADJA) the means also hold ``pck_t``.
    """
    mask = None if sample.evaluation_mask is None else sample.evaluation_mask[None]
    metrics = tapvid_metrics(
        sample.query_points[None],
        sample.occluded[None],
        sample.target_points[None],
        occluded[None],
        tracks[None],
        query_mode=evaluation.query_mode,
        frame_rule=evaluation.frame_rule,
        evaluation_mask=mask,
    )
    if sample.object_areas is not None:
        metrics["pck_t"] = pck_t(
            sample.query_points[None], sample.occluded[None], sample.target_points[None], tracks[None],
            sample.object_areas.area[None], evaluation.query_mode, evaluation.frame_rule, mask,
            np.array([sample.object_areas.scale_xy]),
        )
    return summarize_video_metrics(metrics)


evaluate_tapvid = task(
    _evaluate_tapvid, name="evaluate_tapvid", cache_policy=StoreCachePolicy(identity=evaluation_identity, is_live=always_live),
)
