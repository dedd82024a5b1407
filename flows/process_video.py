"""The ``process_video`` flow: one video end to end (ingest -> pairwise flow -> fit -> dense tracks,
pictures and an MLflow run), and its flow and fit stages."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path

import dask
from prefect import flow, get_run_logger

from flows.config import FIT_EXPERIMENT, PipelineConfig, flatten_params
from flows.runners import RunnerConfig, make_task_runner
from omnimotion_core.flow import FlowConfig
from storage import layout
from storage.flow_store import read_flow_set_params
from storage.video_store import VideoGroup, open_video
from tasks.caching import cached
from tasks.fit import export_tracks, fit_model, fit_params, model_artifacts
from tasks.flow import (
    compute_flow_chunk,
    import_external_tracks,
    plan_flow_set,
    publish_flow_set,
)
from tasks.ingest import ingest_video
from tasks.tracking import DATASET_DIGEST_LENGTH, DatasetRef, experiment_of_run, log_fit_run
from tasks.visuals import render_fit_visuals


@dataclass(frozen=True)
class FitResult:
    """What fitting a video produced (see :func:`fit_video`).

    Attributes:
        fit_dir: the fit folder (checkpoints, pseudo-depth ``depth``, dense tracks ``dense/``).
        dense: what the dense tracks are, e.g. ``1024 tracks: every 4th pixel of frame 0 (...)``.
        pictures: the overlay video of the dense tracks (``-tracks.mp4``), the pseudo-depth strip
            (``-depth.png``) and the loss curve (``-loss.png``).
        mlflow_run_id: the fit's MLflow run.
        mlflow_experiment_id: its experiment.
        tracking_uri: the store both live in.
    """

    fit_dir: str
    dense: str
    pictures: list[str]
    mlflow_run_id: str
    mlflow_experiment_id: str
    tracking_uri: str


@dataclass(frozen=True)
class VideoResult:
    """References to what ``process_video`` produced.

    Attributes:
        video_group: the video's zarr group.
        flow_set: the finished flow set inside it.
        fit: the model fit and its outputs, or None when fitting was off.
    """

    video_group: str
    flow_set: str
    fit: FitResult | None = None


def _compute_flows(video_group: str, config: FlowConfig = FlowConfig()) -> str:
    """Compute (or finish) the flow set of ``video_group``: chunks of pairs fan out over the task runner;
    a rerun computes only the pairs not yet stored. Returns the flow set's path. Its tasks are not cached
    by Prefect: the flow set's ``done`` marks are the unit of resumption (a chunk's record would point into
    a partial group that publication renames), and a finished set plans no chunk."""
    logger = get_run_logger()
    plan = plan_flow_set(video_group, config)
    futures = [compute_flow_chunk.submit(video_group, plan.path, chunk, config) for chunk in plan.chunks]
    started, written = time.perf_counter(), 0
    for done, future in enumerate(futures, start=1):
        written += future.result()
        elapsed = time.perf_counter() - started
        eta = elapsed / done * (len(futures) - done)
        logger.info("flows: %d/%d chunks (%d flows) in %.1f s, about %.0f s left", done, len(futures), written, elapsed, eta)
    return publish_flow_set(plan)


compute_flows = flow(_compute_flows, name="compute_flows", task_runner=make_task_runner(RunnerConfig()))


def _fit_video(video_group: str, flow_set: str, config: PipelineConfig = PipelineConfig(),
               method: str = "omnimotion") -> FitResult:
    """Fit the model method ``method`` to a stored flow set (resuming a killed fit from its last checkpoint),
    export the dense tracks of ``config.dense`` and the pseudo-depth, draw the fit's pictures into
    ``<data_root>/results/<video>/fits/``, and log the fit to MLflow as a run of its own (experiment
    ``config.experiment`` or :data:`~flows.config.FIT_EXPERIMENT`) with its parameters, losses, pictures, model
    and the video as its dataset. The data root is the video group's. Fit and export are cached (see
    :mod:`tasks.caching`); the pictures and the MLflow run are made on every call."""
    data_root = layout.data_root_of(Path(video_group))
    group = open_video(Path(video_group))
    with dask.annotate(resources=config.fit.dask_resources or {}):
        fit_dir = cached(fit_model, data_root).submit(video_group, flow_set, config.fit, method).result()
    cached(export_tracks, data_root)(video_group, fit_dir, config.fit, method, config.dense)
    pictures = render_fit_visuals(video_group, fit_dir, str(layout.fit_pictures_dir(data_root, group.video_id)))
    target = replace(config, data_root=data_root).tracking_target(FIT_EXPERIMENT)
    model = model_artifacts(fit_dir, config.fit, method, video_group)
    tags = {"video": group.video_id, "method": method, "preset": config.fit.preset}
    run_name = f"{group.video_id} | {method} {config.fit.preset} | {datetime.now():%Y-%m-%d %H:%M:%S}"
    run_id = log_fit_run(target, run_name, _fit_run_params(group, flow_set, config, method), tags,
                         _video_dataset(group), fit_dir, model, pictures)
    return FitResult(fit_dir, config.dense.describe(group.size), pictures, run_id,
                     experiment_of_run(target.tracking_uri, run_id), target.tracking_uri)


fit_video = flow(_fit_video, name="fit_video", task_runner=make_task_runner(RunnerConfig()))


def _fit_run_params(group: VideoGroup, flow_set: str, config: PipelineConfig, method: str) -> dict[str, object]:
    """What a fit run logs as parameters: the video (source, frames, size), the method, the fit and dense
    settings, the model configuration the fit used and the parameters of the flow set it was fitted on."""
    name = Path(flow_set).name
    return {
        "video": group.video_id, "source": str(group.attrs.get("source")), "frames": group.num_frames,
        "size": f"{group.size[0]}x{group.size[1]}", "method": method, "flow_set": name,
        **flatten_params({"fit": asdict(config.fit), "dense": asdict(config.dense),
                          "model": fit_params(config.fit, flow_set, method)["model"],
                          "flow": read_flow_set_params(group.path, name)}),
    }


def _video_dataset(group: VideoGroup) -> DatasetRef:
    """A video as an MLflow dataset: its id, a digest of its source's bytes, and the source it was read from."""
    return DatasetRef(group.video_id, str(group.attrs["source_hash"])[:DATASET_DIGEST_LENGTH], str(group.attrs["source"]))


def _process_video(
    source: str,
    config: PipelineConfig = PipelineConfig(),
    tapvid_name: str | None = None,
    external_tracks: str | None = None,
    external_video: str | None = None,
    fit: bool = True,
) -> VideoResult:
    """Ingest ``source`` (video file, image folder, or one video of a TAP-Vid pickle when ``tapvid_name`` is
    given) at the evaluation resolution and compute its pairwise flow set, or, when ``external_tracks``
    names another tracker's tracks (npz, or a pickle; ``external_video`` picks the video of a pickle of
    several), store those as its sparse flow set instead. Then, unless ``fit`` is False, fit the model
    (resuming a killed fit), export the dense tracks of ``config.dense`` and the pseudo-depth, draw the
    pictures and log the fit to MLflow (see :func:`fit_video`)."""
    source_path = Path(source).resolve()
    video_id = layout.video_id_from_name(tapvid_name or source_path.stem)
    group = cached(ingest_video, config.data_root)(
        str(source_path), video_id, str(config.data_root), config.ingest_config(), tapvid_name
    )
    if external_tracks is not None:
        flow_set = import_external_tracks(group, str(Path(external_tracks).resolve()), external_video)
    else:
        flow_set = compute_flows(group, config.flow)
    if not fit:
        return VideoResult(video_group=group, flow_set=flow_set)
    return VideoResult(video_group=group, flow_set=flow_set, fit=fit_video(group, flow_set, config))


process_video = flow(_process_video, name="process_video", task_runner=make_task_runner(RunnerConfig()))
