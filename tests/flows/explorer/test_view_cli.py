"""`omnimotion view` as a command: bad targets exit 2 with one clear line; a served page stops on Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from flows.cli import main
from storage.video_sources import ArraySource
from storage.video_store import ingest

STOP_SECONDS = 120
"""How long a stopped server may take to exit (interpreter teardown of torch, Prefect and MLflow is slow on a
loaded 2-core machine)."""


def start_view(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Start the real `omnimotion view` command and return it with the URL it printed."""
    command = Path(sys.executable).with_name("omnimotion")
    process = subprocess.Popen([str(command), "view", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if "serving on " in line:
            return process, line.split("serving on ", 1)[1].split()[0]
    process.wait(timeout=30)
    raise AssertionError(f"omnimotion view exited {process.returncode} without serving: {process.stderr.read()}")


def test_a_video_without_a_fit_exits_2_saying_how_to_fit_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = np.zeros((2, 8, 8, 3), dtype=np.uint8)
    group = ingest(ArraySource(frames), tmp_path, "clip")
    assert main(["view", str(group)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("omnimotion view: error: ")
    assert f"no finished fit to explore; fit one with: omnimotion fit {group}" in error


def test_view_needs_a_target_or_an_mlflow_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["view", "--data-root", str(tmp_path)]) == 2
    assert "takes a TARGET (video group or results folder) or --mlflow-run RUN_ID" in capsys.readouterr().err
    assert main(["view", str(tmp_path / "missing.zarr")]) == 2
    assert "neither a video group" in capsys.readouterr().err


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_the_server_prints_a_loopback_url_and_stops_cleanly(fitted_video: Path, stop: signal.Signals) -> None:
    process, url = start_view(str(fitted_video))
    try:
        assert url.startswith("http://127.0.0.1:")
        process.send_signal(stop)
        stdout, stderr = process.communicate(timeout=STOP_SECONDS)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert stdout.strip().endswith("omnimotion view: stopped")
    assert "Traceback" not in stderr
