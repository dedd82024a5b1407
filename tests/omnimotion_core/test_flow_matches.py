"""Long-gap descriptor matches: right on a known motion, verified by their neighbours, and used by the fit."""

from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from omnimotion_core.flow.matches import MatchConfig, Matches, find_matches, match_gaps, neighbour_support
from omnimotion_core.flow_set import FlowSet
from omnimotion_core.model.match_sampling import MatchBatch, MatchSampler
from omnimotion_core.model.query import track
from omnimotion_core.model.surface_model import SurfaceMotion
from omnimotion_core.model.surface_objective import compute_surface_losses
from omnimotion_core.model.trainer import Trainer
from tests.omnimotion_core.test_model_surface import small_surface_config


def texture(size: int, seed: int = 0) -> np.ndarray:
    """uint8 [size, size, 3]: blurred colour noise (rich in SIFT keypoints)."""
    noise = np.random.default_rng(seed).random((size, size, 3)).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), 2.0)
    blurred = (blurred - blurred.min()) / (blurred.max() - blurred.min())
    return np.round(blurred * 255).astype(np.uint8)


def panning_video(offsets: list[tuple[int, int]], size: int = 64) -> np.ndarray:
    """uint8 [T, size, size, 3]: frame t shows the texture at (x, y) + offsets[t], so a point at (x, y) in frame
    i is at (x, y) - (offsets[j] - offsets[i]) in frame j."""
    scene = texture(size + 64)
    return np.stack([scene[32 + dy:32 + dy + size, 32 + dx:32 + dx + size] for dx, dy in offsets])


def test_matches_follow_a_known_pan_and_skip_short_gaps():
    offsets = [(3 * t, -2 * t) for t in range(6)]
    matches = find_matches(panning_video(offsets), MatchConfig(min_gap=2))
    gaps = np.abs(matches.frames[:, 1] - matches.frames[:, 0])
    assert len(matches) > 200 and gaps.min() == 2 and gaps.max() == 5
    shift = np.array(offsets, np.float32)
    expected = matches.source - (shift[matches.frames[:, 1]] - shift[matches.frames[:, 0]])
    error = np.linalg.norm(matches.target - expected, axis=1)
    assert (error < 1.0).mean() > 0.95
    done: list[int] = []
    again = find_matches(panning_video(offsets), MatchConfig(min_gap=2), on_frame=done.append)
    np.testing.assert_array_equal(again.target, matches.target)
    assert done == [1, 2, 3, 4, 5, 6]


def test_neighbour_support_hand_case():
    source = np.array([[10, 10], [14, 10], [10, 15], [12, 12], [90, 90]], np.float32)
    displacement = np.array([[5, 0], [5, 1], [6, 0], [-20, 7], [5, 0]], np.float32)
    support = neighbour_support(source, source + displacement, radius=10.0, tolerance=2.0)
    # the first three agree with one another; the fourth is near them but moves elsewhere; the last is alone
    assert support.tolist() == [2, 2, 2, 0, 0]


def test_match_gaps_are_dense_then_grow():
    assert match_gaps(10, MatchConfig()) == list(range(2, 10))
    config = MatchConfig(min_gap=3, dense_max_gap=6, gap_growth=1.5)
    assert match_gaps(30, config) == [3, 4, 5, 6, 9, 14, 21]
    assert match_gaps(2, config) == []
    with pytest.raises(ValueError, match="gap_growth"):
        find_matches(np.zeros((3, 8, 8, 3), np.uint8), MatchConfig(gap_growth=1.0))


def test_a_flat_video_has_no_matches_and_bad_frames_are_refused():
    flat = np.full((4, 32, 32, 3), 128, np.uint8)
    matches = find_matches(flat, MatchConfig())
    assert len(matches) == 0 and matches.source.shape == (0, 2)
    with pytest.raises(ValueError, match="uint8"):
        find_matches(flat.astype(np.float32) / 255.0, MatchConfig())
    with pytest.raises(ValueError, match=r"\[M, 2\]"):
        Matches(frames=np.zeros((3, 2), np.int64), source=np.zeros((2, 2), np.float32), target=np.zeros((3, 2), np.float32))


def test_the_match_terms_hand_case():
    model = SurfaceMotion(small_surface_config(), num_frames=4)  # identity maps, flat surface
    matches = MatchBatch(frame_i=torch.tensor([0, 3]), frame_j=torch.tensor([2, 1]),
                         px_i=torch.tensor([[2.0, 2.0], [4.0, 1.0]]), px_j=torch.tensor([[5.0, 2.0], [4.0, 3.0]]))
    batch_terms = compute_surface_losses(model, one_pixel_batch(), (8, 8), torch.Generator(), matches)
    assert batch_terms["match"].item() == pytest.approx((3 + 0 + 0 + 2) / 4)
    assert batch_terms["match_surface"].item() == pytest.approx(0.0)
    assert compute_surface_losses(model, one_pixel_batch(), (8, 8), torch.Generator())["match"].item() == 0.0


def one_pixel_batch():
    from omnimotion_core.model.sampling import Batch

    return Batch(frame_i=torch.tensor([1]), frame_j=torch.tensor([2]), px_i=torch.tensor([[[2.0, 2.0]]]),
                 px_j=torch.tensor([[[2.0, 2.0]]]), valid=torch.tensor([[True]]), rgb_i=None, max_gap=3)


def cut_flow_set(offsets: list[tuple[int, int]], size: int, cut: int) -> FlowSet:
    """The pan's exact flow between frames on the same side of ``cut`` (frames < cut, frames >= cut); pairs
    across the cut are present but wholly untrusted, as if flow failed there."""
    num_frames = len(offsets)
    pairs = np.array([(i, j) for i in range(num_frames) for j in range(num_frames) if i != j])
    shift = np.array(offsets, np.float32)
    flow = np.zeros((len(pairs), size, size, 2), np.float32)
    mask = np.zeros((len(pairs), size, size), bool)
    ys, xs = np.mgrid[0:size, 0:size]
    for p, (i, j) in enumerate(pairs):
        flow[p] = -(shift[j] - shift[i])
        x_j, y_j = xs + flow[p, ..., 0], ys + flow[p, ..., 1]
        inside = (x_j >= 0) & (x_j <= size - 1) & (y_j >= 0) & (y_j <= size - 1)
        mask[p] = inside & ((i < cut) == (j < cut))
    counts = np.zeros((num_frames, size, size), np.int32)
    for p, (i, _) in enumerate(pairs):
        counts[i] += mask[p]
    return FlowSet(pairs=pairs, flow=flow, mask=mask, counts=counts)


def matching_config(weight: float, steps: int = 300):
    config = small_surface_config(steps=steps)
    return replace(config, surface=replace(config.surface, match_weight=weight, matches_per_step=128))


def first_frame_error(trainer: Trainer, offsets: list[tuple[int, int]], size: int) -> float:
    """Largest track error (px) over the frames, of points of frame 0 that stay inside every frame."""
    queries = torch.tensor([[0.0, 30.0, 30.0], [0.0, 40.0, 36.0], [0.0, 28.0, 44.0]])  # (t, y, x)
    tracks, _ = track(trainer.model, queries, len(offsets), (size, size))
    shift = torch.tensor(offsets, dtype=torch.float32)
    expected = queries[:, None, [2, 1]] - (shift[None] - shift[0])
    return float((tracks - expected).norm(dim=-1).max())


def test_matches_carry_the_motion_across_frames_that_flow_does_not_link():
    torch.manual_seed(0)
    offsets = [(0, 0), (1, 0), (2, 0), (10, 6), (11, 6), (12, 6)]  # a jump between frames 2 and 3
    size = 64
    video = panning_video(offsets, size).astype(np.float32) / 255.0
    flow_set = cut_flow_set(offsets, size, cut=3)
    with_matches = Trainer(matching_config(4.0), flow_set, video)
    assert len(with_matches.matches) > 100
    with_matches.fit()
    without = Trainer(matching_config(0.0), flow_set, None)
    without.fit()
    assert first_frame_error(with_matches, offsets, size) < 1.5
    assert first_frame_error(without, offsets, size) > 5.0


def test_a_fit_with_matches_resumes_exactly_and_needs_the_video():
    offsets = [(2 * t, t) for t in range(4)]
    size = 64
    video = panning_video(offsets, size).astype(np.float32) / 255.0
    flow_set = cut_flow_set(offsets, size, cut=0)
    config = matching_config(4.0, steps=6)
    whole = Trainer(config, flow_set, video)
    whole.fit()
    first = Trainer(config, flow_set, video)
    first.fit(3)
    resumed = Trainer(config, flow_set, None, matches=first.matches)  # the stored matches stand for the video
    resumed.load_state_dict(first.state_dict())
    resumed.fit()
    for name, value in whole.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], value, atol=0, rtol=0)
    with pytest.raises(ValueError, match="match_weight"):
        Trainer(config, flow_set, None)
    longer = Matches(frames=np.array([[0, 9]]), source=np.zeros((1, 2), np.float32), target=np.ones((1, 2), np.float32))
    with pytest.raises(ValueError, match="link frame 9 but the video has 4 frames"):
        Trainer(config, flow_set, video, matches=longer)


def test_the_match_sampler_draws_from_its_own_generator():
    matches = Matches(frames=np.array([[0, 2], [3, 1]]), source=np.zeros((2, 2), np.float32),
                      target=np.ones((2, 2), np.float32))
    sampler = MatchSampler(matches, 5, torch.Generator().manual_seed(3))
    state = sampler.state_dict()
    first = sampler.sample()
    sampler.load_state_dict(state)
    torch.testing.assert_close(sampler.sample().frame_i, first.frame_i)
    assert first.px_i.shape == (5, 2) and set(first.frame_j.tolist()) <= {1, 2}
    with pytest.raises(ValueError, match="at least one match"):
        MatchSampler(Matches(frames=np.zeros((0, 2), np.int64), source=np.zeros((0, 2), np.float32),
                             target=np.zeros((0, 2), np.float32)), 5, torch.Generator())
