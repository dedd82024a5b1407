"""Batch sampling through a PairSource: only the drawn pairs are read, and the batches do not depend on
where the pairs come from."""

import numpy as np
import pytest
import torch

from omnimotion_core.flow_set import FlowSet, PairSource, flow_set_nbytes
from omnimotion_core.model.config import SamplingConfig
from omnimotion_core.model.sampling import Batch, BatchSampler


def make_random_flow_set(num_frames: int = 5, size: tuple[int, int] = (7, 9), seed: int = 0) -> FlowSet:
    """All ordered pairs, random float16-exact flow and random masks (about 70 % trusted)."""
    rng = np.random.default_rng(seed)
    pairs = np.array([(i, j) for i in range(num_frames) for j in range(num_frames) if i != j], dtype=np.int64)
    flow = rng.normal(0.0, 4.0, (len(pairs), *size, 2)).astype(np.float16).astype(np.float32)
    mask = rng.random((len(pairs), *size)) > 0.3
    counts = np.stack([mask[pairs[:, 0] == t].sum(axis=0) for t in range(num_frames)]).astype(np.int32)
    return FlowSet(pairs=pairs, flow=flow, mask=mask, counts=counts)


class RecordingSource:
    """A PairSource that serves a FlowSet's rows one request at a time and records which rows were asked for."""

    def __init__(self, flow_set: FlowSet) -> None:
        self._flow_set = flow_set
        self.rows_read: set[int] = set()
        self.pairs = flow_set.pairs
        self.counts = flow_set.counts
        self.num_frames = flow_set.num_frames
        self.size = flow_set.size

    def trusted_per_pair(self) -> np.ndarray:
        return self._flow_set.trusted_per_pair()

    def read_masks(self, rows: np.ndarray) -> np.ndarray:
        self.rows_read.update(rows.tolist())
        return self._flow_set.read_masks(rows)

    def read_flow(self, rows: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        self.rows_read.update(rows.tolist())
        return self._flow_set.read_flow(rows, ys, xs)


def assert_same_batch(first: Batch, second: Batch) -> None:
    for name in ("frame_i", "frame_j", "px_i", "px_j", "valid"):
        assert torch.equal(getattr(first, name), getattr(second, name)), name
    assert first.max_gap == second.max_gap


def test_flow_set_is_a_pair_source_with_its_own_values():
    flow_set = make_random_flow_set()
    source: PairSource = flow_set
    rows = np.array([3, 0, 3])
    np.testing.assert_array_equal(source.read_masks(rows), flow_set.mask[rows])
    ys, xs = np.array([[0, 6], [1, 2], [5, 5]]), np.array([[8, 0], [3, 4], [1, 1]])
    flow = source.read_flow(rows, ys, xs)
    assert flow.dtype == np.float32 and flow.shape == (3, 2, 2)
    np.testing.assert_array_equal(flow[0, 0], flow_set.flow[3, 0, 8])
    np.testing.assert_array_equal(source.trusted_per_pair(), flow_set.mask.sum(axis=(1, 2)))


def test_flow_set_nbytes_counts_every_array_exactly():
    flow_set = make_random_flow_set()
    assert flow_set_nbytes(len(flow_set.pairs), flow_set.num_frames, flow_set.size, 4) == flow_set.nbytes
    assert flow_set_nbytes(9120, 96, (256, 256), 2) == 9120 * 16 + 9120 * 65536 * 5 + 96 * 65536 * 4


def test_sampler_reads_only_the_pairs_it_draws_and_matches_the_set_in_memory():
    flow_set = make_random_flow_set()
    config = SamplingConfig(num_pairs=3, pixels_per_pair=16, window_start=1, window_growth_steps=1000)
    source = RecordingSource(flow_set)
    in_memory = BatchSampler(flow_set, None, config, torch.Generator().manual_seed(4))
    streamed = BatchSampler(source, None, config, torch.Generator().manual_seed(4))
    drawn: set[int] = set()
    for step in range(5):
        batch = in_memory.sample(step)
        assert_same_batch(batch, streamed.sample(step))
        drawn.update(in_memory.pair_index[batch.frame_i, batch.frame_j].tolist())
    assert source.rows_read == drawn
    assert len(drawn) < len(flow_set.pairs)


def test_float16_flow_in_memory_gives_the_same_batches_as_float32():
    flow_set = make_random_flow_set()
    half = FlowSet(pairs=flow_set.pairs, flow=flow_set.flow.astype(np.float16), mask=flow_set.mask,
                   counts=flow_set.counts)
    config = SamplingConfig(num_pairs=4, pixels_per_pair=8)
    first = BatchSampler(flow_set, None, config, torch.Generator().manual_seed(2))
    second = BatchSampler(half, None, config, torch.Generator().manual_seed(2))
    for step in (0, 1):
        batch = second.sample(step)
        assert batch.px_j.dtype == torch.float32
        assert_same_batch(first.sample(step), batch)


@pytest.mark.parametrize("mined", [False, True], ids=["plain", "hard_mining"])
def test_probe_and_mined_batches_do_not_depend_on_the_source(mined):
    flow_set = make_random_flow_set()
    config = SamplingConfig(num_pairs=4, pixels_per_pair=8, hard_mining_pairs_per_frame=2,
                            hard_mining_pixels_per_pair=4)
    first = BatchSampler(flow_set, None, config, torch.Generator().manual_seed(9))
    second = BatchSampler(RecordingSource(flow_set), None, config, torch.Generator().manual_seed(9))
    assert_same_batch(first.draw_probe(0), second.draw_probe(0))
    if mined:
        maps = torch.rand(flow_set.num_frames, *flow_set.size, generator=torch.Generator().manual_seed(0))
        first.set_error_maps(maps)
        second.set_error_maps(maps)
    assert_same_batch(first.sample(1), second.sample(1))
