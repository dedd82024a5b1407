"""The ``nightly-benchmark`` flow (the deployment of that name in ``prefect.yaml``): the pipeline's comparison,
OmniMotion against the flow baselines, on a synthetic benchmark with exact ground truth that the first run
generates, or on a dataset given by path."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger

from flows.benchmark import BenchmarkResult, benchmark
from flows.config import PipelineConfig
from flows.runners import RunnerConfig, make_task_runner
from tasks.config import EvaluationConfig, FitConfig
from tasks.datasets import SyntheticDatasetSpec, make_synthetic_dataset

NIGHTLY_METHODS = ("zero_motion", "dis-c", "dis-d", "omnimotion")
"""The comparison: the floor, chained and direct DIS flow, and the model."""


def _nightly_benchmark(
    data_root: str = "data",
    dataset: str | None = None,
    methods: list[str] | None = None,
    videos: int = 2,
    frames: int = 24,
    seed: int = 0,
    resolution: tuple[int, int] = EvaluationConfig().resolution,
    preset: str = "fast",
    steps: int | None = None,
    cpu_threads: int | None = 1,
) -> BenchmarkResult:
    """Run ``methods`` (default :data:`NIGHTLY_METHODS`) on ``dataset`` and write the run table, the results
    table and the MLflow runs under ``data_root`` (relative paths are relative to the working directory,
    the repository for the deployment).

    Args:
        data_root: the data root of every store, table and MLflow run of the job.
        dataset: a TAP-Vid pickle, BADJA folder or folder of videos (it must exist); None: the synthetic
            benchmark of ``videos`` x ``frames`` (the ``bench`` preset, seed ``seed``), generated under
            ``<data_root>/datasets/`` by the first run and reused by later ones.
        resolution: ``(height, width)`` at which videos are processed and scored.
        preset / steps: the model's preset and fitting steps (None: the preset's; ``fast``: 3,000 steps, about
            7 minutes per video on 2 cores).
        cpu_threads: torch threads per fit on CPU (None: every core). One by default: the local cluster runs
            a fit per core, and torch's threads slow each other down when they outnumber the free cores.

    Raises:
        RuntimeError: some (video, method) failed (the tables and runs of the others are written first), so
            the flow run ends Failed and the failure is seen.
    """
    logger = get_run_logger()
    root = Path(data_root).resolve()
    if dataset is None:
        spec = SyntheticDatasetSpec(videos=videos, frames=frames, seed=seed)
        dataset = make_synthetic_dataset(str(root), spec)
    config = PipelineConfig(data_root=root, evaluation=EvaluationConfig(resolution=tuple(resolution)),
                            fit=FitConfig(preset=preset, num_steps=steps, cpu_threads=cpu_threads))
    result = benchmark(str(Path(dataset).resolve()), list(methods or NIGHTLY_METHODS), config)
    logger.info("nightly benchmark:\n%s", result.table_markdown)
    if result.failures:
        raise RuntimeError("; ".join(f"{video} / {method}: {message}" for video, method, message in result.failures))
    return result


nightly_benchmark = flow(_nightly_benchmark, name="nightly-benchmark", task_runner=make_task_runner(RunnerConfig()))
