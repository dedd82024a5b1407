"""The flow stage's functions run without Prefect (a benchmark calls them with its own logger), and the flow
trackers that reuse what it stores."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from omnimotion_core.flow import ChainingConfig, FlowConfig, chain_flow_set
from omnimotion_core.synthetic import SYNTHETIC_PRESETS, generate_synthetic_video
from omnimotion_core.trackers import MftTracker
from storage.flow_store import flow_set_name, read_flow_set
from storage.video_sources import ArraySource
from storage.video_store import ingest
from tasks.flow import derived_flow_set, flow_params, store_flow_set
from tasks.track import build_pipeline_tracker


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


def test_mft_rule_stores_the_mft_derived_set_and_dis_mft_reuses_the_direct_set(tmp_path: Path) -> None:
    video = generate_synthetic_video(SYNTHETIC_PRESETS["small"].video, seed=1).video[:6, :40, :40]
    group = ingest(ArraySource(np.ascontiguousarray(video)), tmp_path, "clip")
    logger = logging.getLogger("test_flow_without_prefect")
    config = FlowConfig(chunk_pairs=8, chaining=ChainingConfig(rule="mft"))
    path = store_flow_set(group, config, logger)
    direct_name = flow_set_name(flow_params(config))
    assert path.name not in (direct_name, store_flow_set(group, FlowConfig(chunk_pairs=8), logger).name)
    stored = read_flow_set(group, path.name, flow_dtype="float16")
    direct = read_flow_set(group, direct_name, flow_dtype="float16")
    expected = chain_flow_set(direct, video, config.chaining)
    np.testing.assert_array_equal(stored.mask, expected.mask)
    np.testing.assert_array_equal(stored.flow, expected.flow.astype(np.float16))
    assert derived_flow_set(group, config.chaining) == path

    queries = np.array([[0.0, 12.0, 9.0], [2.0, 30.0, 20.0], [5.0, 8.0, 33.0]])
    reusing = build_pipeline_tracker("dis-mft", config, group)
    computing = build_pipeline_tracker("dis-mft", config)
    assert isinstance(reusing, MftTracker) and reusing.known is not None and computing.known is None
    for got, want in zip(reusing(video, queries), computing(video, queries), strict=True):
        np.testing.assert_array_equal(got, want)


def test_derived_flow_set_needs_one_direct_set(tmp_path: Path) -> None:
    video = generate_synthetic_video(SYNTHETIC_PRESETS["small"].video, seed=0).video[:3, :24, :24]
    group = ingest(ArraySource(np.ascontiguousarray(video)), tmp_path, "clip")
    with pytest.raises(ValueError, match="0 direct flow sets"):
        derived_flow_set(group, ChainingConfig(rule="mft"))
    with pytest.raises(ValueError, match="chaining is off"):
        derived_flow_set(group, ChainingConfig(enabled=False))


def test_the_stored_chained_set_is_the_in_memory_chaining(tmp_path: Path) -> None:
    video = generate_synthetic_video(SYNTHETIC_PRESETS["small"].video, seed=2).video[:6, :40, :40]
    group = ingest(ArraySource(np.ascontiguousarray(video)), tmp_path, "clip")
    config = FlowConfig(chunk_pairs=8, chaining=ChainingConfig(rule="consecutive"))
    path = store_flow_set(group, config, logging.getLogger("test_flow_without_prefect"))
    stored = read_flow_set(group, path.name, flow_dtype="float16")
    direct = read_flow_set(group, flow_set_name(flow_params(config)), flow_dtype="float16")
    expected = chain_flow_set(direct, video, config.chaining)
    np.testing.assert_array_equal(stored.pairs, expected.pairs)
    np.testing.assert_array_equal(stored.mask, expected.mask)
    np.testing.assert_array_equal(stored.flow, expected.flow.astype(np.float16))
    assert 0 < stored.mask.sum() < stored.mask.size
