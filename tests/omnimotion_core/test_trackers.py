"""Tests for omnimotion_core.trackers: the registry of weight-free trackers and flow trackers built on an engine."""

import numpy as np
import pytest
import torch

from omnimotion_core.flow import FlowEngineConfig, RaftEngineConfig, build_flow_engine
from omnimotion_core.flow.raft import build_raft
from omnimotion_core.trackers import (
    FLOW_TRACKER_METHODS,
    TRACKERS,
    flow_tracker,
    get_tracker,
)

QUERIES = np.array([[0.0, 10.0, 12.0], [2.0, 20.0, 30.0]])  # (t, y, x)


def _frames() -> np.ndarray:
    """uint8 [3, 40, 48, 3] random texture."""
    return np.random.default_rng(0).integers(0, 256, (3, 40, 48, 3), dtype=np.uint8)


def test_registry_holds_zero_motion_and_the_weight_free_flow_trackers():
    assert sorted(TRACKERS) == ["dis-c", "dis-d", "farneback-c", "farneback-d", "zero_motion"]
    assert set(FLOW_TRACKER_METHODS) == {"dis-c", "dis-d", "farneback-c", "farneback-d", "raft-c", "raft-d"}
    assert FLOW_TRACKER_METHODS["raft-d"] == ("raft", "direct")


@pytest.mark.parametrize("method", sorted(TRACKERS))
def test_every_registered_tracker_returns_tracks_and_occlusion_of_the_right_shape(method):
    tracks, occluded = get_tracker(method)(_frames(), QUERIES)
    assert tracks.shape == (2, 3, 2) and tracks.dtype == np.float32
    assert occluded.shape == (2, 3) and occluded.dtype == np.bool_
    np.testing.assert_array_equal(tracks[[0, 1], [0, 2]], QUERIES[:, [2, 1]])


def test_raft_methods_are_not_in_the_registry_because_they_need_weights():
    with pytest.raises(ValueError, match=r"RAFT methods need weights: 'raft-c' is built by the caller"):
        get_tracker("raft-c")


def test_unknown_method_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown method 'pwc-c'; known methods: dis-c, dis-d, farneback-c"):
        get_tracker("pwc-c")


@pytest.mark.parametrize("method", ["raft-c", "raft-d"])
def test_raft_tracker_runs_on_an_engine_built_from_weights(method):
    torch.manual_seed(0)
    config = FlowEngineConfig(engine="raft", raft=RaftEngineConfig(variant="small", num_iterations=2, batch_size=2))
    tracker = flow_tracker(method, build_flow_engine(config, build_raft("small").state_dict()))
    tracks, occluded = tracker(_frames(), QUERIES)
    assert tracks.shape == (2, 3, 2) and np.isfinite(tracks).all() and occluded.shape == (2, 3)


def test_flow_tracker_on_the_same_engine_matches_the_registry():
    frames = _frames()
    built = flow_tracker("dis-d", build_flow_engine(FlowEngineConfig()))(frames, QUERIES)
    registered = get_tracker("dis-d")(frames, QUERIES)
    np.testing.assert_array_equal(built[0], registered[0])
    np.testing.assert_array_equal(built[1], registered[1])


def test_flow_tracker_refuses_unknown_method_and_wrong_engine():
    dis = build_flow_engine(FlowEngineConfig())
    with pytest.raises(ValueError, match="unknown flow tracker 'zero_motion'; flow trackers: dis-c"):
        flow_tracker("zero_motion", dis)
    with pytest.raises(ValueError, match="'raft-c' needs a 'raft' flow engine, got 'dis'"):
        flow_tracker("raft-c", dis)
