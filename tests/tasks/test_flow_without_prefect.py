"""The flow stage's functions run without Prefect (a benchmark calls them with its own logger)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from omnimotion_core.flow import FlowConfig, chain_flow_set
from omnimotion_core.synthetic import SYNTHETIC_PRESETS, generate_synthetic_video
from storage.flow_store import flow_set_name, read_flow_set
from storage.video_sources import ArraySource
from storage.video_store import ingest
from tasks.flow import flow_params, store_flow_set


def test_store_flow_set_publishes_the_chained_set_and_resumes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    video = generate_synthetic_video(SYNTHETIC_PRESETS["small"].video, seed=0).video[:6, :48, :48]
    group = ingest(ArraySource(np.ascontiguousarray(video)), tmp_path, "clip")
    logger = logging.getLogger("test_flow_without_prefect")
    config = FlowConfig(chunk_pairs=4)
    with caplog.at_level(logging.INFO, logger=logger.name):
        path = store_flow_set(group, config, logger)
    direct_name = flow_set_name(flow_params(config))
    assert path.name != direct_name and path.exists()
    assert "30 of 30 flows to compute in 4 chunks" in caplog.text and "chaining clip.zarr: 6/6 source frames" in caplog.text
    stored = read_flow_set(group, path.name, flow_dtype="float16")
    direct = read_flow_set(group, direct_name, flow_dtype="float16")
    expected = chain_flow_set(direct, video, config.chaining)
    np.testing.assert_array_equal(stored.mask, expected.mask)
    np.testing.assert_array_equal(stored.flow, expected.flow.astype(np.float16))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=logger.name):
        assert store_flow_set(group, config, logger) == path
    assert "0 of 30 flows to compute in 0 chunks" in caplog.text and "chaining" not in caplog.text
