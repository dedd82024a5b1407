"""The benchmark flow on a real ``dask.distributed`` scheduler and worker started on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.benchmark import benchmark
from flows.config import PipelineConfig
from flows.runners import RunnerConfig, make_task_runner
from tasks.config import EvaluationConfig
from tests.flows.loopback_cluster import loopback_cluster
from tests.flows.test_benchmark import _toy_dataset


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[str]:
    """A scheduler and one worker (``GPU=1`` resource) in their own processes, talking to the test's
    Prefect server."""
    worker = ["--nthreads", "2", "--resources", "GPU=1", "--local-directory", str(tmp_path / "dask")]
    with loopback_cluster([worker], timeout=60) as (address, _):
        yield address


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


def test_the_local_cluster_runs_without_the_statistical_profiler_and_with_short_message_logs() -> None:
    import dask

    with make_task_runner(RunnerConfig(local_workers=1)) as runner:
        cluster = runner.client.cluster
        workers = list(cluster.workers.values())
        assert workers and all("profile" not in worker.periodic_callbacks for worker in workers)
        streams = list(cluster.scheduler.stream_comms.values())
        assert streams and all(stream.recent_message_log.maxlen == 50 for stream in streams)
        assert cluster.scheduler.transition_log.maxlen == 50
    # the settings only applied while the cluster started: the global ones are untouched
    assert dask.config.get("distributed.worker.profile.enabled") is True
    assert dask.config.get("distributed.admin.low-level-log-length") == 1000
