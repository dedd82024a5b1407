"""Pair and pixel sampling of training batches."""

import numpy as np
import pytest
import torch

from omnimotion_core.flow_set import FlowSet
from omnimotion_core.model.config import SamplingConfig
from omnimotion_core.model.sampling import BatchSampler, current_window, pair_probabilities


def make_flow_set(num_frames: int = 4, size: int = 6) -> FlowSet:
    """All pairs; flow (j - i, 2 (j - i)); pair (i, j) trusts the left (j - i + 1) columns only."""
    pairs = np.array([(i, j) for i in range(num_frames) for j in range(num_frames) if i != j])
    flow = np.zeros((len(pairs), size, size, 2), np.float32)
    mask = np.zeros((len(pairs), size, size), bool)
    for p, (i, j) in enumerate(pairs):
        flow[p] = (j - i, 2 * (j - i))
        mask[p, :, : abs(j - i) + 1] = True
    counts = np.zeros((num_frames, size, size), np.int32)
    for p, (i, _) in enumerate(pairs):
        counts[i] += mask[p]
    return FlowSet(pairs=pairs, flow=flow, mask=mask, counts=counts)


def test_window_grows_with_step_and_is_capped():
    config = SamplingConfig(window_start=2, window_growth_steps=10)
    assert [current_window(s, 6, config) for s in (0, 9, 10, 25, 1000)] == [2, 2, 3, 4, 5]


def test_pair_probabilities_hand_case():
    counts = torch.tensor([[0, 10, 30, 60], [10, 0, 10, 10], [30, 10, 0, 10], [60, 10, 10, 0]])
    probabilities = pair_probabilities(counts, window=2, config=SamplingConfig())
    # frame 0: candidates 1 (10) and 2 (30) -> 0.25, 0.75; neighbour 1 set to 0.5 -> 0.5 / 1.25, 0.75 / 1.25
    torch.testing.assert_close(probabilities[0], torch.tensor([0.0, 0.4, 0.6, 0.0], dtype=torch.float64))
    # frame 1: all three neighbours or within window; 0 and 2 are neighbours -> 0.5, 0.5, 1/3 renormalised
    torch.testing.assert_close(probabilities[1], torch.tensor([0.375, 0.0, 0.375, 0.25], dtype=torch.float64))
    uniform = pair_probabilities(counts, window=2, config=SamplingConfig(mode="uniform"))
    torch.testing.assert_close(uniform[0], torch.tensor([0.0, 0.5, 0.5, 0.0], dtype=torch.float64))


def test_batch_takes_trusted_pixels_with_their_flow_and_colour():
    flow_set = make_flow_set()
    video = np.random.default_rng(0).random((4, 6, 6, 3)).astype(np.float32)
    config = SamplingConfig(num_pairs=16, pixels_per_pair=32)
    batch = BatchSampler(flow_set, video, config, torch.Generator().manual_seed(0)).sample(step=0)
    assert batch.px_i.shape == (16, 32, 2) and batch.rgb_i.shape == (16, 32, 3)
    gap = (batch.frame_j - batch.frame_i).float()
    assert (gap.abs() >= 1).all() and (gap.abs() <= 3).all()
    assert batch.valid.all()
    assert (batch.px_i[..., 0] <= gap.abs()[:, None]).all()
    torch.testing.assert_close(batch.px_j - batch.px_i, torch.stack([gap, 2 * gap], -1)[:, None].expand(-1, 32, -1))
    x, y = batch.px_i[..., 0].long(), batch.px_i[..., 1].long()
    torch.testing.assert_close(batch.rgb_i, torch.from_numpy(video)[batch.frame_i[:, None], y, x])


def test_about_half_the_pairs_are_neighbours():
    sampler = BatchSampler(make_flow_set(8), None, SamplingConfig(num_pairs=2000, pixels_per_pair=1), torch.Generator().manual_seed(1))
    batch = sampler.sample(step=0)
    fraction = ((batch.frame_j - batch.frame_i).abs() == 1).float().mean().item()
    assert 0.4 < fraction < 0.65


def test_same_generator_state_gives_same_batch():
    flow_set = make_flow_set()
    first = BatchSampler(flow_set, None, SamplingConfig(), torch.Generator().manual_seed(5))
    second = BatchSampler(flow_set, None, SamplingConfig(), torch.Generator().manual_seed(6))
    second.load_state_dict(first.state_dict())
    a, b = first.sample(3), second.sample(3)
    assert torch.equal(a.px_i, b.px_i) and torch.equal(a.frame_j, b.frame_j)


def test_rejects_video_of_wrong_shape():
    with pytest.raises(ValueError, match=r"video must be \[4, 6, 6, 3\]"):
        BatchSampler(make_flow_set(), np.zeros((3, 6, 6, 3)), SamplingConfig(), torch.Generator())


def test_accepts_read_only_arrays():
    flow_set = make_flow_set()
    for array in (flow_set.pairs, flow_set.flow, flow_set.mask, flow_set.counts):
        array.flags.writeable = False
    batch = BatchSampler(flow_set, None, SamplingConfig(num_pairs=2, pixels_per_pair=4), torch.Generator()).sample(0)
    assert batch.px_i.shape == (2, 4, 2) and batch.rgb_i is None
