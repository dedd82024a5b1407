"""What goes to MLflow: no secrets, the code version."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tasks.tracking import code_version, without_secrets


def test_secret_looking_keys_are_dropped_and_others_kept() -> None:
    params = {
        "model.width": 128,
        "HF_TOKEN": "x",
        "aws_secret_access_key": "x",
        "db.password": "x",
        "apiKey": "x",
        "monkey_count": 3,
        "keyframe_interval": 8,
        "query_mode": "first",
    }
    assert without_secrets(params) == {"model.width": 128, "monkey_count": 3, "keyframe_interval": 8, "query_mode": "first"}


def test_code_version_names_the_commit_and_packages() -> None:
    version = code_version()
    assert len(version["code.git_sha"].removesuffix("-dirty")) in (40, len("unknown"))
    assert version["package.numpy"][0].isdigit()


def test_a_benchmark_run_left_running_by_a_dead_process_is_marked_killed(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from tasks.tracking import TrackingTarget, start_benchmark_run

    target = TrackingTarget(f"sqlite:///{tmp_path / 'mlflow.db'}", "abandoned", tmp_path / "artifacts")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = start_benchmark_run.fn(target, "alive", {})
    client = MlflowClient(target.tracking_uri)
    abandoned = start_benchmark_run.fn(target, "abandoned", {})
    client.set_tag(abandoned, "omnimotion.pid", str(dead.pid))
    elsewhere = start_benchmark_run.fn(target, "other host", {})
    client.set_tag(elsewhere, "omnimotion.host", "another-host")
    client.set_tag(elsewhere, "omnimotion.pid", str(dead.pid))
    start_benchmark_run.fn(target, "next", {})
    status = {run_id: client.get_run(run_id).info.status for run_id in (alive, abandoned, elsewhere)}
    assert status == {alive: "RUNNING", abandoned: "KILLED", elsewhere: "RUNNING"}
