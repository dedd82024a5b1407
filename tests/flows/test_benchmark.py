"""The benchmark flow over a TAP-Vid pickle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from flows.benchmark import benchmark
from flows.config import PipelineConfig
from flows.evaluate import evaluate
from omnimotion_core.appearance import AppearanceCheckConfig
from storage import layout
from storage.prediction_store import read_predictions
from storage.results_table import read_results_table
from storage.tapvid import write_tapvid_davis_pickle
from storage.video_sources import ArraySource
from storage.video_store import ingest, list_videos
from tasks.config import EvaluationConfig
from tasks.fit import load_logged_model

UNCHECKED = EvaluationConfig(resolution=(32, 32), appearance_check=AppearanceCheckConfig(enabled=False))
"""Scores of the trackers' own occlusion: the toy videos are noise, so every patch check would fail."""


def _toy_dataset(path: Path, names: tuple[str, ...] = ("left", "right")) -> dict[str, dict[str, np.ndarray]]:
    """Videos (two by default) whose points move by a known 4 px per frame to the right and are always visible."""
    rng = np.random.default_rng(0)
    videos = {}
    for name in names:
        start = rng.integers(3, 10, (3, 1, 2)) / 32
        steps = np.arange(6)[None, :, None] * np.array([4.0 / 32, 0.0])
        videos[name] = {
            "video": rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8),
            "points": (start + steps).astype(np.float32),
            "occluded": np.zeros((3, 6), dtype=bool),
        }
    write_tapvid_davis_pickle(path, videos)
    return videos


def test_zero_motion_scores_match_the_known_motion(tmp_path: Path) -> None:
    dataset = tmp_path / "toy.pkl"
    _toy_dataset(dataset)
    config = PipelineConfig(data_root=tmp_path / "data", evaluation=UNCHECKED)
    result = benchmark(str(dataset), ["zero_motion"], config)
    assert result.failures == []
    records = pd.DataFrame.from_records(result.records).set_index("video")
    # Frames after the query are 4, 8, 12, 16, 20 px away; "within d" is strictly closer than d, so
    # pts_within_{1,2,4,8,16} = 0, 0, 0, 1/5, 3/5 and delta_avg = 0.16.
    np.testing.assert_allclose(records["average_pts_within_thresh"], [0.16, 0.16])
    np.testing.assert_allclose(records["occlusion_accuracy"], [1.0, 1.0])
    np.testing.assert_allclose(records["temporal_coherence"], [0.0, 0.0], atol=1e-5)
    assert result.csv_path == tmp_path / "data" / "results" / "toy" / "results.csv"
    table = read_results_table(result.csv_path)
    assert table.loc["zero_motion", ("toy", "delta_avg")] == pytest.approx(16.0)
    assert result.table_markdown.startswith("Frames scored: tapvid")
    assert sorted(list_videos(tmp_path / "data")) == ["toy-left", "toy-right"]


def test_runs_are_logged_to_mlflow_as_parent_and_nested_runs(tmp_path: Path) -> None:
    dataset = tmp_path / "toy.pkl"
    _toy_dataset(dataset)
    config = PipelineConfig(data_root=tmp_path / "data", evaluation=UNCHECKED)
    result = benchmark(str(dataset), ["zero_motion"], config)
    assert result.tracking_uri == f"sqlite:///{(tmp_path / 'data' / 'mlflow.db').resolve()}"
    client = MlflowClient(result.tracking_uri)
    parent = client.get_run(result.mlflow_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.params["evaluation.query_mode"] == "first"
    assert parent.data.params["package.torch"].startswith("2.")
    assert parent.data.metrics["zero_motion.toy.delta_avg"] == pytest.approx(16.0)
    artifacts = {item.path for item in client.list_artifacts(result.mlflow_run_id)}
    assert artifacts == {"results.csv", "results.md"}
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{result.mlflow_run_id}'"
    )
    assert sorted(run.data.tags["video"] for run in children) == ["left", "right"]
    for child in children:
        assert child.data.metrics["average_pts_within_thresh"] == pytest.approx(0.16)
        assert child.data.metrics["occlusion_accuracy"] == pytest.approx(1.0)
        assert child.data.tags["method"] == "zero_motion" and "preset" not in child.data.tags


def test_the_experiment_opens_on_runs_named_apart_each_with_its_dataset(tmp_path: Path) -> None:
    import hashlib
    import re

    from tasks.tracking import EXPERIMENT_KIND_TAG, MODEL_DEVELOPMENT

    dataset = tmp_path / "toy.pkl"
    _toy_dataset(dataset)
    config = PipelineConfig(data_root=tmp_path / "data", evaluation=UNCHECKED)
    first = benchmark(str(dataset), ["zero_motion"], config)
    second = benchmark(str(dataset), ["zero_motion", "dis-c"], config)
    client = MlflowClient(first.tracking_uri)
    runs = [client.get_run(result.mlflow_run_id) for result in (first, second)]
    assert client.get_experiment(runs[0].info.experiment_id).tags[EXPERIMENT_KIND_TAG] == MODEL_DEVELOPMENT
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
    assert re.fullmatch(rf"toy \| zero_motion \| {stamp}", runs[0].info.run_name)
    assert re.fullmatch(rf"toy \| zero_motion, dis-c \| {stamp}", runs[1].info.run_name)
    content = hashlib.sha256(dataset.read_bytes()).hexdigest()
    digest = hashlib.sha256(f"toy.pkl:{content}".encode()).hexdigest()[:12]
    children = client.search_runs([runs[0].info.experiment_id], filter_string="tags.`omnimotion.kind` = 'video'")
    assert len(children) == 2 + 4
    for run in [*runs, *children]:
        (used,) = run.inputs.dataset_inputs
        assert (used.dataset.name, used.dataset.source) == ("toy", f'{{"uri": "{dataset.resolve()}"}}')
        assert used.dataset.digest == digest
        assert [(tag.key, tag.value) for tag in used.tags] == [("mlflow.data.context", "eval")]
    _toy_dataset(dataset, names=("left", "right", "third"))
    third = benchmark(str(dataset), ["zero_motion"], config, videos=["left"])
    changed = client.get_run(third.mlflow_run_id).inputs.dataset_inputs[0].dataset
    assert changed.name == "toy" and changed.digest != digest


def test_the_appearance_check_hides_points_whose_patch_changed_and_names_its_own_predictions(tmp_path: Path) -> None:
    dataset = tmp_path / "toy.pkl"
    _toy_dataset(dataset)
    checked = PipelineConfig(data_root=tmp_path / "data", evaluation=EvaluationConfig(resolution=(32, 32)))
    result = benchmark(str(dataset), ["zero_motion"], checked)
    records = pd.DataFrame.from_records(result.records).set_index("video")
    # every frame is fresh noise: after the query frame no patch looks like the query's, so every point is
    # hidden (the points stay visible in the truth: OA 0); the positions, hence delta_avg, are unchanged
    np.testing.assert_allclose(records["occlusion_accuracy"], [0.0, 0.0])
    np.testing.assert_allclose(records["average_pts_within_thresh"], [0.16, 0.16])
    unchecked = PipelineConfig(data_root=tmp_path / "data", evaluation=UNCHECKED)
    benchmark(str(dataset), ["zero_motion"], unchecked)
    predictions = tmp_path / "data" / "videos" / "toy-left.zarr" / "predictions"
    stored = [read_predictions(path).params for path in predictions.iterdir()]
    assert sorted(str(params.get("appearance_check")) for params in stored) == ["None", "{'radius': 4, 'threshold': 0.15}"]
    assert "| zero_motion | 0.0 | 16.0 | 0.0 |" in evaluate(str(dataset), checked)
    assert "| zero_motion | 10.8 | 16.0 | 100.0 |" in evaluate(str(dataset), unchecked)


def _logging_ingest(log: Path):
    """storage.video_store.ingest that first appends ``ingest <video_id>`` to ``log`` (a file: Dask pickles
    the task with its globals, so a list in memory would be a copy)."""
    from storage.video_store import ingest

    def logged(source, data_root, video_id, *args, **kwargs):
        with log.open("a") as out:
            out.write(f"ingest {video_id}\n")
        return ingest(source, data_root, video_id, *args, **kwargs)

    return logged


def _logging_metrics(log: Path):
    """omnimotion_core.metrics.tapvid_metrics that appends ``scored`` to ``log`` when done."""
    from omnimotion_core.metrics import tapvid_metrics

    def logged(*args, **kwargs):
        result = tapvid_metrics(*args, **kwargs)
        with log.open("a") as out:
            out.write("scored\n")
        return result

    return logged


def test_only_videos_in_flight_videos_are_submitted_ahead_of_the_one_collected(tmp_path: Path, monkeypatch) -> None:
    import tasks.evaluate
    import tasks.ingest

    log = tmp_path / "events.txt"
    monkeypatch.setattr(tasks.ingest, "ingest", _logging_ingest(log))
    monkeypatch.setattr(tasks.evaluate, "tapvid_metrics", _logging_metrics(log))
    dataset = tmp_path / "toy.pkl"
    names = ("a", "b", "c", "d", "e", "f")
    videos = _toy_dataset(dataset, names=names)
    config = PipelineConfig(data_root=tmp_path / "data", evaluation=UNCHECKED, videos_in_flight=1)
    result = benchmark(str(dataset), ["zero_motion"], config)
    assert sorted(record["video"] for record in result.records) == sorted(videos)
    order = log.read_text().split("\n")
    scored = [i for i, event in enumerate(order) if event == "scored"]
    # one video ahead: video k + 2 is ingested only after video k was scored
    assert [order.index(f"ingest toy-{name}") > scored[k] for k, name in enumerate(names[2:])] == [True] * 4


def test_a_failing_video_is_reported_and_the_others_finish(tmp_path: Path) -> None:
    dataset = tmp_path / "toy.pkl"
    _toy_dataset(dataset)
    data_root = tmp_path / "data"
    other = np.zeros((2, 8, 8, 3), dtype=np.uint8)
    ingest(ArraySource(other), data_root, layout.video_id_from_name("toy-left"))
    config = PipelineConfig(data_root=data_root, evaluation=EvaluationConfig(resolution=(32, 32)))
    result = benchmark(str(dataset), ["zero_motion"], config)
    assert [record["video"] for record in result.records] == ["right"]
    assert len(result.failures) == 1
    video, method, message = result.failures[0]
    assert (video, method) == ("left", "zero_motion")
    assert message.startswith("ingest_video: StoreConflictError")
    assert "already holds a video" in message
    assert result.csv_path is not None and result.csv_path.exists()


def test_raft_baselines_run_from_a_local_weights_file(tmp_path: Path) -> None:
    import torch

    from omnimotion_core.flow import FlowConfig, FlowEngineConfig, RaftEngineConfig
    from omnimotion_core.flow.raft import build_raft

    weights = tmp_path / "raft_small.pth"
    torch.save(build_raft("small").state_dict(), weights)
    dataset = tmp_path / "toy.pkl"
    _toy_dataset(dataset)
    raft = RaftEngineConfig(variant="small", num_iterations=2, weights=str(weights))
    config = PipelineConfig(
        data_root=tmp_path / "data",
        evaluation=EvaluationConfig(resolution=(32, 32)),
        flow=FlowConfig(engine=FlowEngineConfig(raft=raft)),
    )
    result = benchmark(str(dataset), ["raft-c", "raft-d", "raft-mft"], config)
    assert result.failures == []
    assert sorted((r["video"], r["method"]) for r in result.records) == [
        (video, method) for video in ("left", "right") for method in ("raft-c", "raft-d", "raft-mft")
    ]
    assert all(0.0 <= r["occlusion_accuracy"] <= 1.0 for r in result.records)


def test_raft_baselines_without_weights_fail_before_any_work(tmp_path: Path) -> None:
    dataset = tmp_path / "toy.pkl"
    _toy_dataset(dataset)
    with pytest.raises(ValueError, match="raft-c needs RAFT weights: pass --raft-weights"):
        benchmark(str(dataset), ["raft-c"], PipelineConfig(data_root=tmp_path / "data"))
    assert not (tmp_path / "data" / "videos").exists()


def test_omnimotion_is_fitted_tracked_and_scored_per_video(tmp_path: Path) -> None:
    from tasks.config import FitConfig

    dataset = tmp_path / "toy.pkl"
    _toy_dataset(dataset)
    config = PipelineConfig(
        data_root=tmp_path / "data",
        evaluation=EvaluationConfig(resolution=(32, 32)),
        fit=FitConfig(num_steps=6, checkpoint_every=3, log_every=2, cpu_threads=1),
    )
    result = benchmark(str(dataset), ["omnimotion", "zero_motion"], config)
    assert result.failures == []
    methods = sorted((r["video"], r["method"]) for r in result.records)
    assert methods == [("left", "omnimotion"), ("left", "zero_motion"), ("right", "omnimotion"), ("right", "zero_motion")]
    fits = list((tmp_path / "data" / "videos" / "toy-left.zarr" / "fits").iterdir())
    assert [fit.name.split("-")[0] for fit in fits] == ["omnimotion"]
    assert sorted(p.name for p in (fits[0] / "checkpoints").iterdir()) == ["step_00000003.pt", "step_00000006.pt"]
    client = MlflowClient(result.tracking_uri)
    children = client.search_runs(
        [client.get_run(result.mlflow_run_id).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{result.mlflow_run_id}' and tags.method = 'omnimotion'",
    )
    assert len(children) == 2
    child = children[0]
    assert child.data.tags["preset"] == "fast"
    assert child.data.metrics["fit_steps"] == 6
    assert [m.step for m in client.get_metric_history(child.info.run_id, "loss/total")] == [2, 4, 6]
    video = child.data.tags["video"]
    artifacts = {item.path for item in client.list_artifacts(child.info.run_id)}
    assert artifacts == {
        f"toy-{video}-omnimotion-tracks.mp4", f"toy-{video}-omnimotion-depth.png", f"toy-{video}-omnimotion-loss.png",
        "model",
    }
    model, size = load_logged_model(result.tracking_uri, child.info.run_id)
    assert size == (32, 32)
    import torch

    from omnimotion_core.model import track

    tracks, occluded = track(model, torch.tensor([[0.0, 10.0, 12.0]]), model.num_frames, size)
    assert tracks.shape == (1, 6, 2) and torch.isfinite(tracks).all()
    stored = read_predictions(next((tmp_path / "data" / "videos" / f"toy-{video}.zarr" / "predictions").glob("omnimotion-*")))
    again, _ = track(model, torch.from_numpy(stored.query_points), model.num_frames, size)
    np.testing.assert_allclose(again.numpy(), stored.tracks, atol=1e-4)


def test_a_second_identical_run_recomputes_no_stage(tmp_path: Path) -> None:
    from tasks.config import FitConfig

    dataset = tmp_path / "toy.pkl"
    _toy_dataset(dataset)
    config = PipelineConfig(
        data_root=tmp_path / "data",
        evaluation=EvaluationConfig(resolution=(32, 32)),
        fit=FitConfig(num_steps=4, checkpoint_every=2, log_every=2, cpu_threads=1),
    )
    first = benchmark(str(dataset), ["omnimotion", "dis-c"], config)
    group = tmp_path / "data" / "videos" / "toy-left.zarr"
    stored = [p for p in group.rglob("*") if p.is_file()]
    stamps = {p: p.stat().st_mtime_ns for p in stored}
    second = benchmark(str(dataset), ["omnimotion", "dis-c"], config)
    assert sorted(map(str, (p for p in group.rglob("*") if p.is_file()))) == sorted(map(str, stored))
    assert {p: p.stat().st_mtime_ns for p in stored} == stamps
    assert first.records == second.records
    assert first.mlflow_run_id != second.mlflow_run_id


def test_max_frames_scores_the_first_frames_of_each_video(tmp_path: Path) -> None:
    dataset = tmp_path / "toy.pkl"
    _toy_dataset(dataset, ("left",))
    config = PipelineConfig(data_root=tmp_path / "data", evaluation=UNCHECKED, max_frames=3)
    result = benchmark(str(dataset), ["zero_motion"], config)
    assert result.failures == []
    # Frames 1 and 2 are 4 and 8 px away: pts_within_{1,2,4,8,16} = 0, 0, 0, 1/2, 1 -> delta_avg 0.3.
    assert result.records[0]["average_pts_within_thresh"] == pytest.approx(0.3)


def test_dis_mft_runs_and_omnimotion_fits_on_the_mft_derived_set(tmp_path: Path) -> None:
    import zarr

    from omnimotion_core.flow import ChainingConfig, FlowConfig
    from storage.flow_store import list_flow_sets, read_flow_set_params
    from tasks.config import FitConfig

    dataset = tmp_path / "toy.pkl"
    _toy_dataset(dataset, ("left",))
    config = PipelineConfig(
        data_root=tmp_path / "data", evaluation=UNCHECKED, flow=FlowConfig(chaining=ChainingConfig(rule="mft")),
        fit=FitConfig(num_steps=2, checkpoint_every=2, log_every=2, cpu_threads=1),
    )
    result = benchmark(str(dataset), ["omnimotion", "dis-mft"], config)
    assert result.failures == []
    assert sorted(record["method"] for record in result.records) == ["dis-mft", "omnimotion"]
    group = tmp_path / "data" / "videos" / "toy-left.zarr"
    (derived,) = [name for name in list_flow_sets(group) if "chaining" in read_flow_set_params(group, name)]
    assert read_flow_set_params(group, derived)["chaining"]["rule"] == "mft"
    (fit_dir,) = (group / layout.FITS_GROUP).iterdir()
    assert zarr.open_group(str(fit_dir), mode="r").attrs["params"]["flow_set"] == derived
    predictions = read_predictions(next((group / "predictions").glob("dis-mft-*")))
    assert predictions.tracks.shape == (3, 6, 2) and np.isfinite(predictions.tracks).all()
