"""Load test of the benchmark flow: many tiny synthetic videos through the Dask task runner, reporting
wall time, peak memory, the results found in MLflow and the table.

    .venv/bin/python benchmarks/load_test.py [--videos 100] [--workers 4] [--methods zero_motion dis-c omnimotion]
                                             [--frames 4] [--size 32] [--steps 2] [--data-root DIR]

Every (video, method) must come back: the script exits with status 1 when a result is missing from the
returned records or from MLflow (one nested run per (video, method) under the benchmark's parent run), or
when any (video, method) failed. Memory is the resident set of this process and its children (the Dask
workers are threads of this process; Prefect's temporary server is a child), sampled every 0.2 s.
Without ``--data-root`` everything goes to a temporary folder, removed at the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Self

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")  # a busy machine starts it slowly

import psutil
from mlflow import MlflowClient

from flows.benchmark import BenchmarkResult, benchmark
from flows.config import PipelineConfig
from flows.runners import RunnerConfig, make_task_runner
from omnimotion_core.synthetic import generate_tapvid_dataset, resize_synthetic_preset
from storage.tapvid import write_tapvid_davis_pickle
from tasks.config import EvaluationConfig, FitConfig

MIB = 1024 * 1024


class MemorySampler:
    """Samples the resident memory of this process and its descendants in a background thread."""

    def __init__(self, every: float = 0.2) -> None:
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.samples: list[tuple[float, int]] = []

    def _tree_rss(self) -> int:
        process = psutil.Process()
        total = process.memory_info().rss
        for child in process.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                continue
        return total

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            self.samples.append((time.monotonic() - started, self._tree_rss()))
            self._stop.wait(self._every)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> str:
        """Peak, and the peaks of the first and last quarter of the run (bounded memory: no steady growth)."""
        values = [rss for _, rss in self.samples]
        quarter = max(1, len(values) // 4)
        return (f"peak {max(values) / MIB:.0f} MiB (process tree, sampled); first quarter peak "
                f"{max(values[:quarter]) / MIB:.0f} MiB, last quarter peak {max(values[-quarter:]) / MIB:.0f} MiB")


def mlflow_results(result: BenchmarkResult) -> int:
    """Nested runs (one per scored (video, method)) under the benchmark's parent run."""
    client = MlflowClient(result.tracking_uri)
    experiment = client.get_run(result.mlflow_run_id).info.experiment_id
    runs = client.search_runs(
        [experiment], filter_string=f"tags.mlflow.parentRunId = '{result.mlflow_run_id}'", max_results=50000
    )
    return len(runs)


def run_load(args: argparse.Namespace, root: Path) -> int:
    """Generate the dataset, run the benchmark, print the figures; 0 when every result came back."""
    dataset = root / "datasets" / f"load-{args.videos}v.pkl"
    synthetic = resize_synthetic_preset(
        "small", num_frames=args.frames, height=args.size, width=args.size, num_videos=args.videos
    )
    write_tapvid_davis_pickle(dataset, generate_tapvid_dataset(synthetic, seed=0))
    config = PipelineConfig(
        data_root=root,
        evaluation=EvaluationConfig(resolution=(args.size, args.size)),
        fit=FitConfig(num_steps=args.steps, checkpoint_every=args.steps, log_every=args.steps, cpu_threads=1),
    )
    runner = make_task_runner(RunnerConfig(local_workers=args.workers))
    with MemorySampler() as memory:
        started = time.perf_counter()
        result = benchmark.with_options(task_runner=runner)(str(dataset), list(args.methods), config)
        wall = time.perf_counter() - started
    expected = args.videos * len(args.methods)
    logged = mlflow_results(result)
    self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(result.table_markdown)
    print(f"\nload test: {args.videos} videos x {len(args.methods)} methods ({', '.join(args.methods)}), "
          f"{args.frames} frames of {args.size}x{args.size}, {args.steps} fit steps, {args.workers} Dask worker threads")
    print(f"wall time {wall:.1f} s ({wall / args.videos:.2f} s per video)")
    print(f"memory: {memory.summary()}; this process's peak RSS {self_peak / MIB:.0f} MiB")
    print(f"results: {len(result.records)} records returned, {logged} nested runs in MLflow, "
          f"{len(result.failures)} failures; expected {expected}")
    for video, method, message in result.failures:
        print(f"FAILED {video} / {method}: {message}", file=sys.stderr)
    return 0 if len(result.records) == logged == expected and not result.failures else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4, help="threads of the local Dask cluster (2-4)")
    parser.add_argument("--methods", nargs="+", default=["zero_motion", "dis-c", "omnimotion"])
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--size", type=int, default=32, help="frame side in pixels (at least 32)")
    parser.add_argument("--steps", type=int, default=2, help="fit steps of omnimotion")
    parser.add_argument("--data-root", help="keep everything here (default: a temporary folder)")
    args = parser.parse_args()
    if args.data_root:
        return run_load(args, Path(args.data_root).resolve())
    with tempfile.TemporaryDirectory() as folder:
        return run_load(args, Path(folder))


if __name__ == "__main__":
    sys.exit(main())
