"""Tests for omnimotion_core.flow.engines: accuracy on known motion, batched engines (DIS, Farneback, RAFT)
and input/output checks."""

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from omnimotion_core.flow import engines
from omnimotion_core.flow.engines import (
    DisConfig,
    FarnebackConfig,
    FlowEngine,
    FlowEngineConfig,
    RaftEngineConfig,
    RaftFlowEngine,
    build_flow_engine,
    compute_flow,
    iter_pair_flows,
)
from omnimotion_core.flow.pairs import with_reverse_pairs
from omnimotion_core.flow.raft import build_raft

SIZE = 64
MARGIN = 8


def _warped_pair(shift_xy: tuple[float, float], angle_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A textured 64x64 crop, the same crop rotated about its centre and shifted, and the true flow."""
    frame_i = np.ascontiguousarray(skimage.data.astronaut()[100 : 100 + SIZE, 180 : 180 + SIZE])
    affine = cv2.getRotationMatrix2D((SIZE / 2, SIZE / 2), angle_deg, 1.0)
    affine[:, 2] += shift_xy
    frame_j = cv2.warpAffine(frame_i, affine, (SIZE, SIZE), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    x_i, y_i = np.meshgrid(np.arange(SIZE, dtype=np.float64), np.arange(SIZE, dtype=np.float64))
    x_j = affine[0, 0] * x_i + affine[0, 1] * y_i + affine[0, 2]
    y_j = affine[1, 0] * x_i + affine[1, 1] * y_i + affine[1, 2]
    return frame_i, frame_j, np.stack([x_j - x_i, y_j - y_i], axis=-1)


def _interior_error(flow: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return np.linalg.norm(flow - truth, axis=-1)[MARGIN:-MARGIN, MARGIN:-MARGIN]


def test_dis_flow_is_within_half_pixel_of_known_shift_and_rotation():
    frame_i, frame_j, truth = _warped_pair((2.3, -1.7), 2.0)
    flow = compute_flow(frame_i, frame_j, FlowEngineConfig())
    assert flow.dtype == np.float32 and flow.shape == (SIZE, SIZE, 2)
    error = _interior_error(flow, truth)
    assert error.max() < 0.5
    assert np.median(error) < 0.1


def test_farneback_flow_is_within_half_pixel_of_known_shift_and_rotation_for_most_pixels():
    frame_i, frame_j, truth = _warped_pair((2.3, -1.7), 2.0)
    error = _interior_error(compute_flow(frame_i, frame_j, FlowEngineConfig(engine="farneback")), truth)
    assert np.percentile(error, 95) < 0.5
    assert np.median(error) < 0.25


def test_flow_points_from_frame_i_to_frame_j():
    frame_i, frame_j, _ = _warped_pair((3.0, 0.0), 0.0)
    forward = compute_flow(frame_i, frame_j, FlowEngineConfig())
    backward = compute_flow(frame_j, frame_i, FlowEngineConfig())
    interior = (slice(MARGIN, -MARGIN), slice(MARGIN, -MARGIN))
    np.testing.assert_allclose(np.median(forward[interior], axis=(0, 1)), [3.0, 0.0], atol=0.1)
    np.testing.assert_allclose(np.median(backward[interior], axis=(0, 1)), [-3.0, 0.0], atol=0.1)


def test_dis_parameter_overrides_change_the_flow():
    frame_i, frame_j, _ = _warped_pair((2.3, -1.7), 2.0)
    preset = compute_flow(frame_i, frame_j, FlowEngineConfig(dis=DisConfig(preset="fast")))
    no_refinement = compute_flow(
        frame_i, frame_j, FlowEngineConfig(dis=DisConfig(preset="fast", variational_refinement_iterations=0))
    )
    assert not np.allclose(preset, no_refinement)


def test_rejects_frames_of_different_sizes():
    frame = np.zeros((32, 32, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"same size for pair \(2, 5\).*\(32, 32, 3\) and \(32, 40, 3\)"):
        compute_flow(frame, np.zeros((32, 40, 3), dtype=np.uint8), FlowEngineConfig(), pair=(2, 5))


def test_rejects_frames_that_are_not_uint8_rgb():
    with pytest.raises(ValueError, match=r"uint8 \[H, W, 3\].*float32 \(32, 32, 3\)"):
        compute_flow(np.zeros((32, 32, 3), np.float32), np.zeros((32, 32, 3), np.float32), FlowEngineConfig())


def test_nan_from_the_engine_raises_naming_the_pair(monkeypatch):
    def nan_flow(frame_i: np.ndarray, frame_j: np.ndarray, config: DisConfig) -> np.ndarray:
        flow = np.zeros((*frame_i.shape[:2], 2), dtype=np.float32)
        flow[3, 4] = np.nan
        return flow

    monkeypatch.setattr(engines, "_run_dis", nan_flow)
    frame = np.zeros((32, 32, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"'dis-medium' returned NaN or infinite flow at 1 pixels for pair \(0, 7\)"):
        compute_flow(frame, frame, FlowEngineConfig(), pair=(0, 7))


def test_unknown_engine_or_preset_is_refused():
    with pytest.raises(ValueError, match="unknown flow engine 'pwc'; flow engines: dis, farneback, raft"):
        FlowEngineConfig(engine="pwc")
    with pytest.raises(ValueError, match="got 'slow'"):
        DisConfig(preset="slow")
    with pytest.raises(ValueError, match="pyr_scale"):
        FarnebackConfig(pyr_scale=1.5)


def test_raft_config_refuses_bad_variant_iterations_batch_size_and_device():
    with pytest.raises(ValueError, match="'large' or 'small', got 'huge'"):
        RaftEngineConfig(variant="huge")
    with pytest.raises(ValueError, match="num_iterations must be >= 1, got 0"):
        RaftEngineConfig(num_iterations=0)
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        RaftEngineConfig(batch_size=0)
    with pytest.raises(ValueError, match="torch device.*got 'gpu0'"):
        RaftEngineConfig(device="gpu0")


def test_labels_name_engine_and_preset_or_variant():
    assert FlowEngineConfig().label == "dis-medium"
    assert FlowEngineConfig(engine="farneback").label == "farneback"
    assert FlowEngineConfig(engine="raft").label == "raft-large"
    assert FlowEngineConfig(engine="raft", raft=RaftEngineConfig(variant="small")).label == "raft-small"


def test_compute_flow_refuses_raft_because_it_needs_weights():
    frame = np.zeros((32, 32, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="RAFT needs weights: set flow engine raft.weights"):
        compute_flow(frame, frame, FlowEngineConfig(engine="raft"))


# --- FlowEngine: batches of pairs ---------------------------------------------------------------------------

RAFT_SMALL = FlowEngineConfig(engine="raft", raft=RaftEngineConfig(variant="small", num_iterations=2, batch_size=3))


@pytest.fixture(scope="module")
def small_raft_weights() -> dict[str, torch.Tensor]:
    """A randomly initialised raft_small state dict (the engine's plumbing does not need trained weights)."""
    torch.manual_seed(0)
    return build_raft("small").state_dict()


def _batch(num_pairs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """frames_i, frames_j uint8 [B, 40, 48, 3] (textured, shifted by k px) and pairs [B, 2]."""
    image = skimage.data.astronaut()
    frames_i = np.stack([image[100 + k : 140 + k, 180 : 228] for k in range(num_pairs)])
    frames_j = np.stack([image[100 + k : 140 + k, 181 + k : 229 + k] for k in range(num_pairs)])
    pairs = np.array([[k, k + 1] for k in range(num_pairs)])
    return np.ascontiguousarray(frames_i), np.ascontiguousarray(frames_j), pairs


@pytest.mark.parametrize("engine_name", ["dis", "farneback"])
def test_opencv_engine_batch_equals_per_pair_compute_flow_exactly(engine_name):
    config = FlowEngineConfig(engine=engine_name)
    frames_i, frames_j, pairs = _batch(3)
    flow = build_flow_engine(config).compute(frames_i, frames_j, pairs)
    assert flow.dtype == np.float32 and flow.shape == (3, 40, 48, 2)
    for b in range(3):
        np.testing.assert_array_equal(flow[b], compute_flow(frames_i[b], frames_j[b], config))


def test_engine_nan_names_the_pair_of_the_batch(monkeypatch):
    def nan_on_second_call(frame_i: np.ndarray, frame_j: np.ndarray, config: DisConfig) -> np.ndarray:
        flow = np.zeros((*frame_i.shape[:2], 2), dtype=np.float32)
        calls.append(1)
        if len(calls) == 2:
            flow[0, 0, 1] = np.inf
        return flow

    calls: list[int] = []
    monkeypatch.setattr(engines, "_run_dis", nan_on_second_call)
    frames_i, frames_j, _ = _batch(3)
    with pytest.raises(ValueError, match=r"NaN or infinite flow at 1 pixels for pair \(4, 9\)"):
        build_flow_engine(FlowEngineConfig()).compute(frames_i, frames_j, np.array([[3, 8], [4, 9], [5, 10]]))


def test_engine_refuses_mismatched_frames_and_pairs():
    engine = build_flow_engine(FlowEngineConfig())
    frames_i, frames_j, pairs = _batch(2)
    with pytest.raises(ValueError, match=r"same shape, got \(2, 40, 48, 3\) and \(1, 40, 48, 3\)"):
        engine.compute(frames_i, frames_j[:1])
    with pytest.raises(ValueError, match=r"uint8 \[B, H, W, 3\].*\(40, 48, 3\)"):
        engine.compute(frames_i[0], frames_j[0])
    with pytest.raises(ValueError, match=r"pairs must be \[B=2, 2\].*\(3, 2\)"):
        engine.compute(frames_i, frames_j, np.zeros((3, 2), dtype=np.int64))


def test_empty_batch_gives_empty_flow():
    frames = np.zeros((0, 40, 48, 3), dtype=np.uint8)
    flow = build_flow_engine(FlowEngineConfig()).compute(frames, frames)
    assert flow.shape == (0, 40, 48, 2) and flow.dtype == np.float32


def test_raft_engine_gives_finite_float32_flow_per_pair(small_raft_weights):
    frames_i, frames_j, pairs = _batch(4)
    flow = build_flow_engine(RAFT_SMALL, small_raft_weights).compute(frames_i, frames_j, pairs)
    assert flow.dtype == np.float32 and flow.shape == (4, 40, 48, 2)
    assert np.isfinite(flow).all()


def test_raft_batch_size_does_not_change_the_flow(small_raft_weights):
    frames_i, frames_j, pairs = _batch(3)
    flows = [
        build_flow_engine(
            FlowEngineConfig(engine="raft", raft=RaftEngineConfig(variant="small", num_iterations=2, batch_size=size)),
            small_raft_weights,
        ).compute(frames_i, frames_j, pairs)
        for size in (1, 3)
    ]
    np.testing.assert_allclose(flows[0], flows[1], rtol=1e-5, atol=1e-5)


def test_raft_engine_runs_the_model_in_batches_of_batch_size(small_raft_weights, monkeypatch):
    sizes = []

    def fake_raft(model, frames_i, frames_j, num_iterations, *, pairs=None):
        sizes.append((len(frames_i), num_iterations, pairs))
        return np.zeros((*frames_i.shape[:3], 2), dtype=np.float32)

    monkeypatch.setattr(engines, "compute_raft_flow", fake_raft)
    frames_i, frames_j, pairs = _batch(7)
    build_flow_engine(RAFT_SMALL, small_raft_weights).compute(frames_i, frames_j, pairs)
    assert [size for size, _, _ in sizes] == [3, 3, 1]
    assert {iterations for _, iterations, _ in sizes} == {2}
    assert sizes[2][2] == [(6, 7)]


def test_raft_nan_without_pairs_names_the_batch_items(small_raft_weights, monkeypatch):
    def nan_raft(model, frames_i, frames_j, num_iterations, *, pairs=None):
        if len(frames_i) == 1:  # the last batch of 4 items in batches of 3
            raise ValueError("RAFT gave NaN or infinite flow for batch items [0] of a batch of 1")
        return np.zeros((*frames_i.shape[:3], 2), dtype=np.float32)

    monkeypatch.setattr(engines, "compute_raft_flow", nan_raft)
    frames_i, frames_j, _ = _batch(4)
    with pytest.raises(ValueError, match=r"batch items \[0\] of a batch of 1 \(RAFT batch of items 3..3 of 4"):
        build_flow_engine(RAFT_SMALL, small_raft_weights).compute(frames_i, frames_j)


def test_raft_without_weights_says_how_to_set_them():
    message = (
        r"RAFT needs weights: set flow engine raft.weights to a local torchvision RAFT checkpoint "
        r"\(e.g. raft_large_C_T_SKHT_V2-ff5fadd5.pth\)"
    )
    with pytest.raises(ValueError, match=message):
        build_flow_engine(FlowEngineConfig(engine="raft"))


def test_raft_weights_of_the_other_variant_are_refused(small_raft_weights):
    config = FlowEngineConfig(engine="raft", raft=RaftEngineConfig(variant="large", weights="/ckpt/raft_small.pth"))
    with pytest.raises(ValueError, match=r"/ckpt/raft_small.pth.*raft_small checkpoint but the model is raft_large"):
        build_flow_engine(config, small_raft_weights)


def test_state_dict_that_is_not_raft_is_refused():
    with pytest.raises(ValueError, match="not a torchvision raft_small checkpoint"):
        build_flow_engine(RAFT_SMALL, {"conv.weight": torch.zeros(3, 3)})


@pytest.mark.parametrize("engine_name", ["dis", "farneback"])
def test_opencv_engines_refuse_raft_weights(engine_name, small_raft_weights):
    with pytest.raises(ValueError, match=f"flow engine '{engine_name}' takes no RAFT weights"):
        build_flow_engine(FlowEngineConfig(engine=engine_name), small_raft_weights)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised where there is no CUDA")
def test_cuda_device_without_cuda_is_an_error(small_raft_weights):
    config = FlowEngineConfig(engine="raft", raft=RaftEngineConfig(variant="small", device="cuda"))
    with pytest.raises(ValueError, match="raft.device is 'cuda' but torch sees no CUDA device"):
        build_flow_engine(config, small_raft_weights)


def test_engine_constructor_checks_the_model_against_the_config(small_raft_weights):
    with pytest.raises(ValueError, match="RAFT needs weights"):
        RaftFlowEngine(RAFT_SMALL, None)
    with pytest.raises(ValueError, match="needs a raft_small model in eval mode, got raft_large"):
        RaftFlowEngine(RAFT_SMALL, build_raft("large"))
    with pytest.raises(ValueError, match="needs a raft_small model in eval mode, got raft_small in training mode"):
        RaftFlowEngine(RAFT_SMALL, build_raft("small").train())


def test_every_engine_is_a_flow_engine_named_by_its_config(small_raft_weights):
    engines_built = [build_flow_engine(FlowEngineConfig(engine=name)) for name in ("dis", "farneback")]
    engines_built.append(build_flow_engine(RAFT_SMALL, small_raft_weights))
    assert all(isinstance(engine, FlowEngine) for engine in engines_built)
    assert [engine.name for engine in engines_built] == ["dis", "farneback", "raft"]
    assert [engine.batch_size for engine in engines_built] == [1, 1, 3]


def test_pair_flows_come_in_even_batches_of_whole_model_calls(small_raft_weights, monkeypatch):
    monkeypatch.setattr(
        engines,
        "compute_raft_flow",
        lambda model, frames_i, frames_j, num_iterations, *, pairs=None: np.zeros((*frames_i.shape[:3], 2), np.float32),
    )
    frames = np.stack([_batch(1)[0][0]] * 5)
    pairs = with_reverse_pairs(np.array([[0, 1], [1, 2], [2, 3], [3, 4], [0, 4]]))  # 10 ordered pairs
    raft = build_flow_engine(RAFT_SMALL, small_raft_weights)
    raft_rows = [batch.rows for batch in iter_pair_flows(raft, frames, pairs)]
    assert raft_rows == [slice(0, 6), slice(6, 10)]  # lcm(2, batch_size 3) = 6
    dis_batches = list(iter_pair_flows(build_flow_engine(FlowEngineConfig()), frames, pairs[:4]))
    assert [batch.rows for batch in dis_batches] == [slice(0, 2), slice(2, 4)]
    assert dis_batches[1].frames_i.shape == (2, 40, 48, 3) and dis_batches[1].flow.shape == (2, 40, 48, 2)


def test_pair_flows_refuse_a_bare_config():
    with pytest.raises(TypeError, match="engine must be a FlowEngine.*got FlowEngineConfig"):
        next(iter_pair_flows(FlowEngineConfig(), np.zeros((2, 8, 8, 3), np.uint8), np.array([[0, 1]])))
