"""Two ``benchmark`` runs over the same data folder at once, in their own processes.

Slow: each test runs two benchmark processes with a model fit (about a minute each on the shared 2-core
machine).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import zarr
from mlflow import MlflowClient
from prefect.settings import PREFECT_API_URL

from omnimotion_core.synthetic import generate_tapvid_dataset, resize_synthetic_preset
from storage import layout
from storage.fit_store import read_fit_summary
from storage.flow_store import flow_sets_dir, list_flow_sets, read_flow_set
from storage.prediction_store import list_predictions, read_predictions
from storage.tapvid import write_tapvid_davis_pickle
from storage.video_store import list_videos, open_video
from tasks.config import EvaluationConfig
from tasks.evaluate import evaluate_tapvid
from tests.flows.benchmark_child import ChildRun, child_env, start_child

SIZE = 32
VIDEO_ID = "tiny-synth_000"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("concurrent-data") / "tiny.pkl"
    config = resize_synthetic_preset("small", num_frames=6, height=SIZE, width=SIZE, num_videos=1)
    write_tapvid_davis_pickle(path, generate_tapvid_dataset(config, seed=0))
    return path


def _start(dataset: Path, root: Path, folder: Path, name: str, **changes: Any) -> ChildRun:
    spec = {
        "dataset": str(dataset), "data_root": str(root), "tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
        "experiment": name, "methods": ["omnimotion"], "resolution": [SIZE, SIZE], "num_steps": 4,
        "checkpoint_every": 2, "chunk_pairs": 4, "seed": 0, "events": str(folder / name / "events.jsonl"),
        "result": str(folder / name / "result.json"), "gate": None, "gate_step": -1, **changes,
    }
    return start_child(spec, folder / name, child_env(str(PREFECT_API_URL.value()), folder / "prefect"))


def _assert_every_store_is_whole(root: Path) -> Path:
    """Every store under ``root`` reads as complete, none is left partial; return the video group."""
    assert list_videos(root) == [VIDEO_ID]
    group = open_video(layout.video_path(root, VIDEO_ID)).path
    assert not list(root.rglob(f"*{layout.PARTIAL_MARKER}*"))
    names = list_flow_sets(group)
    assert sorted(path.name for path in flow_sets_dir(group).iterdir() if path.is_dir()) == names
    for name in names:
        flow_set = read_flow_set(group, name)
        assert (flow_set.counts.sum(), len(flow_set.pairs)) == (flow_set.mask.sum(), 30)
    for fit in (group / layout.FITS_GROUP).iterdir():
        assert read_fit_summary(fit)["steps"] in (4, 6)
    for path in list_predictions(group):
        read_predictions(path)
    return group


def test_two_runs_of_one_config_share_a_half_written_flow_set_and_both_finish(dataset: Path, tmp_path: Path) -> None:
    """The first run pauses after its first flow chunk; the second joins that partial set, publishes it and
    finishes; then the first goes on, finds the set published and finishes with the same results."""
    root = tmp_path / "data"
    first = _start(dataset, root, tmp_path, "first", gate="flow")
    try:
        first.wait_for_gate()
        second = _start(dataset, root, tmp_path, "second")
        second_result = second.finish()
        first.release()
        first_result = first.finish()
    finally:
        first.kill()
    assert first_result["failures"] == second_result["failures"] == []
    assert first_result["records"] == second_result["records"]
    group = _assert_every_store_is_whole(root)
    assert len(list_flow_sets(group)) == 2  # the direct set and the chained one, each once
    assert len(list((group / layout.FITS_GROUP).iterdir())) == 1
    assert len(list_predictions(group)) == 1


def test_two_runs_of_other_configs_at_once_keep_their_own_results(dataset: Path, tmp_path: Path) -> None:
    """Both runs share the video and its flow sets, each fits its own model and logs its own results; both
    start on a fresh MLflow store (its schema set-up is serialised by a lock, see tasks/tracking.py)."""
    root = tmp_path / "data"
    root.mkdir()
    runs = {
        "short": _start(dataset, root, tmp_path, "short", num_steps=4, methods=["omnimotion"]),
        "long": _start(dataset, root, tmp_path, "long", num_steps=6, methods=["omnimotion", "zero_motion"]),
    }
    results = {name: run.finish() for name, run in runs.items()}
    assert all(result["failures"] == [] for result in results.values())
    assert sorted(record["method"] for record in results["long"]["records"]) == ["omnimotion", "zero_motion"]
    group = _assert_every_store_is_whole(root)
    assert sorted(read_fit_summary(fit)["steps"] for fit in (group / layout.FITS_GROUP).iterdir()) == [4, 6]
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    evaluation = EvaluationConfig(resolution=(SIZE, SIZE))
    for name, steps in (("short", 4), ("long", 6)):
        parent = results[name]["mlflow_run_id"]
        children = client.search_runs(
            [client.get_run(parent).info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent}'"
        )
        assert len(children) == len(results[name]["records"])
        (model_run,) = [child for child in children if child.data.tags["method"] == "omnimotion"]
        assert model_run.data.metrics["fit_steps"] == steps
        fit = group / layout.FITS_GROUP / model_run.data.params["fit"]
        assert zarr.open_group(str(fit), mode="r").attrs["summary"]["steps"] == steps
        (record,) = [record for record in results[name]["records"] if record["method"] == "omnimotion"]
        (predictions,) = [
            path for path in list_predictions(group) if read_predictions(path).params.get("fit") == fit.name
        ]
        assert evaluate_tapvid.fn(str(predictions), str(dataset), "synth_000", evaluation) == record
