"""Tests for omnimotion_core.trackers: the registered trackers and build_tracker (on a default or given engine)."""

import numpy as np
import pytest
import torch

from omnimotion_core.flow import FlowEngineConfig, RaftEngineConfig, build_flow_engine
from omnimotion_core.flow.raft import build_raft
from omnimotion_core.methods import METHODS, TrackerMethod
from omnimotion_core.trackers import build_tracker

QUERIES = np.array([[0.0, 10.0, 12.0], [2.0, 20.0, 30.0]])  # (t, y, x)
WEIGHT_FREE = ["dis-c", "dis-d", "farneback-c", "farneback-d", "zero_motion"]


def _frames() -> np.ndarray:
    """uint8 [3, 40, 48, 3] random texture."""
    return np.random.default_rng(0).integers(0, 256, (3, 40, 48, 3), dtype=np.uint8)


def test_registry_holds_zero_motion_and_the_flow_trackers_with_their_engines():
    trackers = {method.name: method for method in METHODS.methods(TrackerMethod)}
    assert set(WEIGHT_FREE) | {"raft-c", "raft-d"} <= set(trackers)
    assert trackers["raft-d"].flow_engine == "raft" and trackers["dis-c"].flow_engine == "dis"
    assert trackers["zero_motion"].flow_engine is None


@pytest.mark.parametrize("method", WEIGHT_FREE)
def test_every_weight_free_tracker_returns_tracks_and_occlusion_of_the_right_shape(method):
    tracks, occluded = build_tracker(method)(_frames(), QUERIES)
    assert tracks.shape == (2, 3, 2) and tracks.dtype == np.float32
    assert occluded.shape == (2, 3) and occluded.dtype == np.bool_
    np.testing.assert_array_equal(tracks[[0, 1], [0, 2]], QUERIES[:, [2, 1]])


def test_raft_trackers_need_an_engine_built_from_weights():
    with pytest.raises(ValueError, match=r"RAFT needs weights"):
        build_tracker("raft-c")


def test_unknown_method_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown tracker 'pwc-c'; trackers: zero_motion, dis-c, dis-d, dis-mft, farneback-c"):
        build_tracker("pwc-c")


@pytest.mark.parametrize("method", ["raft-c", "raft-d"])
def test_raft_tracker_runs_on_an_engine_built_from_weights(method):
    torch.manual_seed(0)
    config = FlowEngineConfig(engine="raft", raft=RaftEngineConfig(variant="small", num_iterations=2, batch_size=2))
    tracker = build_tracker(method, build_flow_engine(config, build_raft("small").state_dict()))
    tracks, occluded = tracker(_frames(), QUERIES)
    assert tracks.shape == (2, 3, 2) and np.isfinite(tracks).all() and occluded.shape == (2, 3)


def test_tracker_on_a_given_engine_matches_the_one_on_the_default_engine():
    frames = _frames()
    built = build_tracker("dis-d", build_flow_engine(FlowEngineConfig()))(frames, QUERIES)
    default = build_tracker("dis-d")(frames, QUERIES)
    np.testing.assert_array_equal(built[0], default[0])
    np.testing.assert_array_equal(built[1], default[1])


def test_build_tracker_refuses_an_engine_it_does_not_run_on():
    dis = build_flow_engine(FlowEngineConfig())
    with pytest.raises(ValueError, match="tracker 'zero_motion' runs on no flow engine, got the 'dis' engine"):
        build_tracker("zero_motion", dis)
    with pytest.raises(ValueError, match="'raft-c' needs a 'raft' flow engine, got 'dis'"):
        build_tracker("raft-c", dis)


def test_registering_builds_no_engine():
    """The registry holds factories: no flow engine exists until a tracker is built."""
    built: list[object] = []
    method = TrackerMethod(name="counting-d", description="counts builds", flow_engine="dis",
                           factory=lambda engine: built.append(engine) or (lambda frames, queries: (None, None)))
    METHODS.register(method)
    try:
        assert built == []
        build_tracker("counting-d")
        assert len(built) == 1 and built[0].name == "dis"
    finally:
        METHODS.unregister("counting-d")
