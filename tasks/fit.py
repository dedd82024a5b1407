"""Prefect tasks of the model stage: fit OmniMotion to a video's flow set, track query points with it."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import zarr
from prefect import get_run_logger, task

from omnimotion_core.appearance import check_appearance
from omnimotion_core.flow_set import PairSource
from omnimotion_core.model import (
    MotionModel,
    OmniMotionConfig,
    Trainer,
    build_model,
    pseudo_depth,
    track,
)
from storage.errors import InputError
from storage.fit_store import (
    complete_fit,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    open_fit,
    read_fit_summary,
    read_matches,
    save_checkpoint,
    write_dense_tracks,
    write_depth,
    write_matches,
)
from storage.flow_store import ZarrPairSource, open_pair_source
from storage.ground_truth import load_ground_truth
from storage.prediction_store import (
    Predictions,
    prediction_key,
    predictions_path,
    write_predictions,
)
from storage.video_store import open_video
from tasks.caching import (
    StoreCachePolicy,
    ground_truth_identity,
    store_identity,
    video_identity,
)
from tasks.config import DenseExportConfig, EvaluationConfig, FitConfig
from tasks.flow import Logger
from tasks.progress import FitProgress, matching_progress


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; ``cuda`` without a GPU is an error."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("fit device 'cuda' was asked for but torch sees no CUDA device")
    return device


def load_fit_inputs(video_group: Path, flow_set: str, fit: FitConfig, logger: Logger) -> tuple[PairSource, np.ndarray]:
    """What a fit reads: the flow set ``flow_set`` of ``video_group`` (loaded whole within
    ``fit.flow_memory_budget_mib``, else streamed from zarr, which is reported to ``logger``) and the stored
    frames as float32 [T, H, W, 3] RGB in [0, 1]."""
    group = open_video(video_group)
    flows = open_pair_source(video_group, Path(flow_set).name, fit.flow_memory_budget_mib * 2**20)
    if isinstance(flows, ZarrPairSource):
        logger.info("%s: flow set over %d MiB, streamed from zarr", group.video_id, fit.flow_memory_budget_mib)
    return flows, group.read_frames().astype(np.float32) / 255.0


def predict_with_model(
    model: MotionModel, frames: np.ndarray, query_points: np.ndarray, evaluation: EvaluationConfig
) -> tuple[np.ndarray, np.ndarray]:
    """A fitted model's tracks [N, T, 2] (x, y) px and occlusion [N, T] of ``query_points`` [N, 3] (t, y, x)
    on ``frames`` uint8 [T, H, W, 3], after the appearance check every stored prediction passes through."""
    device = next(model.parameters()).device
    size = (int(frames.shape[1]), int(frames.shape[2]))
    tracks, occluded = track(model, torch.from_numpy(query_points).to(device), len(frames), size)
    tracks_np = tracks.cpu().numpy()
    return tracks_np, check_appearance(frames, query_points, tracks_np, occluded.cpu().numpy(),
                                       evaluation.appearance_check)


def fit_params(fit: FitConfig, flow_set: str, method: str) -> dict[str, object]:
    """What determines a fit: the model config (with the method's changes) and the flow set."""
    return {"model": dataclasses.asdict(fit.model_config(method)), "flow_set": Path(flow_set).name}


def fit_name(fit: FitConfig, flow_set: str, method: str) -> str:
    """``<method>-<preset>-<hash>`` of :func:`fit_params`: same inputs, same fit folder."""
    payload = json.dumps(fit_params(fit, flow_set, method), sort_keys=True, default=str)
    return f"{method}-{fit.preset}-{hashlib.sha256(payload.encode('utf-8')).hexdigest()[:8]}"


def load_fitted_model(fit_dir: Path, config: OmniMotionConfig, num_frames: int, device: str) -> MotionModel:
    """The model of the newest checkpoint of a fit, in eval mode on ``device``."""
    state = latest_checkpoint(fit_dir)
    if state is None:
        raise ValueError(f"{fit_dir}: the fit has no checkpoint")
    model = build_model(config, num_frames, torch.Generator().manual_seed(config.trainer.seed))
    with _checkpoint_must_match(fit_dir):
        model.load_state_dict(state["trainer"]["model"])
    return model.to(device).eval()


@contextlib.contextmanager
def _checkpoint_must_match(fit_dir: Path) -> Iterator[None]:
    """Turn the error of loading a checkpoint written by another model config into an InputError naming it."""
    try:
        yield
    except (KeyError, RuntimeError, ValueError) as error:
        checkpoints = list_checkpoints(fit_dir)
        where = checkpoints[-1][1] if checkpoints else fit_dir
        detail = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise InputError(
            f"{where}: this checkpoint was written by another model configuration than the one asked for "
            f"({detail[:300]})"
        ) from error


def fit_identity(inputs: dict[str, Any]) -> dict[str, object]:
    """Cache identity of :func:`fit_model`: the video's content and the fit's name (a hash of the model
    config and the flow set's name, itself a hash of the flow parameters)."""
    return {"video": video_identity(inputs["video_group"]),
            "fit": fit_name(inputs["fit"], inputs["flow_set"], inputs["method"])}


def _fit_model(video_group: str, flow_set: str, fit: FitConfig, method: str = "omnimotion") -> str:
    """Fit (or resume fitting) OmniMotion (or the ablation ``method``) on ``flow_set``; return the fit folder.

    Checkpoints every ``fit.checkpoint_every`` steps; a rerun after a kill continues from the newest one
    and reaches the same weights as an uninterrupted fit. A completed fit is returned as it is. Not
    retried: a NaN does not go away on retry.
    """
    logger = get_run_logger()
    group = open_video(Path(video_group))
    name = fit_name(fit, flow_set, method)
    fit_dir = open_fit(Path(video_group), name, fit_params(fit, flow_set, method))
    if _is_complete(fit_dir):
        logger.info("%s: fit %s already complete", group.video_id, name)
        return str(fit_dir)
    config = fit.model_config(method)
    device = resolve_device(fit.device)
    if device == "cpu" and fit.cpu_threads is not None:
        torch.set_num_threads(fit.cpu_threads)
    flows, video = load_fit_inputs(Path(video_group), flow_set, fit, logger)
    on_matching = matching_progress(group.video_id, flows.num_frames, fit.progress, logger)
    stored_matches = read_matches(fit_dir)
    trainer = Trainer(config, flows, video, device=device, on_matching=on_matching, matches=stored_matches)
    if trainer.matches is not None and stored_matches is not None:
        logger.info("%s: %d long-gap matches read from the fit folder", group.video_id, len(trainer.matches))
    elif trainer.matches is not None:
        write_matches(fit_dir, trainer.matches)
        logger.info("%s: %d long-gap matches found", group.video_id, len(trainer.matches))
    history: list[list[float]] = []
    fit_seconds = 0.0
    state = latest_checkpoint(fit_dir)
    if state is not None:
        with _checkpoint_must_match(fit_dir):
            trainer.load_state_dict(state["trainer"])
        history, fit_seconds = [list(row) for row in state["loss_history"]], float(state["fit_seconds"])
        if any(len(row) != 1 + len(trainer.loss_terms) for row in history):
            logger.warning("%s: the checkpoint's loss history records other terms than %s (written by an older "
                           "version); the stored history restarts at step %d", group.video_id,
                           ", ".join(trainer.loss_terms), trainer.step)
            history = []
        logger.info("%s: resuming fit %s at step %d", group.video_id, name, trainer.step)
    started = time.perf_counter()
    total_steps = config.trainer.num_steps

    def checkpoint() -> None:
        elapsed = fit_seconds + time.perf_counter() - started
        save_checkpoint(fit_dir, trainer.step, {"trainer": trainer.state_dict(), "loss_history": history,
                                                "fit_seconds": elapsed})

    progress = FitProgress(group.video_id, total_steps, trainer.step, fit.progress, logger, fit.progress_bar)

    def on_losses(step: int, losses: dict[str, float]) -> None:
        progress.record_loss(losses["total"])
        if step % fit.log_every == 0:
            history.append([float(step), *(losses[term] for term in trainer.loss_terms)])
        if step % fit.checkpoint_every == 0 or step == total_steps:
            checkpoint()

    interval = int(np.gcd(fit.log_every, fit.checkpoint_every))
    with progress:
        trainer.fit(callback=on_losses, callback_every=interval, on_step=progress.on_step)
    if not any(step == trainer.step for step, _ in list_checkpoints(fit_dir)):
        checkpoint()
    seconds = fit_seconds + time.perf_counter() - started
    complete_fit(fit_dir, {
        "fit_seconds": seconds, "steps": trainer.step, "device": device,
        "steps_per_second": trainer.step / seconds if seconds > 0 else None, "loss_history": history,
        "loss_terms": ["step", *trainer.loss_terms],
    })
    logger.info("%s: fit %s done, %d steps in %.1f s", group.video_id, name, trainer.step, seconds)
    return str(fit_dir)


fit_model = task(_fit_model, name="fit_model", cache_policy=StoreCachePolicy(identity=fit_identity))


def fit_record(fit_dir: str) -> dict[str, object]:
    """``fit_steps``, ``fit_seconds`` and ``final_flow_loss`` (the last recorded flow loss, NaN when none
    was recorded) of a complete fit, from its summary."""
    summary = read_fit_summary(Path(fit_dir))
    history = summary["loss_history"]
    final_flow = float(history[-1][summary["loss_terms"].index("flow")]) if history else math.nan
    return {"fit_steps": int(summary["steps"]), "fit_seconds": float(summary["fit_seconds"]), "final_flow_loss": final_flow}


def _is_complete(fit_dir: Path) -> bool:
    return zarr.open_group(str(fit_dir), mode="r").attrs.get("complete") is True


def model_prediction_params(fit_dir: str, evaluation: EvaluationConfig) -> dict[str, object]:
    """What names the predictions of a fitted model: the query and appearance-check settings and the fit."""
    return {**evaluation.prediction_params(), "fit": Path(fit_dir).name}


def model_tracks_identity(inputs: dict[str, Any]) -> dict[str, object]:
    """Cache identity of :func:`track_with_model`: the fit, the predictions' key and the ground truth's
    bytes (the query points)."""
    key = prediction_key(inputs["method"], model_prediction_params(inputs["fit_dir"], inputs["evaluation"]))
    return {"fit": store_identity(inputs["fit_dir"]), "predictions": key,
            "dataset": ground_truth_identity(inputs["dataset"], inputs["video_name"]),
            "video_name": inputs["video_name"]}


def _track_with_model(
    video_group: str, fit_dir: str, dataset: str, video_name: str, method: str, evaluation: EvaluationConfig,
    fit: FitConfig,
) -> str:
    """Track the query points of ``dataset`` (a TAP-Vid pickle or a BADJA folder) with a fitted model;
    return the stored predictions' path."""
    params = model_prediction_params(fit_dir, evaluation)
    existing = predictions_path(Path(video_group), method, params)
    if existing.exists():
        return str(existing)
    group = open_video(Path(video_group))
    sample = load_ground_truth(Path(dataset), video_name, evaluation.query_mode, evaluation.resolution,
                               group.max_frames)
    model = load_fitted_model(Path(fit_dir), fit.model_config(method), group.num_frames, resolve_device(fit.device))
    tracks_np, occluded_np = predict_with_model(model, group.read_frames(), sample.query_points, evaluation)
    predictions = Predictions(sample.query_points, tracks_np, occluded_np, method, params)
    return str(write_predictions(Path(video_group), predictions))


track_with_model = task(
    _track_with_model, name="track_with_model", cache_policy=StoreCachePolicy(identity=model_tracks_identity),
)


def export_identity(inputs: dict[str, Any]) -> dict[str, object]:
    """Cache identity of :func:`export_tracks`: the fit and the query grid."""
    dense: DenseExportConfig = inputs["dense"]
    return {"fit": store_identity(inputs["fit_dir"]), "method": inputs["method"],
            "query_frame": dense.query_frame, "grid_stride": dense.stride}


def _export_tracks(video_group: str, fit_dir: str, fit: FitConfig, method: str = "omnimotion",
                  dense: DenseExportConfig = DenseExportConfig()) -> str:
    """Track the pixels of ``dense`` (a grid of its query frame) through all frames with a fitted model and
    store the tracks (``dense/``) and the pseudo-depth of every frame (``depth``) in the fit; return the
    dense group's path."""
    group = open_video(Path(video_group))
    if dense.query_frame >= group.num_frames:
        raise ValueError(f"dense query frame must lie in [0, {group.num_frames}), got {dense.query_frame}")
    model = load_fitted_model(Path(fit_dir), fit.model_config(method), group.num_frames, resolve_device(fit.device))
    query_points = dense.query_points(group.size)
    device = next(model.parameters()).device
    tracks, occluded = track(model, torch.from_numpy(query_points).to(device), group.num_frames, group.size)
    path = write_dense_tracks(Path(fit_dir), query_points, tracks.cpu().numpy(), occluded.cpu().numpy())
    depth = np.stack([pseudo_depth(model, t, group.size).cpu().numpy() for t in range(group.num_frames)])
    write_depth(Path(fit_dir), depth)
    get_run_logger().info("%s: %s and %d depth maps exported", group.video_id, dense.describe(group.size), len(depth))
    return str(path)


export_tracks = task(_export_tracks, name="export_tracks", cache_policy=StoreCachePolicy(identity=export_identity))


MODEL_ARTIFACT_DIR = "model"
MODEL_CHECKPOINT = "checkpoint.pt"
MODEL_DESCRIPTION = "fit.json"


def model_artifacts(fit_dir: str, fit: FitConfig, method: str, video_group: str) -> tuple[str, dict[str, object]]:
    """The newest checkpoint of a fit and what rebuilds its model (method, preset, steps, seed, frames,
    size), for logging to MLflow under ``model/``."""
    checkpoints = list_checkpoints(Path(fit_dir))
    if not checkpoints:
        raise ValueError(f"{fit_dir}: the fit has no checkpoint")
    group = open_video(Path(video_group))
    description = {
        "method": method, "preset": fit.preset, "num_steps": fit.num_steps, "seed": fit.seed,
        "num_frames": group.num_frames, "size": list(group.size),
    }
    return str(checkpoints[-1][1]), description


def load_logged_model(tracking_uri: str, run_id: str, device: str = "cpu") -> tuple[MotionModel, tuple[int, int]]:
    """Load the model a nested benchmark run logged (``model/checkpoint.pt`` + ``model/fit.json``), ready
    for :func:`omnimotion_core.model.track`; returns the model (eval mode) and the frame size (H, W)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    folder = Path(client.download_artifacts(run_id, MODEL_ARTIFACT_DIR))
    description = json.loads((folder / MODEL_DESCRIPTION).read_text(encoding="utf-8"))
    fit = FitConfig(preset=description["preset"], num_steps=description["num_steps"], seed=description["seed"])
    config = fit.model_config(description["method"])
    state = load_checkpoint(folder / MODEL_CHECKPOINT)
    model = build_model(config, int(description["num_frames"]), torch.Generator().manual_seed(config.trainer.seed))
    model.load_state_dict(state["trainer"]["model"])
    return model.to(device).eval(), (int(description["size"][0]), int(description["size"][1]))
