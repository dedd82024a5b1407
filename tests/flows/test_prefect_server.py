"""A command-line run's temporary Prefect server ends with the run; one left by a killed run is stopped by the
next run, and a server whose run is alive is left alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from flows.prefect_server import stop_orphaned_servers
from storage.process_records import ProcessRecord, read_process_records, server_records_dir, write_process_record
from storage.tapvid import write_tapvid_davis_pickle
from tests.flows.process_checks import alive, temporary_servers, wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
SLEEPER = [sys.executable, "-c", "import time; time.sleep(300)"]


def _record(server: subprocess.Popen[bytes], owner: psutil.Process) -> ProcessRecord:
    return ProcessRecord(server.pid, psutil.Process(server.pid).create_time(), owner.pid, owner.create_time(),
                         "http://127.0.0.1:1/api")


def test_only_servers_whose_owner_is_gone_are_stopped(tmp_path: Path) -> None:
    finished_owner = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_owner = psutil.Process(finished_owner.pid)
    dead_owner.create_time()  # read while the process exists
    finished_owner.wait()
    in_use, orphan = subprocess.Popen(SLEEPER), subprocess.Popen(SLEEPER)
    try:
        write_process_record(tmp_path, _record(in_use, psutil.Process()))
        write_process_record(tmp_path, _record(orphan, dead_owner))
        # A record whose server id now belongs to another process (started later) must not be signalled.
        reused = ProcessRecord(in_use.pid, psutil.Process(in_use.pid).create_time() - 100, dead_owner.pid,
                               dead_owner.create_time(), "http://127.0.0.1:2/api")
        write_process_record(tmp_path / "other", reused)
        assert stop_orphaned_servers(tmp_path) == [orphan.pid]
        assert stop_orphaned_servers(tmp_path / "other") == []
        assert not alive(orphan.pid)
        assert in_use.poll() is None
        assert [record.pid for record in read_process_records(tmp_path)] == [in_use.pid]
        assert read_process_records(tmp_path / "other") == []
    finally:
        for process in (in_use, orphan):
            process.kill()
            process.wait()


def test_a_killed_runs_server_is_stopped_by_the_next_run_and_sigterm_stops_a_run_with_its_server(
    tmp_path: Path,
) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    dataset = tmp_path / "tiny.pkl"
    write_tapvid_davis_pickle(dataset, {"clip": {
        "video": rng.integers(0, 256, (4, 16, 16, 3), dtype=np.uint8),
        "points": rng.uniform(0.2, 0.8, (2, 4, 2)).astype(np.float32), "occluded": np.zeros((2, 4), dtype=bool)}})
    home = tmp_path / "prefect-home"
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    # A fit far longer than the test: each run is still running when it is killed.
    command = [sys.executable, "-m", "flows.cli", "benchmark", str(dataset), "--methods", "omnimotion", "--steps",
               "1000000", "--size", "32x32", "--workers", "1", "--data-root", str(tmp_path / "data")]
    records = server_records_dir(home)
    runs: list[subprocess.Popen[bytes]] = []

    def start_run() -> tuple[subprocess.Popen[bytes], ProcessRecord]:
        """A run, once its server is up and recorded."""
        run = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        runs.append(run)
        wait_for(lambda: run.poll() is not None or any(record.owner_pid == run.pid
                                                       for record in read_process_records(records)),
                 180, "the run's server record")
        assert run.poll() is None
        [record] = [record for record in read_process_records(records) if record.owner_pid == run.pid]
        return run, record

    try:
        killed, orphan = start_run()
        killed.kill()
        killed.wait()
        assert alive(orphan.pid) and [server.pid for server in temporary_servers(home)] == [orphan.pid]
        second, record = start_run()
        assert not alive(orphan.pid) and read_process_records(records) == [record]
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == -signal.SIGTERM
        assert not alive(record.pid) and temporary_servers(home) == [] and read_process_records(records) == []
    finally:
        for process in [*(run for run in runs if run.poll() is None), *temporary_servers(home)]:
            process.kill()
