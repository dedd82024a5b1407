"""Bad inputs inside a run: one bad video costs only its own result; unusable weights and checkpoints are named."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from mlflow import MlflowClient

from flows.benchmark import benchmark
from flows.config import PipelineConfig
from omnimotion_core.flow import FlowConfig, FlowEngineConfig, RaftEngineConfig
from storage.errors import StorageError
from storage.results_table import read_results_table
from storage.video_store import list_videos
from tasks.config import EvaluationConfig, FitConfig


def _record(seed: int) -> dict[str, np.ndarray]:
    """Four frames of 16x16 noise with two always-visible points that do not move."""
    rng = np.random.default_rng(seed)
    points = np.repeat(rng.uniform(0.2, 0.8, (2, 1, 2)), 4, axis=1).astype(np.float32)
    return {
        "video": rng.integers(0, 256, (4, 16, 16, 3), dtype=np.uint8),
        "points": points,
        "occluded": np.zeros((2, 4), dtype=bool),
    }


def test_a_video_with_nan_query_points_fails_alone_and_the_others_are_scored(tmp_path: Path) -> None:
    bad = _record(1)
    bad["points"][0, 0] = np.nan  # the first query point of track 0 is visible but NaN
    dataset = tmp_path / "hostile.pkl"
    dataset.write_bytes(pickle.dumps({"../../escape": _record(0), "bad": bad, "ünï/code": _record(2)}, protocol=4))
    data_root = tmp_path / "data"
    config = PipelineConfig(data_root=data_root, evaluation=EvaluationConfig(resolution=(16, 16)))

    result = benchmark(str(dataset), ["zero_motion"], config)

    assert sorted(record["video"] for record in result.records) == ["../../escape", "ünï/code"]
    assert all(record["average_pts_within_thresh"] == pytest.approx(1.0) for record in result.records)
    [(video, method, message)] = result.failures
    assert (video, method) == ("bad", "zero_motion")
    assert re.match(r"track_points: InputError: .*hostile\.pkl: video 'bad': 'points' has 1 non-finite", message)
    assert result.csv_path is not None and len(read_results_table(result.csv_path)) == 1
    assert len(list_videos(data_root)) == 3  # the bad video's frames were fine: only its points are refused
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "hostile.pkl"]
    client = MlflowClient(result.tracking_uri)
    parent = client.get_run(result.mlflow_run_id)
    assert parent.info.status == "FINISHED" and parent.data.tags["omnimotion.failures"] == "1"
    assert parent.data.tags["failures"].startswith("bad/zero_motion: track_points: InputError")


def test_missing_raft_weights_fail_the_run_before_any_work_naming_the_path(tmp_path: Path) -> None:
    dataset = tmp_path / "one.pkl"
    dataset.write_bytes(pickle.dumps({"clip": _record(0)}, protocol=4))
    weights = tmp_path / "raft_large_C_T_SKHT_V2-ff5fadd5.pth"
    flow = FlowConfig(engine=FlowEngineConfig(raft=RaftEngineConfig(weights=str(weights))))
    config = PipelineConfig(data_root=tmp_path / "data", flow=flow)
    with pytest.raises(ValueError, match=rf"raft-d: RAFT weights not found at {re.escape(str(weights))}"):
        benchmark(str(dataset), ["raft-d"], config)
    assert not (tmp_path / "data").exists()


def test_a_checkpoint_from_another_config_is_refused_naming_the_file(tmp_path: Path) -> None:
    from omnimotion_core.model import OmniMotion
    from storage.fit_store import open_fit, save_checkpoint
    from tasks.fit import load_fitted_model

    fit = FitConfig(preset="fast-volume", num_steps=2)
    written = OmniMotion(fit.model_config("omnimotion"), 4, torch.Generator().manual_seed(0))
    fit_dir = open_fit(tmp_path / "clip.zarr", "omnimotion-fast-00000000", {"steps": 2})
    checkpoint = save_checkpoint(fit_dir, 2, {"trainer": {"model": written.state_dict()}})
    with pytest.raises((StorageError, ValueError), match=re.escape(str(checkpoint))):
        load_fitted_model(fit_dir, fit.model_config("omnimotion-no-invertible"), 4, "cpu")
