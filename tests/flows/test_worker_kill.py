"""A ``dask.distributed`` worker SIGKILLed in the middle of a benchmark task: the task reruns on the
other worker and the benchmark finishes with every result."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from mlflow import MlflowClient

from flows.benchmark import benchmark
from flows.config import PipelineConfig
from flows.runners import RunnerConfig, make_task_runner
from storage import layout
from storage.video_store import list_videos, open_video
from tasks.config import EvaluationConfig
from tests.flows.loopback_cluster import loopback_cluster
from tests.flows.test_benchmark import _toy_dataset
from tests.flows.worker_gate import TOKEN_ENV

GATE = Path(__file__).with_name("worker_gate.py")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[str, dict[int, subprocess.Popen[bytes]], Path]]:
    """A scheduler and two single-thread workers (no nanny: the worker is the process we start) on
    loopback; yields the address, the workers by process id and the gate's token file."""
    token = tmp_path / "gate.token"
    workers = [["--nthreads", "1", "--no-nanny", "--preload", str(GATE), "--local-directory", str(tmp_path / f"dask-{index}")]
               for index in range(2)]
    with loopback_cluster(workers, extra_env={TOKEN_ENV: str(token)}) as (address, started):
        yield address, started, token


def _kill_the_paused_worker(workers: dict[int, subprocess.Popen[bytes]], token: Path, timeout: float = 240) -> int:
    """Wait until a worker pauses inside an ingestion (it names itself in the token), SIGKILL it."""
    deadline = time.monotonic() + timeout
    while not token.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"no worker paused inside an ingestion within {timeout} s")
        time.sleep(0.05)
    pid = int(token.read_text(encoding="utf-8"))
    workers[pid].send_signal(signal.SIGKILL)
    workers[pid].wait(timeout=30)
    return pid


def test_a_task_of_a_killed_worker_reruns_on_the_other_and_the_run_finishes(
    tmp_path: Path, cluster: tuple[str, dict[int, subprocess.Popen[bytes]], Path]
) -> None:
    address, workers, token = cluster
    dataset = tmp_path / "toy.pkl"
    _toy_dataset(dataset)
    config = PipelineConfig(data_root=tmp_path / "data", evaluation=EvaluationConfig(resolution=(32, 32)))
    runner = make_task_runner(RunnerConfig(dask_address=address))
    with ThreadPoolExecutor(1) as pool:
        killing = pool.submit(_kill_the_paused_worker, workers, token)
        result = benchmark.with_options(task_runner=runner)(str(dataset), ["zero_motion", "dis-c"], config)
        killed = killing.result(timeout=10)

    assert result.failures == []
    assert sorted((r["video"], r["method"]) for r in result.records) == [
        ("left", "dis-c"), ("left", "zero_motion"), ("right", "dis-c"), ("right", "zero_motion")
    ]
    assert [pid for pid, process in workers.items() if process.poll() is None] == [p for p in workers if p != killed]
    for video_id in list_videos(config.data_root):
        assert open_video(layout.video_path(config.data_root, video_id)).num_frames == 6
    assert sorted(list_videos(config.data_root)) == ["toy-left", "toy-right"]
    assert not list(config.data_root.rglob(f"*{layout.PARTIAL_MARKER}*")), "the killed worker's partial group stayed"
    client = MlflowClient(result.tracking_uri)
    children = client.search_runs(
        [client.get_run(result.mlflow_run_id).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{result.mlflow_run_id}'",
    )
    assert len(children) == 4
