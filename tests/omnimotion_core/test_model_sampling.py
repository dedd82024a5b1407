"""Pair and pixel sampling of training batches."""

import numpy as np
import pytest
import torch

from omnimotion_core.flow_set import FlowSet
from omnimotion_core.model.config import SamplingConfig
from omnimotion_core.model.sampling import (
    BatchSampler,
    current_window,
    pair_probabilities,
)


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
    sampling = SamplingConfig(num_pairs=2000, pixels_per_pair=1)
    sampler = BatchSampler(make_flow_set(8), None, sampling, torch.Generator().manual_seed(1))
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


def make_fully_trusted_flow_set(num_frames: int = 4, size: int = 8) -> FlowSet:
    """make_flow_set with every pixel of every pair trusted."""
    flow_set = make_flow_set(num_frames, size)
    mask = np.ones_like(flow_set.mask)
    counts = np.full((num_frames, size, size), num_frames - 1, np.int32)
    return FlowSet(pairs=flow_set.pairs, flow=flow_set.flow, mask=mask, counts=counts)


def test_hard_mining_samples_high_error_pixels_far_more_often():
    config = SamplingConfig(num_pairs=64, pixels_per_pair=64, mode="uniform")
    sampler = BatchSampler(make_fully_trusted_flow_set(), None, config, torch.Generator().manual_seed(0))
    error_maps = torch.full((4, 8, 8), 0.1)
    error_maps[:, :2] = 10.0  # rows y = 0, 1 are hard
    before = sampler.sample(step=0)
    sampler.set_error_maps(error_maps)
    after = sampler.sample(step=0)

    def hits_per_pixel(batch):
        hard = batch.px_i[..., 1] < 2
        return hard.sum().item() / 16, (~hard).sum().item() / 48

    hard_before, easy_before = hits_per_pixel(before)
    assert 0.7 < hard_before / easy_before < 1.4
    # half uniform (1/64 per pixel), half by error (10 / 164.8 vs 0.1 / 164.8): about 4.7x
    hard_after, easy_after = hits_per_pixel(after)
    assert hard_after / easy_after > 3.5


def test_hard_mining_draws_high_error_frames_more_often():
    config = SamplingConfig(num_pairs=4000, pixels_per_pair=1, mode="uniform")
    sampler = BatchSampler(make_fully_trusted_flow_set(), None, config, torch.Generator().manual_seed(0))
    error_maps = torch.full((4, 8, 8), 0.01)
    error_maps[2] = 3.0
    sampler.set_error_maps(error_maps)
    fraction = (sampler.sample(step=0).frame_i == 2).float().mean().item()
    assert 0.55 < fraction < 0.7  # half uniform (1/4), half by mean error (~0.99)


def test_probe_takes_trusted_pixels_of_every_frame():
    config = SamplingConfig(hard_mining_pairs_per_frame=3, hard_mining_pixels_per_pair=20)
    probe = BatchSampler(make_flow_set(), None, config, torch.Generator().manual_seed(0)).draw_probe(step=0)
    assert probe.px_i.shape == (12, 20, 2)
    assert probe.frame_i.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert probe.valid.all() and (probe.frame_j != probe.frame_i).all()
    gap = (probe.frame_j - probe.frame_i).abs()
    assert (probe.px_i[..., 0] <= gap[:, None]).all()


def test_error_maps_are_saved_with_the_generator():
    flow_set = make_fully_trusted_flow_set()
    first = BatchSampler(flow_set, None, SamplingConfig(), torch.Generator().manual_seed(5))
    first.set_error_maps(torch.rand(4, 8, 8, generator=torch.Generator().manual_seed(0)))
    second = BatchSampler(flow_set, None, SamplingConfig(), torch.Generator().manual_seed(6))
    second.load_state_dict(first.state_dict())
    assert torch.equal(first.error_maps, second.error_maps)
    a, b = first.sample(3), second.sample(3)
    assert torch.equal(a.px_i, b.px_i) and torch.equal(a.frame_i, b.frame_i)
    second.load_state_dict({"generator": first.generator.get_state()})
    assert second.error_maps is None


def test_rejects_bad_error_maps_and_hard_mining_settings():
    sampler = BatchSampler(make_flow_set(), None, SamplingConfig(), torch.Generator())
    with pytest.raises(ValueError, match=r"expected \[N, H, W\] = \[4, 6, 6\], got \[4, 6, 5\]"):
        sampler.set_error_maps(torch.zeros(4, 6, 5))
    with pytest.raises(ValueError, match="finite and >= 0"):
        sampler.set_error_maps(torch.full((4, 6, 6), -1.0))
    with pytest.raises(ValueError, match="hard_mining_every"):
        BatchSampler(make_flow_set(), None, SamplingConfig(hard_mining_every=-1), torch.Generator())
    with pytest.raises(ValueError, match="hard_mining_pixels_per_pair=0"):
        BatchSampler(make_flow_set(), None, SamplingConfig(hard_mining_pixels_per_pair=0), torch.Generator())
