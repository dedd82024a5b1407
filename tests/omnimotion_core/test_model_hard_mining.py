"""Hard mining: sparse flow errors -> dense per-frame error maps -> the sampler."""

from dataclasses import replace

import torch

from omnimotion_core.model.hard_mining import (
    predict_correspondences,
    refresh_error_maps,
    splat_error_maps,
)
from omnimotion_core.model.omnimotion import OmniMotion
from omnimotion_core.model.sampling import BatchSampler
from tests.omnimotion_core.test_model_sampling import make_flow_set
from tests.omnimotion_core.test_model_trainer import tiny_config


def test_splat_without_blur_averages_each_pixel_and_fills_the_frame_mean():
    frame_i = torch.tensor([0, 0, 0, 1])
    px_i = torch.tensor([[1.0, 0.0], [1.0, 0.0], [2.0, 1.0], [0.0, 0.0]])
    error = torch.tensor([1.0, 3.0, 5.0, 4.0])
    maps = splat_error_maps(frame_i, px_i, error, num_frames=3, size=(2, 3), blur=0.0)
    expected = torch.tensor(
        [[[3.0, 2.0, 3.0], [3.0, 3.0, 5.0]], [[4.0, 4.0, 4.0], [4.0, 4.0, 4.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]
    )
    torch.testing.assert_close(maps, expected)


def test_blur_spreads_errors_to_neighbours_as_a_weighted_mean():
    frame_i = torch.tensor([0, 0])
    px_i = torch.tensor([[2.0, 5.0], [17.0, 5.0]])
    maps = splat_error_maps(frame_i, px_i, torch.tensor([1.0, 5.0]), num_frames=1, size=(11, 20), blur=2.0)
    assert maps.shape == (1, 11, 20)
    torch.testing.assert_close(maps[0, :, :4], torch.ones(11, 4))  # only the left probe within 6 px
    torch.testing.assert_close(maps[0, :, 16:], torch.full((11, 4), 5.0))
    torch.testing.assert_close(maps[0, :, 9:11], torch.full((11, 2), 3.0))  # out of reach of both: frame mean


def test_refresh_measures_the_model_flow_error_and_hands_it_to_the_sampler():
    config = tiny_config()
    sampling = replace(
        config.sampling, hard_mining_pairs_per_frame=2, hard_mining_pixels_per_pair=16, hard_mining_blur=0.0
    )
    model = OmniMotion(config, 4, torch.Generator().manual_seed(0))
    sampler = BatchSampler(make_flow_set(), None, sampling, torch.Generator().manual_seed(1))
    parameters = [p.detach().clone() for p in model.parameters()]
    maps = refresh_error_maps(model, sampler, step=0, size=(6, 6))
    assert maps.shape == (4, 6, 6) and torch.isfinite(maps).all() and (maps >= 0).all()
    assert torch.equal(sampler.error_maps, maps)
    assert all(torch.equal(a, b) for a, b in zip(parameters, model.parameters(), strict=True))
    # the same probe, re-drawn from the same generator state, gives the per-pixel errors of the maps
    probe = BatchSampler(make_flow_set(), None, sampling, torch.Generator().manual_seed(1)).draw_probe(step=0)
    error = (predict_correspondences(model, probe, 0, (6, 6)) - probe.px_j).norm(dim=-1)
    frame_i = probe.frame_i.repeat_interleave(16)
    expected = splat_error_maps(frame_i, probe.px_i.reshape(-1, 2), error.reshape(-1), 4, (6, 6), blur=0.0)
    torch.testing.assert_close(maps, expected)
    assert maps.max() > 0


def test_predicted_correspondences_do_not_depend_on_the_chunk_size():
    config = tiny_config()
    model = OmniMotion(config, 4, torch.Generator().manual_seed(0))
    probe = BatchSampler(make_flow_set(), None, config.sampling, torch.Generator().manual_seed(1)).draw_probe(0)
    whole = predict_correspondences(model, probe, 0, (6, 6))
    chunked = predict_correspondences(model, probe, 0, (6, 6), chunk_size=7)
    assert whole.shape == probe.px_i.shape
    torch.testing.assert_close(whole, chunked)
