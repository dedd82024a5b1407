"""Query API: tracks and occlusion on a hand-built scene, and the fitted model on a translating texture."""

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from skimage import data, transform

from omnimotion_core.flow_set import FlowSet
from omnimotion_core.model.config import PRESETS
from omnimotion_core.model.query import pseudo_depth, track
from omnimotion_core.model.trainer import Trainer


class SlidingScene:
    """Hand-built model of a (11, 21) video: a background wall at depth 1 sliding 1 px per frame to the
    right and down, behind a static occluder at depth 0.3 covering pixel columns 13-15."""

    def __init__(self, num_frames: int, inference: str = "max_weight") -> None:
        self.num_frames = num_frames
        volume = PRESETS["fast-volume"]
        self.config = replace(volume, rendering=replace(volume.rendering, num_samples=32, inference=inference))
        self.latent = SimpleNamespace(frame_times=torch.zeros(num_frames))
        self.step = torch.tensor([0.1, 0.2, 0.0])
        self.steps_trained = torch.tensor(10**6)

    def latent_codes(self):
        return torch.zeros(self.num_frames, 1)

    def to_canonical(self, x_i, frame_i, codes):
        return x_i - frame_i[:, None] * self.step * (x_i[:, 2:] > 0.5)

    def from_canonical(self, u, frame_j, codes):
        return u + frame_j[:, None] * self.step * (u[:, 2:] > 0.5)

    def query_canonical(self, u):
        background = (u[..., 2] > 0.9) & (u[..., 2] < 1.1)
        occluder = (u[..., 2] > 0.2) & (u[..., 2] < 0.4) & (u[..., 0] > 0.25) & (u[..., 0] < 0.55)
        return torch.zeros(*u.shape[:-1], 3), 50.0 * (background | occluder)


@pytest.mark.parametrize("inference", ["max_weight", "blend"])
def test_track_follows_motion_and_flags_occluder(inference):
    scene = SlidingScene(12, inference)
    queries = torch.tensor([[0.0, 5.0, 5.0], [3.0, 2.0, 9.0]])  # (t, y, x)
    tracks, occluded = track(scene, queries, 12, (11, 21), chunk_size=1)
    frames = torch.arange(12.0)
    torch.testing.assert_close(tracks[0], torch.stack([5 + frames, 5 + frames], -1), atol=1e-4, rtol=0)
    torch.testing.assert_close(tracks[1], torch.stack([9 + frames - 3, 2 + frames - 3], -1), atol=1e-4, rtol=0)
    assert occluded[0].nonzero().flatten().tolist() == [6, 7, 8, 9, 10, 11]  # y = 5 + t leaves the 11 px frame at t = 6
    assert occluded[1].nonzero().flatten().tolist() == [0, 7, 8, 9]  # y = -1 at t = 0: above the frame


def test_pseudo_depth_sees_the_nearest_surface():
    depth = pseudo_depth(SlidingScene(4), 0, (11, 21))
    assert depth.shape == (11, 21)
    assert depth[5, 5].item() == pytest.approx(28 / 31, abs=1e-4)
    assert depth[5, 14].item() == pytest.approx(8 / 31, abs=1e-4)


def test_inference_masks_near_samples_while_training_does():
    scene = SlidingScene(4)
    scene.steps_trained = torch.tensor(0)  # the 6 nearest of 32 samples (z < 0.33) are masked before step 4000
    assert pseudo_depth(scene, 0, (11, 21))[5, 14].item() == pytest.approx(12 / 31, abs=1e-4)


def test_track_rejects_queries_without_three_columns():
    with pytest.raises(ValueError, match=r"\[N, 3\] \(t, y, x\), got \(4, 2\)"):
        track(SlidingScene(4), torch.zeros(4, 2), 4, (11, 21))


def translating_texture(num_frames: int, size: int, velocity: tuple[int, int]):
    """A textured image sliding by ``velocity`` (dx, dy) px per frame, with its exact all-pairs FlowSet."""
    image = transform.resize(data.astronaut(), (96, 96), anti_aliasing=True).astype(np.float32)
    vx, vy = velocity
    frames = np.stack([image[20 - t * vy : 20 - t * vy + size, 20 - t * vx : 20 - t * vx + size] for t in range(num_frames)])
    pairs = np.array([(i, j) for i in range(num_frames) for j in range(num_frames) if i != j])
    ys, xs = np.mgrid[0:size, 0:size]
    gaps = (pairs[:, 1] - pairs[:, 0])[:, None, None]
    flow = np.broadcast_to(np.stack([gaps * vx, gaps * vy], -1), (len(pairs), size, size, 2)).astype(np.float32)
    x_j, y_j = xs + gaps * vx, ys + gaps * vy
    mask = (x_j >= 0) & (x_j <= size - 1) & (y_j >= 0) & (y_j <= size - 1)
    counts = np.stack([mask[pairs[:, 0] == i].sum(0) for i in range(num_frames)]).astype(np.int32)
    return frames, FlowSet(pairs=pairs, flow=flow, mask=mask, counts=counts)


@pytest.fixture
def one_thread():
    """One intra-op thread: steadier on a shared 2-core machine; restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_fast_preset_tracks_translating_texture(one_thread):
    """40 steps of the fast preset (~13 s on one CPU thread) reach ~0.7 px; zero motion is ~5.6 px off."""
    num_frames, size, velocity = 8, 32, (2, 1)
    video, flow_set = translating_texture(num_frames, size, velocity)
    trainer = Trainer(PRESETS["fast-volume"], flow_set, video)
    trainer.fit(40)
    queries = torch.tensor([[t, y, x] for t in (0, 4) for y in range(8, 25, 4) for x in range(8, 25, 4)], dtype=torch.float32)
    tracks, _ = track(trainer.model, queries, num_frames, (size, size))
    gaps = torch.arange(num_frames)[None, :, None] - queries[:, None, :1]
    truth = queries[:, None, [2, 1]] + gaps * torch.tensor(velocity, dtype=torch.float32)
    inside = ((truth >= 0) & (truth <= size - 1)).all(-1)
    error = (tracks - truth).norm(dim=-1)[inside].mean().item()
    zero_motion = (queries[:, None, [2, 1]] - truth).norm(dim=-1)[inside].mean().item()
    assert zero_motion > 5.0
    assert error < 1.5
    assert error < 0.25 * zero_motion
