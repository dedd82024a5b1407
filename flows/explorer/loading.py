"""From a TARGET of ``omnimotion view`` to the content of an explorer session: a video group or a results
folder (``storage.view_target``), or a nested MLflow run of a benchmark (its logged model)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flows.explorer.session import ExplorerContent, ModelTracks, StoredTracks, TrackSource
from omnimotion_core.metrics import tapvid_metrics
from omnimotion_core.model.config_dict import config_from_dict
from storage import layout
from storage.errors import IncompleteStoreError, InputError
from storage.fit_store import read_depth
from storage.flow_store import flow_set_path
from storage.ground_truth import load_ground_truth
from storage.prediction_store import read_predictions
from storage.results_table import summarize_video_metrics
from storage.tapvid import TapVidSample
from storage.view_target import FitEntry, PairMasks, ViewTarget, open_video_target
from tasks.fit import load_fitted_model, load_logged_model

DEFAULT_FPS = 10.0


@dataclass(frozen=True)
class LoadConfig:
    """How a target is loaded.

    Attributes:
        device: torch device of the fitted models (``cpu`` or ``cuda``).
        query_mode: how the ground truth's query points are sampled (the benchmark's default ``first``).
    """

    device: str = "cpu"
    query_mode: str = "first"


def load_target(target: ViewTarget, config: LoadConfig, extra_sources: tuple[TrackSource, ...] = (),
                runs: list[dict[str, object]] | None = None, origin: str | None = None) -> ExplorerContent:
    """The content of a session on ``target``: its fits as live models (newest first) after ``extra_sources``,
    its stored predictions, the newest fit's exported depth and flow set, ground truth and scores."""
    video = target.video
    sources: list[TrackSource] = list(extra_sources)
    for fit in target.fits:
        model = load_fitted_model(fit.path, config_from_dict(fit.params["model"]), video.num_frames, config.device)
        sources.append(ModelTracks(f"fit:{fit.name}", f"{fit.name} (fitted model)", model, video.num_frames,
                                   video.size))
    truth = _ground_truth(target, config)
    metrics = []
    for path in target.predictions:
        predictions = read_predictions(path)
        sources.append(StoredTracks(f"stored:{path.name}", f"{predictions.method} (stored tracks, "
                                    f"{len(predictions.query_points)} queries)", predictions))
        if truth is not None and np.array_equal(predictions.query_points, truth.query_points):
            metrics.append({"method": path.name, **_scores(predictions.tracks, predictions.occluded, truth,
                                                           str(predictions.params.get("query_mode", "first")))})
    newest = target.fits[0] if target.fits else None
    fps = video.attrs.get("fps")
    return ExplorerContent(
        title=target.name, frames=video.read_frames(), fps=float(fps) if fps else DEFAULT_FPS, sources=sources,
        depth=_exported_depth(newest), read_mask=_mask_reader(video.path, newest), ground_truth=truth,
        metrics=metrics, runs=target.runs if runs is None else runs, origin=origin or str(video.path),
    )


def load_mlflow_run(tracking_uri: str, run_id: str, data_root: Path, config: LoadConfig) -> ExplorerContent:
    """The content of a session on a benchmark's nested MLflow run: the model it logged (``model/``), and
    the video group the benchmark made in ``data_root`` (frames, stored predictions, ground truth)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        run = MlflowClient(tracking_uri).get_run(run_id)
    except MlflowException as error:
        raise InputError(f"{tracking_uri}: no MLflow run {run_id!r} ({error.message.splitlines()[0]})") from error
    tags, params = run.data.tags, run.data.params
    if "video" not in tags or "dataset" not in params:
        raise InputError(f"MLflow run {run_id}: not a benchmark's per-video run (no 'video' tag or 'dataset' param)")
    if "fit" not in params:
        raise InputError(f"MLflow run {run_id}: {tags.get('method')} on {tags['video']} logged no fitted model")
    video_id = layout.video_id_from_name(f"{params['dataset']}-{tags['video']}")
    target = open_video_target(layout.video_path(data_root, video_id), tags["video"], require_fit=False)
    model, size = load_logged_model(tracking_uri, run_id, config.device)
    if size != target.video.size or model.num_frames != target.video.num_frames:
        raise InputError(f"MLflow run {run_id}: the logged model is for {model.num_frames} frames of {size}, the "
                         f"video group {target.video.path} has {target.video.num_frames} of {target.video.size}")
    logged = ModelTracks(f"mlflow:{run_id}", f"{tags.get('method', 'model')} (MLflow run {run_id[:8]})", model,
                         target.video.num_frames, target.video.size)
    row = {"video": tags["video"], "method": tags.get("method", ""), **run.data.metrics}
    return load_target(target, config, (logged,), [row], f"{tracking_uri} run {run_id}")


def _ground_truth(target: ViewTarget, config: LoadConfig) -> TapVidSample | None:
    if target.annotation is None:
        return None
    video = target.video
    return load_ground_truth(target.annotation, target.name, config.query_mode, video.size, video.max_frames)


def _scores(tracks: np.ndarray, occluded: np.ndarray, truth: TapVidSample, query_mode: str) -> dict[str, float]:
    """AJ, delta_avg, OA (percent) and TC (pixels) of stored tracks against the ground truth (TAP-Vid rule)."""
    mask = None if truth.evaluation_mask is None else truth.evaluation_mask[None]
    summary = summarize_video_metrics(tapvid_metrics(
        truth.query_points[None], truth.occluded[None], truth.target_points[None], occluded[None], tracks[None],
        query_mode=query_mode, evaluation_mask=mask))
    return {"AJ": 100.0 * summary["average_jaccard"], "delta_avg": 100.0 * summary["average_pts_within_thresh"],
            "OA": 100.0 * summary["occlusion_accuracy"], "TC": summary["temporal_coherence"]}


def _exported_depth(fit: FitEntry | None) -> np.ndarray | None:
    if fit is None:
        return None
    try:
        return read_depth(fit.path)
    except IncompleteStoreError:
        return None


def _mask_reader(video_group: Path, fit: FitEntry | None) -> Callable[[int, int], np.ndarray | None] | None:
    """Reader of the consistency mask of a pair (i, j) from the newest fit's flow set; None without one."""
    if fit is None:
        return None
    path = flow_set_path(video_group, str(fit.params.get("flow_set", "")))
    return PairMasks(path).read if path.is_dir() else None
