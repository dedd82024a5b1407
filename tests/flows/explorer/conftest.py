"""A tiny fitted video for the explorer's tests: 8 frames of 32x32 from a synthetic TAP-Vid pickle, fitted for
a few steps, with two stored methods: ``oracle`` (the ground truth itself) and ``hand`` (two tracks, the first
occluded in frame :data:`HIDDEN_FRAME`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flows.config import PipelineConfig
from flows.process_video import process_video
from omnimotion_core.flow import FlowConfig
from omnimotion_core.synthetic import SYNTHETIC_PRESETS, generate_tapvid_dataset, resize_synthetic_preset
from storage.ground_truth import load_ground_truth
from storage.prediction_store import Predictions, write_predictions
from storage.tapvid import write_tapvid_davis_pickle
from tasks.config import EvaluationConfig, FitConfig

SIZE = (32, 32)
NUM_FRAMES = 8
HIDDEN_FRAME = 3
HAND_START = np.array([8.0, 10.0], dtype=np.float32)
"""(x, y) of the ``hand`` track in frame 0; it moves by (1, 0.5) px per frame and is hidden in HIDDEN_FRAME."""


def hand_predictions() -> Predictions:
    """Two tracks queried in frame 0: one moving and hidden in frame HIDDEN_FRAME, one still in a far corner."""
    steps = np.arange(NUM_FRAMES, dtype=np.float32)[:, None]
    moving = HAND_START + steps * np.array([1.0, 0.5], dtype=np.float32)
    still = np.tile(np.array([28.0, 28.0], dtype=np.float32), (NUM_FRAMES, 1))
    occluded = np.zeros((2, NUM_FRAMES), dtype=bool)
    occluded[0, HIDDEN_FRAME] = True
    query_points = np.array([[0, HAND_START[1], HAND_START[0]], [0, 28, 28]], dtype=np.float32)
    return Predictions(query_points, np.stack([moving, still]), occluded, "hand", {"made_by": "test"})


@pytest.fixture(scope="session")
def fitted_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The video group of a fitted tiny video, with the ``oracle`` and ``hand`` predictions stored."""
    folder = tmp_path_factory.mktemp("explorer")
    dataset = folder / "tiny.pkl"
    synthetic = resize_synthetic_preset(SYNTHETIC_PRESETS["small"], num_frames=NUM_FRAMES, height=SIZE[0],
                                        width=SIZE[1], num_videos=1)
    write_tapvid_davis_pickle(dataset, generate_tapvid_dataset(synthetic, seed=0))
    config = PipelineConfig(data_root=folder / "data", evaluation=EvaluationConfig(resolution=SIZE),
                            flow=FlowConfig(chunk_pairs=8), fit=FitConfig(num_steps=4, checkpoint_every=2, log_every=2))
    result = process_video(str(dataset), config, tapvid_name="synth_000")
    group = Path(result.video_group)
    truth = load_ground_truth(dataset, "synth_000", "first", SIZE)
    write_predictions(group, Predictions(truth.query_points, truth.target_points, truth.occluded, "oracle",
                                         {"query_mode": "first"}))
    write_predictions(group, hand_predictions())
    return group
