"""Tests for omnimotion_core.flow.flow_set_builder: whole-video flow sets and their chunked twin."""

import json

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from omnimotion_core.flow.consistency import ConsistencyConfig
from omnimotion_core.flow.engines import (
    FlowEngine,
    FlowEngineConfig,
    RaftEngineConfig,
    build_flow_engine,
)
from omnimotion_core.flow.flow_set_builder import (
    compute_flow_set,
    compute_pair_chunk,
    count_correspondences,
    flow_set_params,
    merge_flow_sets,
)
from omnimotion_core.flow.pairs import (
    PairSelectionConfig,
    select_pairs,
    split_pairs,
    unordered_pairs,
)
from omnimotion_core.flow.raft import build_raft

VELOCITY = (1.5, -1.0)  # (dx, dy) pixels per frame
DIS = build_flow_engine(FlowEngineConfig())


def _small_raft(batch_size: int) -> FlowEngine:
    """raft_small with random weights (seed 0), 2 iterations: checks the plumbing, not the accuracy."""
    torch.manual_seed(0)
    config = FlowEngineConfig(
        engine="raft", raft=RaftEngineConfig(variant="small", num_iterations=2, batch_size=batch_size)
    )
    return build_flow_engine(config, build_raft("small").state_dict())


def _translating_video(num_frames: int, size: int, width: int | None = None) -> np.ndarray:
    """uint8 [T, size, width (= size), 3]: a texture whose content moves by VELOCITY pixels each frame."""
    image = skimage.data.astronaut()
    frames = []
    for t in range(num_frames):
        shift = np.float32([[1, 0, -150 + VELOCITY[0] * t], [0, 1, -120 + VELOCITY[1] * t]])
        frames.append(cv2.warpAffine(image, shift, (width or size, size), flags=cv2.INTER_CUBIC))
    return np.stack(frames)


def test_flow_set_holds_every_pair_with_flow_matching_the_motion():
    frames = _translating_video(4, 48)
    flow_set = compute_flow_set(frames, DIS, PairSelectionConfig(mode="all"), ConsistencyConfig())
    assert flow_set.pairs.tolist() == select_pairs(4, PairSelectionConfig(mode="all")).tolist()
    assert flow_set.flow.shape == (12, 48, 48, 2) and flow_set.flow.dtype == np.float32
    for (i, j), flow in zip(flow_set.pairs, flow_set.flow, strict=True):
        truth = np.array(VELOCITY) * (j - i)
        np.testing.assert_allclose(np.median(flow[8:-8, 8:-8], axis=(0, 1)), truth, atol=0.2)


def test_counts_are_the_trusted_correspondences_of_each_pixel_over_its_pairs():
    frames = _translating_video(4, 48)
    flow_set = compute_flow_set(frames, DIS, PairSelectionConfig(mode="all"), ConsistencyConfig())
    for t in range(4):
        np.testing.assert_array_equal(flow_set.counts[t], flow_set.mask[flow_set.pairs[:, 0] == t].sum(axis=0))
    assert flow_set.counts.dtype == np.int32
    assert flow_set.counts[:, 16:32, 16:32].min() == 3  # interior pixels are trusted in all 3 pairs


def test_chunks_merged_equal_the_whole_flow_set():
    frames = _translating_video(4, 32)
    configs = (DIS, ConsistencyConfig())
    whole = compute_flow_set(frames, configs[0], PairSelectionConfig(mode="all"), configs[1])
    unordered = unordered_pairs(whole.pairs)
    parts = [compute_pair_chunk(frames, chunk, *configs) for chunk in split_pairs(unordered, 4)]
    assert [len(part.pairs) for part in parts] == [8, 4]
    merged = merge_flow_sets(parts)
    np.testing.assert_array_equal(merged.pairs, whole.pairs)
    np.testing.assert_array_equal(merged.flow, whole.flow)
    np.testing.assert_array_equal(merged.mask, whole.mask)
    np.testing.assert_array_equal(merged.counts, whole.counts)


def test_progress_reports_every_pair_of_flows():
    calls = []
    compute_flow_set(
        _translating_video(3, 32),
        DIS,
        PairSelectionConfig(mode="all"),
        ConsistencyConfig(),
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(2, 6), (4, 6), (6, 6)]


def test_one_frame_video_is_an_error():
    with pytest.raises(ValueError, match="at least 2 frames"):
        compute_flow_set(_translating_video(1, 32), DIS, PairSelectionConfig(), ConsistencyConfig())


def test_chunk_pairs_must_be_increasing_and_inside_the_video():
    frames = _translating_video(3, 32)
    with pytest.raises(ValueError, match=r"0 <= i < j < 3, got \[\[2, 1\]\]"):
        compute_pair_chunk(frames, np.array([[2, 1]]), DIS, ConsistencyConfig())


def test_merge_refuses_a_pair_twice():
    frames = _translating_video(3, 32)
    part = compute_pair_chunk(frames, np.array([[0, 1]]), DIS, ConsistencyConfig())
    with pytest.raises(ValueError, match="some pair twice"):
        merge_flow_sets([part, part])


def test_count_correspondences_sums_masks_by_source_frame():
    pairs = np.array([[0, 1], [1, 0], [0, 2]])
    mask = np.array([[[True, False]], [[True, True]], [[True, True]]])
    assert count_correspondences(pairs, mask, 3).tolist() == [[[2, 1]], [[1, 1]], [[0, 0]]]


def test_params_are_json_ready_and_hold_only_the_chosen_engine():
    dis = flow_set_params(FlowEngineConfig(), PairSelectionConfig(), ConsistencyConfig())
    farneback = flow_set_params(FlowEngineConfig(engine="farneback"), PairSelectionConfig(), ConsistencyConfig())
    assert json.loads(json.dumps(dis)) == dis
    assert dis["engine"]["engine"] == "dis" and dis["engine"]["preset"] == "medium"
    assert farneback["engine"]["engine"] == "farneback" and "preset" not in farneback["engine"]
    assert dis["consistency"]["max_cycle_error"] == 3.0 and dis["consistency"]["adjacent_pairs"] == "in_frame"


def test_params_of_raft_hold_variant_and_iterations_but_not_device_batch_size_or_weights():
    raft = FlowEngineConfig(
        engine="raft",
        raft=RaftEngineConfig(variant="small", num_iterations=12, device="cuda", batch_size=8, weights="/w/raft.pth"),
    )
    params = flow_set_params(raft, PairSelectionConfig(), ConsistencyConfig())
    assert json.loads(json.dumps(params)) == params
    assert params["engine"] == {"engine": "raft", "variant": "small", "num_iterations": 12}


def test_raft_flow_set_has_every_pair_with_finite_flow_and_consistent_masks():
    frames = _translating_video(4, 40, 48)
    flow_set = compute_flow_set(frames, _small_raft(3), PairSelectionConfig(mode="all"), ConsistencyConfig())
    assert flow_set.pairs.tolist() == select_pairs(4, PairSelectionConfig(mode="all")).tolist()
    assert flow_set.flow.shape == (12, 40, 48, 2) and flow_set.flow.dtype == np.float32
    assert np.isfinite(flow_set.flow).all()
    assert flow_set.mask.shape == (12, 40, 48) and flow_set.counts.shape == (4, 40, 48)
    for t in range(4):
        np.testing.assert_array_equal(flow_set.counts[t], flow_set.mask[flow_set.pairs[:, 0] == t].sum(axis=0))


def test_raft_chunk_flows_do_not_depend_on_the_batch_size():
    frames = _translating_video(4, 40, 48)
    chunk = np.array([[0, 1], [1, 3], [0, 2]])
    one, three = (compute_pair_chunk(frames, chunk, _small_raft(size), ConsistencyConfig()) for size in (1, 3))
    assert one.pairs.tolist() == [[0, 1], [1, 0], [1, 3], [3, 1], [0, 2], [2, 0]]
    np.testing.assert_array_equal(one.pairs, three.pairs)
    np.testing.assert_allclose(one.flow, three.flow, rtol=1e-5, atol=1e-5)


def test_progress_follows_the_engine_batches(monkeypatch):
    monkeypatch.setattr(
        "omnimotion_core.flow.engines.compute_raft_flow",
        lambda model, frames_i, frames_j, num_iterations, *, pairs=None: np.zeros((*frames_i.shape[:3], 2), np.float32),
    )
    calls = []
    compute_flow_set(
        _translating_video(4, 32),
        _small_raft(3),
        PairSelectionConfig(mode="all"),
        ConsistencyConfig(),
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(6, 12), (12, 12)]  # batches of lcm(2, 3) = 6 flows
