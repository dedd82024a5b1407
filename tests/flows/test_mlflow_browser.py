"""MLflow's own UI, in a real headless browser (Debian's chromium driven by Playwright), on the store of two
benchmark runs: the experiment page we print lists the runs, named apart, with the Dataset column filled.
A screenshot of the page is saved in the test's tmp folder (``mlflow-experiment.png``).

The browser is the ``browser`` fixture of ``tests/flows/conftest.py`` (skipped without chromium, except on CI).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.benchmark import BenchmarkResult, benchmark
from flows.config import PipelineConfig
from tasks.tracking import experiment_of_run, ui_page
from tests.flows.test_benchmark import UNCHECKED, _toy_dataset

DATASET_COLUMN = "attributes.`Dataset`"
RUN_NAME_COLUMN = "attributes.`Run Name`"
START_SECONDS = 120
STOP_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group (the server, its uvicorn and job consumers); SIGKILL what is left
    after STOP_SECONDS."""
    os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while time.monotonic() < deadline:
        process.poll()
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[BenchmarkResult]:
    """Two benchmark runs of a toy dataset in one store."""
    root = tmp_path_factory.mktemp("mlflow-ui")
    dataset = root / "toy.pkl"
    _toy_dataset(dataset)
    config = PipelineConfig(data_root=root / "data", evaluation=UNCHECKED)
    return [benchmark(str(dataset), methods, config) for methods in (["zero_motion"], ["zero_motion", "dis-c"])]


@pytest.fixture(scope="module")
def mlflow_ui(runs: list[BenchmarkResult]) -> Iterator[str]:
    """MLflow's UI on 127.0.0.1 and a free port, serving the runs' store; its base URL."""
    port = _free_port()
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", runs[0].tracking_uri,
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the MLflow server did not answer on {url} (exit {process.returncode})") from None
                time.sleep(0.5)
        yield url
    finally:
        _stop_group(process)


def test_the_experiment_page_lists_the_runs_with_their_dataset(
    browser: object, mlflow_ui: str, runs: list[BenchmarkResult], tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(runs[0].tracking_uri)
    parents = [client.get_run(result.mlflow_run_id) for result in runs]
    (used,) = {(d.dataset.name, d.dataset.digest) for run in parents for d in run.inputs.dataset_inputs}
    page = browser.new_page(viewport={"width": 1600, "height": 900})
    page.goto(ui_page(mlflow_ui, experiment_of_run(runs[0].tracking_uri, runs[0].mlflow_run_id)))
    dataset_cells = page.locator(f'[role="gridcell"][col-id="{DATASET_COLUMN}"]')
    page.get_by_text(f"{used[0]} ({used[1]})", exact=True).first.wait_for(timeout=60_000)
    page.screenshot(path=str(tmp_path / "mlflow-experiment.png"))
    assert (tmp_path / "mlflow-experiment.png").stat().st_size > 10_000
    assert page.locator(f'[role="columnheader"][col-id="{DATASET_COLUMN}"]').inner_text().strip() == "Dataset"
    names = page.locator(f'[role="gridcell"][col-id="{RUN_NAME_COLUMN}"]').all_inner_texts()
    assert sorted(name.splitlines()[-1] for name in names) == sorted(run.info.run_name for run in parents)
    assert [text.split()[:2] for text in dataset_cells.all_inner_texts()] == [[used[0], f"({used[1]})"]] * len(parents)
    assert f"/#/experiments/{parents[0].info.experiment_id}/runs?" in page.url  # not sent on to the GenAI overview
