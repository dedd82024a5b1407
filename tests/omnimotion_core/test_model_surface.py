"""The surface representation: exact invertibility, identity start, depth test, and fits to known motion."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from omnimotion_core.flow_set import FlowSet
from omnimotion_core.model.config import PRESETS, GridBijectionConfig, OmniMotionConfig
from omnimotion_core.model.grid_bijection import GridBijection
from omnimotion_core.model.query import pseudo_depth, track
from omnimotion_core.model.sampling import BatchSampler
from omnimotion_core.model.surface_model import SurfaceMotion
from omnimotion_core.model.trainer import Trainer
from tests.omnimotion_core.test_model_sampling import make_flow_set


def small_surface_config(steps: int = 200) -> OmniMotionConfig:
    """The surface preset made small, without long-gap matches (they need a video; most tests give none)."""
    surface = PRESETS["fast"]
    return replace(
        surface,
        surface=replace(surface.surface, bijection=GridBijectionConfig(num_layers=3, resolutions=(4, 8)),
                        depth_resolution=8, lr_similarity=1e-2, lr_planes=5e-3, lr_depth=1e-2, match_weight=0.0),
        sampling=replace(surface.sampling, num_pairs=4, pixels_per_pair=64, untrusted_pixels_per_pair=16),
        trainer=replace(surface.trainer, num_steps=steps),
    )


def random_bijection(num_frames: int = 5) -> GridBijection:
    bijection = GridBijection(num_frames, GridBijectionConfig(num_layers=6, resolutions=(4, 16)))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in bijection.parameters():
            parameter.copy_(0.3 * torch.randn(parameter.shape, generator=generator))
    return bijection


def test_grid_bijection_is_exactly_invertible():
    bijection = random_bijection().double()  # float64: the round trip is exact to rounding
    generator = torch.Generator().manual_seed(1)
    points = torch.rand(500, 3, generator=generator, dtype=torch.float64) * 3.0 - 1.5
    frames = torch.randint(0, 5, (500,), generator=generator)
    canonical = bijection(points, frames)
    assert (canonical - points).abs().max() > 0.1  # the random planes do move the points
    torch.testing.assert_close(bijection.inverse(canonical, frames), points, atol=1e-10, rtol=0)


def test_grid_bijection_reads_only_its_own_frame():
    bijection = random_bijection()
    points = torch.tensor([[0.2, -0.3, 1.0]])
    before = bijection(points, torch.tensor([2]))
    with torch.no_grad():
        for layer in bijection.layers:
            for plane in layer.planes:
                plane[:, :, 3] += 1.0
    torch.testing.assert_close(bijection(points, torch.tensor([2])), before)


def test_grid_bijection_checks_shapes():
    bijection = random_bijection()
    with pytest.raises(ValueError, match=r"\[M, 3\]"):
        bijection(torch.zeros(4, 2), torch.zeros(4, dtype=torch.int64))
    with pytest.raises(ValueError, match="frame must be"):
        bijection(torch.zeros(4, 3), torch.zeros(3, dtype=torch.int64))


def test_untrained_surface_model_is_the_identity_on_a_flat_surface():
    config = small_surface_config()
    model = SurfaceMotion(config, num_frames=4)
    queries = torch.tensor([[0.0, 2.0, 3.0], [3.0, 5.0, 1.0]])  # (t, y, x)
    tracks, occluded = track(model, queries, 4, (6, 6))
    torch.testing.assert_close(tracks, queries[:, None, [2, 1]].expand(-1, 4, -1))
    assert not occluded.any()
    torch.testing.assert_close(pseudo_depth(model, 1, (6, 6)), torch.full((6, 6), config.surface.initial_depth))


def test_a_point_behind_the_surface_of_its_target_frame_is_occluded():
    model = SurfaceMotion(small_surface_config(), num_frames=4)
    with torch.no_grad():
        model.depth_planes[:, :, 2] = -0.5  # frame 2's surface comes 0.5 nearer than every other frame's
    _, occluded = track(model, torch.tensor([[0.0, 2.0, 3.0]]), 4, (6, 6))
    assert occluded[0].tolist() == [False, False, True, False]


def test_untrusted_pixels_come_from_the_untrusted_part_of_each_pair():
    config = replace(small_surface_config().sampling, untrusted_pixels_per_pair=32, window_start=3)
    sampler = BatchSampler(make_flow_set(), None, config, torch.Generator().manual_seed(0))
    batch = sampler.sample(0)
    trusted_columns = (batch.frame_j - batch.frame_i).abs() + 1  # make_flow_set trusts these left columns
    extra = batch.px_i[:, config.pixels_per_pair :, 0]
    assert (extra >= trusted_columns[:, None]).all()
    assert not batch.valid[:, config.pixels_per_pair :].any()
    assert batch.valid[:, : config.pixels_per_pair].all()


def test_a_pair_without_untrusted_pixels_gives_trusted_ones_marked_valid():
    flow_set = make_flow_set()
    everything = FlowSet(pairs=flow_set.pairs, flow=flow_set.flow, mask=np.ones_like(flow_set.mask),
                         counts=flow_set.counts)
    config = replace(small_surface_config().sampling, untrusted_pixels_per_pair=8)
    batch = BatchSampler(everything, None, config, torch.Generator().manual_seed(0)).sample(0)
    assert batch.valid.all()


def shifting_flow_set(num_frames: int, size: int, shift: tuple[float, float]) -> FlowSet:
    """Every pixel moves by ``shift`` pixels per frame; targets outside the frame are untrusted."""
    pairs = np.array([(i, j) for i in range(num_frames) for j in range(num_frames) if i != j])
    flow = np.zeros((len(pairs), size, size, 2), np.float32)
    mask = np.zeros((len(pairs), size, size), bool)
    ys, xs = np.mgrid[0:size, 0:size]
    for p, (i, j) in enumerate(pairs):
        flow[p] = ((j - i) * shift[0], (j - i) * shift[1])
        x_j, y_j = xs + flow[p, ..., 0], ys + flow[p, ..., 1]
        mask[p] = (x_j >= 0) & (x_j <= size - 1) & (y_j >= 0) & (y_j <= size - 1)
    counts = np.zeros((num_frames, size, size), np.int32)
    for p, (i, _) in enumerate(pairs):
        counts[i] += mask[p]
    return FlowSet(pairs=pairs, flow=flow, mask=mask, counts=counts)


def test_surface_fit_recovers_a_global_translation_also_outside_the_frame():
    torch.manual_seed(0)
    num_frames, size, shift = 6, 16, (2.0, -1.0)
    trainer = Trainer(small_surface_config(steps=300), shifting_flow_set(num_frames, size, shift), None)
    trainer.fit()
    queries = torch.tensor([[0.0, 8.0, 4.0], [2.0, 3.0, 10.0]])  # (t, y, x)
    tracks, occluded = track(trainer.model, queries, num_frames, (size, size))
    frames = torch.arange(num_frames, dtype=torch.float32)
    for q, (t, y, x) in enumerate(queries.tolist()):
        expected = torch.stack([x + (frames - t) * shift[0], y + (frames - t) * shift[1]], dim=1)
        assert (tracks[q] - expected).abs().max() < 0.5
    # the second query (x=10 at frame 2, 2 px per frame to the right) is at x=16 in frame 5: outside
    assert occluded[1].tolist() == [False, False, False, False, False, True]


def test_a_surface_fit_reports_every_term_it_optimises():
    trainer = Trainer(small_surface_config(steps=2), shifting_flow_set(4, 8, (1.0, 0.5)), None)
    reported = trainer.fit(callback=lambda step, losses: None, callback_every=1)
    assert set(reported) == set(trainer.loss_terms) and trainer.loss_terms[0] == "total"
    assert {"surface", "occlusion", "anywhere_smoothness", "match", "match_surface"} <= set(trainer.loss_terms)


def test_surface_fit_is_deterministic_and_resumes_exactly():
    flow_set = shifting_flow_set(4, 8, (1.0, 0.5))
    whole = Trainer(small_surface_config(steps=6), flow_set, None)
    whole.fit()
    first = Trainer(small_surface_config(steps=6), flow_set, None)
    first.fit(3)
    resumed = Trainer(small_surface_config(steps=6), flow_set, None)
    resumed.load_state_dict(first.state_dict())
    resumed.fit()
    for name, value in whole.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], value, atol=0, rtol=0)


def test_surface_hard_mining_probes_the_tracked_correspondences():
    """The hard-mining probe predicts what ``track`` returns for the same pixels, and its maps steer the sampler."""
    from omnimotion_core.model.hard_mining import predict_correspondences, refresh_error_maps

    config = small_surface_config(steps=4)
    config = replace(config, sampling=replace(config.sampling, hard_mining_every=2, hard_mining_pairs_per_frame=2,
                                              hard_mining_pixels_per_pair=16))
    flow_set = make_flow_set()
    trainer = Trainer(config, flow_set, None)
    trainer.fit()
    probe = trainer.sampler.draw_probe(trainer.step)
    predicted = predict_correspondences(trainer.model, probe, trainer.step, flow_set.size)
    num_pixels = probe.px_i.shape[1]
    queries = torch.cat([probe.frame_i.repeat_interleave(num_pixels)[:, None].float(),
                         probe.px_i.reshape(-1, 2).flip(-1)], dim=1)
    tracks, _ = track(trainer.model, queries, flow_set.num_frames, flow_set.size)
    expected = tracks[torch.arange(len(queries)), probe.frame_j.repeat_interleave(num_pixels)]
    torch.testing.assert_close(predicted.reshape(-1, 2), expected, atol=1e-4, rtol=0)
    maps = refresh_error_maps(trainer.model, trainer.sampler, trainer.step, flow_set.size)
    assert maps.shape == (flow_set.num_frames, *flow_set.size) and torch.isfinite(maps).all() and maps.max() > 0


def test_surface_losses_hand_case():
    from omnimotion_core.model.sampling import Batch
    from omnimotion_core.model.surface_objective import compute_surface_losses

    config = small_surface_config()
    model = SurfaceMotion(config, num_frames=4)  # identity maps, flat surface: predictions = sources
    px_i = torch.tensor([[[2.0, 2.0], [5.0, 3.0], [1.0, 1.0]]])
    px_j = torch.tensor([[[3.0, 2.0], [7.0, 3.0], [1.0, 1.0]]])
    # trusted (error 1 px in x); untrusted, target outside at gap 1 (error 2 px in x); untrusted, target inside
    batch = Batch(frame_i=torch.tensor([1]), frame_j=torch.tensor([2]), px_i=px_i, px_j=px_j,
                  valid=torch.tensor([[True, False, False]]), rgb_i=None, max_gap=3)
    terms = compute_surface_losses(model, batch, (6, 6), torch.Generator())
    assert terms["flow"].item() == pytest.approx((0.5 + 1.0) / 2)
    assert terms["surface"].item() == pytest.approx(0.0)
    assert terms["occlusion"].item() == pytest.approx(config.surface.hinge_margin)
    far = replace(config, surface=replace(config.surface, outside_flow_max_gap=0, occlusion_max_gap=0))
    terms = compute_surface_losses(SurfaceMotion(far, num_frames=4), batch, (6, 6), torch.Generator())
    assert terms["flow"].item() == pytest.approx(0.5)
    assert terms["occlusion"].item() == 0.0


def test_targets_leaving_the_frame_supervise_every_gap_by_default():
    from omnimotion_core.model.sampling import Batch
    from omnimotion_core.model.surface_objective import compute_surface_losses

    config = small_surface_config()
    assert config.surface.outside_flow_max_gap is None
    # frames 0 -> 3 (gap 3): one trusted pixel (error 1 px in x), one untrusted whose target lies outside the
    # frame (error 4 px in x); identity maps, so each prediction is its source pixel
    batch = Batch(frame_i=torch.tensor([0]), frame_j=torch.tensor([3]),
                  px_i=torch.tensor([[[2.0, 2.0], [4.0, 3.0]]]), px_j=torch.tensor([[[3.0, 2.0], [8.0, 3.0]]]),
                  valid=torch.tensor([[True, False]]), rgb_i=None, max_gap=3)
    terms = compute_surface_losses(SurfaceMotion(config, num_frames=4), batch, (6, 6), torch.Generator())
    assert terms["flow"].item() == pytest.approx((0.5 + 2.0) / 2)
    gap_one = replace(config, surface=replace(config.surface, outside_flow_max_gap=1))
    terms = compute_surface_losses(SurfaceMotion(gap_one, num_frames=4), batch, (6, 6), torch.Generator())
    assert terms["flow"].item() == pytest.approx(0.5)
