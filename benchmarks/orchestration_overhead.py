"""Orchestration overhead of the benchmark flow on a tiny dataset: flow wall time minus the summed run
time of its task runs (as Prefect recorded them), printed as a ratio to the flow's wall time. Tasks run
one at a time (a local Dask cluster of one thread) so that their run times add up to the compute.

    .venv/bin/python benchmarks/orchestration_overhead.py [--steps 20]

Runs twice in one process: the first run pays Prefect's temporary-server start; the second shows the
steady state. Both use a temporary data root.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from flows.benchmark import benchmark
from flows.config import PipelineConfig
from flows.runners import RunnerConfig, make_task_runner
from omnimotion_core.synthetic import generate_tapvid_dataset, resize_synthetic_preset
from storage.tapvid import write_tapvid_davis_pickle
from tasks.config import EvaluationConfig, FitConfig


async def _task_seconds(flow_run_id: str) -> tuple[int, float]:
    async with get_client() as client:
        runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return len(runs), sum(run.total_run_time.total_seconds() for run in runs)


def measure(dataset: Path, root: Path, steps: int) -> str:
    config = PipelineConfig(
        data_root=root, evaluation=EvaluationConfig(resolution=(64, 64)), fit=FitConfig(num_steps=steps, cpu_threads=1)
    )
    started = time.perf_counter()
    serial = benchmark.with_options(task_runner=make_task_runner(RunnerConfig(local_workers=1)))
    state = serial(str(dataset), ["zero_motion", "dis-c", "omnimotion"], config, return_state=True)
    wall = time.perf_counter() - started
    count, busy = asyncio.run(_task_seconds(str(state.state_details.flow_run_id)))
    return (
        f"flow wall time {wall:.1f} s; {count} task runs, summed run time {busy:.1f} s; "
        f"overhead {wall - busy:.1f} s ({(wall - busy) / wall:.0%} of the wall time)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        dataset = root / "tiny.pkl"
        config = resize_synthetic_preset("small", num_frames=8, num_videos=2)
        write_tapvid_davis_pickle(dataset, generate_tapvid_dataset(config, seed=0))
        print("first run: ", measure(dataset, root / "a", args.steps))
        print("second run:", measure(dataset, root / "b", args.steps))


if __name__ == "__main__":
    main()
