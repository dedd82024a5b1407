"""The nightly deployment of prefect.yaml, run the way a user runs it: a local Prefect server, a process work
pool, ``prefect deploy``, ``prefect deployment run`` and a worker that runs it once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from flows.nightly import NIGHTLY_METHODS
from flows.processes import StopConfig, process_tree, stop_process_tree
from tests.flows.loopback_cluster import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).parent / "prefect")
TINY = {"videos": 1, "frames": 6, "resolution": [32, 32], "steps": 4}
"""Overrides that make the nightly job a test: one 6-frame video scored at 32x32, 4 fitting steps."""


def _prefect(*arguments: str, env: dict[str, str], timeout: float = 120) -> str:
    done = subprocess.run([PREFECT, *arguments], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"prefect {' '.join(arguments)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _get(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_the_shipped_nightly_job_is_the_comparison_on_a_dataset_it_makes() -> None:
    spec = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    nightly = next(d for d in spec["deployments"] if d["name"] == "nightly-benchmark")
    assert nightly["entrypoint"] == "flows/nightly.py:nightly_benchmark"
    parameters = nightly["parameters"]
    assert tuple(parameters["methods"]) == NIGHTLY_METHODS and "dataset" not in parameters  # generated
    assert parameters["preset"] == "fast" and "steps" not in parameters  # the preset's full 3,000 steps


@pytest.mark.slow
def test_a_triggered_nightly_run_completes_and_leaves_its_tables_and_mlflow_runs(tmp_path: Path) -> None:
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {key: value for key, value in os.environ.items() if key not in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI")}
    # PWD: prefect.yaml's pull step runs the flow in the folder the deployment was made from ("{{ $PWD }}").
    env.update(PWD=str(REPO_ROOT), PREFECT_HOME=str(tmp_path / "prefect-home"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_UI_ENABLED="false", DASK_LOGGING__DISTRIBUTED="warning", MLFLOW_DISABLE_TELEMETRY="true")
    server = subprocess.Popen([PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              cwd=tmp_path, env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    data_root = tmp_path / "data"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                _get(f"{api}/health")
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "the Prefect server did not start"
                time.sleep(0.5)
        env["PREFECT_API_URL"] = api
        _prefect("work-pool", "create", "omnimotion", "--type", "process", env=env)
        _prefect("--no-prompt", "deploy", "--name", "nightly-benchmark", env=env)
        created = _prefect("deployment", "run", "nightly-benchmark/nightly-benchmark",
                           "--params", json.dumps({**TINY, "data_root": str(data_root)}), env=env)
        [run_id] = [line.split()[-1] for line in created.splitlines() if "UUID" in line]
        _prefect("worker", "start", "--pool", "omnimotion", "--run-once", env=env, timeout=400)
        run = _get(f"{api}/flow_runs/{run_id}")
        assert run["state_type"] == "COMPLETED", run["state"]
    finally:
        left = stop_process_tree(server.pid, group=server.pid, config=StopConfig(grace_s=10))
        server.wait()
    assert left == [] and process_tree(server.pid, group=server.pid) == []

    dataset = data_root / "datasets" / "synthetic-bench-1v-6f-seed0.pkl"
    assert dataset.is_file()
    results = data_root / "results" / "synthetic-bench-1v-6f-seed0"
    runs = pd.read_csv(results / "runs.csv")
    assert sorted(runs["method"]) == sorted(NIGHTLY_METHODS) and set(runs["status"]) == {"ok"}
    assert (results / "results.csv").is_file() and (results / "results.md").is_file()
    client = MlflowClient(f"sqlite:///{data_root / 'mlflow.db'}")
    [experiment] = [e for e in client.search_experiments() if e.name == "synthetic-bench-1v-6f-seed0"]
    mlflow_runs = client.search_runs([experiment.experiment_id])
    assert len(mlflow_runs) == 1 + len(NIGHTLY_METHODS)  # the parent and one nested run per method
    assert {run.info.status for run in mlflow_runs} == {"FINISHED"}
