"""Task runners: a local Dask cluster by default, or an existing ``dask.distributed`` scheduler."""

from __future__ import annotations

import os
from dataclasses import dataclass

import dask
from distributed import Client
from prefect_dask import DaskTaskRunner

DASK_ADDRESS_ENV = "OMNIMOTION_DASK_ADDRESS"


@dataclass(frozen=True)
class RunnerConfig:
    """Where tasks run.

    Attributes:
        dask_address: ``tcp://host:8786`` of a running scheduler; None starts a local cluster.
        local_workers: threads of the local cluster (None: the machine's CPU count, at most 8). The
            local cluster runs its workers as threads of this process: with Prefect's temporary server
            every worker process would start its own server (about 10x slower for small tasks).
    """

    dask_address: str | None = None
    local_workers: int | None = None


def resolve_runner_config(dask_address: str | None, local_workers: int | None) -> RunnerConfig:
    """The runner config from CLI values, falling back to ``$OMNIMOTION_DASK_ADDRESS``."""
    return RunnerConfig(dask_address=dask_address or os.environ.get(DASK_ADDRESS_ENV) or None, local_workers=local_workers)


LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.low-level-log-length": 50,
}
"""Dask settings of the local cluster (benchmarks/RESULTS.md, "Load"). The statistical worker profiler keeps a
call tree per task-key prefix, and every Prefect task key is its own prefix (about 3 MiB per (video, method)
until the run ended). The low-level logs (Dask's default: the last 1,000 messages of each stream) keep every
message's task spec, and a Prefect task spec carries its task and its flow run's context with the flow (17
KB pickled for ``benchmark``): kept for 1,000 messages, the Python heap grew over a 100-video run."""


class LocalDaskTaskRunner(DaskTaskRunner):
    """A ``DaskTaskRunner`` whose local cluster starts with :data:`LOCAL_CLUSTER_CONFIG`: no statistical worker
    profiler (the dashboard has no profile page) and short low-level logs. A cluster given by address keeps
    its own settings.
    """

    @property
    def client(self) -> Client:
        """The client; on first use the local cluster starts, with :data:`LOCAL_CLUSTER_CONFIG`."""
        if self._client is not None:
            return super().client
        with dask.config.set(LOCAL_CLUSTER_CONFIG):
            return super().client


def make_task_runner(config: RunnerConfig) -> DaskTaskRunner:
    """A ``DaskTaskRunner`` for ``config``: connected to the given scheduler, else a local cluster."""
    if config.dask_address:
        return DaskTaskRunner(address=config.dask_address)
    workers = config.local_workers or min(os.cpu_count() or 1, 8)
    return LocalDaskTaskRunner(
        cluster_kwargs={"n_workers": 1, "threads_per_worker": workers, "processes": False, "dashboard_address": "127.0.0.1:0"}
    )
