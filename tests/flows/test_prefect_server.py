"""A command-line run's temporary Prefect server ends with the run; one left by a killed run is stopped by the
next run, and a server whose run is alive is left alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil

from flows.prefect_server import stop_orphaned_servers
from storage.process_records import ProcessRecord, read_process_records, server_records_dir, write_process_record
from storage.tapvid import write_tapvid_davis_pickle
from tests.flows.test_processes import _alive, _wait_for

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
        assert not _alive(orphan.pid)
        assert in_use.poll() is None
        assert [record.pid for record in read_process_records(tmp_path)] == [in_use.pid]
        assert read_process_records(tmp_path / "other") == []
    finally:
        for process in (in_use, orphan):
            process.kill()
            process.wait()


def _temporary_servers(prefect_home: Path) -> list[psutil.Process]:
    """Running Prefect API servers whose environment names ``prefect_home``."""
    found = []
    for process in psutil.process_iter():
        try:
            if ("prefect.server.api.server:create_app" in process.cmdline()
                    and process.environ().get("PREFECT_HOME") == str(prefect_home)):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_a_killed_runs_temporary_server_is_stopped_by_the_next_run(tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    dataset = tmp_path / "tiny.pkl"
    write_tapvid_davis_pickle(dataset, {"clip": {
        "video": rng.integers(0, 256, (4, 16, 16, 3), dtype=np.uint8),
        "points": rng.uniform(0.2, 0.8, (2, 4, 2)).astype(np.float32), "occluded": np.zeros((2, 4), dtype=bool)}})
    home = tmp_path / "prefect-home"
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    command = [sys.executable, "-m", "flows.cli", "benchmark", str(dataset), "--methods", "zero_motion",
               "--size", "16x16", "--workers", "1", "--data-root", str(tmp_path / "data")]
    records = server_records_dir(home)
    killed = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: killed.poll() is not None or bool(list(records.glob("server-*.json"))), 180,
                  "the first run's server record")
        killed.kill()
        killed.wait()
        [record] = read_process_records(records)
        assert _alive(record.pid) and [server.pid for server in _temporary_servers(home)] == [record.pid]
        second = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert second.returncode == 0, second.stderr[-2000:]
        assert not _alive(record.pid)
        assert _temporary_servers(home) == [] and read_process_records(records) == []
    finally:
        for server in _temporary_servers(home):
            server.kill()
