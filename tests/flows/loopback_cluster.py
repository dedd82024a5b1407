"""A real ``dask.distributed`` scheduler and workers started as processes on 127.0.0.1, for flow tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from prefect.settings import PREFECT_API_URL


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def loopback_cluster(
    workers: Sequence[Sequence[str]], extra_env: dict[str, str] | None = None, timeout: float = 120.0
) -> Iterator[tuple[str, dict[int, subprocess.Popen[bytes]]]]:
    """Start ``dask scheduler`` and one ``dask worker`` per entry of ``workers`` (its extra arguments),
    talking to the test's Prefect server; yield the scheduler address and the workers by process id, and
    stop them all at the end."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "DASK_LOGGING__DISTRIBUTED": "warning",
           **(extra_env or {})}
    dask = str(Path(sys.executable).parent / "dask")
    scheduler = subprocess.Popen(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    started: dict[int, subprocess.Popen[bytes]] = {}
    for arguments in workers:
        worker = subprocess.Popen([dask, "worker", address, "--no-dashboard", *arguments], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started[worker.pid] = worker
    try:
        from distributed import Client

        deadline = time.monotonic() + timeout
        while True:
            try:
                with Client(address, timeout=5) as client:
                    client.wait_for_workers(len(workers), timeout=timeout / 2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address, started
    finally:
        for process in (*started.values(), scheduler):
            if process.poll() is None:
                process.terminate()
        for process in (*started.values(), scheduler):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:  # e.g. a worker held inside a paused task
                process.kill()
                process.wait(timeout=30)
