"""The ``benchmark`` flow: every video of a TAP-Vid pickle x every requested method -> one results table."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import dask
import pandas as pd
from prefect import flow, get_run_logger
from prefect.futures import PrefectFuture

from flows.config import MODEL_METHODS, PipelineConfig
from flows.runners import RunnerConfig, make_task_runner
from storage import layout
from storage.results_table import (
    build_results_table,
    render_results_table,
    write_results_table,
)
from storage.tapvid import list_tapvid_videos
from tasks.evaluate import evaluate_tapvid
from tasks.fit import fit_model, model_artifacts, track_with_model
from tasks.flow import compute_flow_set_task
from tasks.ingest import ingest_video
from tasks.track import check_method, track_points
from tasks.tracking import (
    TrackingTarget,
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
        failures: ``(video, method, "stage: error")`` of every (video, method) that was not scored, or
            whose pictures or MLflow run could not be made (its scores are still in the table).
    """

    table_markdown: str
    csv_path: Path | None
    markdown_path: Path | None
    mlflow_run_id: str
    tracking_uri: str
    records: list[dict[str, object]] = field(default_factory=list)
    failures: list[tuple[str, str, str]] = field(default_factory=list)


def tracking_target(config: PipelineConfig, dataset_name: str) -> TrackingTarget:
    """Where this run logs: the config's URI, else ``$MLFLOW_TRACKING_URI``, else ``<data_root>/mlflow.db``."""
    uri = config.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or layout.mlflow_tracking_uri(config.data_root)
    return TrackingTarget(
        tracking_uri=uri,
        experiment=config.experiment or dataset_name,
        artifact_root=layout.mlflow_artifacts_dir(config.data_root) / layout.video_id_from_name(config.experiment or dataset_name),
    )


def _summary_metrics(table: pd.DataFrame) -> dict[str, float]:
    """``<method>.<dataset>.<metric>`` -> value of every cell of the results table."""
    return {
        f"{method}.{dataset}.{metric}": float(value)
        for method, row in table.iterrows()
        for (dataset, metric), value in row.items()
    }


def _first_error(chain: list[tuple[str, PrefectFuture]]) -> str:
    """``stage: ErrorType: message`` of the first stage of a chain that failed."""
    for stage, future in chain:
        state = future.state
        if state.is_failed() or state.is_crashed():
            message = (state.message or "failed").removeprefix("Task run encountered an exception ")
            return f"{stage}: {message}"
    stage, future = chain[-1]
    return f"{stage}: ended in state {future.state.type.value}"


@flow(name="benchmark", task_runner=make_task_runner(RunnerConfig()))
def benchmark(dataset: str, methods: list[str], config: PipelineConfig = PipelineConfig()) -> BenchmarkResult:
    """Ingest every video of the TAP-Vid pickle ``dataset``, track its query points with each method,
    score them and write the results table under ``<data_root>/results/<dataset>/``.

    A failure on one video is reported in the result's ``failures``; the other videos finish.
    """
    logger = get_run_logger()
    for method in methods:
        if method not in MODEL_METHODS:
            check_method(method, config.flow)
    dataset_path = Path(dataset).resolve()
    names = list_tapvid_videos(dataset_path)
    logger.info("benchmark: %d videos x %d methods from %s", len(names), len(methods), dataset_path)
    data_root = str(config.data_root)
    target = tracking_target(config, dataset_path.stem)
    run_id = start_benchmark_run(
        target, f"benchmark-{dataset_path.stem}", {"dataset": str(dataset_path), "methods": ",".join(methods), **config.to_params()}
    )
    chains: list[tuple[str, str, list[tuple[str, PrefectFuture]]]] = []
    visuals_dir = layout.results_dir(config.data_root, dataset_path.stem) / "visuals"
    for name in names:
        video_id = layout.video_id_from_name(f"{dataset_path.stem}-{name}")
        group = ingest_video.submit(str(dataset_path), video_id, data_root, config.ingest_config(), tapvid_name=name)
        flow_set = None
        if any(method in MODEL_METHODS for method in methods):
            flow_set = compute_flow_set_task.submit(group, config.flow)
        for method in methods:
            stages: list[tuple[str, PrefectFuture]] = [("ingest_video", group)]
            if method in MODEL_METHODS:
                with dask.annotate(resources=config.fit.dask_resources or {}):
                    fit = fit_model.submit(group, flow_set, config.fit, method)
                predictions = track_with_model.submit(
                    group, fit, str(dataset_path), name, method, config.evaluation, config.fit
                )
                stages += [("compute_flow_set", flow_set), ("fit_model", fit), ("track_with_model", predictions)]
            else:
                predictions = track_points.submit(group, str(dataset_path), name, method, config.evaluation, config.flow)
                stages.append(("track_points", predictions))
            evaluation = evaluate_tapvid.submit(predictions, str(dataset_path), name, config.evaluation)
            stages.append(("evaluate_tapvid", evaluation))
            chains.append((name, method, stages))

    records: list[dict[str, object]] = []
    failures: list[tuple[str, str, str]] = []
    reporting: list[tuple[str, str, list[tuple[str, PrefectFuture]]]] = []
    for done, (name, method, stages) in enumerate(chains, start=1):
        evaluation = stages[-1][1]
        evaluation.wait()
        if evaluation.state.is_completed():
            records.append(evaluation.result())
            futures = dict(stages)
            predictions = futures.get("track_with_model", futures.get("track_points"))
            fit_dir = futures["fit_model"].result() if "fit_model" in futures else None
            video_group = futures["ingest_video"].result()
            visuals = render_visuals.submit(video_group, predictions, str(visuals_dir), fit_dir, config.fit)
            model = model_artifacts(fit_dir, config.fit, method, video_group) if fit_dir is not None else None
            logged = log_video_result.submit(target, run_id, records[-1], visuals, fit_dir, model)
            reporting.append((name, method, [("render_visuals", visuals), ("log_video_result", logged)]))
        else:
            failures.append((name, method, _first_error(stages)))
        logger.info("benchmark: %d/%d (video, method) results in", done, len(chains))
    for name, method, stages in reporting:
        stages[-1][1].wait()
        if not stages[-1][1].state.is_completed():
            failures.append((name, method, _first_error(stages)))
    for name, method, message in failures:
        logger.error("benchmark: %s with %s failed: %s", name, method, message)
    if not records:
        finish_benchmark_run(target, run_id, {}, [], failures)
        return BenchmarkResult(
            "no results: every (video, method) failed", None, None, run_id, target.tracking_uri, records, failures
        )
    table = build_results_table(pd.DataFrame.from_records(records))
    frame_rule = config.evaluation.frame_rule
    csv_path, markdown_path = write_results_table(
        table, layout.results_dir(config.data_root, dataset_path.stem), frame_rule
    )
    finish_benchmark_run(target, run_id, _summary_metrics(table), [str(csv_path), str(markdown_path)], failures)
    return BenchmarkResult(
        render_results_table(table, frame_rule), csv_path, markdown_path, run_id, target.tracking_uri, records, failures
    )
