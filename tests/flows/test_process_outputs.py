"""What ``process`` leaves to look at: the overlay video, the depth strip, the loss curve, an MLflow run of
the fit (parameters, metrics, model, tags, the video as its dataset), and progress lines during the fit."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import cv2
import pytest
from mlflow import MlflowClient

from flows.config import FIT_EXPERIMENT, PipelineConfig
from flows.process_video import VideoResult, process_video
from omnimotion_core.flow import FlowConfig
from omnimotion_core.model.progress import ProgressConfig
from omnimotion_core.synthetic import SYNTHETIC_PRESETS, generate_tapvid_dataset, resize_synthetic_preset
from storage.fit_store import read_dense_tracks
from storage.tapvid import write_tapvid_davis_pickle
from tasks.config import DenseExportConfig, EvaluationConfig, FitConfig
from tasks.tracking import EXPERIMENT_KIND_TAG, MODEL_DEVELOPMENT

SIZE = (32, 40)
FRAMES = 8
STEPS = 20
PROGRESS = re.compile(r"synth_000: step (\d+)/20 \(\d+ %\), [\d.]+ steps/s, \d+ s elapsed, about [\d.]+ (s|min \d+ s) left")


@pytest.fixture(scope="module")
def processed(tmp_path_factory: pytest.TempPathFactory) -> tuple[VideoResult, list[str]]:
    """One 8-frame 32x40 video processed with every pixel tracked, and the log lines of its run."""
    root = tmp_path_factory.mktemp("process")
    dataset = root / "small.pkl"
    synthetic = resize_synthetic_preset(SYNTHETIC_PRESETS["small"], num_frames=FRAMES, height=SIZE[0], width=SIZE[1],
                                        num_videos=1)
    write_tapvid_davis_pickle(dataset, generate_tapvid_dataset(synthetic, seed=0))
    fit = FitConfig(num_steps=STEPS, checkpoint_every=10, log_every=5, cpu_threads=1,
                    progress=ProgressConfig(every_percent=25, every_seconds=3600))
    config = PipelineConfig(data_root=root / "data", evaluation=EvaluationConfig(resolution=SIZE),
                            flow=FlowConfig(chunk_pairs=28), fit=fit, dense=DenseExportConfig(stride=1))
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("prefect").addHandler(handler)
    try:
        result = process_video(str(dataset), config, tapvid_name="synth_000")
    finally:
        logging.getLogger("prefect").removeHandler(handler)
    return result, lines


def test_dense_stride_one_tracks_every_pixel_of_the_query_frame(processed: tuple[VideoResult, list[str]]) -> None:
    result, _ = processed
    dense = read_dense_tracks(Path(result.fit.fit_dir))
    assert dense.tracks.shape == (SIZE[0] * SIZE[1], FRAMES, 2)
    assert sorted(map(tuple, dense.query_points[:, 1:].astype(int).tolist())) == [
        (y, x) for y in range(SIZE[0]) for x in range(SIZE[1])]
    assert result.fit.dense == "1280 tracks of frame 0: every pixel (32x40)"


def test_the_pictures_decode_with_the_videos_frames_and_size(processed: tuple[VideoResult, list[str]]) -> None:
    result, _ = processed
    fit_name = Path(result.fit.fit_dir).name
    folder = Path(result.video_group).parent.parent / "results" / "synth_000" / "fits"
    assert result.fit.pictures == [str(folder / f"{fit_name}{suffix}") for suffix in ("-tracks.mp4", "-depth.png", "-loss.png")]
    video = cv2.VideoCapture(result.fit.pictures[0])
    frames = []
    while (read := video.read())[0]:
        frames.append(read[1])
    video.release()
    assert len(frames) == FRAMES and frames[0].shape == (*SIZE, 3)
    assert cv2.imread(result.fit.pictures[1]).shape == (SIZE[0], 4 * SIZE[1], 3)
    assert cv2.imread(result.fit.pictures[2]).shape == (350, 600, 3)


def test_the_fit_is_an_mlflow_run_with_its_params_metrics_model_tags_and_video(
    processed: tuple[VideoResult, list[str]],
) -> None:
    result, _ = processed
    client = MlflowClient(result.fit.tracking_uri)
    run = client.get_run(result.fit.mlflow_run_id)
    experiment = client.get_experiment(run.info.experiment_id)
    assert (experiment.name, experiment.experiment_id) == (FIT_EXPERIMENT, result.fit.mlflow_experiment_id)
    assert experiment.tags[EXPERIMENT_KIND_TAG] == MODEL_DEVELOPMENT
    assert run.info.status == "FINISHED"
    assert run.info.run_name.startswith("synth_000 | omnimotion fast | ")
    assert {key: run.data.tags[key] for key in ("video", "method", "preset")} == {
        "video": "synth_000", "method": "omnimotion", "preset": "fast"}
    params = run.data.params
    assert (params["fit.preset"], params["model.trainer.num_steps"], params["dense.stride"]) == ("fast", "20", "1")
    assert params["flow.engine.engine"] == "dis" and params["fit"] == Path(result.fit.fit_dir).name
    assert run.data.metrics["fit_steps"] == STEPS
    losses = client.get_metric_history(run.info.run_id, "loss/total")
    assert sorted(metric.step for metric in losses) == [5, 10, 15, 20]
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id)}
    assert {Path(path).name for path in result.fit.pictures} | {"model"} == artifacts
    assert {item.path for item in client.list_artifacts(run.info.run_id, "model")} == {"model/checkpoint.pt", "model/fit.json"}
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.name == "synth_000"
    assert len(dataset_input.dataset.digest) == 12
    assert dataset_input.dataset.source.endswith('small.pkl::synth_000"}')
    assert [(tag.key, tag.value) for tag in dataset_input.tags] == [("mlflow.data.context", "training")]


def test_the_fit_logs_its_progress_every_quarter_with_rate_and_time_left(
    processed: tuple[VideoResult, list[str]],
) -> None:
    _, lines = processed
    steps = [int(match.group(1)) for line in lines if (match := PROGRESS.search(line))]
    assert steps == [5, 10, 15, 20]


def test_a_second_process_run_reuses_the_fit_and_logs_another_run(processed: tuple[VideoResult, list[str]]) -> None:
    result, _ = processed
    group = Path(result.video_group)
    config = PipelineConfig(data_root=group.parent.parent, evaluation=EvaluationConfig(resolution=SIZE),
                            flow=FlowConfig(chunk_pairs=28),
                            fit=FitConfig(num_steps=STEPS, checkpoint_every=10, log_every=5, cpu_threads=1))
    again = process_video(str(group.parent.parent.parent / "small.pkl"), config, tapvid_name="synth_000")
    assert again.fit.fit_dir == result.fit.fit_dir
    assert again.fit.mlflow_run_id != result.fit.mlflow_run_id
    assert read_dense_tracks(Path(again.fit.fit_dir)).tracks.shape == (8 * 10, FRAMES, 2)
