"""Servers started by the pipeline end with it: a stop signal stops the whole process tree."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.flows.loopback_cluster import free_port
from tests.flows.process_checks import alive, wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
TREE_SCRIPT = """
import signal, subprocess, sys, time
from pathlib import Path
out, role = Path(sys.argv[1]), sys.argv[2]
(out / f"{role}.pid").write_text(str(__import__("os").getpid()))
if role == "root":
    subprocess.Popen([sys.executable, __file__, str(out), "stubborn"])
    subprocess.Popen([sys.executable, __file__, str(out), "parent"])
elif role == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
elif role == "parent":
    subprocess.Popen([sys.executable, __file__, str(out), "orphan"])
    sys.exit(0)
time.sleep(300)
"""
"""A stand-in server: the root starts a child that ignores SIGTERM and a child that starts a grandchild and
exits (the grandchild is then nobody's descendant, only a member of the process group)."""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_stops_the_command_and_every_process_it_started(tmp_path: Path, signum: int) -> None:
    script = tmp_path / "tree.py"
    script.write_text(TREE_SCRIPT, encoding="utf-8")
    runner = subprocess.Popen([
        sys.executable, "-c",
        "import sys; from flows.processes import StopConfig, run_until_signalled; "
        f"sys.exit(run_until_signalled([sys.executable, {str(script)!r}, {str(tmp_path)!r}, 'root'], StopConfig(grace_s=2)))",
    ], cwd=REPO_ROOT)
    roles = ("root", "stubborn", "parent", "orphan")
    wait_for(lambda: all((tmp_path / f"{role}.pid").is_file() for role in roles), 60, "the process tree")
    pids = {role: int((tmp_path / f"{role}.pid").read_text()) for role in roles}
    wait_for(lambda: not alive(pids["parent"]), 30, "the parent to exit")
    assert alive(pids["orphan"]) and alive(pids["stubborn"])
    runner.send_signal(signum)
    assert runner.wait(timeout=30) == 0
    assert [role for role, pid in pids.items() if alive(pid)] == []


def _health(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_omnimotion_ui_stops_the_mlflow_server_and_all_its_children_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    ui = subprocess.Popen([sys.executable, "-m", "flows.cli", "ui", "--data-root", str(tmp_path), "--port", str(port)],
                          cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL)
    tree: list[psutil.Process] = []
    try:
        wait_for(lambda: _health(port), 120, "the MLflow server's /health")
        # The job runner starts its huey consumers after the server answers.
        wait_for(lambda: any("huey_consumer" in " ".join(child.cmdline())
                              for child in psutil.Process(ui.pid).children(recursive=True)), 60, "the huey consumers")
        tree = psutil.Process(ui.pid).children(recursive=True)
        commands = " ".join(" ".join(child.cmdline()) for child in tree)
        assert "mlflow" in commands and "uvicorn" in commands and "_job_runner" in commands
        ui.send_signal(signal.SIGTERM)
        assert ui.wait(timeout=60) == 0
        assert [child.cmdline() for child in tree if alive(child.pid)] == []
        assert not _health(port)
    finally:
        for process in [psutil.Process(ui.pid), *tree] if ui.poll() is None else tree:
            if alive(process.pid):
                process.kill()
