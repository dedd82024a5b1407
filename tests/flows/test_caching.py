"""Prefect-level result caching of the benchmark's stages (``tasks/caching.py``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from uuid import UUID

import numpy as np
import pytest
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.settings import PREFECT_API_URL

from flows.benchmark import BenchmarkResult, benchmark
from flows.config import PipelineConfig
from storage import layout
from storage.tapvid import write_tapvid_davis_pickle
from tasks.config import EvaluationConfig, FitConfig
from tests.conftest import REPO_ROOT

METHODS = ["omnimotion", "zero_motion"]
STAGES = {"ingest_video", "compute_flow_set", "fit_model", "track_with_model", "track_points", "evaluate_tapvid",
          "render_visuals"}
LOGGING = {"start_benchmark_run", "log_video_result", "finish_benchmark_run"}


def _write_dataset(path: Path) -> None:
    """Two 6-frame 32x32 videos with three points each drifting right."""
    rng = np.random.default_rng(1)
    videos = {}
    for name in ("left", "right"):
        start = rng.integers(3, 10, (3, 1, 2)) / 32
        steps = np.arange(6)[None, :, None] * np.array([1.0 / 32, 0.0])
        videos[name] = {
            "video": rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8),
            "points": (start + steps).astype(np.float32),
            "occluded": np.zeros((3, 6), dtype=bool),
        }
    write_tapvid_davis_pickle(path, videos)


def _run(dataset: Path, data_root: Path) -> tuple[BenchmarkResult, Counter[tuple[str, str]]]:
    """Run the benchmark (Dask task runner, local threads); return its result and how many task runs of
    each (task name, state name) it had."""
    config = PipelineConfig(
        data_root=data_root,
        evaluation=EvaluationConfig(resolution=(32, 32)),
        fit=FitConfig(num_steps=2, checkpoint_every=2, log_every=1, cpu_threads=1, device="cpu"),
    )
    state = benchmark(str(dataset), METHODS, config, return_state=True)
    result = state.result()
    flow_run_id: UUID = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return result, Counter((run.name.rsplit("-", 1)[0], run.state.name) for run in task_runs)


def _run_in_new_process(dataset: Path, data_root: Path) -> tuple[list[dict[str, object]], Counter[tuple[str, str]]]:
    """:func:`_run` in a fresh Python process against this session's Prefect server: (records, states)."""
    code = (
        "import json, sys; from pathlib import Path; from tests.flows.test_caching import _run; "
        "result, states = _run(Path(sys.argv[1]), Path(sys.argv[2])); "
        "assert result.failures == [], result.failures; "
        "print(json.dumps({'records': result.records, 'states': [[*key, n] for key, n in states.items()]}))"
    )
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "PREFECT_LOGGING_LEVEL": "ERROR"}
    done = subprocess.run([sys.executable, "-c", code, str(dataset), str(data_root)], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    payload = json.loads(done.stdout.strip().splitlines()[-1])
    return payload["records"], Counter({(name, state): count for name, state, count in payload["states"]})


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[dict[str, object]]]:
    """A benchmark of two videos x (omnimotion, zero_motion) finished by another process: (dataset, data
    root, its records)."""
    folder = tmp_path_factory.mktemp("cache")
    dataset, data_root = folder / "toy.pkl", folder / "data"
    _write_dataset(dataset)
    records, states = _run_in_new_process(dataset, data_root)
    assert {state for _, state in states} == {"Completed"}
    return dataset, data_root, records


def test_a_rerun_takes_every_stage_from_the_cache_of_another_process(
    first_run: tuple[Path, Path, list[dict[str, object]]],
) -> None:
    dataset, data_root, records = first_run
    second, states = _run(dataset, data_root)
    stage_states = {(name, state) for name, state in states if name in STAGES}
    assert {name for name, _ in stage_states} == STAGES
    assert {state for _, state in stage_states} == {"Cached"}
    assert {state for name, state in states if name in LOGGING} == {"Completed"}
    assert json.loads(json.dumps(second.records)) == records
    assert second.failures == []
    fits = [row for row in second.runs if row["method"] == "omnimotion"]
    assert [row["fit_steps"] for row in fits] == [2, 2] and all(np.isfinite(row["final_flow_loss"]) for row in fits)


def test_a_deleted_store_invalidates_its_cached_result(first_run: tuple[Path, Path, list[dict[str, object]]]) -> None:
    dataset, data_root, records = first_run
    left_flows = [path for path in (layout.video_path(data_root, "toy-left") / "flows").iterdir()
                  if layout.is_published(path)]
    right_zero = next((layout.video_path(data_root, "toy-right") / "predictions").glob("zero_motion-*"))
    for store in [*left_flows, right_zero]:
        shutil.rmtree(store)
    again, states = _run(dataset, data_root)
    assert again.failures == []
    assert json.loads(json.dumps(again.records)) == records
    assert left_flows and all(layout.is_published(store) for store in [*left_flows, right_zero])
    # Only the two stages whose stores were deleted run again; the fit made from the recomputed flow set
    # (same name, same content) and everything else come from the cache.
    assert states[("compute_flow_set", "Completed")] == 1 and states[("compute_flow_set", "Cached")] == 1
    assert states[("track_points", "Completed")] == 1 and states[("track_points", "Cached")] == 1
    recomputed = {name for name, state in states if state != "Cached" and name not in LOGGING}
    assert recomputed == {"compute_flow_set", "track_points"}
