"""The ``benchmark`` flow: every video of a TAP-Vid pickle, a BADJA folder or a folder of videos x every
requested method -> a run table (what happened to each pair) and, for the videos with ground truth, the
paper-style results table."""

from __future__ import annotations

import tempfile
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import dask
import pandas as pd
from prefect import flow, get_run_logger
from prefect.futures import PrefectFuture

from flows.config import PipelineConfig
from flows.runners import RunnerConfig, make_task_runner
from omnimotion_core.methods import METHODS, ModelMethod
from storage import layout
from storage.badja import find_badja_sequence, is_badja_folder, list_badja_sequences
from storage.errors import InputError
from storage.ground_truth import ground_truth_files
from storage.results_table import (
    build_results_table,
    render_results_table,
    write_results_table,
)
from storage.runs_table import render_runs_table, write_runs_table
from storage.tapvid import list_tapvid_videos
from storage.video_sources import VIDEO_EXTENSIONS
from tasks.caching import cached, files_identity
from tasks.evaluate import evaluate_tapvid
from tasks.fit import fit_model, fit_record, model_artifacts, track_with_model
from tasks.flow import compute_flow_set_task
from tasks.ingest import ingest_video
from tasks.track import check_method, track_points
from tasks.tracking import (
    DATASET_DIGEST_LENGTH,
    DatasetRef,
    finish_benchmark_run,
    log_video_result,
    start_benchmark_run,
)
from tasks.visuals import render_visuals


@dataclass(frozen=True)
class BenchmarkResult:
    """What a benchmark run produced.

    Attributes:
        table_markdown: the results table as printed (first line names the frame convention).
        csv_path / markdown_path: where the table was written.
        mlflow_run_id: the benchmark's parent run in MLflow.
        tracking_uri: where that run is stored.
        records: one row per (video, method) that was scored: dataset, method, video and metric means.
        failures: ``(video, method, "stage: error")`` of every (video, method) that failed, or whose
            pictures or MLflow run could not be made (its scores are still in the table).
        runs: the run table, one row per (video, method) (see :mod:`storage.runs_table`).
        runs_path: where the run table was written (``runs.csv``; ``runs.md`` beside it).
    """

    table_markdown: str
    csv_path: Path | None
    markdown_path: Path | None
    mlflow_run_id: str
    tracking_uri: str
    records: list[dict[str, object]] = field(default_factory=list)
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    runs: list[dict[str, object]] = field(default_factory=list)
    runs_path: Path | None = None


@dataclass(frozen=True)
class BenchmarkVideo:
    """One video of a benchmark.

    Attributes:
        name: its name in the tables: the pickle's key, a BADJA sequence, or the file's stem / image folder's
            name.
        source: the video file, image folder (a BADJA sequence's frames) or TAP-Vid pickle it is ingested from.
        tapvid_name: its key when ``source`` is a TAP-Vid pickle, else None.
        annotation: the TAP-Vid pickle or BADJA folder holding its ground truth under ``name``; None: it is
            not scored.
    """

    name: str
    source: str
    tapvid_name: str | None
    annotation: str | None


SKIPPED_BASELINE = "no ground truth: a baseline only tracks annotated query points"
"""Run table detail of a baseline on a video without annotation."""


def list_benchmark_videos(dataset: Path, names: list[str] | None = None) -> list[BenchmarkVideo]:
    """Every video of ``dataset``, or those called ``names`` (in the dataset's order; an unknown name is an
    InputError listing the known ones): each entry of a TAP-Vid pickle (scored against itself), each
    sequence of a BADJA folder (a folder with ``joint_annotations/``: its frame folder, scored against its
    labels, which are checked here), or each video file (by extension) and image folder of a folder, by
    name, with its ``<name>.tapvid.pkl`` ground truth when there is one (see
    :func:`storage.layout.annotation_path`). Hidden entries and other files of a folder are ignored."""
    if is_badja_folder(dataset):
        return [BenchmarkVideo(name, str(find_badja_sequence(dataset, name).frames_dir), None, str(dataset))
                for name in _selected(dataset, list_badja_sequences(dataset), names)]
    if not dataset.is_dir():
        return [BenchmarkVideo(name, str(dataset), name, str(dataset))
                for name in _selected(dataset, list_tapvid_videos(dataset), names)]
    videos = []
    for entry in sorted(dataset.iterdir()):
        if entry.name.startswith(".") or not (entry.is_dir() or entry.suffix.lower() in VIDEO_EXTENSIONS):
            continue
        annotation = layout.annotation_path(entry)
        videos.append(BenchmarkVideo(layout.source_name(entry), str(entry), None,
                                     str(annotation) if annotation.is_file() else None))
    if not videos:
        raise InputError(f"{dataset}: no video files ({', '.join(VIDEO_EXTENSIONS)}) or image folders in this folder")
    found = [video.name for video in videos]
    repeated = sorted({name for name in found if found.count(name) > 1})
    if repeated:
        raise InputError(f"{dataset}: several videos are named {repeated} (e.g. clip.mp4 and clip.avi); rename one")
    kept = _selected(dataset, found, names)
    return [video for video in videos if video.name in kept]


def _selected(dataset: Path, known: list[str], names: list[str] | None) -> list[str]:
    """The names of ``known`` that ``names`` asks for (all when None), in the order of ``known``."""
    if names is None:
        return known
    unknown = [name for name in names if name not in known]
    if unknown:
        shown = ", ".join(known[:10]) + (", ..." if len(known) > 10 else "")
        raise InputError(f"{dataset}: no video {unknown[0]!r}; it holds {len(known)}: {shown}")
    return [name for name in known if name in names]


RUN_NAME_METHODS = 4
"""Methods named in a benchmark's run name; more are counted."""


def benchmark_dataset(dataset: Path, videos: list[BenchmarkVideo]) -> DatasetRef:
    """The dataset of a benchmark as MLflow shows it: its name, a digest of every file the run reads (each
    video's source and ground truth, named by their path inside the dataset) and its path."""
    files: set[Path] = set()
    for video in videos:
        source = Path(video.source)
        if source.is_dir():
            files.update(path for path in source.rglob("*") if path.is_file())
        else:
            files.add(source)
        if video.annotation is not None:
            files.update(ground_truth_files(Path(video.annotation), video.name))
    root = dataset if dataset.is_dir() else dataset.parent
    named = sorted((str(path.relative_to(root)) if path.is_relative_to(root) else str(path), path) for path in files)
    return DatasetRef(layout.source_name(dataset), files_identity(named)[:DATASET_DIGEST_LENGTH], str(dataset))


def benchmark_run_name(dataset_name: str, methods: list[str], started: datetime) -> str:
    """``<dataset> | <methods> | <start time>``, e.g. ``tiny | zero_motion, dis-c | 2026-12-06 23:40:05``."""
    shown = ", ".join(methods[:RUN_NAME_METHODS])
    if len(methods) > RUN_NAME_METHODS:
        shown += f" +{len(methods) - RUN_NAME_METHODS}"
    return f"{dataset_name} | {shown} | {started:%Y-%m-%d %H:%M:%S}"


def _summary_metrics(table: pd.DataFrame) -> dict[str, float]:
    """``<method>.<dataset>.<metric>`` -> value of every cell of the results table."""
    return {
        f"{method}.{dataset}.{metric}": float(value)
        for method, row in table.iterrows()
        for (dataset, metric), value in row.items()
    }


def _scores(record: dict[str, object]) -> dict[str, object]:
    """The run table's metric columns of a results record (percent, TC in pixels; PCK-T where scored)."""
    scores: dict[str, object] = {
        "AJ": 100.0 * float(record["average_jaccard"]), "delta_avg": 100.0 * float(record["average_pts_within_thresh"]),
        "OA": 100.0 * float(record["occlusion_accuracy"]), "TC": float(record["temporal_coherence"])}
    if "pck_t" in record:
        scores["PCK-T"] = 100.0 * float(record["pck_t"])
    return scores


Chain = tuple[BenchmarkVideo, str, list[tuple[str, PrefectFuture]]]
"""A (video, method) and its submitted stages, in order."""
Report = tuple[dict[str, object], list[tuple[str, PrefectFuture]]]
"""A run-table row and the futures of its pictures and MLflow run."""


def _first_error(chain: list[tuple[str, PrefectFuture]]) -> str:
    """``stage: ErrorType: message`` of the first stage of a chain that failed."""
    for stage, future in chain:
        state = future.state
        if state.is_failed() or state.is_crashed():
            message = (state.message or "failed").removeprefix("Task run encountered an exception ")
            return f"{stage}: {message}"
    stage, future = chain[-1]
    return f"{stage}: ended in state {future.state.type.value}"


def _benchmark(
    dataset: str, methods: list[str], config: PipelineConfig = PipelineConfig(), videos: list[str] | None = None
) -> BenchmarkResult:
    """Run every method on every video of ``dataset`` (a TAP-Vid pickle, a BADJA folder, or a folder of video
    files and image folders, see :func:`list_benchmark_videos`), or on the videos named in ``videos``, score
    the videos with ground truth and write the run table and the results table under
    ``<data_root>/results/<dataset>/``.

    A video without ground truth is ingested and, for model methods, fitted (its row holds the fit's steps,
    time and final flow loss); baselines skip it. A failure on one video is reported in the result's
    ``failures`` and its run table row; the other videos finish. Every stage is cached (see
    :mod:`tasks.caching`): a rerun of a finished dataset recomputes nothing.
    """
    logger = get_run_logger()
    for method in methods:
        check_method(method, config.flow)
    model_methods = set(METHODS.names(ModelMethod))
    dataset_path = Path(dataset).resolve()
    dataset_name = layout.source_name(dataset_path)
    selected = list_benchmark_videos(dataset_path, videos)
    logger.info("benchmark: %d videos x %d methods from %s", len(selected), len(methods), dataset_path)
    ingest, flows, fit, track, track_model, evaluate, render = (
        cached(stage, config.data_root)
        for stage in (ingest_video, compute_flow_set_task, fit_model, track_points, track_with_model,
                      evaluate_tapvid, render_visuals)
    )
    data_root = str(config.data_root)
    target = config.tracking_target(dataset_name)
    dataset_ref = benchmark_dataset(dataset_path, selected)
    run_id = start_benchmark_run(target, benchmark_run_name(dataset_name, methods, datetime.now()), {
        "dataset": str(dataset_path), "methods": ",".join(methods),
        "videos": "all" if videos is None else ",".join(video.name for video in selected), **config.to_params()},
        dataset_ref)
    records: list[dict[str, object]] = []
    failures: list[tuple[str, str, str]] = []
    runs: list[dict[str, object]] = []
    visuals_dir = layout.results_dir(config.data_root, dataset_name) / "visuals"

    def submit(video: BenchmarkVideo) -> list[Chain]:
        """Every stage of every method of one video, submitted; one chain per method."""
        video_id = layout.video_id_from_name(f"{dataset_name}-{video.name}")
        group = ingest.submit(video.source, video_id, data_root, config.ingest_config(), tapvid_name=video.tapvid_name)
        flow_set = None
        if model_methods.intersection(methods):
            flow_set = flows.submit(group, config.flow)
        chains = []
        for method in methods:
            stages: list[tuple[str, PrefectFuture]] = [("ingest_video", group)]
            if method in model_methods:
                with dask.annotate(resources=config.fit.dask_resources or {}):
                    fitted = fit.submit(group, flow_set, config.fit, method)
                stages += [("compute_flow_set", flow_set), ("fit_model", fitted)]
                if video.annotation is not None:
                    stages.append(("track_with_model", track_model.submit(
                        group, fitted, video.annotation, video.name, method, config.evaluation, config.fit)))
            elif video.annotation is not None:
                stages.append(("track_points", track.submit(
                    group, video.annotation, video.name, method, config.evaluation, config.flow)))
            if video.annotation is not None:
                stages.append(("evaluate_tapvid", evaluate.submit(stages[-1][1], video.annotation, video.name,
                                                                  config.evaluation)))
            chains.append((video, method, stages))
        return chains

    def collect(chain: Chain) -> Report | None:
        """Wait for one chain, record its row and scores and submit its pictures and MLflow run."""
        video, method, stages = chain
        last = stages[-1][1]
        last.wait()
        row: dict[str, object] = {"video": video.name, "method": method}
        runs.append(row)
        logger.info("benchmark: %d/%d (video, method) results in", len(runs), len(selected) * len(methods))
        if not last.state.is_completed():
            row.update(status="failed", detail=_first_error(stages))
            failures.append((video.name, method, str(row["detail"])))
            return None
        futures = dict(stages)
        fit_dir = futures["fit_model"].result() if "fit_model" in futures else None
        if fit_dir is not None:
            row.update(fit_record(fit_dir))
        if video.annotation is None and fit_dir is None:
            row.update(status="skipped", detail=SKIPPED_BASELINE)
            return None
        row.update(status="ok", detail="")
        video_group = futures["ingest_video"].result()
        record: dict[str, object] = {"dataset": dataset_name, "method": method, "video": video.name}
        reports: list[tuple[str, PrefectFuture]] = []
        visuals: PrefectFuture | list[str] = []
        if "evaluate_tapvid" in futures:
            record = {**futures["evaluate_tapvid"].result(), "dataset": dataset_name}
            records.append(record)
            row.update(_scores(record))
            predictions = futures.get("track_with_model", futures.get("track_points"))
            visuals = render.submit(video_group, predictions, str(visuals_dir), fit_dir, config.fit)
            reports.append(("render_visuals", visuals))
        model = model_artifacts(fit_dir, config.fit, method, video_group) if fit_dir is not None else None
        logged = log_video_result.submit(target, run_id, record, visuals, fit_dir, model, dataset_ref)
        reports.append(("log_video_result", logged))
        return row, reports

    def finish(report: Report) -> None:
        """Wait for one chain's pictures and MLflow run; a failure there is reported, the scores stay."""
        row, reports = report
        reports[-1][1].wait()
        if not reports[-1][1].state.is_completed():
            row["detail"] = _first_error(reports)
            failures.append((str(row["video"]), str(row["method"]), str(row["detail"])))

    pending: deque[Chain] = deque()
    reporting: deque[Report] = deque()

    def drain(limit: int) -> None:
        """Collect the oldest chains, then finish the oldest reports, until at most ``limit`` of each are open."""
        while len(pending) > limit:
            report = collect(pending.popleft())
            if report is not None:
                reporting.append(report)
        while len(reporting) > limit:
            finish(reporting.popleft())

    # Only config.videos_in_flight videos are submitted ahead of the one being collected, and a chain's
    # futures are dropped once collected: the task graph and the futures held stay bounded.
    for video in selected:
        pending.extend(submit(video))
        drain(config.videos_in_flight * len(methods))
    drain(0)
    for video_name, method, message in failures:
        logger.error("benchmark: %s with %s failed: %s", video_name, method, message)
    results_dir = layout.results_dir(config.data_root, dataset_name)
    runs_path, _ = write_runs_table(runs, results_dir)
    runs_markdown = render_runs_table(runs)
    if not records:
        finish_benchmark_run(target, run_id, {}, [], failures)
        return BenchmarkResult(f"no scored results (no ground truth or every (video, method) failed)\n\n{runs_markdown}",
                               None, None, run_id, target.tracking_uri, records, failures, runs, runs_path)
    table = build_results_table(pd.DataFrame.from_records(records))
    frame_rule = config.evaluation.frame_rule
    with tempfile.TemporaryDirectory() as own_copy:  # this run's tables, whatever a concurrent run writes
        logged = write_results_table(table, Path(own_copy), frame_rule)
        finish_benchmark_run(target, run_id, _summary_metrics(table), [str(path) for path in logged], failures)
    csv_path, markdown_path = write_results_table(table, results_dir, frame_rule)
    return BenchmarkResult(
        f"{render_results_table(table, frame_rule)}\n{runs_markdown}", csv_path, markdown_path, run_id,
        target.tracking_uri, records, failures, runs, runs_path,
    )


benchmark = flow(_benchmark, name="benchmark", task_runner=make_task_runner(RunnerConfig()))
