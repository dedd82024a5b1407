"""The benchmark flow on a real ``dask.distributed`` scheduler and worker started on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL

from flows.benchmark import benchmark
from flows.config import EvaluationConfig, PipelineConfig
from flows.runners import RunnerConfig, make_task_runner
from tests.flows.test_benchmark import _toy_dataset


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[str]:
    """A scheduler and one worker (``GPU=1`` resource) in their own processes, talking to the test's
    Prefect server."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "DASK_LOGGING__DISTRIBUTED": "warning"}
    bin_dir = Path(sys.executable).parent
    scheduler = subprocess.Popen(
        [str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [str(bin_dir / "dask"), "worker", address, "--nthreads", "2", "--resources", "GPU=1",
         "--no-dashboard", "--local-directory", str(tmp_path / "dask")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        from distributed import Client

        deadline = time.time() + 60
        while True:
            try:
                with Client(address, timeout=5) as client:
                    client.wait_for_workers(1, timeout=30)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        yield address
    finally:
        for process in (worker, scheduler):
            process.terminate()
        for process in (worker, scheduler):
            process.wait(timeout=30)


def test_benchmark_runs_on_an_existing_cluster(tmp_path: Path, dask_cluster: str) -> None:
    dataset = tmp_path / "toy.pkl"
    _toy_dataset(dataset)
    config = PipelineConfig(data_root=tmp_path / "data", evaluation=EvaluationConfig(resolution=(32, 32)))
    runner = make_task_runner(RunnerConfig(dask_address=dask_cluster))
    result = benchmark.with_options(task_runner=runner)(str(dataset), ["zero_motion", "dis-c"], config)
    assert result.failures == []
    assert sorted((r["video"], r["method"]) for r in result.records) == [
        ("left", "dis-c"), ("left", "zero_motion"), ("right", "dis-c"), ("right", "zero_motion")
    ]
    from distributed import Client

    with Client(dask_cluster) as client:
        transitions = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.transition_counter)
    # 2 videos x (1 ingest + 2 methods x 2 tasks) = 10 tasks, each through several scheduler states.
    assert transitions >= 30
