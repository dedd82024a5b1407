"""The Prefect API of a command-line run: the configured server (``PREFECT_API_URL``), else Prefect's temporary
local server, started before the run and recorded so that it never outlives it for long.

Prefect starts its temporary server (``uvicorn`` on 127.0.0.1) as a child process and stops it when the
Python process exits normally; a run that is killed (SIGKILL, the OOM killer) leaves it running, an orphan. Here
the command line starts that same server itself (:class:`prefect.server.api.server.SubprocessASGIServer`,
which Prefect's client then uses), records its process and the run's in a records folder
(:mod:`storage.process_records`), and stops it when the run ends, SIGTERM included. The next run started with
the same records folder stops every recorded server whose run is gone; servers of runs still alive are left
alone. A run stopped by SIGTERM stops its server first, then ends at once as SIGTERM's default does (waiting
for the task running in a worker thread, a fit for instance, could take hours).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import psutil
from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

from flows.processes import StopConfig, stop_process_tree
from storage.process_records import (
    ProcessRecord,
    read_process_records,
    records_lock,
    remove_process_record,
    write_process_record,
)


@dataclass(frozen=True)
class TemporaryServerConfig:
    """How the temporary Prefect server of a run is started and stopped.

    Attributes:
        startup_timeout_s: how long to wait for the server's health check (a first start on a new Prefect
            home creates its database: about 15 s on 2 cores).
        lock_timeout_s: how long to wait for another run that is reading the records.
        drain_timeout_s: how long the run's queued logs and events may take to reach the server before it stops.
        stop: how a server is stopped (SIGTERM, then SIGKILL after a grace period).
    """

    startup_timeout_s: float = 120.0
    lock_timeout_s: float = 60.0
    drain_timeout_s: float = 10.0
    stop: StopConfig = field(default_factory=StopConfig)


def _started(pid: int) -> float | None:
    """Start time of process ``pid``; None when it is gone or a zombie."""
    try:
        process = psutil.Process(pid)
        return None if process.status() == psutil.STATUS_ZOMBIE else process.create_time()
    except psutil.NoSuchProcess:
        return None


def _same_process(pid: int, started: float) -> bool:
    """Whether ``pid`` is still the process that started at ``started`` (not a later holder of its id)."""
    now = _started(pid)
    return now is not None and abs(now - started) < 0.01


def stop_orphaned_servers(records_dir: Path, config: TemporaryServerConfig = TemporaryServerConfig()) -> list[int]:
    """Stop every server recorded in ``records_dir`` whose owner has exited, forget the records of servers that
    are gone, and keep those of running owners. Returns the process ids stopped."""
    stopped = []
    with records_lock(records_dir, config.lock_timeout_s):
        for record in read_process_records(records_dir):
            if _same_process(record.owner_pid, record.owner_started):
                continue
            if _same_process(record.pid, record.started):
                stop_process_tree(record.pid, config=config.stop)
                stopped.append(record.pid)
            remove_process_record(records_dir, record.pid)
    return stopped


def _drain_prefect_workers(timeout_s: float) -> None:
    """Send the run's logs and events still queued to the server, as ``prefect_test_harness`` does before it
    stops its server (stopped first, Prefect's exit handlers retry them for more than a minute)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=timeout_s)


@contextmanager
def prefect_api(records_dir: Path, config: TemporaryServerConfig = TemporaryServerConfig()) -> Iterator[str | None]:
    """Yield the Prefect API URL the block's flows use: ``PREFECT_API_URL`` when set (nothing is started;
    None when it is not set and Prefect's temporary server is switched off, so Prefect reports it), else a
    temporary local server started here after the orphans of killed runs are stopped
    (:func:`stop_orphaned_servers`), recorded in ``records_dir`` and stopped when the block ends. SIGTERM stops
    the server, then ends the process as SIGTERM does by default (at once, status 143). Call from the main
    thread."""
    configured = PREFECT_API_URL.value()
    if configured or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        yield configured or None
        return
    from prefect.server.api.server import SubprocessASGIServer

    stop_orphaned_servers(records_dir, config)
    server = SubprocessASGIServer()

    def stop_server() -> None:
        if server.server_process is not None:
            pid = server.server_process.pid
            server.stop()
            remove_process_record(records_dir, pid)

    def stop_server_then_die(signum: int, frame: FrameType | None) -> None:
        stop_server()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    previous = signal.signal(signal.SIGTERM, stop_server_then_die)
    try:
        server.start(timeout=int(config.startup_timeout_s))
        assert server.server_process is not None, "SubprocessASGIServer.start returned without a process"
        process, owner = psutil.Process(server.server_process.pid), psutil.Process()
        write_process_record(records_dir, ProcessRecord(process.pid, process.create_time(), owner.pid,
                                                        owner.create_time(), server.api_url))
        yield server.api_url
    finally:
        signal.signal(signal.SIGTERM, previous)
        if server.server_process is not None:
            _drain_prefect_workers(config.drain_timeout_s)
        stop_server()
