"""Streaming a flow set from zarr: the memory-budget decision, the LRU cache, and identical batches and fits."""

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr

from omnimotion_core.flow_set import FlowSet
from omnimotion_core.model.config import SamplingConfig
from omnimotion_core.model.sampling import BatchSampler
from omnimotion_core.model.trainer import Trainer
from storage.errors import InputError
from storage.flow_store import (
    STREAM_CACHE_FRACTION,
    ZarrPairSource,
    flow_set_memory,
    flow_set_path,
    open_pair_source,
    read_flow_set,
    write_flow_set,
)
from tests.omnimotion_core.test_model_trainer import tiny_config
from tests.omnimotion_core.test_streamed_sampling import (
    assert_same_batch,
    make_random_flow_set,
)

PARAMS = {"engine": {"engine": "test"}}
NAME = "test-set"
SIZE = (7, 9)
PAIR_BYTES = SIZE[0] * SIZE[1] * 5


@pytest.fixture
def stored(tmp_path: Path) -> Path:
    """A video group holding the 5-frame random flow set ``NAME``."""
    video_group = tmp_path / "videos" / "clip.zarr"
    zarr.open_group(str(video_group), mode="w", zarr_format=3)
    write_flow_set(video_group, NAME, make_random_flow_set(num_frames=5, size=SIZE), PARAMS)
    return video_group


def streamed(video_group: Path, cache_pairs: int) -> ZarrPairSource:
    return ZarrPairSource(flow_set_path(video_group, NAME), cache_pairs * PAIR_BYTES)


def test_budget_decides_between_memory_and_streaming(stored):
    needed = flow_set_memory(stored, NAME)
    loaded = open_pair_source(stored, NAME, needed)
    assert isinstance(loaded, FlowSet) and loaded.flow.dtype == np.float16 and loaded.nbytes == needed
    source = open_pair_source(stored, NAME, needed - 1)
    assert isinstance(source, ZarrPairSource)
    assert source.capacity == (needed - 1) // STREAM_CACHE_FRACTION // PAIR_BYTES
    assert isinstance(open_pair_source(stored, NAME, 0), ZarrPairSource)
    with pytest.raises(InputError, match="budget must be >= 0"):
        open_pair_source(stored, NAME, -1)
    with pytest.raises(InputError, match="no flow set 'other'"):
        open_pair_source(stored, "other", needed)


def test_streamed_source_returns_the_stored_values(stored):
    in_memory = read_flow_set(stored, NAME)
    source = streamed(stored, cache_pairs=2)
    np.testing.assert_array_equal(source.pairs, in_memory.pairs)
    np.testing.assert_array_equal(source.counts, in_memory.counts)
    np.testing.assert_array_equal(source.trusted_per_pair(), in_memory.trusted_per_pair())
    assert (source.num_frames, source.size) == (in_memory.num_frames, in_memory.size)
    rows = np.array([7, 2, 7, 19])
    np.testing.assert_array_equal(source.read_masks(rows), in_memory.read_masks(rows))
    ys, xs = np.tile(np.arange(7), (4, 1)), np.tile(np.arange(8, 1, -1), (4, 1))
    np.testing.assert_array_equal(source.read_flow(rows, ys, xs), in_memory.read_flow(rows, ys, xs))


def test_cache_keeps_the_most_recent_pairs_up_to_its_capacity(stored):
    source = streamed(stored, cache_pairs=2)
    source.read_masks(np.array([0, 1, 0]))
    assert (source.disk_reads, source.cache_hits) == (2, 0)
    source.read_masks(np.array([1, 2]))
    assert (source.disk_reads, source.cache_hits) == (3, 1)
    source.read_masks(np.array([0]))
    assert source.disk_reads == 4
    source.read_masks(np.array([2, 0]))
    assert (source.disk_reads, source.cache_hits) == (4, 3)
    source.read_masks(np.array([1]))
    assert source.disk_reads == 5


@pytest.mark.parametrize("cache_pairs", [1, 100], ids=["evicting", "all_cached"])
def test_same_seed_gives_identical_batches_in_memory_and_streamed(stored, cache_pairs):
    config = SamplingConfig(num_pairs=4, pixels_per_pair=16, window_start=2, window_growth_steps=3,
                            hard_mining_pairs_per_frame=2, hard_mining_pixels_per_pair=8)
    in_memory = BatchSampler(read_flow_set(stored, NAME), None, config, torch.Generator().manual_seed(3))
    from_zarr = BatchSampler(streamed(stored, cache_pairs), None, config, torch.Generator().manual_seed(3))
    for step in range(6):
        assert_same_batch(in_memory.sample(step), from_zarr.sample(step))
    assert_same_batch(in_memory.draw_probe(6), from_zarr.draw_probe(6))
    maps = torch.rand(5, *SIZE, generator=torch.Generator().manual_seed(1))
    in_memory.set_error_maps(maps)
    from_zarr.set_error_maps(maps)
    assert_same_batch(in_memory.sample(7), from_zarr.sample(7))


def test_streamed_fit_resumes_to_the_weights_of_an_uninterrupted_fit_in_memory(stored):
    video = np.random.default_rng(0).random((5, *SIZE, 3)).astype(np.float32)
    straight = Trainer(tiny_config(), read_flow_set(stored, NAME), video)
    straight.fit(6)
    interrupted = Trainer(tiny_config(), streamed(stored, cache_pairs=1), video)
    interrupted.fit(3)
    resumed = Trainer(tiny_config(), streamed(stored, cache_pairs=1), video)
    resumed.load_state_dict(copy.deepcopy(interrupted.state_dict()))
    resumed.fit(3)
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
