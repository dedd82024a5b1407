"""The ``process_video`` flow: one video end to end (ingest -> pairwise flow -> fit -> dense tracks), and
its flow stage."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import dask
from prefect import flow, get_run_logger

from flows.config import PipelineConfig
from flows.runners import RunnerConfig, make_task_runner
from omnimotion_core.flow import FlowConfig
from storage import layout
from tasks.caching import cached
from tasks.config import FitConfig
from tasks.fit import export_tracks, fit_model
from tasks.flow import (
    compute_flow_chunk,
    import_external_tracks,
    plan_flow_set,
    publish_flow_set,
)
from tasks.ingest import ingest_video


@dataclass(frozen=True)
class VideoResult:
    """References to what ``process_video`` produced.

    Attributes:
        video_group: the video's zarr group.
        flow_set: the finished flow set inside it.
        fit: the model fit (checkpoints, pseudo-depth, dense tracks), or None when fitting was off.
    """

    video_group: str
    flow_set: str
    fit: str | None = None


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


def _fit_video(video_group: str, flow_set: str, config: FitConfig = FitConfig()) -> str:
    """Fit the model to a stored flow set (resuming a killed fit from its last checkpoint), then export
    dense tracks of a 4-pixel grid of frame 0; returns the fit folder. Both stages are cached under the
    video's data root (see :mod:`tasks.caching`)."""
    data_root = layout.data_root_of(Path(video_group))
    with dask.annotate(resources=config.dask_resources or {}):
        fit_dir = cached(fit_model, data_root).submit(video_group, flow_set, config).result()
    cached(export_tracks, data_root)(video_group, fit_dir, config)
    return fit_dir


fit_video = flow(_fit_video, name="fit_video", task_runner=make_task_runner(RunnerConfig()))


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
    (resuming a killed fit) and export dense tracks of a 4-pixel grid of frame 0 and the pseudo-depth."""
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
    return VideoResult(video_group=group, flow_set=flow_set, fit=fit_video(group, flow_set, config.fit))


process_video = flow(_process_video, name="process_video", task_runner=make_task_runner(RunnerConfig()))
