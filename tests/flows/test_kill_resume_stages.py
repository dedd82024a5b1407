"""SIGKILL the ``benchmark`` flow inside each stage, restart it, and compare with an uninterrupted run.

Each run is a process of its own (``tests/flows/benchmark_child.py``) that records what every stage
writes and, when asked, pauses inside one stage so that the kill lands there and not at a guessed time.
Slow: ten benchmark processes with a model fit each (about 7 minutes on the shared 2-core machine).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import zarr
from mlflow import MlflowClient
from prefect.settings import PREFECT_API_URL

from omnimotion_core.synthetic import generate_tapvid_dataset, resize_synthetic_preset
from storage import layout
from storage.errors import IncompleteStoreError, InputError
from storage.fit_store import list_checkpoints, load_checkpoint, read_fit_summary
from storage.flow_store import list_flow_sets, read_flow_set
from storage.prediction_store import list_predictions, read_predictions
from storage.tapvid import write_tapvid_davis_pickle
from storage.video_store import list_videos, open_video
from tests.flows.benchmark_child import STAGES, ChildRun, child_env, start_child

NUM_FRAMES = 8
SIZE = 32
NUM_STEPS = 12
CHECKPOINT_EVERY = 3
GATE_STEP = 9
"""The fit is killed just before writing this step's checkpoint: steps 7-9 are lost, 3 and 6 are on disk."""
CHUNK_PAIRS = 7
"""28 unordered pairs of 8 frames in 4 chunks: the flow kill lands after the first."""
VIDEO_ID = "tiny-synth_000"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kill-data") / "tiny.pkl"
    config = resize_synthetic_preset("small", num_frames=NUM_FRAMES, height=SIZE, width=SIZE, num_videos=1)
    write_tapvid_davis_pickle(path, generate_tapvid_dataset(config, seed=0))
    return path


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One MLflow store and Prefect home for every run of the module (each stage logs to its own experiment)."""
    return tmp_path_factory.mktemp("kill-shared")


def _spec(dataset: Path, shared: Path, folder: Path, experiment: str, gate: str | None) -> dict[str, Any]:
    return {
        "dataset": str(dataset), "data_root": str(folder / "data"),
        "tracking_uri": f"sqlite:///{shared / 'mlflow.db'}", "experiment": experiment,
        "methods": ["omnimotion"], "resolution": [SIZE, SIZE], "num_steps": NUM_STEPS,
        "checkpoint_every": CHECKPOINT_EVERY, "chunk_pairs": CHUNK_PAIRS, "seed": 0,
        "events": str(folder / "events.jsonl"), "result": str(folder / f"result-{gate}.json"),
        "gate": gate, "gate_step": GATE_STEP,
    }


def _run(dataset: Path, shared: Path, folder: Path, experiment: str, gate: str | None) -> ChildRun:
    env = child_env(str(PREFECT_API_URL.value()), shared / "prefect")
    spec = _spec(dataset, shared, folder, experiment, gate)
    return start_child(spec, folder / ("killed" if gate else "run"), env)


def _video_group(folder: Path) -> Path:
    return layout.video_path(folder / "data", VIDEO_ID)


def _checkpoint_steps(run: ChildRun) -> list[int]:
    return [event["step"] for event in run.own_events("checkpoint")]


def _flow_pairs(run: ChildRun) -> dict[str, list[tuple[int, int]]]:
    """The pairs each flow set (direct, chained) had written by ``run``."""
    written: dict[str, list[tuple[int, int]]] = {}
    for event in run.own_events("flow"):
        written.setdefault(event["set"], []).extend((i, j) for i, j in event["pairs"])
    return written


def _final_weights(group: Path) -> dict[str, torch.Tensor]:
    (fit,) = (group / layout.FITS_GROUP).iterdir()
    return load_checkpoint(list_checkpoints(fit)[-1][1])["trainer"]["model"]


def _stamps(paths: list[Path]) -> dict[Path, tuple[int, int]]:
    """(inode, mtime ns) of each file: a rewritten file gets a new inode (atomic rename) or mtime."""
    return {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in paths}


def _files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


def _published_path(path: Path, folder: Path) -> Path:
    """Where a file of a partial flow set lives once the set is published under its final name."""
    relative = path.relative_to(folder).parts
    renamed = [part.split(layout.PARTIAL_MARKER)[0] for part in relative]
    return folder.joinpath(*renamed)


def _assert_records_equal(actual: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert got.keys() == want.keys()
        for key, value in want.items():
            same = value == got[key] or (isinstance(value, float) and math.isnan(value) and math.isnan(got[key]))
            assert same, f"{key}: {got[key]} after the kill, {value} uninterrupted"


def _assert_whatever_reads_as_complete_is_whole(data_root: Path, reference_root: Path) -> None:
    """Every store a reader accepts equals the uninterrupted run's; every partial one is refused."""
    for video_id in list_videos(data_root):
        group = open_video(layout.video_path(data_root, video_id))
        reference = layout.video_path(reference_root, video_id)
        np.testing.assert_array_equal(group.read_frames(), open_video(reference).read_frames())
        for name in list_flow_sets(group.path):
            got, want = read_flow_set(group.path, name), read_flow_set(reference, name)
            for field in ("pairs", "flow", "mask", "counts"):
                np.testing.assert_array_equal(getattr(got, field), getattr(want, field))
        for path in list_predictions(group.path):
            got, want = read_predictions(path), read_predictions(reference / path.relative_to(group.path))
            np.testing.assert_array_equal(got.tracks, want.tracks)
            np.testing.assert_array_equal(got.occluded, want.occluded)
    for partial in (data_root / layout.VIDEOS_DIR).glob(f"*{layout.VIDEO_SUFFIX}{layout.PARTIAL_MARKER}*"):
        with pytest.raises(IncompleteStoreError):
            open_video(partial)


@pytest.fixture(scope="module")
def reference(dataset: Path, shared: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ChildRun, dict[str, Any]]:
    """One uninterrupted run: its folder, its process record and its result."""
    folder = tmp_path_factory.mktemp("reference")
    run = _run(dataset, shared, folder, "reference", None)
    result = run.finish()
    assert result["failures"] == []
    assert len(result["records"]) == 1
    assert sorted(set(_checkpoint_steps(run))) == list(range(CHECKPOINT_EVERY, NUM_STEPS + 1, CHECKPOINT_EVERY))
    return folder, run, result


def _check_killed_state(stage: str, folder: Path) -> list[Path]:
    """Assert what a kill inside ``stage`` left on disk; return the finished files that must survive."""
    videos = folder / "data" / layout.VIDEOS_DIR
    group = _video_group(folder)
    if stage == "ingest":
        assert list_videos(folder / "data") == [] and not group.exists()
        (partial,) = [path for path in videos.iterdir() if layout.PARTIAL_MARKER in path.name]
        assert zarr.open_array(str(partial / layout.FRAMES_ARRAY), mode="r").shape[0] == NUM_FRAMES
        with pytest.raises(IncompleteStoreError, match="partial group"):
            open_video(partial)
        return []
    frames = _files(group / layout.FRAMES_ARRAY)
    if stage == "flow":
        assert list_flow_sets(group) == []
        (partial,) = (group / layout.FLOWS_GROUP).glob(f"*{layout.PARTIAL_MARKER}*")
        with pytest.raises(InputError, match="no flow set"):
            read_flow_set(group, partial.name.split(layout.PARTIAL_MARKER)[0])
        done = zarr.open_array(str(partial / "done"), mode="r")[:]
        assert int(done.sum()) == 2 * CHUNK_PAIRS
        rows = np.flatnonzero(done)
        return frames + [path for row in rows for name in ("flow", "mask") for path in _files(partial / name / "c" / str(row))]
    (fit,) = (group / layout.FITS_GROUP).iterdir()
    flows = _files(group / layout.FLOWS_GROUP)
    if stage == "fit":
        with pytest.raises(IncompleteStoreError, match="not completed"):
            read_fit_summary(fit)
        assert [step for step, _ in list_checkpoints(fit)] == [GATE_STEP - 2 * CHECKPOINT_EVERY, GATE_STEP - CHECKPOINT_EVERY]
        assert list_predictions(group) == []
        return frames + flows
    assert stage == "evaluate"
    assert read_fit_summary(fit)["steps"] == NUM_STEPS
    assert len(list_predictions(group)) == 1
    assert not (folder / "data" / layout.RESULTS_DIR).exists()
    return frames + flows + _files(fit) + _files(group / "predictions")


def _check_resumed_work(stage: str, restart: ChildRun, reference: ChildRun) -> None:
    """Assert the restarted run redid only what the kill interrupted."""
    ingests, pairs, steps = len(restart.own_events("ingest")), _flow_pairs(restart), _checkpoint_steps(restart)
    if stage == "ingest":
        assert (ingests, pairs, steps) == (1, _flow_pairs(reference), _checkpoint_steps(reference))
    elif stage == "flow":
        assert ingests == 0
        direct = next(iter(_flow_pairs(reference)))
        expected = {name: len(written) for name, written in _flow_pairs(reference).items()}
        expected[direct] -= 2 * CHUNK_PAIRS
        assert {name: len(written) for name, written in pairs.items()} == expected
        assert steps == _checkpoint_steps(reference)
    elif stage == "fit":
        assert (ingests, pairs) == (0, {})
        assert steps == [step for step in _checkpoint_steps(reference) if step >= GATE_STEP]
    else:
        assert (ingests, pairs, steps) == (0, {}, [])
        assert restart.own_events("predictions") == []
    assert len(restart.own_events("evaluate")) == 1


@pytest.mark.parametrize("stage", STAGES)
def test_a_run_killed_in_any_stage_resumes_to_the_uninterrupted_result(
    stage: str, dataset: Path, shared: Path, tmp_path: Path, reference: tuple[Path, ChildRun, dict[str, Any]]
) -> None:
    reference_folder, reference_run, reference_result = reference
    killed = _run(dataset, shared, tmp_path, stage, stage)
    try:
        killed.wait_for_gate()
    finally:
        killed.kill()
    survivors = _check_killed_state(stage, tmp_path)
    _assert_whatever_reads_as_complete_is_whole(tmp_path / "data", reference_folder / "data")
    before = _stamps(survivors)

    restart = _run(dataset, shared, tmp_path, stage, None)
    result = restart.finish()
    assert result["failures"] == []
    _assert_records_equal(result["records"], reference_result["records"])
    _assert_whatever_reads_as_complete_is_whole(tmp_path / "data", reference_folder / "data")
    got, want = _final_weights(_video_group(tmp_path)), _final_weights(_video_group(reference_folder))
    assert got.keys() == want.keys() and all(torch.equal(got[name], want[name]) for name in want)
    _check_resumed_work(stage, restart, reference_run)
    after = {_published_path(path, tmp_path): stamp for path, stamp in before.items()}
    assert _stamps(list(after)) == after, "a finished artefact was rewritten by the restarted run"
    assert not list((tmp_path / "data").rglob(f"*{layout.PARTIAL_MARKER}*")), "a partial store was left behind"
    assert Path(result["csv_path"]).is_file()
    client = MlflowClient(f"sqlite:///{shared / 'mlflow.db'}")
    parent = client.get_run(result["mlflow_run_id"])
    nested = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert (parent.info.status, len(nested)) == ("FINISHED", 1)

