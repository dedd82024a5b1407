"""Tests for storage.flow_store: layout, round trip, publishing rule and resumable writing."""

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
import zarr

from omnimotion_core.flow.consistency import ConsistencyConfig
from omnimotion_core.flow.engines import DisConfig, FlowEngineConfig, build_flow_engine
from omnimotion_core.flow.flow_set_builder import (
    compute_flow_set,
    compute_pair_chunk,
    flow_set_params,
)
from omnimotion_core.flow.pairs import (
    PairSelectionConfig,
    select_pairs,
    split_pairs,
    unordered_pairs,
)
from omnimotion_core.flow_set import FlowSet
from storage.errors import IncompleteStoreError, InputError, StoreConflictError
from storage.flow_store import (
    FlowSetWriter,
    flow_set_name,
    flow_sets_dir,
    list_flow_sets,
    read_flow_set,
    read_flow_set_params,
    write_flow_set,
)

PARAMS = flow_set_params(FlowEngineConfig(), PairSelectionConfig(mode="all"), ConsistencyConfig())


@pytest.fixture
def video_group(tmp_path: Path) -> Path:
    path = tmp_path / "videos" / "clip.zarr"
    zarr.open_group(str(path), mode="w", zarr_format=3)
    return path


def _random_flow_set(num_frames: int = 3, size: tuple[int, int] = (8, 12), seed: int = 0) -> FlowSet:
    rng = np.random.default_rng(seed)
    pairs = select_pairs(num_frames, PairSelectionConfig(mode="all"))
    mask = rng.random((len(pairs), *size)) > 0.3
    counts = np.stack([mask[pairs[:, 0] == t].sum(axis=0) for t in range(num_frames)]).astype(np.int32)
    flow = rng.normal(0.0, 5.0, (len(pairs), *size, 2)).astype(np.float32)
    return FlowSet(pairs=pairs, flow=flow, mask=mask, counts=counts)


def _video(num_frames: int = 4, size: int = 32) -> np.ndarray:
    image = skimage.data.astronaut()
    shifts = [np.float32([[1, 0, -150 + 1.5 * t], [0, 1, -120 - 1.0 * t]]) for t in range(num_frames)]
    return np.stack([cv2.warpAffine(image, shift, (size, size)) for shift in shifts])


def test_round_trip_keeps_pairs_masks_counts_and_flow_to_float16_precision(video_group):
    flow_set = _random_flow_set()
    name = flow_set_name(PARAMS)
    path = write_flow_set(video_group, name, flow_set, PARAMS)
    assert path == flow_sets_dir(video_group) / name
    loaded = read_flow_set(video_group, name)
    np.testing.assert_array_equal(loaded.pairs, flow_set.pairs)
    np.testing.assert_array_equal(loaded.mask, flow_set.mask)
    np.testing.assert_array_equal(loaded.counts, flow_set.counts)
    assert loaded.flow.dtype == np.float32
    np.testing.assert_allclose(loaded.flow, flow_set.flow, atol=0.01)
    assert read_flow_set(video_group, name, flow_dtype="float16").flow.dtype == np.float16
    assert list_flow_sets(video_group) == [name]
    assert read_flow_set_params(video_group, name) == PARAMS


def test_layout_on_disk_matches_the_documented_arrays(video_group):
    name = flow_set_name(PARAMS)
    write_flow_set(video_group, name, _random_flow_set(), PARAMS)
    group = zarr.open_group(str(video_group), mode="r")[f"flows/{name}"]
    flow = group["flow"]
    assert (flow.dtype, flow.shape, flow.chunks) == (np.float16, (6, 8, 12, 2), (1, 8, 12, 2))
    assert (group["mask"].dtype, group["mask"].chunks) == (np.bool_, (1, 8, 12))
    assert (group["pairs"].dtype, group["pairs"].shape) == (np.int32, (6, 2))
    assert (group["counts"].dtype, group["counts"].shape) == (np.int32, (3, 8, 12))
    assert "done" not in group
    assert group.attrs["complete"] is True and group.attrs["size"] == [8, 12] and group.attrs["num_frames"] == 3
    assert not list(flow_sets_dir(video_group).glob("*.partial-*"))


def test_name_is_stable_short_and_changes_with_any_parameter():
    name = flow_set_name(PARAMS)
    assert re.fullmatch(r"dis-medium-[0-9a-f]{8}", name)
    assert flow_set_name(dict(reversed(PARAMS.items()))) == name
    other = flow_set_params(
        FlowEngineConfig(dis=DisConfig(patch_size=12)), PairSelectionConfig(mode="all"), ConsistencyConfig()
    )
    assert flow_set_name(other) != name and flow_set_name(other).startswith("dis-medium-")
    farneback = flow_set_params(FlowEngineConfig(engine="farneback"), PairSelectionConfig(), ConsistencyConfig())
    assert re.fullmatch(r"farneback-[0-9a-f]{8}", flow_set_name(farneback))
    with pytest.raises(InputError, match=r"params\['engine'\]\['engine'\]"):
        flow_set_name({"pairs": {}})


def test_unfinished_flow_set_is_refused_naming_its_path(video_group):
    flow_set = _random_flow_set()
    name = flow_set_name(PARAMS)
    writer = FlowSetWriter.open(video_group, name, flow_set.pairs, 3, (8, 12), PARAMS)
    writer.write(flow_set)
    with pytest.raises(IncompleteStoreError, match=re.escape(f"{writer.partial_path}: a flow set still being")):
        read_flow_set(video_group, writer.partial_path.name)
    unfinished = flow_sets_dir(video_group) / "dis-medium-00000000"
    zarr.open_group(str(unfinished), mode="w", zarr_format=3).attrs["complete"] = False
    with pytest.raises(IncompleteStoreError, match=re.escape(str(unfinished))):
        read_flow_set(video_group, "dis-medium-00000000")
    assert list_flow_sets(video_group) == []


def test_publishing_with_pairs_missing_is_refused(video_group):
    flow_set = _random_flow_set()
    writer = FlowSetWriter.open(video_group, "partial-test", flow_set.pairs, 3, (8, 12), PARAMS)
    with pytest.raises(IncompleteStoreError, match="6 of 6 pairs not written"):
        writer.finish()


def test_missing_flow_set_lists_the_available_ones(video_group):
    write_flow_set(video_group, "a", _random_flow_set(), PARAMS)
    with pytest.raises(InputError, match=r"no flow set 'b'; available: \['a'\]"):
        read_flow_set(video_group, "b")


def test_existing_name_is_never_overwritten_by_other_parameters(video_group):
    first = _random_flow_set(seed=0)
    write_flow_set(video_group, "set", first, PARAMS)
    write_flow_set(video_group, "set", _random_flow_set(seed=1), PARAMS)  # same params: kept as it is
    np.testing.assert_array_equal(read_flow_set(video_group, "set").mask, first.mask)
    other = {**PARAMS, "consistency": {"max_cycle_error": 1.0, "adjacent_pairs": "cycle"}}
    with pytest.raises(StoreConflictError, match="other parameters"):
        write_flow_set(video_group, "set", _random_flow_set(seed=1), other)


def test_flow_set_must_match_the_video_group(tmp_path, video_group):
    zarr.open_group(str(video_group), mode="r+").attrs.update({"num_frames": 5, "size": [8, 12]})
    with pytest.raises(InputError, match="flow set has 3 frames, video has 5"):
        write_flow_set(video_group, "set", _random_flow_set(), PARAMS)
    with pytest.raises(InputError, match="no zarr group here"):
        write_flow_set(tmp_path / "nowhere.zarr", "set", _random_flow_set(), PARAMS)


def test_resume_after_a_kill_computes_only_the_unfinished_pairs(video_group, monkeypatch):
    frames = _video(num_frames=4)
    engine_config, consistency = FlowEngineConfig(), ConsistencyConfig()
    engine = build_flow_engine(engine_config)
    params = flow_set_params(engine_config, PairSelectionConfig(mode="all"), consistency)
    name = flow_set_name(params)
    pairs = select_pairs(4, PairSelectionConfig(mode="all"))
    calls = []
    real_compute = engine.compute

    def counting(frames_i, frames_j, pairs=None):
        calls.extend(pairs.tolist())
        return real_compute(frames_i, frames_j, pairs)

    monkeypatch.setattr(engine, "compute", counting)

    first = FlowSetWriter.open(video_group, name, pairs, 4, (32, 32), params)
    chunks = split_pairs(unordered_pairs(first.pending_pairs()), 2)
    first.write(compute_pair_chunk(frames, chunks[0], engine, consistency))
    half_written = compute_pair_chunk(frames, chunks[1], engine, consistency)
    zarr.open_group(str(first.partial_path), mode="r+")["flow"][4:8] = half_written.flow  # killed before 'done'
    del first

    calls.clear()
    resumed = FlowSetWriter.open(video_group, name, pairs, 4, (32, 32), params)
    pending = resumed.pending_pairs()
    assert pending.tolist() == pairs[4:].tolist()  # the half-written pairs (0, 3), (1, 2) come again
    for chunk in split_pairs(unordered_pairs(pending), 2):
        resumed.write(compute_pair_chunk(frames, chunk, engine, consistency))
    assert len(calls) == 8  # 4 unordered pairs left, 2 flows each
    resumed.finish()

    expected = compute_flow_set(frames, engine, PairSelectionConfig(mode="all"), consistency)
    stored = read_flow_set(video_group, name)
    np.testing.assert_array_equal(stored.pairs, expected.pairs)
    np.testing.assert_array_equal(stored.mask, expected.mask)
    np.testing.assert_array_equal(stored.counts, expected.counts)
    np.testing.assert_allclose(stored.flow, expected.flow, atol=0.02)


def test_worker_attached_to_the_partial_group_writes_into_the_same_set(video_group):
    flow_set = _random_flow_set()
    writer = FlowSetWriter.open(video_group, "set", flow_set.pairs, 3, (8, 12), PARAMS)
    worker = FlowSetWriter.attach(writer.partial_path)
    worker.write(flow_set)
    assert len(writer.pending_pairs()) == 0
    writer.finish()
    np.testing.assert_array_equal(read_flow_set(video_group, "set").counts, flow_set.counts)
