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


LOOPBACK = "127.0.0.1"
"""Where every server of the local cluster listens: the dashboard and the worker's HTTP routes have no
authentication."""

LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.low-level-log-length": 50,
    "distributed.dashboard.link": f"{{scheme}}://{LOOPBACK}:{{port}}/status",
}
"""Dask settings of the local cluster (benchmarks/RESULTS.md, "Load"). The statistical worker profiler keeps a
call tree per task-key prefix, and every Prefect task key is its own prefix (about 3 MiB per (video, method)
until the run ended). The low-level logs (Dask's default: the last 1,000 messages of each stream) keep every
message's task spec, and a Prefect task spec carries its task and its flow run's context with the flow (17
KB pickled for ``benchmark``): kept for 1,000 messages, the Python heap grew over a 100-video run. The
dashboard link names the address the dashboard listens on (Dask's default names the machine's address,
which a loopback listener refuses)."""

LOCAL_CLUSTER_KWARGS = {
    "n_workers": 1, "processes": False,
    "dashboard_address": f"{LOOPBACK}:0", "worker_dashboard_address": f"{LOOPBACK}:0",
}
"""``LocalCluster`` arguments besides the thread count: one worker of threads in this process; the scheduler's
dashboard and the worker's HTTP server (its own dashboard, health and metrics routes; Dask binds it to every
interface when no address is given) on loopback, each on a free port."""


class LocalDaskTaskRunner(DaskTaskRunner):
    """A ``DaskTaskRunner`` whose local cluster starts with :data:`LOCAL_CLUSTER_CONFIG`: no statistical worker
    profiler (the dashboard has no profile page), short low-level logs and a dashboard link that opens. A
    cluster given by address keeps its own settings.
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
    return LocalDaskTaskRunner(cluster_kwargs={**LOCAL_CLUSTER_KWARGS, "threads_per_worker": workers})
