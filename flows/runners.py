"""Task runners: a local Dask cluster by default, or an existing ``dask.distributed`` scheduler."""

from __future__ import annotations

import os
from dataclasses import dataclass

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


def make_task_runner(config: RunnerConfig) -> DaskTaskRunner:
    """A ``DaskTaskRunner`` for ``config``."""
    if config.dask_address:
        return DaskTaskRunner(address=config.dask_address)
    workers = config.local_workers or min(os.cpu_count() or 1, 8)
    return DaskTaskRunner(
        cluster_kwargs={"n_workers": 1, "threads_per_worker": workers, "processes": False, "dashboard_address": "127.0.0.1:0"}
    )
